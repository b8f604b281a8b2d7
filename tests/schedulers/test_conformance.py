"""Conformance of every scheduler in ``hpo.schedulers.SCHEDULERS`` (on a fidelity study).

Each case runs once (module-scoped): four simulated workers, interleaved by a seeded RNG, ask,
report step by step, crash now and then, and end their runs through the real Coordinator on a
SQLite file, until the study is over. The tests then check that the scheduler

(a) never proposes a configuration outside the search space,
(b) never hands one trial to two workers at once,
(c) decides the same way when rebuilt from the stored history (a replay).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from hpo.schedulers import SCHEDULERS, Suggestion, make_scheduler

from hpo.coordinator import Assignment
from hpo.history import History
from hpo.model import Decision, Report, Study, Trial, TrialState

SPACE = {
    "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
    "x": {"type": "float", "low": -1.0, "high": 1.0},
    "layers": {"type": "int", "low": 1, "high": 4},
    "units": {"type": "int", "low": 8, "high": 512, "log": True},
    "act": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    "flag": {"type": "categorical", "choices": [True, False]},
}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("random", {}),
    ("sha", {"eta": 3, "max_brackets": 2}),
    ("successive_halving", {"eta": 3, "n": 12, "max_brackets": 2}),
    ("hyperband", {"eta": 3, "max_brackets": 3}),
    ("asha", {"eta": 3}),
    ("asha", {"eta": 3, "variant": "stopping"}),
    ("asha", {"eta": 2, "brackets": 3}),
    ("asha", {"eta": 3, "brackets": "adaptive"}),
    ("asha", {"eta": 3, "skip_repeats": True}),
    # the first two new trials get these (completed at the middle / first choice), then ASHA's
    ("asha", {"eta": 3, "points_to_evaluate": [{"lr": 0.01}, {"x": 0.5, "act": "gelu"}]}),
    # model-based: random until 18 of the 24 trials have results, so that the GP's proposals
    # (and their replay, which refits from the stored history) stay a few seconds
    ("bo", {"n_initial": 18}),
    ("mobster", {"eta": 3, "n_initial": 18}),
    ("hypertune", {"eta": 3, "n_initial": 20}),
]
N_WORKERS = 4
CRASH_P = 0.02


SEEDS = (0, 1)


def case_id(case: tuple[tuple[str, dict[str, Any]], int]) -> str:
    (name, params), seed = case
    return "-".join(
        [name, *(f"{k}={v if not isinstance(v, list) else len(v)}" for k, v in params.items())]
        + [f"seed{seed}"]
    )


def loss(number: int, step: float) -> float:
    if number % 4 == 3:  # repeats the curve of the trial before it (skip_repeats leaves it out)
        number -= 1
    return (number * 0.6180339887) % 1.0 + 0.5 / step


@dataclass
class Run:
    sim: Any
    assignments: list[Assignment] = field(default_factory=list)
    double_handouts: list[tuple[int, str, str]] = field(default_factory=list)
    wrong_holder: list[tuple[int, str, str | None]] = field(default_factory=list)


def drive(sim, seed: int = 0, max_actions: int = 20_000) -> Run:
    """Interleaves N_WORKERS workers until the study is over; records what they were given.

    After an ask got nothing, idle workers wait until the study changes (a report, an end or an
    assignment) before asking again, as a polling worker waits out its interval: a model-based
    scheduler makes a whole GP proposal for every ask, also for one the spent trial budget
    refuses, and asking again on an unchanged study only repeated that work.
    """
    rng = random.Random(seed)
    ws = [sim.worker(f"w{i}") for i in range(N_WORKERS)]
    run = Run(sim)
    holder: dict[int, str] = {}
    changes, refused_at = 0, -1  # study changes so far; the count when an ask last got nothing
    for _ in range(max_actions):
        if sim.coord.finished and not any(w.busy for w in ws):
            return run
        w = rng.choice(ws)
        if not w.busy and refused_at == changes:
            continue
        changes += 1  # what follows asks for a trial, reports or ends one
        if not w.busy:
            a = w.ask()
            if a is None:
                refused_at = changes
                continue
            run.assignments.append(a)
            if a.trial_id in holder:
                run.double_handouts.append((a.number, holder[a.trial_id], w.name))
            holder[a.trial_id] = w.name
            stored = sim.client.storage.get_trial(sim.study.id, a.trial_id)
            if stored.worker != w.name or stored.state is not TrialState.RUNNING:
                run.wrong_holder.append((a.number, w.name, stored.worker))
        elif w.finished_run:
            del holder[w.held.trial_id]
            w.end()
        elif w.reported and rng.random() < CRASH_P:
            del holder[w.held.trial_id]
            w.end(exit_ok=False)
        else:
            w.report()
    raise AssertionError(f"the study did not finish within {max_actions} worker actions")


@pytest.fixture(scope="module", params=[(c, s) for c in CASES for s in SEEDS], ids=case_id)
def run(request, tmp_path_factory, sim_factory) -> Run:
    (name, params), seed = request.param
    sim = sim_factory(
        tmp_path_factory.mktemp(name),
        name,
        params,
        loss=loss,
        fidelity=(1, 9),
        space=SPACE,
        budget={"max_trials": 24},
        audit=True,
    )
    return drive(sim, seed=seed)


def test_the_conformance_cases_cover_every_registered_scheduler() -> None:
    assert {name for name, _ in CASES} == set(SCHEDULERS)


def test_a_run_starts_trials_and_ends_with_none_running(run: Run) -> None:
    h = run.sim.history()
    assert h.n_trials >= 12
    assert not h.trials((TrialState.RUNNING, TrialState.PENDING))
    assert h.trials((TrialState.COMPLETED,))


# ---- (a) ------------------------------------------------------------------------------------


def test_every_configuration_handed_out_lies_in_the_space(run: Run) -> None:
    space = run.sim.study.space
    assert run.assignments
    for a in run.assignments:
        assert space.validate_config(a.config) == a.config


def test_every_stored_configuration_lies_in_the_space(run: Run) -> None:
    space = run.sim.study.space
    for t in run.sim.history().trials():
        assert space.validate_config(t.config) == t.config


# ---- (b) ------------------------------------------------------------------------------------


def test_no_trial_is_handed_to_two_workers_at_once(run: Run) -> None:
    assert run.double_handouts == []


def test_a_handed_out_trial_is_stored_as_running_for_the_worker_that_got_it(run: Run) -> None:
    assert run.wrong_holder == []


def test_workers_really_interleaved(run: Run) -> None:
    """Guards (b): several trials ran at the same time at some point."""
    events = run.sim.events
    running: set[int] = set()
    most = 0
    for e in events:
        if e[0] in ("new", "resume"):
            running.add(e[1])
        elif e[0] == "end":
            running.discard(e[1])
        most = max(most, len(running))
    assert most >= 3


# ---- (c) ------------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    decisions: int = 0
    suggestions: int = 0
    retirements: int = 0
    mismatches: list[str] = field(default_factory=list)
    final: History | None = None


def replay(study: Study, log: list[tuple[str, int, Trial | Report]]) -> ReplayResult:
    """Rebuilds the history row by row and asks a fresh scheduler at every decision point.

    The stored tables keep only each trial's latest row, but a decision depends on the trial
    states at the moment it was made (ASHA promotes only paused trials, or the running trial
    that is reporting; successive halving retires only paused losers). So the test database has
    triggers (see ``install_audit_log``) that copy every trial insert/update and every report
    into an audit table, in writing order, each with the storage ``version`` of its
    transaction. Applying those rows in order with ``History.apply_trial``/``apply_report``
    rebuilds, at each point, exactly the History the coordinator's scheduler saw:

    * a report: the coordinator first updates the trial (``last_step``, lease), then decides
      from a history holding the new report without a decision, then stores the report with its
      decision. So the prefix is every earlier row plus that report with ``decision=None``, and
      the trial passed to ``on_report`` is its row as just updated. Reports at the maximum
      fidelity are decided by the coordinator itself and are skipped.
    * a trial inserted, or a paused, non-interrupted trial set running: a ``suggest`` ("new"
      with its config, until and bracket, or "resume" with its until). The prefix is every
      earlier row, including the trials the same ``ask`` had just retired.
    * the trials an ``ask`` moved from paused to stopped before such a suggestion: they must be
      ``retired()`` of the history as it was when that transaction began.

    Every check builds a new scheduler with ``make_scheduler(study)``, so nothing a scheduler
    cached during the run can help. The final history is compared with ``storage.history()``.
    """
    out = ReplayResult()
    h = History(study)
    version: int | None = None
    retired_at_start: set[int] = set()
    stopped_now: set[int] = set()
    for kind, v, row in log:
        if v != version:
            version = v
            retired_at_start = set(make_scheduler(study).retired(h))
            stopped_now = set()
        if kind == "trial":
            assert isinstance(row, Trial)
            prev = h.get(row.id)
            if prev is None:
                expected = Suggestion.new(row.config, row.until, row.bracket)
            elif (
                prev.state is TrialState.PAUSED
                and row.state is TrialState.RUNNING
                and not prev.interrupted
            ):
                expected = Suggestion.resume(row, row.until)
            else:
                expected = None
            if expected is not None:
                got = make_scheduler(study).suggest(h)
                if got is not None and got.config is not None:
                    got = dataclasses.replace(got, config=study.space.validate_config(got.config))
                out.suggestions += 1
                if got != expected:
                    out.mismatches.append(f"v{v} trial {row.number}: {got} != {expected}")
                out.retirements += len(stopped_now)
                if stopped_now != retired_at_start:
                    out.mismatches.append(
                        f"v{v}: stopped {sorted(stopped_now)}, retired() {sorted(retired_at_start)}"
                    )
            if prev is not None and (prev.state, row.state) == (
                TrialState.PAUSED,
                TrialState.STOPPED,
            ):
                stopped_now.add(row.id)
            h.apply_trial(row)
        else:
            assert isinstance(row, Report)
            if row.step < study.max_fidelity:
                undecided = dataclasses.replace(row, decision=None)
                h.apply_report(undecided)
                t = h.trial(row.trial_id)
                got_d = make_scheduler(study).on_report(h, t, undecided)
                out.decisions += 1
                if got_d is not row.decision:
                    out.mismatches.append(
                        f"v{v} trial {t.number} step {row.step}: {got_d} != {row.decision}"
                    )
            h.apply_report(row)
    out.final = h
    return out


@pytest.fixture(scope="module")
def replayed(run: Run, audit_log) -> ReplayResult:
    return replay(run.sim.study, audit_log(run.sim.db_path))


def test_the_audit_log_rebuilds_the_stored_history(run: Run, replayed: ReplayResult) -> None:
    stored = run.sim.history()
    rebuilt = replayed.final
    assert rebuilt.trials() == stored.trials()
    for t in stored.trials():
        assert rebuilt.reports(t.id) == stored.reports(t.id)


def test_report_decisions_survive_a_replay_into_fresh_schedulers(replayed: ReplayResult) -> None:
    assert replayed.decisions > 20
    assert [m for m in replayed.mismatches if "step" in m] == []


def test_suggestions_survive_a_replay_into_fresh_schedulers(replayed: ReplayResult) -> None:
    assert replayed.suggestions >= 12
    assert [m for m in replayed.mismatches if "step" not in m] == []


def test_replay_exercises_pauses_and_resumes_where_the_scheduler_makes_them(
    run: Run, replayed: ReplayResult
) -> None:
    """Guards (c): the run had the decisions worth replaying."""
    name, params = run.sim.study.scheduler.name, run.sim.study.scheduler.params
    decisions = {
        r.decision for t in run.sim.history().trials() for r in run.sim.history().reports(t.id)
    }
    resumes = [e for e in run.sim.events if e[0] == "resume"]
    if name in ("random", "bo"):
        assert decisions == {Decision.CONTINUE, Decision.STOP}
    elif name == "asha" and params.get("variant") == "stopping":
        assert Decision.STOP in decisions and Decision.PAUSE not in decisions
    else:
        assert Decision.PAUSE in decisions and resumes
    if name in ("sha", "successive_halving", "hyperband"):
        assert replayed.retirements > 0
