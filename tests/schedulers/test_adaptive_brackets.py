"""``brackets: adaptive``: a new trial starts in the lowest bracket none of whose rungs below the
top ranks the best top-fidelity results significantly in reverse (Kendall's tau below -1.2816
null standard deviations), checked against hand-computed taus and through the real Coordinator.

Kendall's tau-b without ties: (concordant - discordant) / (n (n - 1) / 2); against a ranking
1..n, the discordant pairs of a sequence are its inversions. Its standard deviation under
independence: sqrt(2 (2n + 5) / (9 n (n - 1))), 0.2887 for n = 8.
"""

from __future__ import annotations

import pytest
from hpo.schedulers import ASHA, make_scheduler
from hpo.schedulers.asha import AGREE_TOP_K, kendall_null_sd, reverses, rung_agreement

from hpo.errors import InvalidStudy
from hpo.history import History
from hpo.model import Fidelity, Objective, Report, SchedulerSpec, Study, Trial, TrialState
from hpo.space import SearchSpace


def study(hi: float = 9, scheduler: str = "asha", params: dict | None = None) -> Study:
    return Study(
        name="s",
        space=SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}}),
        objectives=(Objective("loss"),),
        fidelity=Fidelity("epoch", 1, hi),
        scheduler=SchedulerSpec(scheduler, params or {}),
        id=1,
    )


def history(st: Study, values: list[dict[float, float]]) -> History:
    """Trial i reports ``values[i]`` (step -> loss)."""
    h = History(st)
    for i, by_step in enumerate(values):
        last = max(by_step)
        h.apply_trial(Trial(i + 1, 1, i, {"x": 0.5}, TrialState.COMPLETED, last, last_step=last))
        for step, loss in sorted(by_step.items()):
            h.apply_report(Report(i + 1, step, {"loss": loss}, None, float(i)))
    return h


def ranked(top: list[float], low: list[float], low_level: float = 1.0) -> list[dict]:
    return [{low_level: lo, 9.0: t} for t, lo in zip(top, low, strict=True)]


# ---- rung_agreement: Kendall's tau by hand ------------------------------------------------------


def test_one_swapped_pair_among_six_gives_tau_13_over_15() -> None:
    # 15 pairs, only (5, 6) discordant: (14 - 1) / 15
    h = history(study(), ranked([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 6, 5]))
    assert rung_agreement(h, [1.0], 9.0)[1.0] == pytest.approx((13 / 15, 6))


def test_a_reversed_ranking_gives_tau_minus_one() -> None:
    h = history(study(), ranked([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]))
    assert rung_agreement(h, [1.0], 9.0)[1.0] == pytest.approx((-1.0, 5))


def test_only_the_best_top_results_are_compared() -> None:
    # The 8 best (top 1..8) are reversed at level 1; 20 worse ones agree. Over all 28 tau would be
    # positive; over the best 8 it is -1.
    top = [float(i) for i in range(1, 29)]
    low = [9.0 - i for i in range(1, 9)] + [float(i) for i in range(9, 29)]
    h = history(study(), ranked(top, low))
    assert AGREE_TOP_K == 8
    assert rung_agreement(h, [1.0], 9.0)[1.0] == pytest.approx((-1.0, 8))


def test_trials_without_a_value_at_the_level_are_skipped_and_too_few_give_none() -> None:
    four = ranked([1, 2, 3, 4], [4, 3, 2, 1])
    h = history(study(), [*four, {9.0: 0.5}, {9.0: 0.6}])  # two top results without level 1
    assert rung_agreement(h, [1.0], 9.0) == {1.0: None}


def test_all_tied_values_at_a_level_give_none() -> None:
    h = history(study(), ranked([1, 2, 3, 4, 5], [7, 7, 7, 7, 7]))
    assert rung_agreement(h, [1.0], 9.0) == {1.0: None}


# ---- the bracket chosen -------------------------------------------------------------------------


def adaptive(hi: float = 9) -> ASHA:
    return ASHA(study(hi), eta=3, brackets="adaptive")


def test_adaptive_has_every_bracket_and_starts_in_the_lowest_without_evidence() -> None:
    a = adaptive()
    assert [r[0] for r in a.rungs] == [1, 3, 9]
    assert a.agreeing_bracket(history(study(), [])) == 0


def both_levels(top: list[float], at1: list[float], at3: list[float]) -> list[dict]:
    return [{1.0: a, 3.0: b, 9.0: t} for t, a, b in zip(top, at1, at3, strict=True)]


UP = [1.0, 2.0, 3.0, 4.0, 5.0]
DOWN = UP[::-1]


@pytest.mark.parametrize(
    ("at1", "at3", "bracket"),
    [
        (UP, UP, 0),  # both agree: rungs 1, 3
        (DOWN, UP, 1),  # level 1 reverses: start at 3
        (UP, DOWN, 2),  # level 3 reverses: bracket 0 has a rung at 3 too, so start at the top
        (DOWN, DOWN, 2),
    ],
)
def test_the_lowest_bracket_whose_every_rung_agrees_is_chosen(
    at1: list[float], at3: list[float], bracket: int
) -> None:
    h = history(study(), both_levels(UP, at1, at3))
    assert adaptive().agreeing_bracket(h) == bracket


def test_the_null_standard_deviation_of_tau_matches_kendalls_formula_by_hand() -> None:
    assert kendall_null_sd(8) == pytest.approx((42 / 504) ** 0.5)  # 2 * 21 / (9 * 8 * 7)
    assert kendall_null_sd(5) == pytest.approx((30 / 180) ** 0.5)


@pytest.mark.parametrize(
    ("low", "tau", "reversed_"),
    [
        # 19 inversions of 28: (9 - 19) / 28 = -0.357, above -1.2816 * 0.2887 = -0.370
        ([6, 7, 8, 5, 1, 2, 3, 4], -10 / 28, False),
        # 20 inversions: (8 - 20) / 28 = -0.429, below it
        ([6, 7, 8, 5, 1, 2, 4, 3], -12 / 28, True),
    ],
)
def test_a_level_reverses_the_ranking_only_when_tau_is_significantly_negative(
    low: list[float], tau: float, reversed_: bool
) -> None:
    h = history(study(), ranked([1, 2, 3, 4, 5, 6, 7, 8], low))
    agreement = rung_agreement(h, [1.0], 9.0)[1.0]
    assert agreement == pytest.approx((tau, 8))
    assert reverses(agreement) is reversed_
    assert adaptive().agreeing_bracket(h) == (1 if reversed_ else 0)


def test_a_tau_of_zero_is_no_evidence_and_keeps_the_lowest_bracket() -> None:
    # top 1..5, level 1 [2, 4, 5, 1, 3]: of the 10 pairs, (2,4) (2,5) (2,3) (4,5) (1,3) are
    # concordant and the other 5 discordant, so tau = 0
    h = history(study(), ranked(UP, [2.0, 4.0, 5.0, 1.0, 3.0]))
    assert rung_agreement(h, [1.0], 9.0)[1.0] == pytest.approx((0.0, 5))
    assert adaptive().agreeing_bracket(h) == 0


def test_adaptive_is_accepted_by_mobster_and_rejected_by_hypertune() -> None:
    m = make_scheduler(study(9, "mobster", {"brackets": "adaptive"}))
    assert m.adaptive and len(m.rungs) == 3
    with pytest.raises(InvalidStudy, match="hypertune learns its own bracket distribution"):
        make_scheduler(study(9, "hypertune", {"brackets": "adaptive"}))


# ---- through the Coordinator --------------------------------------------------------------------


def golden(n: int) -> float:
    return (0.618034 * (n + 1)) % 1.0


def test_where_low_fidelities_reverse_the_ranking_new_trials_move_to_the_top_bracket(
    make_sim,
) -> None:
    # Loss at the top: golden(n); below it: 1 - golden(n), the ranking reversed.
    sim = make_sim(
        "asha",
        {"eta": 3, "brackets": "adaptive"},
        loss=lambda n, s: golden(n) if s >= 9 else 1.0 - golden(n),
    )
    w = sim.worker()
    while len(sim.history().scores_at(9.0)) < 5:
        assert w.ask() is not None
        w.run()
    before = [e for e in sim.events if e[0] == "new"]
    assert {e[2] for e in before} == {1.0}  # one bracket until five results at the top
    for _ in range(4):
        assert w.ask() is not None
        w.run()
    after = [e for e in sim.events if e[0] == "new"][len(before) :]
    assert after and {e[2] for e in after} == {9.0}
    assert {sim.trial(e[1]).bracket for e in after} == {2}


def test_where_low_fidelities_agree_new_trials_stay_in_the_lowest_bracket(make_sim) -> None:
    sim = make_sim(
        "asha",
        {"eta": 3, "brackets": "adaptive"},
        loss=lambda n, s: golden(n) + 1.0 / s,
    )
    w = sim.run_one_worker(90)
    assert len(sim.history().scores_at(9.0)) >= 5
    assert {e[2] for e in w if e[0] == "new"} == {1.0}
