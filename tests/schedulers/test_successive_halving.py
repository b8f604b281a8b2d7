"""Synchronous successive halving and Hyperband (Li et al., JMLR 2018, Algorithm 1) through the
real Coordinator on a SQLite file, with deterministic simulated workers.

Main scenario: eta = 3, fidelity 1..9, n = 9, so rung 0 runs 9 trials to step 1, the best 3 go
on to step 3 and the best 1 to step 9. Losses by trial number (steps below 3 / from 3 on):

    rung 0: #0 .5  #1 .2  #2 .9  #3 .4  #4 .8  #5 .1  #6 .7  #7 .3  #8 .6  -> top 3: #5 #1 #7
    rung 1: #5 .6  #1 .4  #7 .5                                            -> top 1: #1
"""

from __future__ import annotations

from collections import defaultdict

from hpo.schedulers import hyperband_brackets, make_scheduler

from hpo.model import Decision, TrialState

C, P = Decision.CONTINUE, Decision.PAUSE
RUNG0 = {0: 0.5, 1: 0.2, 2: 0.9, 3: 0.4, 4: 0.8, 5: 0.1, 6: 0.7, 7: 0.3, 8: 0.6}
RUNG1 = {5: 0.6, 1: 0.4, 7: 0.5}
WINNERS_0 = [5, 1, 7]
LOSERS_0 = [0, 2, 3, 4, 6, 8]


def loss(n: int, step: float) -> float:
    if step < 3:
        return RUNG0.get(n, 1 + n / 100)
    return RUNG1.get(n, 1 + n / 100)


def sha(make_sim, **params):
    return make_sim("sha", {"eta": 3, **params}, loss=loss)


def start_rung_0(sim, n: int = 9) -> list:
    """n workers each take a new trial; returns the workers."""
    ws = [sim.worker(f"w{i}") for i in range(n)]
    for i, w in enumerate(ws):
        a = w.ask()
        assert (a.number, a.resume, a.until) == (i, False, 1)
    return ws


def report_and_end(w) -> Decision:
    d = w.report()
    w.end()
    return d


def finish_rung_0(sim) -> None:
    for w in start_rung_0(sim):
        assert report_and_end(w) is P


# ---- rung 0 ---------------------------------------------------------------------------------


def test_rung_0_starts_nine_trials_of_bracket_0_to_step_1(make_sim) -> None:
    sim = sha(make_sim)
    start_rung_0(sim)
    assert [(t.bracket, t.until) for t in sim.history().trials()] == [(0, 1)] * 9


def test_every_trial_pauses_at_rung_0_even_the_best(make_sim) -> None:
    sim = sha(make_sim)
    ws = start_rung_0(sim)
    assert [w.report() for w in ws] == [P] * 9


def test_before_rung_0_is_complete_a_free_worker_gets_a_new_trial_of_the_next_bracket(
    make_sim,
) -> None:
    sim = sha(make_sim)
    ws = start_rung_0(sim)
    for w in ws[:8]:
        report_and_end(w)
    a = sim.worker("late").ask()
    assert (a.number, a.resume, a.until) == (9, False, 1)
    assert sim.trial(9).bracket == 1
    assert all(sim.state(n) is TrialState.PAUSED for n in range(8))


def test_before_rung_0_is_complete_nothing_runs_when_max_brackets_is_1(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    ws = start_rung_0(sim)
    for w in ws[:8]:
        report_and_end(w)
    assert sim.worker("late").ask() is None
    assert not sim.coord.finished  # trial 8 still runs
    assert sim.history().n_trials == 9


def test_when_rung_0_completes_exactly_the_best_3_resume_to_step_3(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    finish_rung_0(sim)
    got = [sim.worker(f"r{i}").ask() for i in range(4)]
    assert [(a.number, a.resume, a.until, a.checkpoint_step) for a in got[:3]] == [
        (5, True, 3, 1),
        (1, True, 3, 1),
        (7, True, 3, 1),
    ]
    assert got[3] is None


def test_when_rung_0_completes_the_scheduler_retires_the_other_6(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    finish_rung_0(sim)
    h = sim.history()
    assert sorted(h.trial(t).number for t in sim.coord.scheduler.retired(h)) == LOSERS_0


def test_when_rung_0_completes_the_coordinator_stops_the_other_6(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    finish_rung_0(sim)
    sim.worker("r0").ask()
    assert [n for n in range(9) if sim.state(n) is TrialState.STOPPED] == LOSERS_0


# ---- rung 1 and the top ---------------------------------------------------------------------


def run_rung_1(sim) -> None:
    finish_rung_0(sim)
    ws = [sim.worker(f"r{i}") for i in range(3)]
    for w in ws:
        w.ask()
    for w in ws:
        assert w.run() == [(2.0, C), (3.0, P)]


def test_rung_1_winners_pause_at_step_3_and_the_best_one_resumes_to_step_9(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    run_rung_1(sim)
    a = sim.worker("top").ask()
    assert (a.number, a.resume, a.until, a.checkpoint_step) == (1, True, 9, 3)
    assert sim.worker("other").ask() is None


def test_rung_1_losers_are_stopped(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    run_rung_1(sim)
    sim.worker("top").ask()
    assert sim.state(5) is TrialState.STOPPED
    assert sim.state(7) is TrialState.STOPPED


def test_the_best_trial_completes_at_step_9_and_then_the_study_is_over(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    run_rung_1(sim)
    w = sim.worker("top")
    w.ask()
    steps = w.run()
    assert [s for s, _ in steps] == [4, 5, 6, 7, 8, 9]
    assert all(d is C for _, d in steps[:-1])
    assert sim.state(1) is TrialState.COMPLETED
    assert sim.worker("after").ask() is None
    assert sim.coord.finished
    states = {n: sim.state(n) for n in range(9)}
    assert states == {n: TrialState.COMPLETED if n == 1 else TrialState.STOPPED for n in range(9)}


def test_without_max_brackets_the_next_bracket_repeats_the_same_rungs(make_sim) -> None:
    sim = sha(make_sim)
    run_rung_1(sim)
    w = sim.worker("top")
    w.ask()
    w.run()
    a = sim.worker("next").ask()
    assert (a.number, a.resume, a.until) == (9, False, 1)
    assert sim.trial(9).bracket == 1


# ---- failures -------------------------------------------------------------------------------


def test_a_trial_failing_before_its_rung_counts_as_done_in_rung_0(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    ws = start_rung_0(sim)
    ws[5].end(exit_ok=False)  # the would-be best fails before reporting
    for i, w in enumerate(ws):
        if i != 5:
            assert report_and_end(w) is P
    assert sim.state(5) is TrialState.FAILED
    got = [sim.worker(f"r{i}").ask() for i in range(4)]
    assert [a.number for a in got[:3]] == [1, 7, 3]  # the best 3 of the 8 that reported
    assert got[3] is None
    assert sim.state(5) is TrialState.FAILED


def test_a_trial_failing_in_rung_1_counts_as_done_there(make_sim) -> None:
    sim = sha(make_sim, max_brackets=1)
    finish_rung_0(sim)
    ws = [sim.worker(f"r{i}") for i in range(3)]
    for w in ws:
        w.ask()
    assert ws[1].held.number == 1
    assert ws[1].report() is C  # step 2
    ws[1].end(exit_ok=False)  # #1, the would-be best of rung 1, crashes before step 3
    assert sim.state(1) is TrialState.FAILED
    for w in (ws[0], ws[2]):
        assert w.run() == [(2.0, C), (3.0, P)]
    a = sim.worker("top").ask()
    assert (a.number, a.until) == (7, 9)  # #7 (.5) beats #5 (.6)
    assert sim.state(5) is TrialState.STOPPED


def test_a_resumed_trial_crashing_before_its_first_report_counts_as_done_in_its_rung(
    make_sim,
) -> None:
    sim = sha(make_sim, max_brackets=1)
    finish_rung_0(sim)
    ws = [sim.worker(f"r{i}") for i in range(3)]
    for w in ws:
        w.ask()
    ws[1].end(exit_ok=False)  # #1 crashes at once, e.g. while loading its checkpoint
    for w in (ws[0], ws[2]):
        assert w.run() == [(2.0, C), (3.0, P)]
    a = sim.worker("top").ask()
    assert a is not None and (a.number, a.until) == (7, 9)
    assert sim.state(1) is TrialState.FAILED


def test_a_loser_that_pauses_after_its_bracket_completed_is_still_retired(make_sim) -> None:
    sim = sha(make_sim)
    ws = start_rung_0(sim)
    for w in ws:
        assert w.report() is P
    for i, w in enumerate(ws):
        if i != 2:  # #2 (.9, a loser) is slow to exit after its PAUSE
            w.end()
    run = [sim.worker(f"r{i}") for i in range(3)]
    for w in run:
        w.ask()
    for w in run:
        w.run()
    top = sim.worker("top")
    assert top.ask().number == 1
    top.run()  # bracket 0 is complete
    assert sim.worker("next").ask().number == 9  # bracket 1 starts
    ws[2].end()
    assert sim.state(2) is TrialState.PAUSED
    h = sim.history()
    assert sim.coord.scheduler.retired(h) == make_scheduler(sim.study).retired(h)
    sim.worker("later").ask()
    assert sim.state(2) is TrialState.STOPPED


# ---- Hyperband ------------------------------------------------------------------------------


def test_hyperband_starts_brackets_s_max_down_to_0_with_the_papers_n_and_r(make_sim) -> None:
    # R = 81, eta = 3: n = 81, 34, 15, 8, 5 at r = 1, 3, 9, 27, 81 (Table 1), then s = 4 again.
    sim = make_sim("hyperband", {"eta": 3}, fidelity=(1, 81))
    started = [sim.worker(f"w{i}").ask() for i in range(81 + 34 + 15 + 8 + 5 + 1)]
    assert all(not a.resume for a in started)
    by_bracket: dict[int, list[float]] = defaultdict(list)
    for t in sim.history().trials():
        by_bracket[t.bracket].append(t.until)
    assert {b: (len(u), set(u)) for b, u in by_bracket.items()} == {
        0: (81, {1}),
        1: (34, {3}),
        2: (15, {9}),
        3: (8, {27}),
        4: (5, {81}),
        5: (1, {1}),
    }


def test_hyperband_runs_each_bracket_with_the_papers_n_i_and_r_i(make_sim) -> None:
    """A whole Hyperband iteration, R = 81, eta = 3; trials report only at rung levels."""
    sim = make_sim(
        "hyperband",
        {"eta": 3, "max_brackets": 5},
        fidelity=(1, 81),
        steps=[1, 3, 9, 27, 81],
        loss=lambda n, s: ((n * 7919) % 1009) / 1009 + 1 / s,
    )
    sim.run_one_worker(1000)
    assert sim.coord.finished
    h = sim.history()
    reached: dict[int, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    plan = hyperband_brackets(1, 81, 3, True)
    for t in h.trials():
        for r in h.reports(t.id):
            if r.step in plan[t.bracket].levels:
                reached[t.bracket][r.step] += 1
    for index, b in enumerate(plan):
        table = [(reached[index][r], r) for r in b.levels]
        assert table == list(zip(b.sizes, b.levels, strict=True)), f"bracket s={b.s}"
    assert h.n_trials == 81 + 34 + 15 + 8 + 5
    completed = [t for t in h.trials() if t.state is TrialState.COMPLETED]
    assert len(completed) == 1 + 1 + 1 + 2 + 5


def test_hyperband_pauses_only_at_the_rungs_of_the_trials_own_bracket(make_sim) -> None:
    # fidelity 1..9: brackets s = 2 (levels 1, 3, 9), s = 1 (3, 9), s = 0 (9).
    sim = make_sim("hyperband", {"eta": 3, "max_brackets": 3}, loss=loss)
    sim.run_one_worker(200)
    assert sim.coord.finished
    h = sim.history()
    pauses = defaultdict(set)
    for t in h.trials():
        for r in h.reports(t.id):
            if r.decision is P:
                pauses[t.bracket].add(r.step)
    assert dict(pauses) == {0: {1, 3}, 1: {3}}
    assert [len([t for t in h.trials() if t.bracket == b]) for b in range(3)] == [9, 5, 3]
