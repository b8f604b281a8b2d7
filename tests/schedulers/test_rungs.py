"""Rung levels and Hyperband brackets against hand-computed values.

Hyperband: Li et al., "Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization",
JMLR 2018, Algorithm 1 and Table 1 (R = 81, eta = 3). ASHA: Li et al., "A System for Massively
Parallel Hyperparameter Tuning", MLSys 2020, Algorithm 2 (rung k of bracket s at r * eta**(s+k)).
"""

from __future__ import annotations

import pytest
from hpo.schedulers import ASHA, hyperband_brackets, make_scheduler, rung_levels
from hpo.schedulers.base import MAX_RUNGS

from hpo.errors import InvalidStudy
from hpo.model import Fidelity, Objective, SchedulerSpec, Study
from hpo.space import SearchSpace

# Table 1 of Li et al. 2018 (R = 81, eta = 3): bracket s -> [(n_i, r_i) for i = 0..s].
TABLE_1 = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def study(lo: float, hi: float, scheduler: str = "asha", **params) -> Study:
    return Study(
        name="s",
        space=SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}}),
        objectives=(Objective("loss"),),
        fidelity=Fidelity("epoch", lo, hi),
        scheduler=SchedulerSpec(scheduler, params),
    )


# ---- rung_levels ----------------------------------------------------------------------------


def test_rung_levels_are_powers_of_eta_up_to_r_max_when_r_max_is_one() -> None:
    assert rung_levels(1, 81, 3, True) == [1, 3, 9, 27, 81]
    assert rung_levels(1, 9, 3, True) == [1, 3, 9]
    assert rung_levels(1, 16, 2, True) == [1, 2, 4, 8, 16]


def test_rung_levels_end_with_r_max_when_it_is_not_a_power_of_eta() -> None:
    assert rung_levels(1, 10, 3, True) == [1, 3, 9, 10]
    assert rung_levels(1, 100, 3, True) == [1, 3, 9, 27, 81, 100]


def test_rung_levels_scale_with_r_min() -> None:
    assert rung_levels(2, 162, 3, True) == [2, 6, 18, 54, 162]
    assert rung_levels(2, 100, 3, True) == [2, 6, 18, 54, 100]


def test_rung_levels_keep_fractions_for_non_integral_fidelities() -> None:
    assert rung_levels(0.5, 4.5, 3, False) == pytest.approx([0.5, 1.5, 4.5])
    # 0.1 * 3**2 is 0.9000000000000001 in floating point: it is r_max, not a rung below it.
    assert rung_levels(0.1, 0.9, 3, False) == pytest.approx([0.1, 0.3, 0.9])


def test_integral_rung_levels_are_rounded_and_a_level_rounding_to_r_max_is_kept_once() -> None:
    assert rung_levels(1, 9, 2.9, True) == [1, 3, 8, 9]
    assert rung_levels(2, 9, 2.1, True) == [2, 4, 9]  # 8.82 rounds to 9 = r_max


def test_rung_levels_with_r_min_equal_to_r_max_are_just_r_max() -> None:
    assert rung_levels(9, 9, 3, True) == [9]


# ---- hyperband_brackets -------------------------------------------------------------------------


def test_hyperband_with_r_81_and_eta_3_has_s_max_4_and_five_brackets_from_s_max_down() -> None:
    brackets = hyperband_brackets(1, 81, 3, True)
    assert [b.s for b in brackets] == [4, 3, 2, 1, 0]


def test_hyperband_brackets_start_the_papers_n_configurations_at_the_papers_r() -> None:
    brackets = hyperband_brackets(1, 81, 3, True)
    assert [b.n for b in brackets] == [81, 34, 15, 8, 5]
    assert [b.levels[0] for b in brackets] == [1, 3, 9, 27, 81]


@pytest.mark.parametrize("s", sorted(TABLE_1, reverse=True))
def test_hyperband_bracket_rungs_match_table_1_of_the_paper(s: int) -> None:
    (b,) = [b for b in hyperband_brackets(1, 81, 3, True) if b.s == s]
    assert list(zip(b.sizes, b.levels, strict=True)) == TABLE_1[s]


def test_hyperband_brackets_are_the_same_for_a_non_integral_fidelity() -> None:
    brackets = hyperband_brackets(1.0, 81.0, 3, False)
    for b in brackets:
        assert list(b.sizes) == [n for n, _ in TABLE_1[b.s]]
        assert list(b.levels) == pytest.approx([r for _, r in TABLE_1[b.s]])


def test_hyperband_levels_are_in_units_of_the_minimum_fidelity() -> None:
    # R = r_max / r_min = 81 again: the same brackets, every level doubled.
    brackets = hyperband_brackets(2, 162, 3, True)
    assert [b.n for b in brackets] == [81, 34, 15, 8, 5]
    for b in brackets:
        assert list(b.levels) == [2 * r for _, r in TABLE_1[b.s]]


def test_hyperband_s_max_is_the_floor_of_log_eta_r() -> None:
    assert [b.s for b in hyperband_brackets(1, 9, 3, True)] == [2, 1, 0]
    assert [b.s for b in hyperband_brackets(1, 10, 3, True)] == [2, 1, 0]  # log3(10) = 2.09
    assert [b.s for b in hyperband_brackets(1, 26, 3, True)] == [2, 1, 0]
    # exact powers despite floating-point logs: log(243)/log(3) = 4.999999999999999
    assert hyperband_brackets(1, 243, 3, True)[0].s == 5
    assert hyperband_brackets(1, 1000, 10, True)[0].s == 3


def test_hyperband_with_r_9_and_eta_3_has_brackets_9_5_3() -> None:
    # n = ceil((s_max + 1) / (s + 1) * eta**s): ceil(9) = 9, ceil(4.5) = 5, ceil(3) = 3.
    brackets = hyperband_brackets(1, 9, 3, True)
    assert [(b.n, b.levels, b.sizes) for b in brackets] == [
        (9, (1, 3, 9), (9, 3, 1)),
        (5, (3, 9), (5, 1)),
        (3, (9,), (3,)),
    ]


def test_successive_halving_is_the_largest_hyperband_bracket() -> None:
    sha = make_scheduler(study(1, 81, "sha", eta=3))
    assert sha.plan == [hyperband_brackets(1, 81, 3, True)[0]]


def test_successive_halving_with_n_keeps_the_levels_and_halves_n() -> None:
    sha = make_scheduler(study(1, 9, "sha", eta=3, n=20))
    (b,) = sha.plan
    assert (b.n, b.levels, b.sizes) == (20, (1, 3, 9), (20, 6, 2))


def test_hyperband_plan_is_all_brackets() -> None:
    hb = make_scheduler(study(1, 81, "hyperband", eta=3))
    assert hb.plan == hyperband_brackets(1, 81, 3, True)


# ---- ASHA's rungs ---------------------------------------------------------------------------


def test_asha_rungs_are_r_min_times_powers_of_eta_then_r_max() -> None:
    assert ASHA(study(1, 9), eta=3).rungs == [[1, 3, 9]]
    assert ASHA(study(1, 81), eta=3).rungs == [[1, 3, 9, 27, 81]]
    assert ASHA(study(1, 100), eta=3).rungs == [[1, 3, 9, 27, 81, 100]]
    assert ASHA(study(1, 16), eta=2).rungs == [[1, 2, 4, 8, 16]]


def test_asha_min_and_max_fidelity_parameters_set_the_rungs() -> None:
    assert ASHA(study(1, 100), eta=3, min_fidelity=2, max_fidelity=54).rungs == [[2, 6, 18, 54]]


def test_asha_bracket_s_starts_at_r_min_times_eta_to_the_s() -> None:
    # Algorithm 2 with early-stopping rate s: rung k at r * eta**(s + k).
    assert ASHA(study(1, 81), eta=3, brackets=5).rungs == [
        [1, 3, 9, 27, 81],
        [3, 9, 27, 81],
        [9, 27, 81],
        [27, 81],
        [81],
    ]


def test_asha_rejects_more_brackets_than_rungs() -> None:
    with pytest.raises(InvalidStudy, match="brackets=4 exceeds the 3"):
        ASHA(study(1, 9), eta=3, brackets=4)


def test_asha_all_brackets_are_every_bracket_the_rungs_allow() -> None:
    assert (
        ASHA(study(1, 81), eta=3, brackets="all").rungs
        == ASHA(study(1, 81), eta=3, brackets=5).rungs
    )
    # 20 epochs, eta 3: rungs 1, 3, 9, 20, so four brackets, the last starting at the maximum
    assert [r[0] for r in ASHA(study(1, 20), eta=3, brackets="all").rungs] == [1, 3, 9, 20]


@pytest.mark.parametrize("bad", ["every", 0, True, 2.0])
def test_asha_rejects_brackets_other_than_a_positive_integer_all_or_adaptive(bad: object) -> None:
    with pytest.raises(InvalidStudy, match="positive integer, 'all' or 'adaptive'"):
        ASHA(study(1, 9), eta=3, brackets=bad)  # type: ignore[arg-type]


# ---- what a study's eta and fidelity range may be (``check_eta``, ``check_rungs``) --------------

MULTI_FIDELITY = ["asha", "sha", "hyperband"]


@pytest.mark.parametrize("scheduler", MULTI_FIDELITY)
@pytest.mark.parametrize("eta", [float("inf"), float("nan")])
def test_a_non_finite_eta_is_refused(scheduler: str, eta: float) -> None:
    with pytest.raises(InvalidStudy, match="eta must be a finite number >= 2"):
        make_scheduler(study(1, 9, scheduler, eta=eta))


@pytest.mark.parametrize("scheduler", MULTI_FIDELITY)
def test_a_fidelity_range_of_more_than_max_rungs_is_refused(scheduler: str) -> None:
    with pytest.raises(InvalidStudy, match=r"makes 1293 rungs, more than 100: raise min_fidelity"):
        make_scheduler(study(1e-308, 1e308, scheduler))


@pytest.mark.parametrize("scheduler", MULTI_FIDELITY)
def test_an_eta_whose_powers_overflow_over_the_fidelity_range_is_refused(scheduler: str) -> None:
    # three rungs (1e-308, 1e-8, 1e308), but eta**2 and the bracket sizes overflow a float
    with pytest.raises(InvalidStudy, match="eta=1e\\+300 is too large for fidelities"):
        make_scheduler(study(1e-308, 1e308, scheduler, eta=1e300))


def test_max_rungs_are_accepted_and_one_more_is_refused() -> None:
    assert len(rung_levels(1, 2 ** (MAX_RUNGS - 1), 2, True)) == MAX_RUNGS
    assert len(make_scheduler(study(1, 2 ** (MAX_RUNGS - 1), eta=2)).rungs[0]) == 100
    with pytest.raises(InvalidStudy, match="makes 101 rungs"):
        rung_levels(1, 2**MAX_RUNGS, 2, True)


def test_a_large_finite_eta_over_a_short_range_is_one_rung_per_end() -> None:
    assert make_scheduler(study(1, 9, eta=1e100)).rungs == [[1.0, 9.0]]
    assert [b.levels for b in make_scheduler(study(1, 9, "hyperband", eta=1e100)).plan] == [(9,)]
