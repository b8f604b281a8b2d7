"""The coordinator: leases, idempotency, budgets, stale workers, concurrent workers."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hpo.client import Client
from hpo.coordinator import Coordinator
from hpo.errors import InvalidReport, TrialNotFound, TrialStateError
from hpo.model import Decision
from hpo.model import TrialState as S
from hpo.storage import SQLStorage

SPACE = {
    "x": {"type": "float", "low": -5.0, "high": 5.0},
    "y": {"type": "int", "low": 0, "high": 9},
}


def make(url: str, **kw) -> tuple[Client, Coordinator]:
    c = Client(url)
    s = c.create_study("s", SPACE, "loss", **kw)
    return c, c.coordinator(s)


def test_ask_is_idempotent_per_worker(storage_url: str) -> None:
    _, co = make(storage_url, budget={"max_trials": 5})
    a1 = co.ask("w1")
    a2 = co.ask("w1")
    assert a1 is not None and a2 is not None and a1.trial_id == a2.trial_id
    assert co.ask("w2").trial_id != a1.trial_id


def test_retried_report_is_stored_once_and_returns_the_first_decision(
    storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    c, co = make(
        storage_url,
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": 20},
    )
    a = co.ask("w1")
    d1 = co.report(a.trial_id, 1, {"loss": 0.5})
    with caplog.at_level(logging.WARNING, logger="hpo.coordinator"):
        assert co.report(a.trial_id, 1, {"loss": 0.5}) == d1  # a retry after a lost response
        assert not caplog.records  # the same values: nothing to say
        d2 = co.report(a.trial_id, 1, {"loss": 0.1})  # the step ran again, otherwise
    assert d1 == d2
    reports = c.storage.get_reports(a.trial_id)
    assert [(r.step, r.metrics["loss"]) for r in reports] == [(1, 0.5)]
    (rec,) = caplog.records
    assert rec.getMessage() == (
        "trial 0 of 's' reported step 1 again with other values (loss=0.1); the first report "
        "(loss=0.5) is kept"
    )


def test_reports_with_bad_values_are_rejected_with_a_message(storage_url: str) -> None:
    c, co = make(storage_url, budget={"max_trials": 5})
    a = co.ask("w1")
    with pytest.raises(InvalidReport, match="finite"):
        co.report(a.trial_id, 1, {"loss": float("nan")})
    with pytest.raises(InvalidReport, match="lacks the objective"):
        co.report(a.trial_id, 1, {"acc": 0.3})
    with pytest.raises(InvalidReport, match="must be a number"):
        co.report(a.trial_id, 1, {"loss": "low"})
    for flag in (True, np.bool_(False)):  # float() would read them as 1.0 and 0.0
        with pytest.raises(InvalidReport, match="not a boolean"):
            co.report(a.trial_id, 1, {"loss": 0.5, "ok": flag})
    assert c.storage.get_reports(a.trial_id) == []
    with pytest.raises(InvalidReport, match="step"):
        co.report(a.trial_id, -1, {"loss": 1.0})
    with pytest.raises(TrialNotFound):
        co.report(99999, 1, {"loss": 1.0})


def test_a_report_above_the_maximum_fidelity_is_refused_and_not_stored(storage_url: str) -> None:
    c, co = make(storage_url, fidelity={"name": "epoch", "min": 1, "max": 9}, scheduler="asha")
    a = co.ask("w1")
    with pytest.raises(InvalidReport, match=r"step 1e\+308 is above the study's maximum fidelity"):
        c.report("s", a.trial_id, 1e308, loss=0.4)  # the SDK
    with pytest.raises(InvalidReport, match="above the study's maximum fidelity"):
        c.tell("s", a.trial_id, 0.4, step=10)
    assert c.storage.get_reports(a.trial_id) == []
    assert c.trials("s")[0].state is S.RUNNING and c.best_trial("s") is None
    # a hair above the maximum (a sum of fractions of an epoch) is the maximum: the end
    assert c.report("s", a.trial_id, 9 * (1 + 1e-12), loss=0.5) is Decision.STOP
    assert c.report("s", a.trial_id, 9, loss=0.5) is Decision.STOP


def test_max_trials_ends_the_study_when_nothing_runs(storage_url: str) -> None:
    c, co = make(storage_url, budget={"max_trials": 3})
    for _ in range(3):
        a = co.ask("w")
        co.tell(a.trial_id, 1.0)
    assert co.ask("w") is None
    assert co.finished
    assert c.get_study("s").finished
    assert [t.state for t in c.trials("s")] == [S.COMPLETED] * 3


def test_expired_lease_without_checkpoint_returns_trial_to_pending_and_it_runs_next(
    storage_url: str,
) -> None:
    c, co = make(storage_url, budget={"max_trials": 5})
    a = co.ask("dead-worker", lease_s=0.05)
    time.sleep(0.1)
    b = co.ask("w2")
    assert b.trial_id == a.trial_id and b.resume  # interrupted trials come first
    assert c.history("s").trial(a.trial_id).resumes == 1


def test_expired_lease_with_checkpoint_returns_trial_to_paused(storage_url: str) -> None:
    c, co = make(
        storage_url, fidelity={"name": "epoch", "min": 1, "max": 9}, budget={"max_trials": 5}
    )
    a = co.ask("dead-worker", lease_s=0.5)
    co.report(a.trial_id, 1, {"loss": 1.0}, checkpoint=True, lease_s=0.05)
    time.sleep(0.1)
    co.expire()
    t = c.history("s").trial(a.trial_id)
    assert t.state is S.PAUSED and t.interrupted and t.checkpoint_step == 1
    b = co.ask("w2")
    assert b.trial_id == a.trial_id and b.checkpoint_step == 1


def test_a_stale_worker_is_told_to_stop_and_its_report_is_dropped(storage_url: str) -> None:
    c, co = make(
        storage_url, fidelity={"name": "epoch", "min": 1, "max": 9}, budget={"max_trials": 5}
    )
    a = co.ask("old", lease_s=0.05)
    time.sleep(0.1)
    assert co.ask("new").trial_id == a.trial_id
    assert co.report(a.trial_id, 1, {"loss": 1.0}, worker="old") is Decision.STOP
    assert c.storage.get_reports(a.trial_id) == []
    assert co.report(a.trial_id, 1, {"loss": 1.0}, worker="new") is Decision.CONTINUE
    co.end(a.trial_id, exit_ok=False, error="x", worker="old")  # ignored: not its trial
    assert c.history("s").trial(a.trial_id).state is S.RUNNING


def test_end_after_pause_marks_paused_with_checkpoint_and_crash_marks_failed(
    storage_url: str,
) -> None:
    c, co = make(
        storage_url,
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="sha",
        scheduler_params={"n": 3, "max_brackets": 1},
    )
    a = co.ask("w1")
    assert co.report(a.trial_id, 1, {"loss": 1.0}) is Decision.PAUSE
    t = co.end(a.trial_id, exit_ok=True)
    assert t.state is S.PAUSED and t.checkpoint_step == 1
    b = co.ask("w1")
    t = co.end(b.trial_id, exit_ok=False, error="Traceback ... ZeroDivisionError")
    assert t.state is S.FAILED and "ZeroDivisionError" in t.error


def test_fidelity_budget_stops_running_trials(storage_url: str) -> None:
    _, co = make(
        storage_url, fidelity={"name": "epoch", "min": 1, "max": 100}, budget={"max_fidelity": 5}
    )
    a = co.ask("w1")
    decisions = [co.report(a.trial_id, s, {"loss": 1.0 / s}) for s in range(1, 7)]
    assert decisions[:4] == [Decision.CONTINUE] * 4
    assert decisions[4] is Decision.STOP


def _worker(url: str, name: str, out: mp.Queue) -> None:
    st = SQLStorage(url)
    co = Coordinator(st, "s")
    claims = []
    idle_since = None
    while True:
        a = co.ask(name)
        if a is None:
            if co.finished:
                break
            idle_since = idle_since or time.time()
            if time.time() - idle_since > 30:
                break
            time.sleep(0.01)
            continue
        idle_since = None
        claims.append((a.trial_id, a.checkpoint_step, a.until))
        step = int(a.checkpoint_step or 0) + 1
        while True:
            d = co.report(
                a.trial_id, step, {"loss": (a.config["x"] ** 2 + 1) / step}, checkpoint=True
            )
            if d is not Decision.CONTINUE or step >= 9:
                break
            step += 1
        co.end(a.trial_id, exit_ok=True, worker=name)
    out.put(claims)


def test_sixteen_concurrent_workers_never_share_a_trial_or_lose_one(pg_url: str) -> None:
    """16 processes against one PostgreSQL study with ASHA (new trials and promotions)."""
    c = Client(pg_url)
    c.create_study(
        "s",
        SPACE,
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler="asha",
        budget={"max_trials": 120},
    )
    # forkserver: one server process imports this module (and hpo) once and forks the 16
    # workers, each still a process of its own with its own connections; with spawn, 16 fresh
    # interpreters importing hpo at once made the test take twice as long on 2 cores
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
    else:
        ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(pg_url, f"w{i}", q)) for i in range(16)]
    for p in procs:
        p.start()
    claims = [c for _ in procs for c in q.get(timeout=240)]
    for p in procs:
        p.join(timeout=30)
    counts = Counter((tid, ck) for tid, ck, _ in claims)
    assert max(counts.values()) == 1  # no (trial, starting point) handed out twice
    h = c.history("s")
    assert h.n_trials == 120
    assert all(t.state.is_final for t in h.trials())
    for t in h.trials():  # reports contiguous from 1 to the last step: none lost, none doubled
        steps = [r.step for r in h.reports(t.id)]
        assert steps == list(range(1, int(t.last_step) + 1))
    assert any(t.resumes > 0 for t in h.trials())  # promotions happened


def test_threads_share_one_sqlite_storage_safely(tmp_path: Path) -> None:
    import threading

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    c = Client(url)
    s = c.create_study("s", SPACE, "loss", budget={"max_trials": 60})
    co = c.coordinator(s)
    got: list[int] = []

    def loop(name: str) -> None:
        while (a := co.ask(name)) is not None:
            got.append(a.trial_id)
            co.tell(a.trial_id, a.config["x"] ** 2)

    ts = [threading.Thread(target=loop, args=(f"t{i}",)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(got) == sorted(set(got)) and len(got) == 60


def test_a_held_running_trial_pauses_at_its_next_report_and_waits_for_the_user(
    storage_url: str,
) -> None:

    c, co = make(
        storage_url, fidelity={"name": "epoch", "min": 1, "max": 9}, budget={"max_trials": 2}
    )
    a = co.ask("w1")
    assert co.report(a.trial_id, 1, {"loss": 0.5}) is Decision.CONTINUE
    t = co.pause_trial(a.number)
    assert t.state is S.RUNNING and t.held  # still running until it reports
    assert co.pause_trial(a.number).held  # idempotent
    assert co.report(a.trial_id, 2, {"loss": 0.4}, checkpoint=True) is Decision.PAUSE
    t = co.end(a.trial_id)
    assert t.state is S.HELD and t.checkpoint_step == 2
    # the other trial runs to the end; the study does not end while a trial is held
    b = co.ask("w2")
    assert b is not None and b.trial_id != a.trial_id
    co.tell(b.trial_id, 0.3)
    assert co.ask("w2") is None and not co.finished
    assert c.get_study("s").finished is False
    t = co.resume_trial(a.number)
    assert t.state is S.PAUSED and not t.held and t.interrupted
    again = co.ask("w3")  # resumed first, from its checkpoint, aiming past where it paused
    assert again.trial_id == a.trial_id and again.resume and again.checkpoint_step == 2
    assert again.until == 9
    assert co.report(a.trial_id, 3, {"loss": 0.35}) is Decision.CONTINUE
    co.tell(a.trial_id, 0.2)
    assert co.ask("w3") is None and co.finished
    with pytest.raises(TrialStateError, match="ended"):
        co.pause_trial(a.number)
    with pytest.raises(TrialStateError, match="ended"):  # nothing to resume either
        co.resume_trial(a.number)

    with pytest.raises(TrialNotFound):
        co.resume_trial(99)


def test_resume_clears_the_hold_of_a_trial_that_ended_while_held(storage_url: str) -> None:
    """Held while running, then finished before its next report: the trial has ended, and
    ``resume_trial`` clears the flag that would otherwise stay on it (no 409 for that)."""
    _, co = make(storage_url, budget={"max_trials": 3})
    a = co.ask("w1")
    assert co.pause_trial(a.number).held
    co.tell(a.trial_id, 0.9)
    assert co.history().trial(a.trial_id).held
    t = co.resume_trial(a.number)
    assert t.state is S.COMPLETED and not t.held
    with pytest.raises(TrialStateError, match="ended"):  # now there is nothing left to resume
        co.resume_trial(a.number)


def test_a_held_paused_trial_is_never_promoted_and_goes_back_to_the_scheduler(
    storage_url: str,
) -> None:
    _, co = make(
        storage_url,
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler={"name": "asha", "params": {"eta": 3}},
        budget={"max_trials": 6},
    )
    # three trials reach rung 1 (epoch 1); ASHA pauses them and would promote the best
    runs = [co.ask(f"w{i}") for i in range(3)]
    for a, loss in zip(runs, (0.1, 0.5, 0.9), strict=True):
        assert co.report(a.trial_id, 1, {"loss": loss}, checkpoint=True) is not None
        co.end(a.trial_id)
    best = runs[0]
    st = co.history().trial(best.trial_id).state
    assert st is S.PAUSED
    held = co.pause_trial(best.number)
    assert held.state is S.HELD and not held.interrupted
    nxt = co.ask("w9")
    assert nxt is not None and nxt.trial_id != best.trial_id  # not promoted while held
    co.resume_trial(best.number)
    t = co.history().trial(best.trial_id)
    assert t.state is S.PAUSED and not t.interrupted  # back to the scheduler, not forced first


def test_once_the_trial_budget_is_spent_asks_propose_nothing_new(storage_url: str) -> None:
    """An idle worker's ask after the last trial started must not run the searcher (a GP
    proposal that would be thrown away costs seconds, and workers ask every few ms)."""
    _, co = make(storage_url, budget={"max_trials": 2})
    proposals = []
    inner = co.scheduler.searcher

    class Counting:
        def propose(self, history, pending, n=1):
            proposals.append(history.n_trials)
            return inner.propose(history, pending, n)

    co.scheduler.searcher = Counting()
    assert co.ask("w1") is not None and co.ask("w2") is not None
    assert proposals == [0, 1]
    for _ in range(5):
        assert co.ask("w3") is None
    assert proposals == [0, 1]
