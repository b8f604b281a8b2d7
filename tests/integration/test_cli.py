"""The CLI end to end: real `hpo` processes running real trial processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpo.client import Client
from hpo.model import TrialState as S
from tests.terminal import run_on_a_terminal

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def hpo_cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HPO_STORAGE": ""},
    )


def write(tmp: Path, text: str) -> Path:
    p = tmp / "sweep.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_sweep_of_the_digits_example_runs_asha_to_the_end(tmp_path: Path) -> None:
    # The example's 30 trials to epoch 27 with eta 3, shrunk to 4 trials to epoch 4 with eta 2
    # (9 trials to epoch 9 with eta 3 before): still two rungs to be promoted through (epochs
    # 1 -> 2 -> 4), in about half the trial processes, each of which imports sklearn.
    sweep = (REPO / "examples/digits/sweep.yaml").read_text()
    sweep = sweep.replace("max_trials: 30", "max_trials: 4").replace("max: 27", "max: 4")
    sweep = sweep.replace("eta: 3", "eta: 2").replace("--epochs 27", "--epochs 4")
    sweep = sweep.replace("examples/digits/train.py", str(REPO / "examples/digits/train.py"))
    for edit in ("max_trials: 4", "max: 4", "eta: 2", "--epochs 4"):
        assert edit in sweep, f"examples/digits/sweep.yaml changed: {edit!r} was not applied"
    (tmp_path / "sweep.yaml").write_text(sweep)
    db = tmp_path / "hpo.db"
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "best: trial" in r.stdout
    h = Client(str(db)).history("digits-asha")
    assert h.n_trials == 4
    assert all(t.state in (S.COMPLETED, S.STOPPED) for t in h.trials())
    best = min(h.trials(), key=lambda t: -(t.last_step or 0))
    assert best.last_step == 4  # someone was promoted all the way
    # promoted trials resumed from their checkpoints: the log shows where each run started
    resumed = [t for t in h.trials() if t.resumes > 0]
    assert resumed
    for t in resumed:
        assert (tmp_path / f"hpo-runs/digits-asha/trial-{t.number}/model.pkl").exists()
    r = hpo_cli("status", "digits-asha", "--storage", str(db), cwd=tmp_path)
    assert r.returncode == 0 and "completed" in r.stdout
    r = hpo_cli("export", "digits-asha", "--format", "json", "--storage", str(db), cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert len(doc["trials"]) == 4 and doc["trials"][0]["reports"][0]["step"] == 1
    r = hpo_cli("best", "digits-asha", "--json", "--storage", str(db), cwd=tmp_path)
    assert json.loads(r.stdout)["step"] == 4


def test_stdout_json_lines_are_reports(tmp_path: Path) -> None:
    write(
        tmp_path,
        f"""
        name: plain
        command: python {HERE / "stdout_trial.py"} {{x}}
        space: {{x: {{type: float, low: 0, high: 2}}}}
        objective: {{name: loss}}
        fidelity: {{name: step, min: 1, max: 3}}
        budget: {{max_trials: 3}}
        parallelism: 2
        """,
    )
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    h = Client(str(tmp_path / "db")).history("plain")
    assert [t.state for t in h.trials()] == [S.COMPLETED] * 3
    assert all([r.step for r in h.reports(t.id)] == [1, 2, 3] for t in h.trials())
    r = hpo_cli("export", "plain", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.stdout.splitlines()[0] == "number,state,step,x,loss"


@pytest.mark.parametrize(
    "body, message",
    [
        ("name: [unclosed", "line 1"),
        (
            "name: a\ncommand: echo\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nbudget: {max_trials: 2}\ncolour: red\n",
            "colour: unknown key",
        ),
        (
            "name: a\ncommand: echo {x}\nspace: {x: {type: float, low: 1, high: 1}}\n"
            "objective: {name: l}\nbudget: {max_trials: 2}\n",
            "empty range",
        ),
        (
            "name: a\ncommand: echo {y}\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nbudget: {max_trials: 2}\n",
            "placeholder {y}",
        ),
        (
            "name: a\ncommand: echo\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\n",
            "never ends",
        ),
        (
            "name: a\ncommand: echo\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nscheduler: {name: asha, eta: 3}\nbudget: {max_trials: 2}\n",
            "needs a fidelity",
        ),
        (
            "name: a\ncommand: echo\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nscheduler: {name: bohb}\nbudget: {max_trials: 2}\n",
            "unknown scheduler",
        ),
        (
            "name: a\ncommand: echo\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nfidelity: {name: e, min: 1, max: 9}\n"
            "scheduler: {name: asha, etaa: 3}\nbudget: {max_trials: 2}\n",
            "no parameter(s) ['etaa']",
        ),
        (
            "name: a\ncommand: echo\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nbudget: {max_trials: -2}\n",
            "budget.max_trials",
        ),
        (
            "name: a\ncommand: 'python train.py {x} \"unbalanced'\n"
            "space: {x: {type: float, low: 0, high: 1}}\nobjective: {name: l}\n"
            "budget: {max_trials: 2}\n",
            "No closing quotation",
        ),
        (
            "name: a\ncommand: [python, train.py, 5]\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nbudget: {max_trials: 2}\n",
            "command: must be one string, or a list of strings",
        ),
        (
            "name: a\ncommand: echo\nspace: {x: {type: float, low: 0, high: 1}}\n"
            "objective: {name: l}\nscheduler: {name: random, points_to_evaluate: {x: 0.5}}\n"
            "budget: {max_trials: 2}\n",
            "points_to_evaluate must be a list of configurations",
        ),
        (b"name: \xff\xfe\ncommand: echo\n", "not UTF-8 text"),
    ],
)
def test_bad_sweep_files_fail_with_one_line_and_write_nothing(
    tmp_path: Path, body: str | bytes, message: str
) -> None:
    (tmp_path / "sweep.yaml").write_bytes(body if isinstance(body, bytes) else body.encode())
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "db").exists()


def test_a_command_that_always_fails_ends_the_sweep_with_one_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        name: broken
        command:
          - python
          - -c
          - "import sys; sys.exit('no such dataset: {x}')"
        space: {x: {type: float, low: 0, high: 1}}
        objective: {name: loss}
        budget: {max_trials: 10}
        parallelism: 1
        """,
    )
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 1
    err = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(err) == 1 and "3 trials failed" in err[0] and "no such dataset" in err[0]
    h = Client(str(tmp_path / "db")).history("broken")
    assert [t.state for t in h.trials()] == [S.FAILED] * 3
    assert "no such dataset" in h.trials()[0].error


def test_unknown_study_is_one_line_error(tmp_path: Path) -> None:
    for cmd in ("status", "best", "export", "resume"):
        r = hpo_cli(cmd, "ghost", "--storage", str(tmp_path / "db"), cwd=tmp_path)
        assert r.returncode == 2
        assert r.stderr.strip() == "error: no study 'ghost'"


def test_trial_pause_and_resume_from_the_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    c = Client(db)
    s = c.create_study(
        "cli-hold",
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 3},
        budget={"max_trials": 2},
    )
    co = c.coordinator(s)
    a = co.ask("w1")
    co.report(a.trial_id, 1, {"loss": 0.5}, checkpoint=True)
    r = hpo_cli("trial", "pause", "cli-hold", str(a.number), "--storage", db, cwd=tmp_path)
    assert r.returncode == 0 and "running (held)" in r.stdout
    assert co.report(a.trial_id, 2, {"loss": 0.4}, checkpoint=True).value == "pause"
    co.end(a.trial_id)
    assert c.trials(s)[0].state is S.HELD
    r = hpo_cli("trial", "resume", "cli-hold", str(a.number), "--storage", db, cwd=tmp_path)
    assert r.returncode == 0 and "paused" in r.stdout
    r = hpo_cli("trial", "pause", "cli-hold", "9", "--storage", db, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: no trial 9 in study 'cli-hold'"


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line of a failed command (which printed no traceback)."""
    assert "Traceback" not in r.stderr, r.stderr
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


def test_a_command_that_cannot_start_trips_fail_fast_with_its_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        name: nobin
        command: no-such-binary-xyz {x}
        space: {x: {type: float, low: 0, high: 1}}
        objective: {name: loss}
        budget: {max_trials: 6}
        parallelism: 1
        """,
    )
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 1
    line = one_error_line(r)
    assert "3 trials failed" in line and "cannot start 'no-such-binary-xyz'" in line
    h = Client(str(tmp_path / "db")).history("nobin")
    assert [t.state for t in h.trials()] == [S.FAILED] * 3


def test_a_sweep_whose_every_trial_fails_exits_1_naming_the_first_error(tmp_path: Path) -> None:
    write(  # fewer trials than fail-fast's 3
        tmp_path,
        """
        name: exits3
        command: [python, -c, "import sys; print('bad {x}', file=sys.stderr); sys.exit(3)"]
        space: {x: {type: categorical, choices: [data]}}
        objective: {name: loss}
        budget: {max_trials: 2}
        parallelism: 1
        """,
    )
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 1
    line = one_error_line(r)
    assert "2 trial(s) failed and none completed; first: trial 0: exit code 3 | bad data" in line


def test_a_resume_whose_trials_fail_beside_an_earlier_result_warns_and_exits_0(
    tmp_path: Path,
) -> None:
    from hpo.sweepfile import load_sweep

    path = write(
        tmp_path,
        """
        name: later
        command: [python, -c, "import sys; print('broken now', file=sys.stderr); sys.exit(3)"]
        space: {x: {type: float, low: 0, high: 1}}
        objective: {name: loss}
        budget: {max_trials: 2}
        parallelism: 1
        """,
    )
    db = str(tmp_path / "db")
    c = Client(db)
    study = c.storage.create_study(load_sweep(path)[1])  # as hpo sweep stores it
    co = c.coordinator(study)  # an earlier run's trial, completed with a result
    a = co.ask("w")
    co.tell(a.trial_id, 0.5)
    r = hpo_cli("resume", "later", "--storage", db, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "error:" not in r.stderr
    assert "warning: 1 trial(s) failed; first: trial 1: exit code 3 | broken now" in r.stderr
    assert [t.state for t in c.history("later").trials()] == [S.COMPLETED, S.FAILED]


def test_reports_without_the_objective_fail_the_trial_and_the_sweep(tmp_path: Path) -> None:
    write(
        tmp_path,
        f"""
        name: noobj
        command: python {HERE / "stdout_trial.py"} {{x}}
        space: {{x: {{type: float, low: 0, high: 2}}}}
        objective: {{name: x}}
        budget: {{max_trials: 2}}
        parallelism: 1
        """,
    )
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 1
    assert "report lacks the objective metric(s) ['x']; got ['loss']" in one_error_line(r)
    h = Client(str(tmp_path / "db")).history("noobj")
    assert [t.state for t in h.trials()] == [S.FAILED] * 2
    assert "no report was accepted (3 rejected)" in h.trials()[0].error


def test_a_sweep_in_which_no_trial_reports_exits_1(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        name: silent
        command: python -c pass {x}
        space: {x: {type: float, low: 0, high: 1}}
        objective: {name: loss}
        budget: {max_trials: 2}
        parallelism: 1
        """,
    )
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 1
    assert "no trial reported the objective 'loss'" in one_error_line(r)


def small_sweep(
    tmp_path: Path, name: str = "small", max_trials: int = 1, scheduler: str = "{name: random}"
) -> Path:
    return write(
        tmp_path,
        f"""
        name: {name}
        command: python {HERE / "stdout_trial.py"} {{x}}
        space: {{x: {{type: float, low: 0, high: 2}}}}
        objective: {{name: loss}}
        scheduler: {scheduler}
        budget: {{max_trials: {max_trials}}}
        """,
    )


def test_a_sweep_runs_its_points_to_evaluate_first(tmp_path: Path) -> None:
    points = "{name: random, seed: 3, points_to_evaluate: [{x: 0.25}, {}]}"
    small_sweep(tmp_path, "seeded", max_trials=3, scheduler=points)
    db = tmp_path / "db"
    r = hpo_cli("sweep", "sweep.yaml", "--storage", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = hpo_cli("export", "seeded", "--format", "json", "--storage", str(db), cwd=tmp_path)
    trials = sorted(json.loads(r.stdout)["trials"], key=lambda t: t["number"])
    assert [t["config"]["x"] for t in trials[:2]] == [0.25, 1.0]  # {} is the range's middle
    assert trials[2]["config"]["x"] not in (0.25, 1.0)
    assert all(t["state"] == "completed" for t in trials)


def test_a_bad_option_leaves_no_study_behind(tmp_path: Path) -> None:
    small_sweep(tmp_path)
    db = tmp_path / "db"
    r = hpo_cli(
        "sweep", "sweep.yaml", "--executor", "foo", "--name", "ex1", "-s", str(db), cwd=tmp_path
    )
    assert r.returncode == 2
    assert one_error_line(r) == "error: --executor must be local or ray, got 'foo'"
    assert not db.exists()
    r = hpo_cli("sweep", "sweep.yaml", "--name", "ex1", "-s", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_storage_is_refused_where_results_must_be_kept(
    tmp_path: Path, url: str
) -> None:
    small_sweep(tmp_path)
    for args in (("sweep", "sweep.yaml"), ("resume", "small"), ("serve",)):
        r = hpo_cli(*args, "--storage", url, cwd=tmp_path, timeout=60)
        assert r.returncode == 2
        assert "in-memory SQLite database" in one_error_line(r)
        assert "every result would be lost" in r.stderr


def test_a_storage_file_that_is_not_a_database_is_one_line_error(tmp_path: Path) -> None:
    small_sweep(tmp_path)
    (tmp_path / "notadb.db").write_text("hello, not a database\n")
    for args in (("sweep", "sweep.yaml"), ("status", "small"), ("studies",), ("serve",)):
        r = hpo_cli(*args, "--storage", "notadb.db", cwd=tmp_path, timeout=60)
        assert r.returncode == 2
        assert one_error_line(r) == (
            "error: cannot open storage 'sqlite:///notadb.db': file is not a database"
        )


@pytest.mark.parametrize("where", ["missing/dir/out.csv", "."])
def test_export_to_a_path_that_cannot_be_written_is_one_line_error(
    tmp_path: Path, where: str
) -> None:
    c = Client(str(tmp_path / "db"))
    c.create_study("ex", {"x": {"type": "float", "low": 0.0, "high": 1.0}}, "loss")
    r = hpo_cli("export", "ex", "-o", where, "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 2
    line = one_error_line(r)
    assert "is a directory" in line if where == "." else "No such file or directory" in line


def test_out_of_range_token_ids_and_log_levels_are_one_line_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    r = hpo_cli("token", "revoke", "99999999999999999999999", "--storage", db, cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r) == "error: no token with id 99999999999999999999999"
    r = hpo_cli("serve", "--log-level", "bogus", "--storage", db, cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert one_error_line(r).startswith("error: --log-level must be one of critical, error")


def test_status_rejects_a_negative_limit(tmp_path: Path) -> None:
    c = Client(str(tmp_path / "db"))
    c.create_study("lim", {"x": {"type": "float", "low": 0.0, "high": 1.0}}, "loss")
    r = hpo_cli("status", "lim", "--limit", "-1", "--storage", str(tmp_path / "db"), cwd=tmp_path)
    assert r.returncode == 2
    assert "--limit" in one_error_line(r)


def test_trial_resume_of_an_ended_trial_is_an_error_as_pause_is(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    c = Client(db)
    s = c.create_study("ended", {"x": {"type": "float", "low": 0.0, "high": 1.0}}, "loss")
    co = c.coordinator(s)
    a = co.ask("w1")
    co.tell(a.trial_id, 0.5)
    for verb in ("pause", "resume"):
        r = hpo_cli("trial", verb, "ended", str(a.number), "--storage", db, cwd=tmp_path)
        assert r.returncode == 2
        assert one_error_line(r) == f"error: trial {a.number} has ended (completed)"


@pytest.mark.parametrize("cmd", [["trial", "pause", "s", "1"], ["worker", "--study", "s"]])
@pytest.mark.parametrize("server", ["notaurl", "ftp://host/", "localhost:8000"])
def test_a_server_that_is_not_an_http_url_is_one_line_error_at_once(
    tmp_path: Path, cmd: list[str], server: str
) -> None:
    r = hpo_cli(*cmd, "--server", server, cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r) == (
        f"error: server URL {server!r} must start with http:// or https:// (e.g. http://host:8000)"
    )


def write_repeats_sweep(tmp: Path, name: str, max_trials: int, parallelism: int) -> Path:
    """A sweep whose two choices both run the script with x = 1, so that every trial's curve
    (1/step) repeats trial 0's: with skip_repeats, ASHA leaves each later one out of rung 1."""
    return write(
        tmp,
        f"""
        name: {name}
        command: python {HERE / "stdout_trial.py"} {{x}}
        space: {{x: {{type: categorical, choices: ["1", "1.0"]}}}}
        objective: {{name: loss}}
        fidelity: {{name: step, min: 1, max: 3}}
        scheduler: {{name: asha, eta: 3, skip_repeats: true}}
        budget: {{max_trials: {max_trials}}}
        parallelism: {parallelism}
        """,
    )


def test_log_level_info_shows_the_results_a_rung_leaves_out_and_a_bad_one_is_refused(
    tmp_path: Path,
) -> None:
    # with skip_repeats each trial after the first is left out of rung 1, and --log-level info
    # says so
    write_repeats_sweep(tmp_path, "rep", max_trials=3, parallelism=1)
    db = tmp_path / "db"
    r = hpo_cli("sweep", "sweep.yaml", "--log-level", "loud", "-s", str(db), cwd=tmp_path)
    assert r.returncode == 2
    assert one_error_line(r) == (
        "error: --log-level must be one of debug, info, warning, error, got 'loud'"
    )
    assert not db.exists()
    r = hpo_cli("sweep", "sweep.yaml", "--log-level", "info", "-s", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    left_out = [line for line in r.stderr.splitlines() if "left out of the rung" in line]
    assert left_out == [
        f"INFO hpo.schedulers.base: trial {n} left out of the rung at 1: its results up to there"
        " repeat trial 0's exactly (skip_repeats), so it is not promoted"
        for n in (1, 2)
    ]
    # at the default level nothing of it is printed
    r = hpo_cli("sweep", "sweep.yaml", "--name", "rep2", "-s", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "left out" not in r.stderr


def test_on_a_terminal_log_lines_print_above_the_progress_bar_not_into_it(tmp_path: Path) -> None:
    # Before, the logging handler kept writing to the real stderr under the bar: on a terminal a
    # line went on in the bar's own line, and each redraw left a stale bar above the next one.
    write_repeats_sweep(tmp_path, "tty", max_trials=6, parallelism=2)
    args = ("sweep", "sweep.yaml", "--log-level", "info", "-s", str(tmp_path / "db"))
    cmd = [sys.executable, "-m", "hpo.cli", *args]
    rc, shown = run_on_a_terminal(cmd, cwd=tmp_path, cols=200, rows=60, env={"HPO_STORAGE": ""})
    assert rc == 0, shown
    logged = [line for line in shown if "hpo.schedulers.base" in line]
    assert len(logged) == 5, shown  # trials 1 to 5 repeat trial 0's curve
    for line in logged:
        assert line.startswith("INFO hpo.schedulers.base: trial ")
        assert line.endswith("repeat trial 0's exactly (skip_repeats), so it is not promoted")
    bars = [line for line in shown if line.startswith("tty ") and "trials" in line]
    assert len(bars) == 1, shown  # the bar, drawn once, below the log lines
    assert "6/6 trials" in bars[0]
    assert shown.index(bars[0]) > shown.index(logged[-1])
