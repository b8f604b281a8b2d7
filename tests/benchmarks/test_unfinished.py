"""benchmarks.unfinished: an unfinished run's progress, read from its checkpoint, and the bounds
on a method's mean final regret while some of its seeds are unfinished."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("syne_tune", reason="syne-tune is not installed (the synetune-* peers)")

from benchmarks import compare, standing, unfinished  # noqa: E402
from benchmarks.compare import Checkpoint, SavedRuns  # noqa: E402
from benchmarks.peers import synetune  # noqa: E402

BENCH, HOURS, WORKERS = "breast_cancer-mlp", 0.001, 4  # a table: regret so far only falls
LIMIT_S = HOURS * 3600


class _Killed(BaseException):
    """Stands for the process being killed (Syne Tune's searchers catch Exception)."""


@pytest.fixture(scope="module")
def bb():
    return compare.make_benchmark(BENCH)


@pytest.fixture(scope="module")
def full(bb):
    """Seed 1 of Syne Tune's ASHA, uninterrupted: its events; and seed 0's as stored for the
    finished seed (another run's events: any finished run will do, and each takes seconds)."""
    events = synetune.simulate(bb, "asha", 1, WORKERS, LIMIT_S)
    return {0: events[: len(events) // 2], 1: events}


@pytest.fixture(scope="module")
def scale(bb):
    return compare.regret_scale(bb)


@pytest.fixture
def runs(bb, full, tmp_path, monkeypatch):
    """A runs directory with seed 0 finished and seed 1 killed at its first checkpoint after
    100 reports (a fifth of its events)."""
    saved = SavedRuns(str(tmp_path), BENCH, WORKERS, HOURS, 0.0)
    saved.save("synetune-asha", 0, (compare._trajectory(bb, full[0]), 1.0))
    save = synetune._Checkpoint.save

    def save_then_die(self, state, version):
        save(self, state, version)
        raise _Killed

    # one save, the first one due after 100 reports (each save pickles the whole search)
    monkeypatch.setattr(synetune._Checkpoint, "due", lambda self: len(self.events()) >= 100)
    monkeypatch.setattr(synetune._Checkpoint, "save", save_then_die)
    with pytest.raises(_Killed):
        synetune.simulate(
            bb,
            "asha",
            1,
            WORKERS,
            LIMIT_S,
            checkpoint=saved.checkpoint("synetune-asha", 1),
        )
    return tmp_path, SavedRuns(str(tmp_path), BENCH, WORKERS, HOURS, 0.0, read_only=True)


def test_a_syne_tune_checkpoint_records_the_events_so_far(runs, full):
    _, saved = runs
    data = Checkpoint.read(saved.checkpoint("synetune-asha", 1))
    done, events = data["progress"]["time"], [tuple(e) for e in data["progress"]["events"]]
    assert 0 < done < LIMIT_S and events
    # what the uninterrupted search had reported by then, in the same order
    assert events == full[1][: len(events)]
    assert all(t <= done for t, _, _ in events) and len(events) < len(full[1])


def test_bounds_from_a_finished_and_an_unfinished_seed(runs, bb, full, scale):
    _, saved = runs
    b = unfinished.bounds(saved, "synetune-asha", range(3), bb, LIMIT_S, scale)
    final0 = compare.regret_at(compare._trajectory(bb, full[0]), LIMIT_S, bb, scale)
    assert b.finals == {0: final0} and list(b.unfinished) == [1] and b.missing == [2]
    p = b.unfinished[1]
    so_far = [e for e in full[1] if e[0] <= p.done_s]
    assert p.regret == compare.regret_at(compare._trajectory(bb, so_far), LIMIT_S, bb, scale)
    assert b.lowest() == pytest.approx(final0 / 3)
    assert math.isinf(b.highest())  # seed 2 not started: it may end anywhere
    two = unfinished.bounds(saved, "synetune-asha", range(2), bb, LIMIT_S, scale)
    assert two.highest() == pytest.approx((final0 + p.regret) / 2)
    assert two.highest() >= compare.regret_at(compare._trajectory(bb, full[1]), LIMIT_S, bb, scale)


def test_bounds_by_hand_and_what_they_decide():
    p = unfinished.Progress(done_s=10.0, real_s=5.0, regret=0.3)
    b = unfinished.Bounds({0: 0.2, 1: 0.4}, {2: p}, [], observed=True)
    assert b.lowest() == pytest.approx(0.2) and b.highest() == pytest.approx(0.3)
    assert "ends above" in unfinished.verdict(b, "x", 0.15)
    assert "ends below" in unfinished.verdict(b, "x", 0.35)
    assert unfinished.verdict(b, "x", 0.25).startswith("open")
    # where regret so far can rise again (a synthetic function's incumbent), or is unknown
    assert math.isinf(unfinished.Bounds({0: 0.2}, {2: p}, [], observed=False).highest())
    unknown = unfinished.Progress(None, 5.0, None)
    assert math.isinf(unfinished.Bounds({0: 0.2}, {2: unknown}, [], observed=True).highest())
    done = unfinished.Bounds({0: 0.2, 1: 0.4}, {}, [], observed=False)
    assert done.lowest() == done.highest() == pytest.approx(0.3)


def test_the_report(runs, scale, capsys, monkeypatch):
    root, _ = runs
    monkeypatch.setattr(unfinished, "regret_scale", lambda bb: scale)  # seconds for a table
    args = ["--benchmark", BENCH, "--hours", str(HOURS), "--runs-dir", str(root), "--seeds", "2"]
    assert unfinished.main(args) == 0
    out = capsys.readouterr().out
    data = Checkpoint.read(root / f"{BENCH}-w4-h{HOURS:g}-n0" / "synetune-asha-seed1.partial")
    assert f"| synetune-asha | 1 | {data['progress']['time'] / LIMIT_S:.0%} |" in out
    assert "| synetune-asha | 1 | 1 | 0 |" in out  # finished, unfinished, not started
    assert "no finished method to set it against" in out
    with pytest.raises(SystemExit):
        unfinished.main([*args, "--methods", "optuna-gp"])
    assert "no runs of optuna-gp" in capsys.readouterr().err


def test_a_run_at_the_tables_best_value_is_settled_and_its_curve_is_the_finished_runs(
    runs, bb, full, scale, monkeypatch
):
    _, saved = runs
    part = saved.checkpoint("synetune-asha", 1)
    so_far = [tuple(e) for e in Checkpoint.read(part)["progress"]["events"]]
    assert unfinished.progress(part, bb, LIMIT_S, scale).regret > 0  # not at the table's best
    assert unfinished.settled(part, bb, LIMIT_S, scale) is None
    assert unfinished.bounds(saved, "synetune-asha", range(2), bb, LIMIT_S, scale).settled == {}
    # as if it ended now (standing --so-far): its curve so far, the highest it can still end with
    frozen = unfinished.settled(part, bb, LIMIT_S, scale, so_far=True)
    assert frozen == compare._trajectory(bb, so_far) and frozen
    got = standing.peer_runs(saved, "synetune-asha", 2, bb, LIMIT_S, scale, so_far=True)
    assert got == ([compare._trajectory(bb, full[0]), frozen], 0, 1)
    assert standing.peer_runs(saved, "synetune-asha", 2, bb, LIMIT_S, scale) == "1 finished"
    # make the best value seen so far the table's best: from here on the run cannot improve
    monkeypatch.setattr(bb, "optimum", min(v for _, _, v in so_far))
    traj = unfinished.settled(part, bb, LIMIT_S, scale)
    assert traj == compare._trajectory(bb, so_far)
    # what the uninterrupted run's curve is over the whole budget, point for point
    grid = compare.time_grid(LIMIT_S)
    whole = compare._trajectory(bb, full[1])
    assert compare.regret_curves([traj], grid, bb, scale) == compare.regret_curves(
        [whole], grid, bb, scale
    )
    b = unfinished.bounds(saved, "synetune-asha", range(2), bb, LIMIT_S, scale)
    assert b.finals[1] == 0.0 and list(b.settled) == [1] and b.unfinished == {}
    assert b.lowest() == b.highest() == pytest.approx(b.finals[0] / 2)
    kept = unfinished.bounds(saved, "synetune-asha", range(2), bb, LIMIT_S, scale, True)
    assert list(kept.unfinished) == [1] and kept.settled == {}
    # benchmarks.standing counts it as a peer's finished seed, and says so
    got = standing.peer_runs(saved, "synetune-asha", 2, bb, LIMIT_S, scale)
    assert got == ([compare._trajectory(bb, full[0]), traj], 1, 0)
    assert standing.peer_runs(saved, "synetune-asha", 3, bb, LIMIT_S, scale) == (
        "2 finished, 1 of them settled"
    )
    assert standing.peer_runs(saved, "synetune-asha", 2) == "1 finished"  # bb not given
    # stored as a finished run in place of its checkpoint: the same curve, said to be settled
    rw = SavedRuns(saved.dir.parent, BENCH, WORKERS, HOURS, 0.0)
    assert unfinished.store_settled(rw, "synetune-asha", range(3), bb, LIMIT_S) == [1]
    assert not Path(part).exists() and saved.load("synetune-asha", 1)[0] == traj
    stored = json.loads((saved.dir / "synetune-asha-seed1.json").read_text())
    assert "settled" in stored and stored["seconds"] > 0
    b = unfinished.bounds(saved, "synetune-asha", range(2), bb, LIMIT_S, scale)
    assert b.finals[1] == 0.0 and b.settled == {} and b.unfinished == {}
    # a synthetic function's incumbent can get worse again: never settled early
    assert unfinished.settled(part, compare.make_benchmark("branin-mf"), LIMIT_S, 1.0) is None
