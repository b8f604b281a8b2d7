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
    ],
)
def test_bad_sweep_files_fail_with_one_line_and_write_nothing(
    tmp_path: Path, body: str, message: str
) -> None:
    (tmp_path / "sweep.yaml").write_text(body)
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
