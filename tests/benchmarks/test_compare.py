"""The comparison harness: incumbent trajectories and regret, hand-checked, and a tiny run."""

from __future__ import annotations

import pytest

from benchmarks.compare import _trajectory, main, regret_at, run_hpo, run_optuna
from benchmarks.synthetic import BRANIN_ARGMINS, mf_branin


def test_trajectory_follows_the_incumbent_by_reported_value():
    bb = mf_branin(max_epochs=3)
    a, b = {"x1": 0.0, "x2": 0.0}, {"x1": BRANIN_ARGMINS[1][0], "x2": BRANIN_ARGMINS[1][1]}
    events = [(10.0, a, 5.0), (20.0, b, 7.0), (30.0, b, 1.0), (40.0, a, 3.0)]
    traj = _trajectory(bb, events)
    # a is the incumbent at 10 (5.0), b takes over at 30 (1.0); a's 3.0 at 40 is not better
    assert [t for t, _ in traj] == [10.0, 30.0]
    assert traj[0][1] == pytest.approx(bb.value(a, 3)) and traj[1][1] == pytest.approx(
        bb.optimum, abs=1e-6
    )
    scale = 10.0
    assert regret_at(traj, 5.0, bb, scale) == 1.0  # nothing yet: the normalized worst
    assert regret_at(traj, 15.0, bb, scale) == pytest.approx((bb.value(a, 3) - bb.optimum) / 10)
    assert regret_at(traj, 35.0, bb, scale) == pytest.approx(0.0, abs=1e-7)


def test_hpo_and_optuna_runs_respect_the_simulated_budget():
    bb = mf_branin(max_epochs=9)
    for traj in (
        run_hpo(bb, "asha", 0, 2, 3600.0),
        run_optuna(bb, "optuna-tpe-hyperband", 0, 2, 3600.0),
    ):
        assert traj and all(0 < t <= 3600.0 for t, _ in traj)
        values = [v for _, v in traj]
        assert all(v >= bb.optimum - 1e-9 for v in values)


def test_main_prints_a_row_per_method(capsys):
    assert (
        main(
            [
                "--benchmark",
                "branin-mf",
                "--seeds",
                "2",
                "--workers",
                "2",
                "--hours",
                "1",
                "--methods",
                "hpo-random,optuna-random",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith("| hpo-") or line.startswith("| optuna-")
    ]
    assert [r.split(" | ")[0] for r in rows] == ["| hpo-random", "| optuna-random"]


def test_speedup_is_the_best_peers_time_over_the_methods_time_to_its_final_regret():
    from benchmarks.compare import speedups, time_to_reach

    grid = [1.0, 2.0, 3.0, 4.0]
    curves = {
        "peer-a": [0.9, 0.5, 0.4, 0.3],  # best peer: final 0.3, first reached at t=4
        "peer-b": [0.8, 0.7, 0.6, 0.5],
        "hpo-x": [0.6, 0.3, 0.1, 0.1],  # reaches 0.3 at t=2: twice as fast
        "hpo-y": [1.0, 1.0, 0.9, 0.8],  # never
    }
    assert time_to_reach(curves["hpo-x"], grid, 0.3) == 2.0
    best, out = speedups(curves, grid, ["peer-a", "peer-b"])
    assert best == "peer-a"
    assert out["hpo-x"] == (2.0, 2.0) and out["peer-a"] == (4.0, 1.0)
    assert out["hpo-y"] == (None, None) and out["peer-b"] == (None, None)


def test_bootstrap_target_resamples_each_methods_seeds():
    from benchmarks.compare import bootstrap_target

    grid = [1.0, 2.0, 3.0, 4.0]
    peer = [0.9, 0.5, 0.4, 0.3]  # the best peer's final 0.3, reached at t=4
    fast = [0.6, 0.3, 0.1, 0.1]  # 0.3 at t=2: 2x
    never = [1.0, 1.0, 1.0, 1.0]
    # identical seeds: every resample gives the table's own speed-up
    same = bootstrap_target({"p": [peer, peer], "x": [fast, fast]}, grid, ["p"], 200)
    assert set(same["x"]["speedup"]) == {2.0} and set(same["p"]["speedup"]) == {1.0}
    assert set(same["x"]["best"]) == {1.0}  # 0.1 at the end, below the peer's 0.3
    # one seed of two never gets there: a resample reaches 0.3 only when it draws the fast seed
    # twice (the mean of fast and never is 0.55 at the end), probability 1/4; else speed-up 0
    out = bootstrap_target({"p": [peer, peer], "x": [fast, never]}, grid, ["p"], 4000, seed=1)
    assert set(out["x"]["speedup"]) == {0.0, 2.0}
    assert abs(out["x"]["speedup"].count(2.0) / 4000 - 0.25) < 0.03
    assert out["x"]["best"] == [float(r == 2.0) for r in out["x"]["speedup"]]
    # two peers: the better one is best in every resample, against the other peer only
    two = bootstrap_target({"p": [peer], "q": [never], "x": [never]}, grid, ["p", "q"], 50)
    assert set(two["p"]["best"]) == {1.0} and set(two["q"]["best"]) == {0.0}
    assert set(two["x"]["best"]) == {0.0}


def _two_seed_table(tmp_path, capsys, methods: str, *extra: str) -> tuple[list[str], str, str]:
    """The arguments of a 2-seed, 1-hour branin-mf table in ``tmp_path``, its output, and the row
    of the first of ``methods``."""
    args = ["--benchmark", "branin-mf", "--seeds", "2", "--hours", "1", "--runs-dir", str(tmp_path)]
    assert main([*args, "--methods", methods, *extra]) == 0
    out = capsys.readouterr().out
    first = methods.split(",")[0]
    return args, out, next(line for line in out.splitlines() if line.startswith(f"| {first} "))


def test_bootstrap_columns_in_the_table(tmp_path, capsys):
    args, out, row = _two_seed_table(
        tmp_path, capsys, "optuna-random,hpo-random", "--bootstrap", "50"
    )
    assert "speed-up 10-90% (50 resamples) | share >= 2x | share best |" in out
    assert row.endswith("| 1.00x to 1.00x | 0% | 100% |")  # the only peer, against itself
    with pytest.raises(SystemExit):
        main([*args, "--methods", "hpo-random", "--bootstrap", "-1"])
    assert "--bootstrap must be 0 or more" in capsys.readouterr().err


def test_tied_finals_share_the_mean_of_their_ranks():
    from benchmarks.compare import tied_ranks

    assert tied_ranks({"a": 0.2, "b": 0.1, "c": 0.2, "d": 0.5}) == {
        "b": 1.0,
        "a": 2.5,
        "c": 2.5,
        "d": 4.0,
    }
    assert tied_ranks({"x": 0.0, "y": 0.0, "z": 0.0}) == {"x": 2.0, "y": 2.0, "z": 2.0}


def test_regrets_below_a_thousandth_keep_two_significant_digits():
    from benchmarks.compare import regret_cell

    assert regret_cell(0.12345) == "0.1235"
    assert regret_cell(0.001) == "0.0010"
    assert regret_cell(1.04e-5) == "1.0e-05"  # four decimals would print 0.0000
    assert regret_cell(0.0) == "0.0000"


def test_saved_runs_are_reused_and_missing_seeds_leave_a_method_out(tmp_path, capsys, monkeypatch):
    import benchmarks.compare as compare

    args = ["--benchmark", "branin-mf", "--seeds", "2", "--hours", "1"]
    args += ["--runs-dir", str(tmp_path)]
    assert main([*args, "--methods", "hpo-random"]) == 0
    first = capsys.readouterr().out
    saved = sorted(p.name for p in tmp_path.glob("*/*.json"))
    assert saved == ["hpo-random-seed0.json", "hpo-random-seed1.json"]

    def no_origin() -> str:
        raise AssertionError("--saved-only saves nothing: it need not ask git where runs ran")

    # a random-search row read back from the files is the row the runs printed
    with monkeypatch.context() as m:
        m.setattr(compare, "run_origin", no_origin)
        assert main([*args, "--methods", "hpo-random,hpo-asha", "--saved-only"]) == 0
    out = capsys.readouterr()
    row = next(line for line in first.splitlines() if line.startswith("| hpo-random"))
    assert row in out.out
    assert "| hpo-asha" not in out.out and "hpo-asha" in out.err
    (tmp_path / "branin-mf-w4-h1-n0" / "hpo-random-seed1.json").unlink()
    assert main([*args, "--methods", "hpo-random"]) == 0  # runs the missing seed again
    regrets = row.rsplit("|", 2)[0]  # the real seconds of the rerun seed differ
    assert regrets in capsys.readouterr().out


def test_reference_sets_whose_final_the_speed_ups_are_measured_to(tmp_path, capsys):
    args, out, row = _two_seed_table(
        tmp_path, capsys, "hpo-random,hpo-asha", "--reference", "hpo-random"
    )
    assert "h to hpo-random's final | speed-up |" in out
    assert row.endswith(" 1.00x |")  # the reference reaches its own final at its own time
    with pytest.raises(SystemExit):
        main([*args, "--methods", "hpo-random", "--reference", "optuna-gp"])
    assert "--reference 'optuna-gp' is not one of --methods" in capsys.readouterr().err


class _Killed(Exception):
    pass


def _killed_after(path, n, settings=None):
    """A checkpoint (of the run's ``settings``) that saves at every change, then dies (like a
    process killed) after ``n`` saves."""
    from benchmarks.compare import Checkpoint

    class KilledAfter(Checkpoint):
        def save(self, db, executor):
            super().save(db, executor)
            self.n -= 1
            if self.n == 0:
                raise _Killed

    ck = KilledAfter(path, every_s=0.0, settings=settings)
    ck.n = n
    return ck


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_a_run_killed_mid_way_resumes_from_its_checkpoint_to_the_same_result(tmp_path, scheduler):
    from benchmarks.compare import Checkpoint

    bb = mf_branin(max_epochs=9)
    whole = run_hpo(bb, scheduler, 3, 2, 3600.0)
    path = tmp_path / "run.partial"
    with pytest.raises(_Killed):
        run_hpo(bb, scheduler, 3, 2, 3600.0, _killed_after(path, 25))
    state = Checkpoint.read(path)["executor"]
    assert len(state["trace"]) > 0 and state["now"] < 3600.0  # it stopped mid-way
    resumed = Checkpoint(path, every_s=0.0)
    assert run_hpo(bb, scheduler, 3, 2, 3600.0, resumed) == whole
    assert resumed.prior_s > 0


def test_a_saved_run_records_where_it_ran_and_every_host_of_a_resumed_run(
    tmp_path, monkeypatch, capsys
):
    import json

    from benchmarks.compare import Checkpoint, SavedRuns, numeric_stack, run_origin

    monkeypatch.setenv("HPO_RUNS_CODE", "abc1234")
    monkeypatch.setenv("HPO_RUNS_HOST", "host A (16 CPU cores)")
    first = run_origin()
    assert first.startswith("host A (16 CPU cores), code of abc1234, 20")
    # and the numerical stack the floating point depends on (numpy is always installed)
    stack = numeric_stack()
    assert first.endswith(f" ({stack})") and "numpy " in stack.split("; ")[0]
    # a whole run through the CLI: its file says where it ran
    args = ["--benchmark", "branin-mf", "--seeds", "1", "--hours", "1"]
    assert main([*args, "--methods", "hpo-random", "--runs-dir", str(tmp_path / "cli")]) == 0
    (saved,) = (tmp_path / "cli").glob("*/hpo-random-seed0.json")
    assert json.loads(saved.read_text())["from"] == first

    runs = SavedRuns(str(tmp_path / "runs"), "branin-mf", 2, 1.0, 0.0)
    bb = mf_branin(max_epochs=9)
    with pytest.raises(_Killed):  # killed on host A ...
        run_hpo(bb, "asha", 3, 2, 3600.0, _killed_after(runs.checkpoint("hpo-asha", 3), 10))
    monkeypatch.setenv("HPO_RUNS_HOST", "host B")
    runs = SavedRuns(str(tmp_path / "runs"), "branin-mf", 2, 1.0, 0.0)  # an invocation on B
    second = run_origin()
    resumed = Checkpoint(runs.checkpoint("hpo-asha", 3), every_s=0.0, origin=runs.origin)
    # a commit made while it runs is not the code that runs: the origin is the start's
    monkeypatch.setenv("HPO_RUNS_CODE", "def5678")
    traj = run_hpo(bb, "asha", 3, 2, 3600.0, resumed)  # ... and finished on host B
    assert resumed.origins == [first]
    assert Checkpoint.read(runs.checkpoint("hpo-asha", 3))["from"] == [first, second]
    runs.save("hpo-asha", 3, (traj, resumed.seconds()))
    data = json.loads((runs.dir / "hpo-asha-seed3.json").read_text())
    assert data["from"] == f"{first}; then {second}"
    assert "host B, code of abc1234" in data["from"] and "def5678" not in data["from"]
    assert not (runs.dir / "hpo-asha-seed3.partial").exists()
    # a run with a checkpoint that turns out unavailable here keeps it, and is not stored as done
    part = runs.dir / "synetune-mobster-seed3.partial"
    assert runs.checkpoint("synetune-mobster", 3) == str(part)
    part.write_bytes(b"state")
    assert runs.save("synetune-mobster", 3, "no syne-tune<0.15 here") == "no syne-tune<0.15 here"
    assert part.read_bytes() == b"state" and runs.load("synetune-mobster", 3) is None
    runs.save("synetune-mobster", 4, "no syne-tune<0.15 here")  # no checkpoint: stored
    assert runs.load("synetune-mobster", 4) == "no syne-tune<0.15 here"
    # without the environment, the code is git's commit of this checkout (or says it is unknown)
    monkeypatch.delenv("HPO_RUNS_CODE")
    code = run_origin().split(", code of ")[1]
    assert code.startswith("an unknown commit") or len(code.split()[0].rstrip(",")) >= 7


def test_propose_time_records_where_mobsters_acquisition_was():
    """benchmarks.propose_time on a short branin-mf run (27 epochs, rungs 1, 3, 9, 27): every
    trial came from one proposal; ``max`` acquires only at epoch 27, ``bohb`` (mobster's
    default) below it while no rung above has d + 1 = 3 results."""
    from benchmarks.propose_time import profile

    top = profile("branin-mf", "hpo-mobster-acqmax", 0, 0.15, 0.0)
    low = profile("branin-mf", "hpo-mobster", 0, 0.15, 0.0)
    for r in (top, low):
        assert r["proposals"] == r["trials"] > 0
        assert 0 < r["acquisitions"] <= r["proposals"] and r["propose_s"] >= r["acquire_s"] > 0
    assert set(top["levels"]) == {27.0}
    assert min(low["levels"]) < 27.0 and set(low["levels"]) <= {1.0, 3.0, 9.0, 27.0}


def test_propose_time_counts_where_gated_moved_to_the_maximum(monkeypatch):
    """On branin-mf the rungs agree (pooled tau near 1): gated checks and never moves, so it
    acquires where bohb does. With the threshold above any tau, every check with GATE_MIN or more
    pooled trials moves to the maximum, 27. GATE_MIN is 3 here: this short run pools fewer
    than 10."""
    from hpo.schedulers import bo

    from benchmarks.propose_time import profile

    monkeypatch.setattr(bo, "GATE_MIN", 3)
    calm = profile("branin-mf", "hpo-mobster-gated", 0, 0.15, 0.0)
    assert calm["gate_checks"] > 0 and calm["gate_fired"] == 0
    assert min(calm["levels"]) < 27.0
    monkeypatch.setattr(bo, "GATE_TAU", 1.5)
    moved = profile("branin-mf", "hpo-mobster-gated", 0, 0.15, 0.0)
    assert 0 < moved["gate_fired"] <= moved["gate_checks"] and 27.0 in moved["levels"]
    assert bo.gated_level.__name__ == "gated_level"  # the counting wrapper is removed


def test_a_stored_run_records_its_settings_and_one_of_other_settings_is_refused(
    tmp_path, capsys, monkeypatch
):
    """A run stored by --runs-dir records its scheduler's full settings; when the method's
    settings change afterwards (a default switched), reusing that run, or resuming its checkpoint,
    is refused with the parameters that differ, rather than mixed into the method's rows."""
    import json

    import benchmarks.compare as compare
    from benchmarks.compare import HPO_VARIANTS, SavedRuns, StaleRun, run_settings

    now = run_settings("hpo-mobster")
    assert now["scheduler"] == "mobster" and now["acquisition_fidelity"] == "bohb"
    assert "seed" not in now and "study" not in now
    assert run_settings("optuna-gp") is None and run_settings("synetune-bohb") is None
    # the variants measured before bohb became the default (d618abb) keep max
    assert run_settings("hpo-mobster-np0")["acquisition_fidelity"] == "max"
    assert run_settings("hpo-mobster-gated")["acquisition_fidelity"] == "gated"
    old_variants = [m for m, (s, _) in HPO_VARIANTS.items() if s == "mobster"]
    new_variants = {
        "hpo-mobster-norep": {"skip_repeats": True},
        "hpo-mobster-rep": {"skip_repeats": False},
        "hpo-mobster-rf20d": {"random_fraction": 0.2},
        "hpo-mobster-hbd": {"brackets": "all"},
        "hpo-mobster-nowarpd": {"output_warping": False},
        "hpo-mobster-stopd": {"variant": "stopping"},
    }
    for m in new_variants:
        old_variants.remove(m)
    assert all("acquisition_fidelity" in HPO_VARIANTS[m][1] for m in old_variants)
    # variants added from the forty-first session on vary today's defaults
    assert now["skip_repeats"] == "auto"
    for m, change in new_variants.items():
        assert run_settings(m) == {**now, **change}
    assert run_settings("hpo-mobster-random-norep")["initial_design"] == "random"

    args = ["--benchmark", "branin-mf", "--seeds", "1", "--hours", "1"]
    args += ["--runs-dir", str(tmp_path), "--methods", "hpo-asha"]
    assert main(args) == 0
    capsys.readouterr()
    (path,) = tmp_path.glob("*/hpo-asha-seed0.json")
    assert json.loads(path.read_text())["settings"] == run_settings("hpo-asha")
    assert main([*args, "--saved-only"]) == 0  # the same settings: reused
    capsys.readouterr()
    # asha's default eta changes after the run was stored
    monkeypatch.setitem(compare.HPO_VARIANTS, "hpo-asha", ("asha", {"eta": 4}))
    monkeypatch.setitem(compare.HPO_METHODS, "hpo-asha", "asha")
    with pytest.raises(SystemExit):
        main([*args, "--saved-only"])
    err = capsys.readouterr().err
    assert "hpo-asha-seed0.json was made with eta=3, but hpo-asha now runs eta=4" in err
    assert "Traceback" not in err
    # a run stored before settings were recorded is taken as it is
    data = json.loads(path.read_text())
    del data["settings"]
    path.write_text(json.dumps(data))
    assert main([*args, "--saved-only"]) == 0
    capsys.readouterr()
    # a checkpoint of other settings is refused too, before anything runs
    runs = SavedRuns(str(tmp_path), "branin-mf", 4, 1.0, 0.0)
    path.unlink()
    old = {**run_settings("hpo-asha"), "eta": 2}
    with pytest.raises(_Killed):
        run_hpo(
            mf_branin(max_epochs=9),
            "asha",
            0,
            2,
            3600.0,
            _killed_after(runs.checkpoint("hpo-asha", 0), 3, settings=old),
        )
    with pytest.raises(StaleRun, match=r"seed0\.partial was made with eta=2, but hpo-asha now"):
        runs.load("hpo-asha", 0)
    with pytest.raises(SystemExit):
        main(args)
    assert "partial was made with eta=2" in capsys.readouterr().err


def test_a_parameter_added_later_is_taken_at_its_old_behaviour_in_older_settings() -> None:
    """Runs stored before a scheduler gained a parameter (MOBSTER's ``promote_by``) lack it in
    their settings; they were made with the behaviour ``PARAMS_BEFORE`` names, so they match the
    method that runs it and are refused by one that does not."""
    from pathlib import Path

    from benchmarks.compare import (
        PARAMS_BEFORE,
        StaleRun,
        _resolved,
        check_settings,
        run_settings,
    )

    now = run_settings("hpo-mobster-scorerank")
    assert now["promote_by"] == PARAMS_BEFORE["promote_by"] == "score"
    old = {k: v for k, v in now.items() if k != "promote_by"}
    check_settings("hpo-mobster-scorerank", old, Path("x.json"))  # no error
    with pytest.raises(StaleRun, match="promote_by='score', but hpo-mobster-modelrank now runs"):
        check_settings("hpo-mobster-modelrank", old, Path("x.json"))
    # MOBSTER's default is "auto" now, from 5 trials: its older runs belong to
    # hpo-mobster-scorerank (promote_by score) and hpo-mobster-autorank (auto from 8 trials)
    assert run_settings("hpo-mobster") == {
        **now,
        "promote_by": "auto",
        "auto_min": 5,
        "auto_z": 1.0,
        "skip_repeats": "auto",
    }
    with pytest.raises(
        StaleRun, match="but hpo-mobster now runs auto_min=5, auto_z=1.0, promote_by='auto'"
    ):
        check_settings("hpo-mobster", old, Path("x.json"))
    auto8 = {
        k: v
        for k, v in run_settings("hpo-mobster-autorank").items()
        if k not in ("auto_min", "auto_z")
    }
    assert PARAMS_BEFORE["auto_min"] == 8 and auto8["promote_by"] == "auto"
    check_settings("hpo-mobster-autorank", auto8, Path("x.json"))  # no error
    with pytest.raises(StaleRun, match="auto_min=8, auto_z=0.0, skip_repeats=False, but hpo-mob"):
        check_settings("hpo-mobster", auto8, Path("x.json"))
    # the thirty-second session's runs (auto_min 5, before auto_z) are hpo-mobster-auto5's
    auto5 = {k: v for k, v in run_settings("hpo-mobster-auto5").items() if k != "auto_z"}
    assert PARAMS_BEFORE["auto_z"] == 0 and auto5["auto_min"] == 5
    check_settings("hpo-mobster-auto5", auto5, Path("x.json"))  # no error
    with pytest.raises(StaleRun, match="auto_z=0.0, skip_repeats=False, but hpo-mobster now r"):
        check_settings("hpo-mobster", auto5, Path("x.json"))
    # skip_repeats "auto" since the forty-third session: true in the promotion variant, so the
    # runs made with true spelled out (hpo-mobster-norep) are hpo-mobster's, those made without
    # it (false, the default before) hpo-mobster-rep's, and the message shows "auto" as spelled
    norep, rep = run_settings("hpo-mobster-norep"), run_settings("hpo-mobster-rep")
    check_settings("hpo-mobster", norep, Path("x.json"))  # no error
    rep_before = {k: v for k, v in rep.items() if k != "skip_repeats"}
    check_settings("hpo-mobster-rep", rep_before, Path("x.json"))  # no error
    with pytest.raises(StaleRun, match="skip_repeats=False, but hpo-mobster now runs skip_rep"):
        check_settings("hpo-mobster", rep_before, Path("x.json"))
    with pytest.raises(StaleRun, match="now runs skip_repeats='auto'"):
        check_settings("hpo-mobster", rep, Path("x.json"))
    # in the stopping variant "auto" is false
    stopping = {**run_settings("hpo-mobster"), "variant": "stopping"}
    assert _resolved(stopping) == {**stopping, "skip_repeats": False}
    assert _resolved(run_settings("hpo-asha")) == run_settings("hpo-asha")  # mobster's only
    # of the parameters added later, asha has skip_repeats (forty-first session) and, as every
    # scheduler, points_to_evaluate (forty-sixth)
    assert run_settings("hpo-asha").keys() & PARAMS_BEFORE.keys() == {
        "skip_repeats",
        "points_to_evaluate",
    }
    for method in ("hpo-asha", "hpo-mobster", "hpo-bo", "hpo-hypertune", "hpo-random"):
        before = {k: v for k, v in run_settings(method).items() if k != "points_to_evaluate"}
        check_settings(method, before, Path("x.json"))  # no error: made before it existed
    # a parameter the stored settings lack is named even where the method's value is None
    no_n_initial = {k: v for k, v in run_settings("hpo-mobster").items() if k != "n_initial"}
    with pytest.raises(StaleRun, match=r"n_initial='\(absent\)', but hpo-mobster now runs n_ini"):
        check_settings("hpo-mobster", no_n_initial, Path("x.json"))
    asha_old = {k: v for k, v in run_settings("hpo-asha").items() if k != "skip_repeats"}
    check_settings("hpo-asha", asha_old, Path("x.json"))  # no error: made without it
    with pytest.raises(StaleRun, match="skip_repeats=False, but hpo-asha-norep now runs"):
        check_settings("hpo-asha-norep", asha_old, Path("x.json"))


def test_first_seed_runs_and_tabulates_the_later_seeds_only(tmp_path, capsys):
    """Seeds split between hosts: ``--first-seed 1`` runs seed 1 alone; the table of both seeds
    reads seed 0's file (run separately) and seed 1's, and its row is the one two seeds give."""
    base = ["--benchmark", "branin-mf", "--hours", "1", "--methods", "hpo-random"]
    split, whole = tmp_path / "split", tmp_path / "whole"
    assert main([*base, "--seeds", "2", "--first-seed", "1", "--runs-dir", str(split)]) == 0
    assert ", seed 1, noise" in capsys.readouterr().out
    assert sorted(p.name for p in split.glob("*/*.json")) == ["hpo-random-seed1.json"]
    assert main([*base, "--seeds", "1", "--runs-dir", str(split)]) == 0  # seed 0, another call
    assert main([*base, "--seeds", "2", "--runs-dir", str(split), "--saved-only"]) == 0
    split_row = capsys.readouterr().out.splitlines()[-1]
    assert main([*base, "--seeds", "2", "--runs-dir", str(whole)]) == 0
    whole_row = capsys.readouterr().out.splitlines()[-1]
    assert split_row.rsplit("|", 2)[0] == whole_row.rsplit("|", 2)[0]  # real seconds differ
    with pytest.raises(SystemExit):
        main([*base, "--seeds", "2", "--first-seed", "2"])


def test_a_table_run_stops_once_it_has_observed_the_tables_best_value(tmp_path, monkeypatch):
    """``settled_out`` / ``--stop-settled``: the run stops at the first report at the table's
    best value, and its trajectory is the whole run's up to then, so its regret curve over the
    budget is the whole run's, point for point."""
    import json

    from benchmarks import compare

    hours = 0.001
    limit = hours * 3600
    bb = compare.make_benchmark("breast_cancer-mlp")
    whole = run_hpo(bb, "asha", 1, 4, limit)
    assert len(whole) >= 4
    # make the third incumbent's value the table's best: a run that sees it has settled
    monkeypatch.setattr(bb, "optimum", whole[2][1])
    at: list[float] = []
    trace: list = []
    traj = run_hpo(bb, "asha", 1, 4, limit, trace_out=trace, settled_out=at)
    assert len(at) == 1 and whole[2][0] <= at[0] < whole[3][0] < limit
    assert traj == [p for p in whole if p[0] <= at[0]] and traj[-1][1] <= bb.optimum
    assert max(t for t, *_ in trace) == at[0]  # nothing ran past the settling report
    scale = compare.regret_scale(bb)
    grid = compare.time_grid(limit)
    assert compare.regret_curves([traj], grid, bb, scale) == compare.regret_curves(
        [whole], grid, bb, scale
    )
    # through the CLI: the stored run says it was settled, and where
    monkeypatch.setattr(compare, "make_benchmark", lambda name, noise=0.0: bb)
    runs = tmp_path / "runs"
    args = ["--benchmark", "breast_cancer-mlp", "--seeds", "2", "--first-seed", "1"]
    args += ["--hours", str(hours), "--methods", "hpo-asha", "--runs-dir", str(runs)]
    assert main([*args, "--stop-settled"]) == 0
    (path,) = runs.glob("*/hpo-asha-seed1.json")
    data = json.loads(path.read_text())
    assert [tuple(p) for p in data["trajectory"]] == traj
    assert data["settled"].startswith(f"stored at {at[0] / limit:.0%} of the budget")
    assert not path.with_suffix(".partial").exists()
    # without the option the same run goes on to the end of the budget
    path.unlink()
    assert main(args) == 0
    data = json.loads(path.read_text())
    assert "settled" not in data and [tuple(p) for p in data["trajectory"]] == whole


def test_a_synthetic_run_is_never_stopped_as_settled():
    """On a synthetic function the incumbent's true value can still change: ``settled_out``
    stops nothing, even where every report is below the optimum."""
    import dataclasses

    bb = mf_branin(max_epochs=9)
    whole = run_hpo(bb, "asha", 0, 2, 3600.0)
    above = dataclasses.replace(bb, optimum=1e9)
    at: list[float] = []
    assert run_hpo(above, "asha", 0, 2, 3600.0, settled_out=at) == whole and at == []


def test_quiet_silences_logs_and_warnings_inside_and_restores_both() -> None:
    import logging
    import warnings

    from benchmarks.compare import quiet

    disabled, filters = logging.root.manager.disable, list(warnings.filters)
    lg = logging.getLogger("tests.compare.quiet")
    with quiet():
        assert not lg.isEnabledFor(logging.WARNING) and lg.isEnabledFor(logging.ERROR)
        assert warnings.filters[0][:3] == ("ignore", None, Warning)
    assert logging.root.manager.disable == disabled and warnings.filters == filters
