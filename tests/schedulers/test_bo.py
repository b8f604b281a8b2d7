"""GP-BO searcher and the "bo" and "mobster" schedulers (schedulers/bo.py)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

pytest.importorskip("botorch")

from hpo.schedulers import make_scheduler  # noqa: E402
from hpo.schedulers.base import INITIAL_DESIGNS, RandomSearcher  # noqa: E402
from hpo.schedulers.bo import (  # noqa: E402
    AUTO_MIN,
    AUTO_Z,
    GATE_MIN,
    GATE_TAU,
    MOBSTER,
    PLATEAU_CAP,
    BayesianOptimization,
    GPSearcher,
    gated_level,
    model_beats_rung,
    plateau_share,
    pooled_agreement,
    tau_difference_sd,
)

from hpo.errors import InvalidStudy  # noqa: E402
from hpo.history import History  # noqa: E402
from hpo.model import (  # noqa: E402
    Decision,
    Fidelity,
    Objective,
    Report,
    SchedulerSpec,
    Study,
    Trial,
    TrialState,
)
from hpo.space import SearchSpace  # noqa: E402

BOX = {
    "x": {"type": "float", "low": 0.0, "high": 1.0},
    "y": {"type": "float", "low": 0.0, "high": 1.0},
}


def study_of(space=BOX, fidelity=None, scheduler="bo", params=None) -> Study:
    return Study(
        name="t",
        space=SearchSpace.from_dict(space),
        objectives=(Objective("loss"),),
        fidelity=None if fidelity is None else Fidelity("epoch", *fidelity),
        scheduler=SchedulerSpec(scheduler, params or {}),
        id=1,
    )


def history_of(study: Study, configs, losses, steps=None) -> History:
    h = History(study)
    for i, (cfg, loss) in enumerate(zip(configs, losses, strict=True)):
        step = study.max_fidelity if steps is None else steps[i]
        h.apply_trial(Trial(i + 1, 1, i, cfg, TrialState.COMPLETED, step, last_step=step))
        h.apply_report(Report(i + 1, step, {"loss": loss}, None, float(i)))
    return h


def bowl(cfg) -> float:
    return (cfg["x"] - 0.3) ** 2 + (cfg["y"] - 0.7) ** 2


def diverging(c) -> float:
    """The bowl, except that a quarter of the box diverges (losses of 1e4 and more)."""
    return bowl(c) if c["x"] < 0.75 else 1e4 * math.exp(10 * (c["x"] - 0.75))


def random_configs(space: SearchSpace, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def running(number: int, config) -> Trial:
    return Trial(1000 + number, 1, number, config, TrialState.RUNNING, 1.0)


def test_before_n_initial_results_proposals_are_random_searchs() -> None:
    st = study_of()
    cfgs = random_configs(st.space, 4)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    got = GPSearcher(st, seed=3, n_initial=5).propose(h, [], 2)
    assert got == RandomSearcher(st, seed=3).propose(h, [], 2)


def test_gp_proposals_move_towards_the_minimum_of_a_bowl() -> None:
    st = study_of()
    cfgs = random_configs(st.space, 12)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    (c,) = GPSearcher(st, seed=0).propose(h, [], 1)
    assert bowl(c) < sorted(bowl(x) for x in cfgs)[2]


def test_a_pending_trial_at_the_proposal_moves_the_next_proposal_away() -> None:
    st = study_of()
    cfgs = random_configs(st.space, 12)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    s = GPSearcher(st, seed=0)
    (alone,) = s.propose(h, [], 1)
    (beside,) = s.propose(h, [running(50, alone)], 1)
    assert beside != alone
    assert math.dist((alone["x"], alone["y"]), (beside["x"], beside["y"])) > 0.02


def test_a_batch_of_proposals_has_no_near_duplicates() -> None:
    st = study_of()
    cfgs = random_configs(st.space, 12)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    batch = GPSearcher(st, seed=0).propose(h, [], 3)
    pts = [(c["x"], c["y"]) for c in batch]
    assert min(math.dist(a, b) for i, a in enumerate(pts) for b in pts[i + 1 :]) > 0.02


MIXED = {
    "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
    "units": {"type": "int", "low": 8, "high": 512, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "act": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
}


def mixed_loss(c) -> float:
    return (
        (math.log10(c["lr"]) + 3) ** 2
        + (math.log2(c["units"]) - 6) ** 2 / 4
        + (0.0 if c["act"] == "tanh" else 1.0)
        + 0.1 * c["layers"]
    )


@pytest.mark.parametrize("fidelity", [None, (1, 9)])
def test_proposals_respect_ints_log_ranges_and_categoricals(fidelity) -> None:
    st = study_of(MIXED, fidelity=fidelity)
    cfgs = random_configs(st.space, 12, seed=1)
    h = history_of(st, cfgs, [mixed_loss(c) for c in cfgs])
    s = GPSearcher(st, seed=0, multi_fidelity=fidelity is not None)
    out = s.propose(h, [running(99, cfgs[0])], 2)
    for c in out:
        assert st.space.validate_config(c) == c
        assert type(c["units"]) is int and type(c["layers"]) is int
        assert 1e-5 <= c["lr"] <= 1.0 and c["act"] in ("relu", "tanh", "gelu")


@pytest.mark.parametrize("warp", [False, True])
def test_a_fresh_searcher_proposes_what_a_used_one_does(warp) -> None:
    """Replay: decisions are a function of the history, whatever the searcher cached (with
    warping, each milestone's fit warps its own prefix of the results)."""
    st = study_of()
    cfgs = random_configs(st.space, 30)
    losses = [diverging(c) for c in cfgs] if warp else [bowl(c) for c in cfgs]
    used = GPSearcher(st, seed=0, output_warping=warp)
    for n in (12, 18, 24):
        used.propose(history_of(st, cfgs[:n], losses[:n]), [], 1)
    h = history_of(st, cfgs, losses)
    assert used.propose(h, [], 1) == GPSearcher(st, seed=0, output_warping=warp).propose(h, [], 1)


def test_the_training_set_is_capped_at_max_points_on_2000_observations() -> None:
    st = study_of()
    cfgs = random_configs(st.space, 2000)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    s = GPSearcher(st, seed=0, max_points=100, n_initial=5)
    t0 = time.perf_counter()
    (c,) = s.propose(h, [], 1)
    print(f"first proposal on 2000 observations (max_points=100): {time.perf_counter() - t0:.2f}s")
    assert s.last_training_size == 100
    assert st.space.validate_config(c) == c


def test_multi_fidelity_training_keeps_rung_levels_and_latest_results() -> None:
    st = study_of(fidelity=(1, 9), scheduler="mobster")
    cfgs = random_configs(st.space, 6)
    h = History(st)
    for i, c in enumerate(cfgs):
        last = 9 if i < 2 else 4
        h.apply_trial(Trial(i + 1, 1, i, c, TrialState.PAUSED, float(last), last_step=float(last)))
        for step in range(1, last + 1):
            h.apply_report(Report(i + 1, float(step), {"loss": bowl(c) + 1 / step}, None, step))
    s = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9])
    kept = s._select(s.observations(h))
    assert sorted({o.fidelity for o in kept}) == [1.0, 3.0, 4.0, 9.0]
    assert len(kept) == 2 * 3 + 4 * 3


def test_the_searchers_gp_fits_take_the_lengthscale_prior() -> None:
    """The hyperparameters the searcher fits name the kernel the prior builds: a scaled Matérn
    (outputscale, base kernel lengthscale) for ``gamma``, a bare Matérn for ``dim_scaled``."""
    st = study_of()
    cfgs = random_configs(st.space, 12, seed=2)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    names = {}
    for prior in ("dim_scaled", "gamma"):
        s = GPSearcher(st, seed=0, lengthscale_prior=prior)
        s.propose(h, [], 1)
        names[prior] = {k for hp in s._schedule._cache.values() for k in hp}
    assert "covar_module.base_kernel.raw_lengthscale" in names["gamma"]
    assert "covar_module.raw_lengthscale" in names["dim_scaled"]
    assert "covar_module.raw_outputscale" not in names["dim_scaled"]


def test_the_noise_prior_reaches_the_gps_each_gp_scheduler_fits(monkeypatch) -> None:
    """``noise_prior`` is ``lognormal`` (BoTorch's) by default for bo, mobster and hypertune, and
    ``none`` reaches every GP their proposals fit (bo's, mobster's joint one, Hyper-Tune's per
    level ones), not only the searcher's attribute."""
    from hpo.surrogates import gp as gp_module

    built: list[str] = []
    original = gp_module.GPSurrogate.__init__

    def spy(self, *a, **kw):
        original(self, *a, **kw)
        built.append(self.noise_prior)

    monkeypatch.setattr(gp_module.GPSurrogate, "__init__", spy)
    cfgs = random_configs(study_of().space, 12, seed=6)
    for name, fidelity in (("bo", None), ("mobster", (1, 9)), ("hypertune", (1, 9))):
        assert make_scheduler(study_of(fidelity=fidelity, scheduler=name)).searcher.noise_prior == (
            "lognormal"
        )
        for prior in ("lognormal", "none"):
            st = study_of(fidelity=fidelity, scheduler=name, params={"noise_prior": prior})
            sched = make_scheduler(st)
            assert sched.searcher.noise_prior == prior
            steps = None if fidelity is None else [1.0, 3.0, 9.0] * 4
            built.clear()
            sched.searcher.propose(history_of(st, cfgs, [bowl(c) for c in cfgs], steps), [], 1)
            assert built and set(built) == {prior}, (name, prior)


def mf_history(study: Study, reached: list[int]) -> History:
    """Trial ``i`` reports every step from 1 to ``reached[i]`` on the bowl plus ``1 / step``."""
    h = History(study)
    for i, (c, last) in enumerate(
        zip(random_configs(study.space, len(reached), 3), reached, strict=True)
    ):
        h.apply_trial(Trial(i + 1, 1, i, c, TrialState.PAUSED, float(last), last_step=float(last)))
        for step in range(1, last + 1):
            h.apply_report(Report(i + 1, float(step), {"loss": bowl(c) + 1 / step}, None, step))
    return h


def test_results_and_the_model_are_reread_only_after_a_report() -> None:
    """``observations`` and ``_model_now`` are kept per ``History.reports_key``: a new trial
    leaves them (it has no result), a report renews them and the new result is in the new list;
    another History object with the same rows is read afresh, to the same results."""
    st = study_of(fidelity=(1, 9), scheduler="mobster")
    s = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9], n_initial=3)
    h = mf_history(st, [9, 3, 3, 1, 1])
    obs = s.observations(h)
    model = s._model_now(h)
    assert model is not None
    h.apply_trial(Trial(6, 1, 5, {"x": 0.5, "y": 0.5}, TrialState.RUNNING, 9.0))
    assert s.observations(h) is obs and s._model_now(h) is model
    h.apply_report(Report(6, 1.0, {"loss": 0.25}, None, 99.0))
    fresh = s.observations(h)
    assert fresh is not obs and len(fresh) == len(obs) + 1 and fresh[-1].score == 0.25
    renewed = s._model_now(h)
    assert renewed is not None and renewed[0] is not model[0] and len(renewed[1]) > len(model[1])
    again = h.copy()
    assert again.reports_key != h.reports_key
    assert [o.order for o in s.observations(again)] == [o.order for o in fresh]


@pytest.mark.parametrize("best_so_far", [False, True])
def test_results_read_incrementally_equal_a_fresh_read(best_so_far) -> None:
    """Reports arriving one by one, some out of step order, some replacing an earlier result at
    the same step: read after one report or after several, the kept searcher's results
    (re-reading only the trials that reported) equal a new searcher's, result for result."""
    st = study_of(fidelity=(1, 9), scheduler="mobster")
    kept = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9], best_so_far=best_so_far)
    rng = np.random.default_rng(5)
    h = History(st)
    for i, c in enumerate(random_configs(st.space, 6, 4)):
        h.apply_trial(Trial(i + 1, 1, i, c, TrialState.RUNNING, 9.0))
    for n in range(1, 61):
        tid = int(rng.integers(1, 7))
        step = float(rng.choice([1, 2, 3, 5, 9]))
        h.apply_report(Report(tid, step, {"loss": float(rng.random())}, None, float(n)))
        if n % 3:  # read after one report, or after several (of several trials)
            fresh = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9], best_so_far=best_so_far)
            assert kept.observations(h) == fresh.observations(h), n
    start = h.report_revision
    for tid in (2, 1, 2):
        h.apply_report(Report(tid, 9.0, {"loss": 0.0}, None, 99.0))
    assert h.reported_since(start) == [2, 1] and h.reported_since(start + 2) == [2]


def test_bohb_acquisition_fidelity_is_the_highest_rung_with_d_plus_one_results() -> None:
    """Two parameters, so a rung needs 3 trials with a result there. Hand-counted: with 9
    trials at rung 1, 3 of them to rung 3 and 2 to rung 9, the acquisition is at 3; one more at
    9 moves it to 9; with 2 trials in all, at the lowest rung. ``max`` is always 9."""
    st = study_of(fidelity=(1, 9), scheduler="mobster")
    s = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9], acquisition_fidelity="bohb")
    top = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9])
    cases = (([9, 9, 3] + [1] * 6, 3.0), ([9, 9, 9] + [1] * 6, 9.0), ([9, 9], 1.0))
    for reached, want in cases:
        obs = s.observations(mf_history(st, reached))
        assert s.acquisition_level(obs) == want, reached
        assert top.acquisition_level(obs) == 9.0
    # a trial paused between rungs (latest result at step 5) counts at its rungs only
    obs = s.observations(mf_history(st, [9, 9, 5, 5] + [1] * 5))
    assert s.acquisition_level(obs) == 3.0


def test_pooled_agreement_is_the_trial_weighted_mean_of_adjacent_levels_taus() -> None:
    """Hand-computed. 1 -> 3 over trials 1-4: scores (1, 2, 3, 4) and (1, 2, 4, 3), 5 of 6
    pairs concordant, tau 2/3. 3 -> 9 over trials 1-3: (1, 2, 4) and (3, 2, 1), tau -1. Pooled:
    (4 * 2/3 + 3 * -1) / 7 = -1/21 over 7 trials. Trial 5, at 1 only, takes no part."""
    per_level = {
        1.0: {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0, 5: 0.0},
        3.0: {1: 1.0, 2: 2.0, 3: 4.0, 4: 3.0},
        9.0: {1: 3.0, 2: 2.0, 3: 1.0},
    }
    tau, n = pooled_agreement(per_level, [1.0, 3.0, 9.0], 9.0)
    assert (tau, n) == (pytest.approx(-1 / 21), 7)
    # a pair of two trials is left out (its tau is +-1 by construction), and so is one all tied
    per_level[9.0] = {1: 3.0, 2: 2.0}
    assert pooled_agreement(per_level, [1.0, 3.0, 9.0], 9.0) == (pytest.approx(2 / 3), 4)
    per_level[3.0] = {1: 5.0, 2: 5.0, 3: 5.0, 4: 5.0}
    assert pooled_agreement(per_level, [1.0, 3.0, 9.0], 9.0) is None
    # the target closes the chain even when it is not among the levels
    per_level = {1.0: {t: float(t) for t in range(4)}, 5.0: {t: -float(t) for t in range(4)}}
    assert pooled_agreement(per_level, [1.0], 5.0) == (pytest.approx(-1.0), 4)


def test_gated_level_is_the_target_only_on_enough_pooled_disagreement() -> None:
    def levels_with(n: int, sign: float) -> dict[float, dict[int, float]]:
        return {1.0: {t: float(t) for t in range(n)}, 3.0: {t: sign * t for t in range(n)}}

    assert gated_level(levels_with(GATE_MIN, -1.0), [1.0, 3.0, 9.0], 1.0, 9.0) == 9.0
    assert gated_level(levels_with(GATE_MIN - 1, -1.0), [1.0, 3.0, 9.0], 1.0, 9.0) == 1.0
    assert gated_level(levels_with(GATE_MIN, 1.0), [1.0, 3.0, 9.0], 3.0, 9.0) == 3.0
    # pooled over two pairs of levels: n1 trials agreeing (tau +1) from 1 to 3 and n2 reversing
    # (tau -1) from 3 to 9 pool to (n1 - n2) / (n1 + n2): 11 and 9 give 0.1, 10 and 9 give 1/19
    for n1, n2 in ((11, 9), (10, 9), (30, 9)):
        per_level = {
            1.0: {t: float(t) for t in range(n1)},
            3.0: {t: float(t) for t in range(n1)},
            9.0: {t: -float(t) for t in range(n2)},
        }
        tau, n = pooled_agreement(per_level, [1.0, 3.0, 9.0], 9.0)
        assert (tau, n) == (pytest.approx((n1 - n2) / (n1 + n2)), n1 + n2)
        want = 9.0 if tau < GATE_TAU - 1e-12 else 1.0
        assert gated_level(per_level, [1.0, 3.0, 9.0], 1.0, 9.0) == want


def test_gated_acquisition_fidelity_moves_to_the_maximum_where_rungs_reverse() -> None:
    """Two parameters: BOHB's level is 3 (9 trials reached it, 2 reached 9). Scores are the bowl
    at steps 1-2 and 9, minus the bowl at steps 3-8: the 11 trials with results at 1 and 3 rank
    in reverse (tau -1, the 2 at 3 and 9 are too few to count), so ``gated`` asks at 9. With
    the same sign at every step (tau +1) it stays at BOHB's 3."""
    st = study_of(fidelity=(1, 9), scheduler="mobster")
    reached = [9, 9] + [3] * 9 + [1] * 2
    for flip, want in ((True, 9.0), (False, 3.0)):
        h = History(st)
        for i, (c, last) in enumerate(
            zip(random_configs(st.space, len(reached), 5), reached, strict=True)
        ):
            h.apply_trial(
                Trial(i + 1, 1, i, c, TrialState.PAUSED, float(last), last_step=float(last))
            )
            for step in range(1, last + 1):
                sign = -1.0 if flip and 3 <= step < 9 else 1.0
                h.apply_report(Report(i + 1, float(step), {"loss": sign * bowl(c)}, None, step))
        for acq, level in (("gated", want), ("bohb", 3.0), ("max", 9.0)):
            s = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9], acquisition_fidelity=acq)
            assert s.acquisition_level(s.observations(h)) == level, (flip, acq)
    sched = make_scheduler(
        study_of(fidelity=(1, 9), scheduler="mobster", params={"acquisition_fidelity": "gated"})
    )
    assert sched.searcher.acquisition_fidelity == "gated"


def test_bohb_acquisition_fidelity_optimizes_and_compares_at_that_rung(monkeypatch) -> None:
    """The proposal's acquisition is taken with the fidelity column pinned at the rung's
    ``z = log(r / r_min) / log(r_max / r_min)`` (1/2 for rung 3 of 1..9), and the incumbent's
    candidates and the pending trial are encoded there too; with ``max`` at z = 1."""
    from hpo.surrogates import gp as gp_module

    seen: list[tuple[float, float, float]] = []
    original = gp_module.propose_log_ei

    def spy(surrogate, features, X_baseline, X_pending, **kw):
        seen.append((features.target_z, float(X_baseline[0, -1]), float(X_pending[0, -1])))
        return original(surrogate, features, X_baseline, X_pending, **kw)

    monkeypatch.setattr(gp_module, "propose_log_ei", spy)
    for acq, z in (("bohb", 0.5), ("max", 1.0)):
        st = study_of(fidelity=(1, 9), scheduler="mobster", params={"acquisition_fidelity": acq})
        sched = make_scheduler(st)
        h = mf_history(st, [9, 9, 3, 3, 3] + [1] * 6)
        seen.clear()
        (cfg,) = sched.searcher.propose(h, [running(20, {"x": 0.5, "y": 0.5})], 1)
        assert seen == [(z, z, z)], acq
        assert sched.searcher.last_acquisition_level == (3.0 if acq == "bohb" else 9.0)
        assert set(cfg) == {"x", "y"}


def test_cost_aware_proposals_avoid_the_expensive_half() -> None:
    st = study_of()
    cfgs = random_configs(st.space, 16, seed=4)
    h = History(st)
    for i, c in enumerate(cfgs):
        h.apply_trial(Trial(i + 1, 1, i, c, TrialState.COMPLETED, 1.0, last_step=1.0))
        cost = 1.0 if c["x"] < 0.5 else 1000.0
        loss = (c["y"] - 0.5) ** 2  # flat in x: only the cost tells the halves apart
        h.apply_report(Report(i + 1, 1.0, {"loss": loss}, cost, float(i)))
    plain = GPSearcher(st, seed=0).propose(h, [], 4)
    aware = GPSearcher(st, seed=0, cost_aware=True).propose(h, [], 4)
    assert all(c["x"] < 0.5 for c in aware)
    assert plain != aware


def test_random_fraction_replaces_that_share_of_model_proposals_by_uniform_draws() -> None:
    """With random_fraction p, each proposal is, independently with probability p, what a
    uniform draw seeded by (seed, trials, index) gives; the others still come from the GP."""
    st = study_of()
    cfgs = random_configs(st.space, 12)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    model = GPSearcher(st, seed=0).propose(h, [], 40)
    mixed_searcher = GPSearcher(st, seed=0, random_fraction=0.5)
    mixed = mixed_searcher.propose(h, [], 40)
    drawn = [mixed_searcher._at_random(h, i, 0.5) for i in range(40)]
    assert 10 <= sum(drawn) <= 30  # Binomial(40, 0.5): outside this with probability < 0.3%
    for i, (c, at_random) in enumerate(zip(mixed, drawn, strict=True)):
        if at_random:
            assert c == st.space.sample(np.random.default_rng([0, h.n_trials, i]))
    # the model's proposals go to the bowl's low region, the uniform ones do not
    mean = lambda cs: float(np.mean([bowl(c) for c in cs]))  # noqa: E731
    assert mean([c for c, r in zip(mixed, drawn, strict=True) if r]) > 2 * mean(model[:10])
    # deterministic: a fresh searcher proposes the same batch
    assert GPSearcher(st, seed=0, random_fraction=0.5).propose(h, [], 40) == mixed


def test_plateau_share_counts_exact_repeats_of_a_first_result() -> None:
    """Hand-counted, trials by number 0..7: 2 repeats 0's (step, value) with another
    configuration, 3 repeats it with 0's own configuration (a deterministic rerun), 4 has 1's value
    at another step (not a repeat), 5 repeats 1; 6 and 7 are new. Repeats: 3 of 8."""
    st = study_of(fidelity=(1, 9))
    a, b, c, d, e, f, g = ({"x": x, "y": 0.5} for x in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7))
    h = history_of(
        st,
        [a, b, c, a, d, e, f, g],
        [1.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0],
        [1, 1, 1, 1, 3, 1, 1, 1],
    )
    assert plateau_share(h, "loss", 20) == pytest.approx(3 / 8)
    assert plateau_share(h, "loss", 4) == pytest.approx(1 / 4)  # trials 4-7
    assert plateau_share(h, "loss", 3) == pytest.approx(1 / 3)  # trials 5-7
    assert plateau_share(h, "loss", 2) == 0.0
    assert plateau_share(h, "other", 20) == 0.0
    assert plateau_share(history_of(st, [], []), "loss", 20) == 0.0
    # a later report of an earlier trial does not count: only each trial's first result
    h.apply_report(Report(2, 3, {"loss": 2.0}, None, 99.0))
    assert plateau_share(h, "loss", 20) == pytest.approx(3 / 8)
    auto = GPSearcher(st, seed=0, random_fraction="auto")
    assert auto.fraction(h) == pytest.approx(3 / 8)
    assert GPSearcher(st, seed=0, random_fraction=0.25).fraction(h) == 0.25
    h5 = history_of(st, [a, b, c, d, e], [1.0] * 5)
    assert auto.fraction(h5) == PLATEAU_CAP  # 4 of 5 repeat, capped


def test_auto_random_fraction_is_the_plain_model_on_a_continuous_objective() -> None:
    """No two results repeat on the bowl, so "auto" draws nothing at random and proposes what
    the plain searcher does; on a flat objective it draws at the cap: those proposals are the
    uniform draws, the others the model's."""
    st = study_of()
    cfgs = random_configs(st.space, 12)
    h = history_of(st, cfgs, [bowl(c) for c in cfgs])
    auto = GPSearcher(st, seed=0, random_fraction="auto")
    assert auto.fraction(h) == 0.0
    assert auto.propose(h, [], 3) == GPSearcher(st, seed=0).propose(h, [], 3)
    flat = history_of(st, cfgs, [1.0] * 12)
    assert auto.fraction(flat) == PLATEAU_CAP
    got = auto.propose(flat, [], 20)
    capped = GPSearcher(st, seed=0, random_fraction=PLATEAU_CAP).propose(flat, [], 20)
    assert got == capped
    drawn = [auto._at_random(flat, i, PLATEAU_CAP) for i in range(20)]
    assert 0 < sum(drawn) < 20
    for i, (c, at_random) in enumerate(zip(got, drawn, strict=True)):
        uniform = st.space.sample(np.random.default_rng([0, flat.n_trials, i]))
        assert (c == uniform) == at_random


def test_mobster_defaults_to_the_auto_fraction_and_hypertune_takes_it() -> None:
    st = study_of(fidelity=(1, 27), scheduler="mobster")
    assert make_scheduler(st).searcher.random_fraction == "auto"
    st0 = study_of(fidelity=(1, 27), scheduler="mobster", params={"random_fraction": 0})
    assert make_scheduler(st0).searcher.random_fraction == 0.0
    bo = make_scheduler(study_of())
    assert bo.searcher.random_fraction == 0.0
    nf = study_of(fidelity=(1, 27), scheduler="mobster", params={"noise_floor": 1e-6})
    assert make_scheduler(nf).searcher.noise_floor == 1e-6
    assert make_scheduler(st).searcher.noise_floor == 1e-4  # BoTorch's
    # the lengthscale prior: gamma for mobster, dim_scaled for bo and hypertune unless asked
    assert make_scheduler(st).searcher.lengthscale_prior == "gamma"
    assert bo.searcher.lengthscale_prior == "dim_scaled"
    for name, other in (("bo", "gamma"), ("mobster", "dim_scaled"), ("hypertune", "gamma")):
        g = study_of(fidelity=(1, 27), scheduler=name, params={"lengthscale_prior": other})
        assert make_scheduler(g).searcher.lengthscale_prior == other
    ht0 = study_of(fidelity=(1, 27), scheduler="hypertune")
    assert make_scheduler(ht0).searcher.lengthscale_prior == "dim_scaled"
    ht = study_of(fidelity=(1, 27), scheduler="hypertune", params={"random_fraction": "auto"})
    assert make_scheduler(ht).searcher.random_fraction == "auto"
    # output warping: on for mobster, off for bo and hypertune unless asked
    assert make_scheduler(st).searcher.output_warping is True
    assert make_scheduler(st0).searcher.output_warping is True
    assert (
        bo.searcher.output_warping is False and make_scheduler(ht).searcher.output_warping is False
    )
    off = study_of(fidelity=(1, 27), scheduler="mobster", params={"output_warping": False})
    assert make_scheduler(off).searcher.output_warping is False
    htw = study_of(fidelity=(1, 27), scheduler="hypertune", params={"output_warping": True})
    assert make_scheduler(htw).searcher.output_warping is True


def test_warped_outputs_keep_diverged_results_from_flattening_the_model() -> None:
    """Standardized raw losses put every converged result at about the same value next to the
    diverged ones, so the plain model sees no bowl and its proposal lands far from the minimum;
    through ``power_warp`` the bowl survives and the proposal lands near (0.3, 0.7)."""
    st = study_of()
    for seed in range(4):
        cfgs = random_configs(st.space, 20, seed=seed)
        h = history_of(st, cfgs, [diverging(c) for c in cfgs])
        plain = GPSearcher(st, seed=seed).propose(h, [], n=1)[0]
        warped = GPSearcher(st, seed=seed, output_warping=True).propose(h, [], n=1)[0]
        assert bowl(warped) < 0.11
        assert bowl(warped) < bowl(plain) / 1.5


def test_warping_applies_to_one_objective_without_constraints() -> None:
    from hpo.surrogates.gp import FeatureMap, power_warp

    st = study_of()
    cfgs = random_configs(st.space, 12, seed=5)
    losses = [diverging(c) for c in cfgs]
    h = history_of(st, cfgs, losses)
    features = FeatureMap(st.space)
    warped = GPSearcher(st, output_warping=True)
    _, y = warped._xy(features, warped.observations(h))
    np.testing.assert_allclose(y, -power_warp(losses))
    plain = GPSearcher(st)
    np.testing.assert_allclose(plain._xy(features, plain.observations(h))[1], -np.array(losses))
    constrained = GPSearcher(st, output_warping=True, constraints=["loss <= 10"])
    obs = constrained.observations(h)
    np.testing.assert_allclose(constrained._xy(features, obs)[1], -np.array(losses))


def test_schedulers_validate_their_parameters() -> None:
    assert isinstance(make_scheduler(study_of()), BayesianOptimization)
    st = study_of(fidelity=(1, 27), scheduler="mobster", params={"eta": 3, "max_points": 200})
    m = make_scheduler(st)
    assert isinstance(m, MOBSTER) and m.searcher.max_points == 200
    for bad in (
        {"n_initial": 0},
        {"max_points": 5},
        {"cost_aware": "yes"},
        {"kappa": 1},
        {"random_fraction": 1.0},
        {"random_fraction": -0.1},
        {"random_fraction": "half"},
        {"random_fraction": "Auto"},
        {"noise_floor": 0},
        {"noise_floor": 1.0},
        {"noise_floor": "small"},
        {"noise_floor": True},
        {"random_fraction": True},
        {"output_warping": "yes"},
        {"output_warping": 1},
        {"lengthscale_prior": "wide"},
        {"lengthscale_prior": 1},
        {"lengthscale_prior": ["gamma"]},
        {"initial_design": "lhs"},
        {"initial_design": ["sobol"]},
        {"noise_prior": "flat"},
        {"noise_prior": None},
    ):
        with pytest.raises(InvalidStudy):
            make_scheduler(study_of(scheduler="bo", params=bad))
    for bad in ({"auto_min": 2}, {"auto_min": 5.0}, {"auto_min": True}, {"auto_min": "8"}):
        with pytest.raises(InvalidStudy, match="auto_min"):
            make_scheduler(study_of(fidelity=(1, 27), scheduler="mobster", params=bad))
    for bad in (
        {"auto_z": -0.5},
        {"auto_z": 11},
        {"auto_z": True},
        {"auto_z": "1"},
        {"auto_z": float("nan")},
    ):
        with pytest.raises(InvalidStudy, match="auto_z"):
            make_scheduler(study_of(fidelity=(1, 27), scheduler="mobster", params=bad))
    for bad in ({"acquisition_fidelity": "min"}, {"acquisition_fidelity": 9}):
        with pytest.raises(InvalidStudy, match="acquisition_fidelity"):
            make_scheduler(study_of(fidelity=(1, 27), scheduler="mobster", params=bad))
    with pytest.raises(InvalidStudy, match="multi-fidelity"):
        GPSearcher(study_of(), acquisition_fidelity="bohb")
    with pytest.raises(InvalidStudy):  # bo has no such parameter
        make_scheduler(study_of(scheduler="bo", params={"acquisition_fidelity": "bohb"}))
    with pytest.raises(InvalidStudy, match="fidelity"):
        make_scheduler(study_of(scheduler="mobster"))


def test_mobster_beats_random_search_on_branin_in_simulated_time() -> None:
    from benchmarks.compare import regret_at, run_hpo
    from benchmarks.synthetic import mf_branin

    bb = mf_branin()
    limit = 1.0 * 3600
    scale = 10.0
    regrets = {}
    for method in ("random", "mobster"):
        regrets[method] = [
            regret_at(run_hpo(bb, method, seed, 4, limit), limit, bb, scale) for seed in range(2)
        ]
    print({m: [round(r, 4) for r in rs] for m, rs in regrets.items()})
    assert np.mean(regrets["mobster"]) < np.mean(regrets["random"])


def test_best_so_far_gives_the_model_each_trials_best_value_up_to_the_step() -> None:
    """By hand: a trial reporting 3, 1, 2 at epochs 1, 2, 3 is seen as 3, 1, 1 (as when the best
    checkpoint is kept), and as 3, 1, 2 without; a maximized metric keeps its running maximum."""
    from hpo.model import Mode

    def curve_history(study: Study) -> History:
        h = History(study)
        h.apply_trial(Trial(1, 1, 0, {"x": 0.5, "y": 0.5}, TrialState.COMPLETED, 3, last_step=3))
        for step, loss in ((1, 3.0), (2, 1.0), (3, 2.0)):
            h.apply_report(Report(1, step, {"loss": loss}, None, float(step)))
        return h

    st = study_of(fidelity=(1, 3), scheduler="mobster")
    for best, want in ((False, [3.0, 1.0, 2.0]), (True, [3.0, 1.0, 1.0])):
        s = GPSearcher(st, multi_fidelity=True, best_so_far=best)
        obs = s.observations(curve_history(st))
        assert [o.fidelity for o in obs] == [1.0, 2.0, 3.0]
        assert [o.score for o in obs] == want and [o.values for o in obs] == [(v,) for v in want]
    # single fidelity: the one observation at the maximum carries the best of the whole curve
    bo = GPSearcher(study_of(fidelity=(1, 3)), best_so_far=True)
    assert [o.score for o in bo.observations(curve_history(st))] == [1.0]
    mx = Study(
        name="t",
        space=SearchSpace.from_dict(BOX),
        objectives=(Objective("loss", Mode.MAX),),
        fidelity=Fidelity("epoch", 1, 3),
        scheduler=SchedulerSpec("mobster", {}),
        id=1,
    )
    s = GPSearcher(mx, multi_fidelity=True, best_so_far=True)
    assert [o.score for o in s.observations(curve_history(mx))] == [-3.0, -3.0, -3.0]


def test_best_so_far_is_a_flag_for_one_objective_without_constraints() -> None:
    for name in ("bo", "mobster", "hypertune"):
        st = study_of(fidelity=(1, 27), scheduler=name, params={"best_so_far": True})
        assert make_scheduler(st).searcher.best_so_far is True
        assert (
            make_scheduler(study_of(fidelity=(1, 27), scheduler=name)).searcher.best_so_far is False
        )
    with pytest.raises(InvalidStudy, match="best_so_far must be true or false"):
        make_scheduler(study_of(params={"best_so_far": "yes"}))
    with pytest.raises(InvalidStudy, match="best_so_far takes one objective and no constraints"):
        make_scheduler(study_of(params={"best_so_far": True, "constraints": ["mem <= 1"]}))
    two = Study(
        name="t",
        space=SearchSpace.from_dict(BOX),
        objectives=(Objective("loss"), Objective("mem")),
        scheduler=SchedulerSpec("bo", {"best_so_far": True}),
        id=1,
    )
    with pytest.raises(InvalidStudy, match="best_so_far takes one objective"):
        make_scheduler(two)


def test_sobol_initial_design_is_stratified_and_replays_from_the_history() -> None:
    """The first 2^m points of a scrambled Sobol' sequence form a (0, m, 2)-net in base 2 for
    d = 2 (Sobol' 1967; Owen scrambling keeps the net property): each of the 16 equal strips of
    either axis, and each of the 4 x 4 cells, holds exactly one of 16 points. Trial k gets point
    k whatever the batching (a history of k trials, then one proposal)."""
    from hpo.schedulers.base import SobolSearcher

    space = {
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
        "y": {"type": "float", "low": -2.0, "high": 2.0},
    }
    st = study_of(space=space, scheduler="bo", params={"initial_design": "sobol"})
    s = SobolSearcher(st, seed=7)
    batch = s.propose(History(st), [], n=16)
    U = st.space.encode_many(batch)  # back to the unit cube (log scale for lr)
    for axis in (0, 1):
        assert sorted(np.floor(U[:, axis] * 16).astype(int)) == list(range(16))
    cells = {(int(a * 4), int(b * 4)) for a, b in U}
    assert len(cells) == 16
    # uniform draws almost never do that: 16!/16^16 ~ 1e-6 per axis
    R = st.space.encode_many(RandomSearcher(st, seed=7).propose(History(st), [], n=16))
    assert len(set(np.floor(R[:, 0] * 16).astype(int))) < 16
    # point k for trial k: five trials in the history, then the sixth proposal
    h = history_of(st, batch[:5], [1.0] * 5)
    assert s.propose(h, [], n=1) == [batch[5]]
    assert SobolSearcher(st, seed=8).propose(History(st), [], n=1) != batch[:1]  # seeded


def test_the_searcher_draws_its_initial_design_from_sobol_when_asked() -> None:
    from hpo.schedulers.base import SobolSearcher

    st = study_of(scheduler="bo", params={"initial_design": "sobol", "n_initial": 6})
    bo = make_scheduler(st)
    assert bo.searcher.initial_design == "sobol"
    configs = SobolSearcher(st, seed=0).propose(History(st), [], n=6)
    h = history_of(st, configs[:4], [1.0, 2.0, 3.0, 4.0])
    # 4 results < n_initial: proposals 5 and 6 are Sobol' points 4 and 5
    assert bo.searcher.propose(h, [], n=2) == configs[4:6]
    for name in ("bo", "mobster", "hypertune"):  # Sobol' is every GP scheduler's default
        plain = study_of(fidelity=(1, 27), scheduler=name)
        assert make_scheduler(plain).searcher.initial_design == "sobol"
        for design in INITIAL_DESIGNS:
            g = study_of(fidelity=(1, 27), scheduler=name, params={"initial_design": design})
            assert make_scheduler(g).searcher.initial_design == design


LINE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def reversed_rungs(study: Study, running_x: float | None = None) -> History:
    """Nine trials trained to 9 whose loss is (x - 0.2)^2 at step 1 and (x - 0.8)^2 from step 3
    on (the low rung ranks them in reverse near the optimum), and nine paused after step 1 at
    x = 0.05, 0.15, ..., 0.85, plus, with ``running_x``, a running trial just reported at 1."""
    h = History(study)
    full = [i / 8 for i in range(9)]
    paused = [0.05 + 0.1 * i for i in range(9)]
    n = 0
    for x, last in [*((x, 9) for x in full), *((x, 1) for x in paused)]:
        n += 1
        state = TrialState.COMPLETED if last == 9 else TrialState.PAUSED
        h.apply_trial(Trial(n, 1, n - 1, {"x": x}, state, float(last), last_step=float(last)))
        for step in (1, 3, 9)[: 3 if last == 9 else 1]:
            loss = (x - 0.2) ** 2 if step == 1 else (x - 0.8) ** 2
            h.apply_report(Report(n, float(step), {"loss": loss}, None, float(n)))
    if running_x is not None:
        n += 1
        h.apply_trial(Trial(n, 1, n - 1, {"x": running_x}, TrialState.RUNNING, 1.0))
        h.apply_report(Report(n, 1.0, {"loss": (running_x - 0.2) ** 2}, None, float(n)))
    return h


def test_the_searchers_predicted_scores_rank_at_the_maximum_fidelity() -> None:
    """On ``reversed_rungs`` the model, which has both levels, ranks x = 0.8 ahead of x = 0.2 at
    the maximum fidelity (the top's optimum) and behind it at step 1 (the low one's); before
    ``n_initial`` trials, and with a constraint, it does not rank."""
    st = study_of(LINE, fidelity=(1, 9), scheduler="mobster")
    h = reversed_rungs(st)
    s = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9], fidelity_range=(1, 9))
    top = s.predicted_scores(h, [{"x": 0.8}, {"x": 0.2}])
    low = s.predicted_scores(h, [{"x": 0.8}, {"x": 0.2}], fidelity=1)
    assert top[0] < top[1] and low[0] > low[1]
    assert GPSearcher(st, multi_fidelity=True, n_initial=30).predicted_scores(h, [{}]) is None
    con = GPSearcher(st, multi_fidelity=True, constraints=["loss <= 1"])
    assert con.predicted_scores(h, [{"x": 0.8}]) is None


def test_mobster_promotes_by_the_models_prediction_when_asked() -> None:
    """Rung 1 holds 18 results, so its top 6 may go on. By the results at the rung (ASHA) the
    paused trial promoted is the one nearest the low rung's optimum (x = 0.15 or 0.25); by the
    model it is the one nearest the top's (x = 0.75 or 0.85). A proposal at the same results
    reuses the model's fit only under ``promote_by: model``. (Repeated curves are kept in the
    rungs: (x - 0.2)^2 is the same float at x = 0.15, 0.25 and the trained 0.25, which
    ``skip_repeats`` would leave out as copies.)"""
    got = {}
    for by in ("score", "model"):
        params = {"promote_by": by, "skip_repeats": False}
        st = study_of(LINE, fidelity=(1, 9), scheduler="mobster", params=params)
        sched = make_scheduler(st)
        h = reversed_rungs(st)
        t = sched._get_job(h)
        got[by] = t.config["x"]
        assert t.state is TrialState.PAUSED and t.last_step == 1.0
        assert sched.searcher.keep_fit is (by == "model")
        if by == "model":  # the fit is kept: a proposal now does not build another GP
            from hpo.surrogates.gp import FeatureMap

            obs = sched.searcher.observations(h)
            sched.searcher._first_model(obs, FeatureMap(st.space, (1, 9)), lambda: None)
    assert abs(got["score"] - 0.2) == pytest.approx(0.05)
    assert abs(got["model"] - 0.8) == pytest.approx(0.05)


def test_mobster_stopping_by_the_models_prediction_keeps_the_tops_optimum() -> None:
    """The stopping variant: a trial at x = 0.8 that just reported (0.36 at step 1, behind most of
    the rung) stops by the rung's results and goes on by the model's prediction."""
    for by, want in (("score", Decision.STOP), ("model", Decision.CONTINUE)):
        st = study_of(
            LINE,
            fidelity=(1, 9),
            scheduler="mobster",
            params={"promote_by": by, "variant": "stopping"},
        )
        sched = make_scheduler(st)
        h = reversed_rungs(st, running_x=0.8)
        trial = h.trial(19)
        assert sched.on_report(h, trial, h.reports(19)[0]) is want, by


def test_auto_promotion_follows_the_model_only_where_it_ranks_the_top_better() -> None:
    """``promote_by: auto`` on ``reversed_rungs``: the nine trials with results at 1 and 9 rank
    their top results partly in reverse at 1 (tau -5/9: two bowls, minima at 0.2 and 0.8),
    while the model, held out from their results above 1, ranks them from their neighbours'
    (tau 17/18 here): the model is the better ranker, and the promoted trial is the model's.
    With the top's bowl at every level the rung ranks perfectly (tau 1) and nothing beats it:
    ASHA's promotion by the results."""
    st = study_of(LINE, fidelity=(1, 9), scheduler="mobster", params={"promote_by": "auto"})
    sched = make_scheduler(st)
    h = reversed_rungs(st)
    tau_model, tau_rung, n = sched.model.held_out_agreement(h, 1.0)
    assert n == 9 and tau_rung == pytest.approx(-5 / 9) and tau_model > 0.5
    assert sched.model.model_ranks_better(h, 1.0)
    # auto_z: the difference, in spreads of two taus over 9 trials, decides; just below it the
    # model still ranks better, just above it the rung keeps ranking by its results
    z = (tau_model - tau_rung) / tau_difference_sd(9)
    for margin, better in ((z - 0.01, True), (z + 0.01, False)):
        sched.model.auto_z = margin
        assert sched.model.model_ranks_better(h, 1.0) is better
    sched.model.auto_z = AUTO_Z
    # given as a study parameter: a margin beyond the difference keeps the rung's own ranking,
    # and the promoted trial is the one promote_by score promotes
    wide = make_scheduler(
        study_of(LINE, fidelity=(1, 9), scheduler="mobster", params={"auto_z": math.ceil(z)})
    )
    assert not wide.model.model_ranks_better(h, 1.0)
    score_first = make_scheduler(
        study_of(LINE, fidelity=(1, 9), scheduler="mobster", params={"promote_by": "score"})
    )
    assert wide._get_job(h).id == score_first._get_job(h).id
    assert abs(sched._get_job(h).config["x"] - 0.8) == pytest.approx(0.05)

    agree = History(st)
    for t in h.trials():
        agree.apply_trial(t)
        for r in h.reports(t.id):
            loss = (t.config["x"] - 0.8) ** 2 + 0.01 / r.step
            agree.apply_report(Report(t.id, r.step, {"loss": loss}, None, r.time))
    fresh = make_scheduler(st)
    _, tau_rung, _ = fresh.model.held_out_agreement(agree, 1.0)
    assert tau_rung == pytest.approx(1.0)
    assert not fresh.model.model_ranks_better(agree, 1.0)
    by_score = make_scheduler(study_of(LINE, fidelity=(1, 9), scheduler="mobster"))
    assert fresh._get_job(agree).id == by_score._get_job(agree).id
    # below auto_min (AUTO_MIN) trials with both results: no evidence, ASHA's rule
    few = GPSearcher(st, multi_fidelity=True, levels=[1, 3, 9], fidelity_range=(1, 9), n_initial=3)
    part = History(st)
    for t in list(h.trials())[: AUTO_MIN - 1] + list(h.trials())[9:]:
        part.apply_trial(t)
        for r in h.reports(t.id):
            part.apply_report(r)
    assert few.held_out_agreement(part, 1.0) is None and not few.model_ranks_better(part, 1.0)
    # auto_min above the nine trials with both results: the same history, no evidence, and the
    # rung promotes by its results, as promote_by score does (the model ranks better from 5)
    strict = make_scheduler(
        study_of(LINE, fidelity=(1, 9), scheduler="mobster", params={"auto_min": 10})
    )
    assert strict.model.held_out_agreement(h, 1.0) is None
    by_score_h = make_scheduler(
        study_of(LINE, fidelity=(1, 9), scheduler="mobster", params={"promote_by": "score"})
    )
    assert strict._get_job(h).id == by_score_h._get_job(h).id != sched._get_job(h).id


def test_tau_difference_sd_is_the_spread_of_two_independent_taus_by_enumeration():
    """Ground truth by enumeration: over all 5! = 120 orders of 5 trials, Kendall's tau against
    the identity has mean 0 and variance 2 (2n + 5) / (9 n (n - 1)) = 1/6; two independent
    such taus differ with variance twice that, so ``tau_difference_sd(5)`` is sqrt(1/3)."""
    import itertools

    from hpo.schedulers.asha import kendall_tau

    taus = [kendall_tau(list(range(5)), list(p)) for p in itertools.permutations(range(5))]
    mean = sum(taus) / len(taus)
    var = sum((t - mean) ** 2 for t in taus) / len(taus)
    assert mean == pytest.approx(0, abs=1e-12) and var == pytest.approx(1 / 6)
    diffs = [a - b for a in taus for b in taus]
    assert sum(d * d for d in diffs) / len(diffs) == pytest.approx(tau_difference_sd(5) ** 2)
    assert tau_difference_sd(5) == pytest.approx(math.sqrt(1 / 3))
    assert [round(tau_difference_sd(n), 2) for n in (5, 8, 16)] == [0.58, 0.41, 0.26]


def test_model_beats_rung_keeps_the_old_rule_at_zero_and_counts_a_tied_rung_as_tau_0_above():
    """``auto_z`` 0 is the rule before it existed: strictly greater, and an all-tied rung (tau
    None) goes to the model whatever its tau; above 0 a tied rung is tau 0 and the margin is in
    ``tau_difference_sd(n)`` units."""
    assert model_beats_rung(-0.9, None, 5, 0.0)
    assert not model_beats_rung(0.4, 0.4, 5, 0.0)
    assert model_beats_rung(0.4 + 1e-9, 0.4, 5, 0.0)
    sd = tau_difference_sd(5)
    assert not model_beats_rung(sd - 0.01, None, 5, 1.0)
    assert model_beats_rung(sd + 0.01, None, 5, 1.0)
    assert model_beats_rung(0.2 + 2 * sd + 0.01, 0.2, 5, 2.0)
    assert not model_beats_rung(0.2 + 2 * sd - 0.01, 0.2, 5, 2.0)
