"""Hyper-Tune (schedulers/hypertune.py): ranking losses, ensemble weights, bracket distribution,
delayed promotions, proposals."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("botorch")

from hpo.schedulers import make_scheduler  # noqa: E402
from hpo.schedulers.asha import ASHA  # noqa: E402
from hpo.schedulers.hypertune import (  # noqa: E402
    Ensemble,
    HyperTune,
    HyperTuneSearcher,
    ranking_losses,
    theta_from_losses,
)

from hpo.errors import InvalidStudy  # noqa: E402
from hpo.history import History  # noqa: E402
from hpo.model import Objective, Report, Study, Trial, TrialState  # noqa: E402
from tests.schedulers.test_bo import bowl, random_configs, running, study_of  # noqa: E402

LEVELS = [1.0, 3.0, 9.0]


def test_ranking_loss_counts_discordant_ordered_pairs_by_hand() -> None:
    y = np.array([1.0, 2.0, 3.0])
    same = np.array([[10.0, 20.0, 30.0]])
    reversed_ = np.array([[3.0, 2.0, 1.0]])
    one_swap = np.array([[2.0, 1.0, 3.0]])  # pair (0, 1) swapped: counted as (0,1) and (1,0)
    tie = np.array([[1.0, 1.0, 3.0]])  # f_0 = f_1: only (0, 1) disagrees (y_0 < y_1, f_0 !< f_1)
    got = ranking_losses(np.vstack([same, reversed_, one_swap, tie]), y)
    assert got.tolist() == [0.0, 6.0, 2.0, 1.0]


def test_theta_is_the_share_of_samples_each_level_wins_with_ties_credited_to_all() -> None:
    losses = np.array(
        [
            [0, 5, 2, 1],  # wins samples 0 and 3 (tie in 3)
            [3, 1, 2, 1],  # wins sample 1, ties 2 and 3
            [4, 4, 2, 9],  # ties sample 2
        ]
    )
    theta = theta_from_losses(losses)
    # wins: level0: {0, 2, 3} = 3, level1: {1, 2, 3} = 3, level2: {2} = 1
    assert theta.tolist() == pytest.approx([3 / 7, 3 / 7, 1 / 7])


def _mf_history(st: Study, cfgs, level_loss, top: float = 9.0) -> History:
    """Every trial reports at each level up to ``top``; ``level_loss(config, level)``."""
    h = History(st)
    t = 0.0
    for i, c in enumerate(cfgs):
        h.apply_trial(Trial(i + 1, 1, i, c, TrialState.COMPLETED, top, last_step=top))
        for r in LEVELS:
            if r <= top:
                t += 1
                h.apply_report(Report(i + 1, r, {"loss": level_loss(c, r)}, None, t))
    return h


def _searcher(st: Study, **kw) -> HyperTuneSearcher:
    return HyperTuneSearcher(st, levels=LEVELS, fidelity_range=(1.0, 9.0), **kw)


def test_a_level_that_ranks_like_the_top_one_gets_the_weight_and_a_reversed_one_none() -> None:
    st = study_of(fidelity=(1, 9), scheduler="hypertune")
    cfgs = random_configs(st.space, 12, seed=3)

    def loss(c, r):
        if r == 1.0:  # level 1 ranks configurations the opposite way from the top level
            return 2.0 - bowl(c)
        return bowl(c) + 1.0 / r  # level 3 ranks exactly as level 9

    s = _searcher(st)
    state = s.ensemble(_mf_history(st, cfgs, loss))
    assert state is not None and state.reference == 9.0
    assert state.theta[1.0] == 0.0
    assert state.theta[3.0] > 0.5
    assert sum(state.theta.values()) == pytest.approx(1.0)


def test_noise_at_low_levels_leaves_the_weight_on_the_reference_level() -> None:
    st = study_of(fidelity=(1, 9), scheduler="hypertune")
    cfgs = random_configs(st.space, 14, seed=5)
    rng = np.random.default_rng(0)
    noise = {(i, r): rng.normal() for i in range(14) for r in LEVELS}
    index = {id(c): i for i, c in enumerate(cfgs)}

    def loss(c, r):
        return bowl(c) if r == 9.0 else noise[(index[id(c)], r)]

    state = _searcher(st).ensemble(_mf_history(st, cfgs, loss))
    assert state is not None and state.reference == 9.0
    assert state.theta[9.0] > 0.8
    assert state.theta[9.0] > state.theta[1.0] + state.theta[3.0]


def test_before_a_second_level_has_six_results_the_lowest_level_alone_is_used() -> None:
    st = study_of(fidelity=(1, 9), scheduler="hypertune")
    cfgs = random_configs(st.space, 8, seed=1)
    h = _mf_history(st, cfgs[:5], lambda c, r: bowl(c) + 1 / r)  # 5 results at each level
    state = _searcher(st, n_initial=3).ensemble(h)
    assert state is not None and state.reference is None and state.theta == {1.0: 1.0}


def test_bracket_distribution_is_theta_over_resource_within_the_default_mass() -> None:
    st = study_of(fidelity=(1, 9), scheduler="hypertune")
    s = _searcher(st)
    default = np.array([0.6, 0.3, 0.1])
    bases = [1.0, 3.0, 9.0]
    h = History(st)

    s.ensemble = lambda history: Ensemble((0, 0, 0), [], {}, {1.0: 0.2, 3.0: 0.8}, 3.0)  # type: ignore[method-assign]
    p = s.bracket_distribution(h, bases, default)
    w = np.array([0.2 / 1.0, 0.8 / 3.0])  # level 9 is above the reference: keeps its default
    assert p[:2] == pytest.approx(0.9 * w / w.sum())
    assert p[2] == pytest.approx(0.1)

    s.ensemble = lambda history: Ensemble((0, 0, 0), [], {}, {1.0: 1.0}, None)  # type: ignore[method-assign]
    assert s.bracket_distribution(h, bases, default).tolist() == default.tolist()


def _rung_scene(st: Study) -> History:
    """Six results at rung 1 (eta 3): trial 1 was promoted when it was the best of three; then
    trials 4 and 5 arrived better than it, and trial 4 has been promoted as well."""
    h = History(st)
    losses = [0.5, 0.6, 0.7, 0.1, 0.2, 0.3]
    cfgs = random_configs(st.space, 6, seed=2)
    for i, (c, loss) in enumerate(zip(cfgs, losses, strict=True)):
        promoted = i in (0, 3)
        state = TrialState.RUNNING if promoted else TrialState.PAUSED
        h.apply_trial(Trial(i + 1, 1, i, c, state, 3.0 if promoted else 1.0, 0, last_step=1.0))
        h.apply_report(Report(i + 1, 1.0, {"loss": loss}, None, float(i)))
    return h


def test_delayed_promotion_keeps_a_rung_at_one_in_eta_where_asha_promotes_a_third() -> None:
    st = study_of(fidelity=(1, 9), scheduler="hypertune")
    h = _rung_scene(st)
    asha = ASHA(st, eta=3)
    s = asha.suggest(h)
    assert s is not None and s.kind == "resume" and s.trial_id == 5  # 3 of 6 promoted
    ht = HyperTune(st, eta=3, brackets=1, n_initial=50)
    s = ht.suggest(h)
    assert s is not None and s.kind == "new"  # floor(6 / 3) = 2 are promoted already
    undelayed = HyperTune(st, eta=3, brackets=1, n_initial=50, delayed=False)
    s = undelayed.suggest(h)
    assert s is not None and s.kind == "resume" and s.trial_id == 5


def test_proposals_respect_the_space_avoid_pending_and_replay_from_the_history() -> None:
    space = {
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
        "n": {"type": "int", "low": 1, "high": 8},
        "act": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    }
    st = study_of(space=space, fidelity=(1, 9), scheduler="hypertune")
    cfgs = random_configs(st.space, 12, seed=7)

    def loss(c, r):
        return (np.log10(c["lr"]) + 2) ** 2 + 0.1 * c["n"] + (c["act"] == "tanh") + 1 / r

    h = _mf_history(st, cfgs, loss)
    used = _searcher(st, seed=4)
    used.propose(h, [], 1)
    a = used.propose(h, [running(50, cfgs[0])], 1)
    assert all(st.space.validate_config(c) == c for c in a)
    fresh = _searcher(st, seed=4)
    assert fresh.propose(h, [running(50, cfgs[0])], 1) == a  # as a fresh searcher proposes
    b = fresh.propose(h, [running(50, cfgs[0]), running(51, a[0])], 1)
    assert st.space.validate_config(b[0]) == b[0] and b[0] != a[0]


def test_the_ensemble_proposal_moves_towards_the_minimum_of_a_bowl() -> None:
    st = study_of(fidelity=(1, 9), scheduler="hypertune")
    cfgs = random_configs(st.space, 14, seed=11)
    h = _mf_history(st, cfgs, lambda c, r: bowl(c) * (1 + 1 / r))
    best_seen = min(bowl(c) for c in cfgs)
    got = _searcher(st).propose(h, [], 1)[0]
    assert bowl(got) < best_seen


def test_hypertune_is_selected_by_name_and_validates_its_parameters() -> None:
    st = study_of(fidelity=(1, 27), scheduler="hypertune", params={"eta": 3, "num_samples": 20})
    ht = make_scheduler(st)
    assert isinstance(ht, HyperTune)
    assert len(ht.rungs) == 4  # every bracket eta = 3 allows between 1 and 27
    assert ht.searcher.num_samples == 20
    assert [levels[0] for levels in ht.rungs] == [1.0, 3.0, 9.0, 27.0]
    for bad, match in (
        ({"num_samples": 0}, "num_samples"),
        ({"delayed": "yes"}, "delayed"),
        ({"variant": "stopping"}, "variant"),
        ({"constraints": ["m<=1"]}, "constraints"),
        ({"brackets": 9}, "brackets"),
        ({"model": "product"}, "model must be one of"),
        ({"model": ["joint"]}, "model must be one of"),  # not a TypeError from the lookup
        ({"noise_floor": 0.5}, "noise_floor"),
    ):
        with pytest.raises(InvalidStudy, match=match):
            make_scheduler(study_of(fidelity=(1, 27), scheduler="hypertune", params=bad))
    two = study_of(fidelity=(1, 27), scheduler="hypertune")
    two = Study(
        name="t",
        space=two.space,
        objectives=(Objective("loss"), Objective("acc", "max")),
        fidelity=two.fidelity,
        scheduler=two.scheduler,
        id=1,
    )
    with pytest.raises(InvalidStudy, match="one objective"):
        make_scheduler(two)
    with pytest.raises(InvalidStudy, match="fidelity"):
        make_scheduler(study_of(scheduler="hypertune"))


def test_joint_model_proposes_as_mobster_and_draws_brackets_from_the_ensemble() -> None:
    from hpo.schedulers.bo import MOBSTER

    # the same GP settings for both (mobster and hypertune default to different priors)
    params = {"output_warping": True, "n_initial": 3, "lengthscale_prior": "gamma"}
    st = study_of(fidelity=(1, 9), scheduler="hypertune", params={**params, "model": "joint"})
    cfgs = random_configs(st.space, 12, seed=3)
    # level 1 ranks the configurations the opposite way from the top: its brackets lose mass
    h = _mf_history(st, cfgs, lambda c, r: 2.0 - bowl(c) if r == 1.0 else bowl(c) + 1.0 / r)
    joint = make_scheduler(st)
    assert isinstance(joint, HyperTune) and joint.model == "joint"
    assert not isinstance(joint.searcher, HyperTuneSearcher)
    # the proposals of MOBSTER's searcher (same study, seed and levels: 1, 3, 9)
    mob = MOBSTER(st, eta=3, brackets=3, seed=0, **params)
    pend = [running(50, cfgs[0])]
    assert joint.searcher.propose(h, pend, 1) == mob.searcher.propose(h, pend, 1)
    ens = make_scheduler(study_of(fidelity=(1, 9), scheduler="hypertune", params=params))
    assert ens.searcher.propose(h, pend, 1) != joint.searcher.propose(h, pend, 1)
    # brackets: the learned distribution, the same one the ensemble model draws from
    bases = [levels[0] for levels in joint.rungs]
    p = joint.ensemble_searcher.bracket_distribution(h, bases, joint._bracket_p)
    assert p[0] < joint._bracket_p[0] / 2
    # and _draw_bracket uses it: a distribution all on the last bracket draws only that one
    one_hot = np.array([0.0, 0.0, 1.0])
    joint.ensemble_searcher.bracket_distribution = lambda *a: one_hot  # type: ignore[method-assign]
    assert joint._draw_bracket(h) == 2


def test_hypertune_runs_a_simulated_study_and_keeps_every_rung_at_one_in_eta(tmp_path) -> None:
    import math

    import hpo
    from benchmarks.synthetic import mf_branin
    from hpo.coordinator import Coordinator
    from hpo.executors.simulated import SimulatedExecutor
    from hpo.runner import Driver

    bb = mf_branin()
    c = hpo.Client(f"sqlite:///{tmp_path / 'sim.db'}")
    s = c.create_study(
        "sim",
        bb.space,
        "loss",
        fidelity={"name": "epoch", "min": 1, "max": bb.max_epochs},
        scheduler={"name": "hypertune", "params": {"seed": 0}},
        budget={"max_trials": 100_000},
    )
    ex = SimulatedExecutor(bb, n_workers=4, time_limit_s=0.75 * 3600)
    Driver(Coordinator(c.storage, s), ex).run()
    h = c.storage.history(s.id)
    c.storage.close()
    ht = make_scheduler(h.study)
    assert isinstance(ht, HyperTune)
    assert h.n_trials > 20
    assert len({t.bracket or 0 for t in h.trials()}) >= 2  # brackets are drawn
    assert any(
        t.last_step == bb.max_epochs for t in h.trials()
    )  # something was promoted to the top
    for b, levels in enumerate(ht.rungs):
        for level in levels[:-1]:
            rung = ht._rung(h, b, level)
            promoted = sum(ht._promoted(h.trial(tid), level) for _, _, tid in rung.entries)
            assert promoted <= math.floor(len(rung) / ht.eta), (b, level)
