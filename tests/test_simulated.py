"""The simulated backend: clock and worker accounting, exact replay, pause and resume."""

from __future__ import annotations

from pathlib import Path

import pytest

import hpo
from hpo.coordinator import Coordinator
from hpo.executors.simulated import SimulatedExecutor
from hpo.runner import Driver


class Flat:
    """Every epoch costs 10 s; the value is x + 1/epoch."""

    max_epochs = 3

    def value(self, config, epoch):
        return config["x"] + 1.0 / epoch

    def cost(self, config, epoch):
        return 10.0


def _study(tmp_path: Path, name: str, **kw):
    c = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    s = c.create_study(name, {"x": hpo.Float(0, 1)}, "loss", **kw)
    return c, s


def test_clock_and_worker_accounting_match_a_hand_worked_example(tmp_path):
    # 2 workers, 3 trials of 3 epochs x 10 s, random search (every trial runs to the end):
    # t=0: w0 <- trial 0, w1 <- trial 1; both report at 10, 20, 30; trial 0 goes first at ties
    # (started first) and ends at 30, so w0 <- trial 2 at 30: it reports at 40, 50, 60.
    c, s = _study(
        tmp_path, "hand", fidelity={"name": "epoch", "min": 1, "max": 3}, budget={"max_trials": 3}
    )
    ex = SimulatedExecutor(Flat(), n_workers=2)
    Driver(Coordinator(c.storage, s), ex).run()
    got = [(e.time, e.trial, e.epoch) for e in ex.trace]
    assert got == [
        (10, 0, 1),
        (10, 1, 1),
        (20, 0, 2),
        (20, 1, 2),
        (30, 0, 3),
        (30, 1, 3),
        (40, 2, 1),
        (50, 2, 2),
        (60, 2, 3),
    ]
    w0, w1 = ex.workers
    assert [e.worker for e in ex.trace if e.trial == 2] == [w0] * 3
    assert ex.now == 60 and ex.busy_s == {w0: 60.0, w1: 30.0}
    assert {t.state.value for t in c.trials(s)} == {"completed"}


class Curves:
    """Configuration-dependent curves and costs, as a tabular benchmark would have."""

    max_epochs = 9

    def value(self, config, epoch):
        return (config["x"] - 0.3) ** 2 + 1.0 / (epoch + 10 * config["x"])

    def cost(self, config, epoch):
        return 5.0 + 20.0 * config["x"]


def test_asha_on_the_simulator_replays_curves_exactly_and_resumes_where_it_paused(tmp_path):
    c, s = _study(
        tmp_path,
        "asha",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": 40},
    )
    bb = Curves()
    ex = SimulatedExecutor(bb, n_workers=4, resume_s=2.0)
    summary = Driver(Coordinator(c.storage, s), ex).run()
    assert sum(summary.counts.values()) == 40
    h = c.history(s)
    resumed = [t for t in h.trials() if t.resumes > 0]
    assert resumed, "ASHA promoted nobody"
    for t in h.trials():
        reps = h.reports(t.id)
        # every stored value is the blackbox's, epochs 1..last with none twice or skipped
        assert [r.step for r in reps] == [float(e) for e in range(1, len(reps) + 1)]
        assert [r.metrics["loss"] for r in reps] == [
            bb.value(t.config, e) for e in range(1, len(reps) + 1)
        ]
    # a resumed trial continued after its checkpoint: its trace has each epoch once, and the
    # epoch after the pause came at least resume_s + cost after the resume started
    for t in resumed:
        epochs = [e.epoch for e in ex.trace if e.trial == t.number]
        assert epochs == list(range(1, len(epochs) + 1))
    times = [e.time for e in ex.trace]
    assert times == sorted(times)  # the clock never runs backwards
    # no worker trains more than the simulated time that passed
    assert all(b <= ex.now + 1e-9 for b in ex.busy_s.values())
    assert sum(ex.busy_s.values()) == pytest.approx(
        sum(bb.cost(t.config, 1) * len(h.reports(t.id)) for t in h.trials())
        + 2.0 * sum(t.resumes for t in h.trials())
    )


class Minutes(Curves):
    def cost(self, config, epoch):
        return 60.0 * super().cost(config, epoch)  # 5 to 25 minutes an epoch


def test_hours_of_simulated_training_end_with_every_trial_final(tmp_path):
    c, s = _study(
        tmp_path,
        "long",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": 100},
    )
    ex = SimulatedExecutor(Minutes(), n_workers=8)
    Driver(Coordinator(c.storage, s), ex).run()
    assert ex.now > 5 * 3600
    assert {t.state.value for t in c.trials(s)} <= {"completed", "stopped"}
    # 8 workers were kept busy most of the time (ASHA's asynchrony: no waiting for a rung)
    assert sum(ex.busy_s.values()) / (8 * ex.now) > 0.8


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_workers"):
        SimulatedExecutor(Flat(), n_workers=0)
    with pytest.raises(ValueError, match="resume_s"):
        SimulatedExecutor(Flat(), resume_s=-1)


def test_a_simulated_time_limit_ends_the_search_at_that_time(tmp_path):
    # The hand-worked setup with 10 trials and a limit of 45 s: trials 2 (w0) and 3 (w1) start
    # at 30 and report epoch 1 at 40; their epoch 2 would end at 50, after the limit, so both
    # runs end at 45 and nothing more starts.
    c, s = _study(
        tmp_path, "limit", fidelity={"name": "epoch", "min": 1, "max": 3}, budget={"max_trials": 10}
    )
    ex = SimulatedExecutor(Flat(), n_workers=2, time_limit_s=45)
    Driver(Coordinator(c.storage, s), ex).run()
    assert [(e.time, e.trial) for e in ex.trace] == [
        (10, 0),
        (10, 1),
        (20, 0),
        (20, 1),
        (30, 0),
        (30, 1),
        (40, 2),
        (40, 3),
    ]
    w0, w1 = ex.workers
    assert ex.now == 45 and ex.busy_s == {w0: 45.0, w1: 45.0}
    trials = c.trials(s)
    assert [t.state.value for t in trials] == ["completed", "completed", "failed", "failed"]
    assert all(t.error == "simulated time limit" for t in trials[2:])
    assert [r.step for r in c.history(s).reports(trials[3].id)] == [1.0]
