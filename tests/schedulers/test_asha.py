"""ASHA (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020) driven
through the real Coordinator on a SQLite file by deterministic simulated workers.

Algorithm 2 (promotion variant): ``get_job`` looks at rungs from the top one down and promotes the
best trial of ``top_k(rung k, floor(|rung k| / eta))`` that has not been promoted yet; if there is
none, a new configuration starts at the bottom rung. Here a trial reaching a rung continues in
place exactly when ``get_job`` would pick it, and pauses otherwise; paused trials are resumed when
promoted. All studies: eta = 3, fidelity 1..9, so the rungs are 1, 3, 9.

Traces are written as events: ``("new", number, until)``, ``("resume", number, until,
checkpoint_step)`` for asks and ``(number, step, decision)`` for reports at rung levels.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from hpo.schedulers import ASHA

from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import Decision, Fidelity, Objective, SchedulerSpec, Study, Trial, TrialState
from hpo.space import SearchSpace

C, P, S = Decision.CONTINUE, Decision.PAUSE, Decision.STOP
TOP = "top"  # a report at the maximum fidelity: the trial is done, whatever it is told
RUNGS = (1.0, 3.0, 9.0)
ASHA_3 = {"eta": 3}


def asks(events: list[tuple]) -> list[tuple]:
    return [e for e in events if e[0] in ("new", "resume")]


def rung_reports(events: list[tuple], levels=RUNGS, top: float = 9.0) -> list[tuple]:
    """(number, step, decision) of reports at rung levels; at the maximum fidelity the decision
    is the coordinator's (the trial is done), written TOP."""
    return [
        (e[1], e[2], TOP if e[2] >= top else e[3])
        for e in events
        if e[0] == "report" and e[2] in levels
    ]


# ---- the bottom rung ------------------------------------------------------------------------


def test_with_one_or_two_results_in_the_bottom_rung_nothing_is_promoted(make_sim) -> None:
    # floor(1/3) = floor(2/3) = 0: even the best of them is not promoted.
    sim = make_sim("asha", ASHA_3, loss={0: 0.1, 1: 0.2, 2: 0.3})
    events = sim.run_one_worker(3)
    assert asks(events) == [("new", 0, 1), ("new", 1, 1), ("new", 2, 1)]
    assert rung_reports(events)[:2] == [(0, 1, P), (1, 1, P)]


def test_with_three_results_in_the_bottom_rung_the_best_paused_one_is_promoted(make_sim) -> None:
    # Rung 0 = {#0: .3, #1: .9, #2: .5}: top_k(rung 0, 1) = [#0], paused, so #2 pauses and the
    # next get_job resumes #0.
    sim = make_sim("asha", ASHA_3, loss={0: 0.3, 1: 0.9, 2: 0.5})
    events = sim.run_one_worker(4)
    assert rung_reports(events)[:3] == [(0, 1, P), (1, 1, P), (2, 1, P)]
    assert asks(events)[3] == ("resume", 0, 3, 1)


def test_with_three_results_the_best_continues_in_place_when_it_is_the_reporting_trial(
    make_sim,
) -> None:
    # Rung 0 = {#0: .5, #1: .9, #2: .3}: get_job would pick #2 itself, so it goes on to 3.
    sim = make_sim("asha", ASHA_3, loss={0: 0.5, 1: 0.9, 2: 0.3})
    events = sim.run_one_worker(3)
    assert rung_reports(events) == [(0, 1, P), (1, 1, P), (2, 1, C), (2, 3, P)]
    assert [e for e in events if e[0] == "report" and e[1] == 2] == [
        ("report", 2, 1.0, C),
        ("report", 2, 2.0, C),
        ("report", 2, 3.0, P),
    ]


def test_a_trial_continuing_in_place_is_given_the_next_rung_as_its_until(make_sim) -> None:
    sim = make_sim("asha", ASHA_3, loss={0: 0.5, 1: 0.9, 2: 0.3})
    sim.run_one_worker(2)
    w = sim.worker()
    assert w.ask().until == 1
    assert w.report() is C
    assert sim.trial(2).until == 3


def test_a_trial_reaching_a_rung_pauses_when_get_job_would_pick_another(make_sim) -> None:
    sim = make_sim("asha", ASHA_3, loss={0: 0.3, 1: 0.9, 2: 0.5})
    sim.run_one_worker(3)
    assert sim.state(2) is TrialState.PAUSED
    assert sim.state(0) is TrialState.PAUSED
    a = sim.worker().ask()
    assert a.number == 0


def test_a_promoted_trial_resumes_from_its_checkpoint_up_to_the_next_rung(make_sim) -> None:
    sim = make_sim("asha", ASHA_3, loss={0: 0.3, 1: 0.9, 2: 0.5})
    sim.run_one_worker(3)
    w = sim.worker()
    a = w.ask()
    assert (a.number, a.resume, a.until, a.checkpoint_step) == (0, True, 3, 1)
    t = sim.trial(0)
    assert (t.state, t.until, t.resumes) == (TrialState.RUNNING, 3, 1)
    assert w.run() == [(2.0, C), (3.0, P)]  # rung 1 has one result: it pauses there
    assert sim.state(0) is TrialState.PAUSED


# ---- a whole run, hand-computed -------------------------------------------------------------

# Losses by trial number; one worker runs each assignment to its end, 12 times.
TRACE_LOSSES = {0: 0.3, 1: 0.9, 2: 0.5, 3: 0.8, 4: 0.7, 5: 0.6, 6: 0.4, 7: 0.95, 8: 0.85}
TRACE_ASKS = [
    ("new", 0, 1),  # rung 0 = {0}: k = 0                                       -> #0 pauses
    ("new", 1, 1),  # rung 0 = {0, 1}: k = 0                                    -> #1 pauses
    ("new", 2, 1),  # rung 0 has 3, top 1 = [#0] (paused)                       -> #2 pauses
    ("resume", 0, 3, 1),  # #0 at 3: rung 1 = {0}: k = 0; rung 0 top 1 promoted -> #0 pauses
    ("new", 3, 1),  # rung 0 has 4, top 1 = [#0] promoted                       -> #3 pauses
    ("new", 4, 1),  # rung 0 has 5                                              -> #4 pauses
    ("new", 5, 1),  # rung 0 has 6, top 2 = [#0, #2]: #2 not promoted           -> #5 pauses
    ("resume", 2, 3, 1),  # #2 at 3: rung 1 = {0, 2}: k = 0                     -> #2 pauses
    ("new", 6, 1),  # rung 0 has 7, top 2 = [#0, #6]: #6 itself                 -> continues
    #               # #6 at 3: rung 1 = {0, 2, 6}: top 1 = [#0 (.3)], paused    -> #6 pauses
    ("resume", 0, 9, 3),  # #0 goes to the top rung and completes
    ("new", 7, 1),  # rung 0 has 8, top 2 = [#0, #6] promoted                   -> #7 pauses
    ("new", 8, 1),  # rung 0 has 9, top 3 = [#0, #6, #2] promoted               -> #8 pauses
]
TRACE_RUNG_REPORTS = [
    (0, 1, P),
    (1, 1, P),
    (2, 1, P),
    (0, 3, P),
    (3, 1, P),
    (4, 1, P),
    (5, 1, P),
    (2, 3, P),
    (6, 1, C),
    (6, 3, P),
    (0, 9, TOP),
    (7, 1, P),
    (8, 1, P),
]


def test_a_single_worker_run_follows_the_hand_computed_algorithm_2_trace(make_sim) -> None:
    sim = make_sim("asha", ASHA_3, loss=TRACE_LOSSES)
    events = sim.run_one_worker(12)
    assert asks(events) == TRACE_ASKS
    assert rung_reports(events) == TRACE_RUNG_REPORTS
    assert [sim.state(n) for n in range(9)] == [TrialState.COMPLETED] + [TrialState.PAUSED] * 8


def test_reports_between_rungs_always_continue(make_sim) -> None:
    sim = make_sim("asha", ASHA_3, loss=TRACE_LOSSES)
    events = sim.run_one_worker(12)
    between = [e[3] for e in events if e[0] == "report" and e[2] not in RUNGS]
    assert between and set(between) == {C}


def test_max_mode_objectives_rank_the_other_way(make_sim) -> None:
    # accuracy = 1 - loss, maximised: the same ranking, so the same trace.
    acc = {n: 1 - v for n, v in TRACE_LOSSES.items()}
    sim = make_sim("asha", ASHA_3, loss=acc, objective="acc", mode="max")
    events = sim.run_one_worker(12)
    assert asks(events) == TRACE_ASKS
    assert rung_reports(events) == TRACE_RUNG_REPORTS


def test_max_mode_promotes_the_highest_value(make_sim) -> None:
    sim = make_sim("asha", ASHA_3, loss={0: 0.3, 1: 0.9, 2: 0.5}, objective="acc", mode="max")
    events = sim.run_one_worker(4)
    assert asks(events)[3] == ("resume", 1, 3, 1)


def test_promotions_are_looked_for_from_the_top_rung_down(make_sim) -> None:
    """Several workers build a moment where rung 1 and rung 0 each have a promotable trial."""
    rung0 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.96, 0.97]
    rung1 = {0: 0.3, 1: 0.4, 2: 0.5}
    sim = make_sim("asha", ASHA_3, loss=lambda n, s: rung0[n] if s < 3 else rung1[n])
    ws = [sim.worker(f"w{i}") for i in range(12)]
    for i in range(9):
        assert ws[i].ask().number == i
    for i in range(9):  # rung 0 fills up; top 3 = [#0, #1, #2], paused
        assert ws[i].report() is P
        ws[i].end()
    assert [(w.ask().number, w.held.until) for w in ws[:3]] == [(0, 3), (1, 3), (2, 3)]
    for i in range(9, 12):  # rung 0 has 12: top 4 adds #3, which becomes promotable
        assert ws[i].ask().number == i
        assert ws[i].report() is P
        ws[i].end()
    for w in ws[:3]:  # rung 1 = {0: .3, 1: .4, 2: .5}: top 1 = [#0], paused
        assert w.run() == [(2.0, C), (3.0, P)]
    first, second = sim.worker("a"), sim.worker("b")
    assert (first.ask().number, first.held.until) == (0, 9)  # rung 1 before rung 0
    assert (second.ask().number, second.held.until) == (3, 3)


# ---- against a reference implementation of Algorithm 2 --------------------------------------


def algorithm_2(
    loss: Callable[[int, float], float],
    rungs: list[list[float]],
    eta: float,
    bracket_of: Callable[[int], int],
    n_jobs: int,
    repeats_at: Callable[[int, float], tuple] | None = None,
) -> list[tuple[int, float]]:
    """(trial number, rung level) of each job's result, in order, for one worker.

    The paper's get_job per bracket; brackets are searched in order 0, 1, ... (the paper runs
    each bracket as its own ASHA and does not say how a worker picks between them). With
    ``repeats_at`` (``skip_repeats``), a result whose ``repeats_at(number, level)`` (its curve
    up to the level) equals that of a result already in its rung is left out of the rung.
    """
    results: dict[tuple[int, int], dict[int, float]] = {}
    curves: dict[tuple[int, int], set[tuple]] = {}
    promoted: set[tuple[int, int, int]] = set()
    out: list[tuple[int, float]] = []
    n_new = 0
    for _ in range(n_jobs):
        job = None
        for b, levels in enumerate(rungs):
            for k in range(len(levels) - 2, -1, -1):
                rung = results.get((b, k), {})
                top = sorted(rung, key=lambda n, rung=rung: (rung[n], n))
                promotable = [
                    n for n in top[: math.floor(len(rung) / eta)] if (b, k, n) not in promoted
                ]
                if promotable:
                    job = (promotable[0], b, k + 1)
                    promoted.add((b, k, promotable[0]))
                    break
            if job is not None:
                break
        if job is None:
            job = (n_new, bracket_of(n_new), 0)
            n_new += 1
        number, b, k = job
        out.append((number, rungs[b][k]))
        if repeats_at is not None:
            curve = repeats_at(number, rungs[b][k])
            if curve in curves.setdefault((b, k), set()):
                continue
            curves[(b, k)].add(curve)
        results.setdefault((b, k), {})[number] = loss(number, rungs[b][k])
    return out


@pytest.mark.parametrize(
    ("eta", "fmax", "brackets", "seed"),
    [(3, 9, 1, 0), (3, 9, 1, 1), (3, 27, 1, 2), (2, 8, 1, 3), (3, 9, 2, 4), (2, 16, 3, 5)],
)
def test_a_single_worker_run_matches_a_reference_algorithm_2(
    make_sim, eta: int, fmax: int, brackets: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.random(500), rng.random(500)

    def loss(n: int, s: float) -> float:  # learning curves that cross
        return float(a[n] + b[n] / s)

    sim = make_sim("asha", {"eta": eta, "brackets": brackets}, loss=loss, fidelity=(1, fmax))
    events = sim.run_one_worker(45)
    h = sim.history()
    rungs = ASHA(sim.study, eta=eta, brackets=brackets).rungs
    bracket = {t.number: t.bracket or 0 for t in h.trials()}
    actual = [(e[1], e[2]) for e in events if e[0] == "report" and e[2] in rungs[bracket[e[1]]]]
    expected = algorithm_2(loss, rungs, eta, lambda n: bracket[n], len(actual))
    assert actual == expected


def test_a_trial_paused_at_a_rung_is_never_the_next_one_resumed(make_sim) -> None:
    """If get_job picks the trial that just reported, it continues instead of pausing."""
    rng = np.random.default_rng(7)
    a, b = rng.random(500), rng.random(500)
    sim = make_sim("asha", {"eta": 3}, loss=lambda n, s: float(a[n] + b[n] / s), fidelity=(1, 27))
    events = sim.run_one_worker(60)
    paused_then_asked = [
        (events[i][1], events[i + 2])
        for i in range(len(events) - 2)
        if events[i][0] == "report" and events[i][3] is P
    ]
    assert paused_then_asked
    assert all(nxt[:2] != ("resume", n) for n, nxt in paused_then_asked)


# ---- skip_repeats: results that repeat an earlier curve exactly ---------------------------


def rows_with_repeats(seed: int, n_rows: int = 9):
    """A loss where each trial reads one of ``n_rows`` learning curves (a lookup table that
    answers nearby configurations with the same row), rows 1 and 2 equal at step 1 only (a
    metric tied at the first epoch, apart afterwards), and the curve up to a level."""
    rng = np.random.default_rng(seed)
    a, b = rng.random(n_rows), rng.random(n_rows)
    row = rng.integers(0, n_rows, 500)

    def value(r: int, s: float) -> float:
        return value(1, 1) if (r, s) == (2, 1) else float(a[r] + b[r] / s)

    def loss(n: int, s: float) -> float:
        return value(int(row[n]), s)

    def curve(n: int, level: float) -> tuple:
        return tuple(loss(n, s) for s in range(1, int(level) + 1))

    return loss, curve, row


@pytest.mark.parametrize(
    ("eta", "fmax", "brackets", "seed"), [(3, 9, 1, 0), (3, 27, 1, 1), (2, 8, 1, 2), (3, 9, 2, 3)]
)
def test_skip_repeats_matches_algorithm_2_on_rungs_without_the_repeated_curves(
    make_sim, eta: int, fmax: int, brackets: int, seed: int
) -> None:
    loss, curve, row = rows_with_repeats(seed)
    params = {"eta": eta, "brackets": brackets, "skip_repeats": True}
    sim = make_sim("asha", params, loss=loss, fidelity=(1, fmax))
    events = sim.run_one_worker(45)
    h = sim.history()
    rungs = ASHA(sim.study, eta=eta, brackets=brackets).rungs
    bracket = {t.number: t.bracket or 0 for t in h.trials()}
    actual = [(e[1], e[2]) for e in events if e[0] == "report" and e[2] in rungs[bracket[e[1]]]]
    expected = algorithm_2(loss, rungs, eta, lambda n: bracket[n], len(actual), curve)
    assert actual == expected
    # the repeats mattered: plain ASHA on the same curves runs otherwise
    assert algorithm_2(loss, rungs, eta, lambda n: bracket[n], len(actual)) != expected
    # no trial past its bracket's first rung reads a row another trial read that far before it
    # (rows 1 and 2 only share their first step)
    first_at: dict[tuple[int, int, float], int] = {}
    for n, level in actual:
        if level > rungs[bracket[n]][0]:
            key = (bracket[n], int(row[n]), level)
            assert first_at.setdefault(key, n) == n


def tied_at_first_step(n: int, s: float) -> float:
    # #0 and #1 are 0.5 at step 1 and apart from step 2 on
    return {0: 0.25 + 0.25 / s, 1: 0.375 + 0.125 / s}.get(n, 0.6 + n / 100)


def test_skip_repeats_compares_the_curve_up_to_the_rung_only(make_sim, caplog) -> None:
    # rung 1 holds step 1 only, where #1 repeats #0: it is left out of rung 1, so after #0-#2
    # the rung has 2 results and nothing is promoted yet; plain ASHA promotes #0 after 3
    sim = make_sim("asha", {"eta": 3, "skip_repeats": True}, loss=tied_at_first_step)
    with caplog.at_level(logging.INFO, logger="hpo.schedulers.base"):
        events = sim.run_one_worker(5)
    # the one result left out is logged once, with the trial it repeats
    left_out = [r.getMessage() for r in caplog.records if "left out of the rung" in r.getMessage()]
    assert left_out == [
        "trial 1 left out of the rung at 1: its results up to there repeat trial 0's exactly"
        " (skip_repeats), so it is not promoted"
    ]
    assert asks(events) == [
        ("new", 0, 1),
        ("new", 1, 1),
        ("new", 2, 1),
        ("new", 3, 1),
        ("resume", 0, 3, 1),  # rung 1 = {#0, #2, #3}: its top 1 is #0
    ]
    assert sim.state(1) is TrialState.PAUSED
    plain = make_sim("asha", {"eta": 3}, loss=tied_at_first_step, name="plain")
    assert asks(plain.run_one_worker(4))[3] == ("resume", 0, 3, 1)


# mobster and hypertune take skip_repeats through ASHA's rungs (MOBSTER's feasible-first ones,
# Hyper-Tune's delayed promotions); random proposals (n_initial above the trials), since the
# losses here go by trial number
SKIP_REPEATS = [
    ("asha", {"eta": 3}),
    ("mobster", {"eta": 3, "n_initial": 50}),
    ("hypertune", {"eta": 3, "n_initial": 50, "brackets": 1}),
]


@pytest.mark.parametrize(("scheduler", "params"), SKIP_REPEATS, ids=[s for s, _ in SKIP_REPEATS])
def test_a_repeat_of_the_best_is_never_promoted_where_plain_asha_promotes_it(
    make_sim, scheduler, params
) -> None:
    def losses(n: int, s: float) -> float:  # #1 repeats #0, the best, at every step
        return 0.1 if n < 2 else 0.5 + n / 100

    sim = make_sim(scheduler, {**params, "skip_repeats": True}, loss=losses)
    events = sim.run_one_worker(14)
    assert ("resume", 0, 3, 1) in asks(events)
    assert not [e for e in asks(events) if e[0] == "resume" and e[1] == 1]
    assert next(t for t in sim.history().trials() if t.number == 1).last_step == 1
    plain = make_sim(scheduler, {**params, "skip_repeats": False}, loss=losses, name="plain")
    assert [e for e in asks(plain.run_one_worker(14)) if e[0] == "resume" and e[1] == 1]


@pytest.mark.parametrize(("scheduler", "params"), SKIP_REPEATS, ids=[s for s, _ in SKIP_REPEATS])
def test_without_repeated_curves_skip_repeats_changes_nothing(make_sim, scheduler, params) -> None:
    """Where no two results share a curve (a continuous loss of distinct configurations), every
    decision is the same with and without it: the synthetic benchmarks' case."""

    def distinct(n: int, s: float) -> float:
        return (n * 0.6180339887) % 1.0 + 0.5 / s

    on = make_sim(scheduler, {**params, "skip_repeats": True}, loss=distinct)
    off = make_sim(scheduler, {**params, "skip_repeats": False}, loss=distinct, name="off")
    assert asks(on.run_one_worker(40)) == asks(off.run_one_worker(40))


def test_mobster_skips_repeats_by_default_in_the_promotion_variant_only(make_sim) -> None:
    """mobster's skip_repeats is "auto" (the default since the forty-third session): true with
    the promotion variant, so by default a repeat of the best is never promoted; false with the
    stopping variant, to which it does not apply, so that variant runs with the default too."""

    def losses(n: int, s: float) -> float:  # #1 repeats #0, the best, at every step
        return 0.1 if n < 2 else 0.5 + n / 100

    params = {"eta": 3, "n_initial": 50}
    default = make_sim("mobster", params, loss=losses, name="default")
    assert default.coord.scheduler.skip_repeats is True
    on = make_sim("mobster", {**params, "skip_repeats": True}, loss=losses, name="on")
    assert asks(default.run_one_worker(14)) == asks(on.run_one_worker(14))
    assert not [e for e in asks(default.events) if e[0] == "resume" and e[1] == 1]
    stopping = make_sim("mobster", {**params, "variant": "stopping"}, loss=losses, name="stop")
    assert stopping.coord.scheduler.skip_repeats is False
    assert len(asks(stopping.run_one_worker(14))) == 14


@pytest.mark.parametrize(
    ("scheduler", "params"),
    [
        ("asha", {"skip_repeats": 1}),
        ("asha", {"variant": "stopping", "skip_repeats": True}),
        ("mobster", {"skip_repeats": "yes"}),
        ("mobster", {"variant": "stopping", "skip_repeats": True}),
        ("hypertune", {"skip_repeats": "auto"}),
        ("hypertune", {"skip_repeats": 1}),
    ],
)
def test_skip_repeats_is_refused_where_it_cannot_apply(make_sim, scheduler, params) -> None:
    with pytest.raises(InvalidStudy, match=f"{scheduler} skip_repeats"):
        make_sim(scheduler, {"eta": 3, **params})


# ---- brackets -------------------------------------------------------------------------------


def test_with_brackets_new_trials_start_at_the_bottom_rung_of_their_bracket(make_sim) -> None:
    sim = make_sim("asha", {"eta": 3, "brackets": 2}, loss=lambda n, s: (n * 7919 % 101) / 101)
    events = sim.run_one_worker(30)
    h = sim.history()
    brackets = {t.number: t.bracket for t in h.trials()}
    assert set(brackets.values()) == {0, 1}
    for e in asks(events):
        if e[0] == "new":
            assert e[2] == {0: 1, 1: 3}[brackets[e[1]]]


def test_with_brackets_rungs_are_kept_per_bracket(make_sim) -> None:
    """The run matches Algorithm 2 with rungs per bracket, and not with rungs shared."""
    rng = np.random.default_rng(11)
    a, b = rng.random(500), rng.random(500)

    def loss(n: int, s: float) -> float:
        return float(a[n] + b[n] / s)

    sim = make_sim("asha", {"eta": 3, "brackets": 2}, loss=loss)
    events = sim.run_one_worker(40)
    bracket = {t.number: t.bracket for t in sim.history().trials()}
    rungs = [[1.0, 3.0, 9.0], [3.0, 9.0]]
    actual = [(e[1], e[2]) for e in events if e[0] == "report" and e[2] in rungs[bracket[e[1]]]]
    assert actual == algorithm_2(loss, rungs, 3, lambda n: bracket[n], len(actual))
    # Shared rungs: a bracket-1 result at 3 would count in bracket 0's rung 1. It matters here.
    shared = algorithm_2(loss, [[1.0, 3.0, 9.0]], 3, lambda n: 0, len(actual))
    assert actual != shared


def _study(fmax: int) -> Study:
    return Study(
        name="s",
        space=SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}}),
        objectives=(Objective("loss"),),
        fidelity=Fidelity("epoch", 1, fmax),
        scheduler=SchedulerSpec("asha", {}),
    )


def test_brackets_are_drawn_in_proportion_to_the_hyperband_bracket_sizes() -> None:
    # fidelity 1..9, eta 3: ASHA brackets 0, 1, 2 start at 1, 3, 9, like Hyperband's brackets
    # s = 2, 1, 0, which hold eta**s / (s + 1) = 3, 1.5, 1 (n = 9, 5, 3) configurations.
    study = _study(9)
    sched = ASHA(study, eta=3, brackets=3)
    h = History(study)
    counts: Counter[int] = Counter()
    for i in range(3000):
        s = sched.suggest(h)
        counts[s.bracket] += 1
        h.apply_trial(Trial(i + 1, 0, i, s.config, TrialState.RUNNING, s.until, s.bracket))
    freq = [counts[b] / 3000 for b in range(3)]
    assert freq == pytest.approx([3 / 5.5, 1.5 / 5.5, 1 / 5.5], abs=0.04)


def test_bracket_draws_depend_only_on_the_number_of_trials() -> None:
    study = _study(9)
    a, b = ASHA(study, eta=3, brackets=3), ASHA(study, eta=3, brackets=3)
    h = History(study)
    for i in range(50):
        s = a.suggest(h)
        assert b.suggest(h) == s
        h.apply_trial(Trial(i + 1, 0, i, s.config, TrialState.RUNNING, s.until, s.bracket))


# ---- the stopping variant -------------------------------------------------------------------

STOPPING = {"eta": 3, "variant": "stopping"}


def test_stopping_variant_starts_every_trial_to_the_maximum_fidelity(make_sim) -> None:
    sim = make_sim("asha", STOPPING, loss={0: 0.5, 1: 0.9, 2: 0.3})
    events = sim.run_one_worker(3)
    assert asks(events) == [("new", 0, 9), ("new", 1, 9), ("new", 2, 9)]


def test_stopping_variant_lets_the_first_result_at_each_rung_continue(make_sim) -> None:
    sim = make_sim("asha", STOPPING, loss={0: 0.5})
    events = sim.run_one_worker(1)
    assert rung_reports(events) == [(0, 1, C), (0, 3, C), (0, 9, TOP)]
    assert sim.state(0) is TrialState.COMPLETED


def test_stopping_variant_continues_only_among_the_best_ceil_n_over_eta(make_sim) -> None:
    # Rung 1 (step 1) and rung 3; n results so far, itself included; k = ceil(n / 3):
    #   #0 .5: n=1 k=1 rank 1 -> C; at 3: n=1 k=1 rank 1 -> C; completes
    #   #1 .9: n=2 k=1 rank 2 -> S
    #   #2 .3: n=3 k=1 rank 1 -> C; at 3: {.5, .3} n=2 k=1 rank 1 -> C; completes
    #   #3 .4: n=4 k=2 rank 2 -> C; at 3: {.5, .3, .4} n=3 k=1 rank 2 -> S
    #   #4 .35: n=5 k=2 rank 2 -> C; at 3: {.5, .3, .4, .35} n=4 k=2 rank 2 -> C; completes
    #   #5 .6: n=6 k=2 rank 5 -> S
    sim = make_sim("asha", STOPPING, loss={0: 0.5, 1: 0.9, 2: 0.3, 3: 0.4, 4: 0.35, 5: 0.6})
    events = sim.run_one_worker(6)
    assert rung_reports(events) == [
        (0, 1, C), (0, 3, C), (0, 9, TOP),
        (1, 1, S),
        (2, 1, C), (2, 3, C), (2, 9, TOP),
        (3, 1, C), (3, 3, S),
        (4, 1, C), (4, 3, C), (4, 9, TOP),
        (5, 1, S),
    ]  # fmt: skip
    states = [sim.state(n) for n in range(6)]
    done, stopped = TrialState.COMPLETED, TrialState.STOPPED
    assert states == [done, stopped, done, stopped, done, stopped]


def test_stopping_variant_never_pauses_or_resumes(make_sim) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(100), rng.random(100)
    sim = make_sim("asha", STOPPING, loss=lambda n, s: float(a[n] + b[n] / s))
    events = sim.run_one_worker(30)
    assert all(e[0] != "resume" for e in events)
    assert all(e[3] is not P for e in events if e[0] == "report")


def test_stopping_variant_ranks_the_other_way_in_max_mode(make_sim) -> None:
    acc = {0: 0.5, 1: 0.1, 2: 0.7, 3: 0.6, 4: 0.65, 5: 0.4}  # 1 - the losses above
    sim = make_sim("asha", STOPPING, loss=acc, objective="acc", mode="max")
    sim.run_one_worker(6)
    states = [sim.state(n) for n in range(6)]
    done, stopped = TrialState.COMPLETED, TrialState.STOPPED
    assert states == [done, stopped, done, stopped, done, stopped]


def test_stopping_variant_with_brackets_compares_only_within_a_bracket(make_sim) -> None:
    """Every decision equals the rule applied to the results of the trial's own bracket."""
    rng = np.random.default_rng(5)
    a, b = rng.random(100), rng.random(100)
    sim = make_sim("asha", {**STOPPING, "brackets": 2}, loss=lambda n, s: float(a[n] + b[n] / s))
    events = sim.run_one_worker(40)
    bracket = {t.number: t.bracket for t in sim.history().trials()}
    assert set(bracket.values()) == {0, 1}
    rungs = {0: (1.0, 3.0), 1: (3.0,)}  # below the top rung 9
    seen: dict[tuple[int, float], list[float]] = {}
    checked = 0
    for e in events:
        if e[0] != "report" or e[2] not in rungs[bracket[e[1]]]:
            continue
        mine = float(a[e[1]] + b[e[1]] / e[2])
        at = seen.setdefault((bracket[e[1]], e[2]), [])
        at.append(mine)
        better = sum(v < mine for v in at)
        assert e[3] is (C if better < math.ceil(len(at) / 3) else S), e
        checked += 1
    assert checked > 40
