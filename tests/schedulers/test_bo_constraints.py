"""Outcome constraints and several objectives in the GP schedulers (schedulers/bo.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("botorch")

from hpo.schedulers import make_scheduler  # noqa: E402
from hpo.schedulers.base import RandomSearcher  # noqa: E402
from hpo.schedulers.bo import (  # noqa: E402
    MOBSTER,
    Constraint,
    FeasibleFirstRungIndex,
    GPSearcher,
    parse_constraints,
)

from hpo.errors import InvalidStudy, InvalidSweepFile  # noqa: E402
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

SQUARE = {
    "x": {"type": "float", "low": -2.0, "high": 2.0},
    "y": {"type": "float", "low": -2.0, "high": 2.0},
}
UNIT = {
    "x": {"type": "float", "low": 0.0, "high": 1.0},
    "y": {"type": "float", "low": 0.0, "high": 1.0},
}


def study_of(space=SQUARE, objectives=("loss",), scheduler="bo", params=None, fidelity=None):
    return Study(
        name="t",
        space=SearchSpace.from_dict(space),
        objectives=tuple(Objective(o) if isinstance(o, str) else o for o in objectives),
        fidelity=None if fidelity is None else Fidelity("epoch", *fidelity),
        scheduler=SchedulerSpec(scheduler, params or {}),
        id=1,
    )


def quadratic(c) -> dict[str, float]:
    """min x^2 + y^2 s.t. x + y >= 1: the optimum is (0.5, 0.5), value 0.5."""
    return {"loss": c["x"] ** 2 + c["y"] ** 2, "s": c["x"] + c["y"]}


def zdt1(c) -> dict[str, float]:
    """ZDT1 in two variables: Pareto front f2 = 1 - sqrt(f1) at y = 0."""
    g = 1 + 9 * c["y"]
    return {"f1": c["x"], "f2": g * (1 - math.sqrt(c["x"] / g))}


def record(h: History, config, metrics, step: float = 1.0) -> None:
    k = h.n_trials
    h.apply_trial(Trial(k + 1, 1, k, config, TrialState.COMPLETED, step, last_step=step))
    h.apply_report(Report(k + 1, step, metrics, None, float(k)))


def history_of(st: Study, fn, n: int, seed: int = 0) -> History:
    h = History(st)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        c = st.space.sample(rng)
        record(h, c, fn(c))
    return h


def search(searcher, st: Study, fn, n: int) -> History:
    """Sequential search: one proposal, its result, the next proposal."""
    h = History(st)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            (c,) = searcher.propose(h, [], 1)
            record(h, c, fn(c))
    return h


def results(h: History) -> list[dict[str, float]]:
    return [dict(r.metrics) for t in h.trials() for r in h.reports(t.id)]


def hypervolume(h: History, ref=(1.1, 1.1)) -> float:
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    Y = -torch.tensor([[m["f1"], m["f2"]] for m in results(h)], dtype=torch.float64)
    hv = Hypervolume(-torch.tensor(ref, dtype=torch.float64))
    return float(hv.compute(Y[is_non_dominated(Y)]))


# ---- the parameters ----------------------------------------------------------------------------


def test_string_and_mapping_constraints_parse_to_the_same_constraints() -> None:
    st = study_of()
    got = parse_constraints(["mem_gb <= 16", {"metric": "acc", "op": ">=", "bound": 0.9}], st)
    assert got == (Constraint("mem_gb", "<=", 16.0), Constraint("acc", ">=", 0.9))
    assert parse_constraints(["mem_gb<=16", "acc>=0.9"], st) == parse_constraints(
        [
            {"metric": "mem_gb", "op": "<=", "bound": 16},
            {"metric": "acc", "op": ">=", "bound": 0.9},
        ],
        st,
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["mem_gb<16"], "expected one '<=' or '>='"),
        (["mem_gb==16"], "expected one '<=' or '>='"),
        ([{"metric": "mem_gb", "op": "<", "bound": 16}], "op must be '<=' or '>='"),
        (["<=16"], "names no metric"),
        ([{"metric": "", "op": "<=", "bound": 1}], "names no metric"),
        (["mem_gb<=lots"], "the bound must be a number"),
        (["mem_gb<=inf"], "the bound must be finite"),
        ([{"metric": "m", "op": "<=", "bound": 1, "soft": True}], "unknown ['soft']"),
        ([{"metric": "m", "op": "<="}], "missing ['bound']"),
        (["epoch<=3"], "'epoch' is the fidelity"),
        (["m<=1", "m<=2"], "given twice"),
        ("mem_gb<=16", "must be a list"),
        ([3], "write constraints as a list"),
    ],
)
def test_a_bad_constraint_is_a_one_line_invalid_study_naming_it(spec, message) -> None:
    st = study_of(fidelity=(1, 9), scheduler="mobster", params={"constraints": spec})
    with pytest.raises(InvalidStudy, match=None) as e:
        make_scheduler(st)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("objectives", "ref", "message"),
    [
        (("loss",), [1.0], "needs a study with 2 or more objectives"),
        (("a", "b"), [1.0], "a list of 2 numbers, one per objective"),
        (("a", "b"), [1.0, "x"], "ref_point for objective 'b' must be a finite number"),
        (("a", "b", "c", "d", "e"), None, "at most 4 objectives"),
    ],
)
def test_a_bad_ref_point_or_too_many_objectives_is_an_invalid_study(objectives, ref, message):
    st = study_of(objectives=objectives, params={} if ref is None else {"ref_point": ref})
    with pytest.raises(InvalidStudy, match=message):
        make_scheduler(st)


def test_a_sweep_file_with_a_bad_constraint_fails_with_one_line(tmp_path) -> None:
    from hpo.storage import SQLStorage
    from hpo.sweepfile import load_sweep

    p = tmp_path / "sweep.yaml"
    p.write_text(
        "name: c\ncommand: echo {x}\nspace: {x: {type: float, low: 0, high: 1}}\n"
        "objective: {name: loss}\nbudget: {max_trials: 3}\n"
        "scheduler: {name: bo, constraints: ['mem_gb < 16']}\n"
    )
    with pytest.raises(InvalidSweepFile, match=r"constraint 'mem_gb < 16': expected one"):
        load_sweep(p)
    p.write_text(p.read_text().replace("'mem_gb < 16'", "'mem_gb <= 16', 'acc >= 0.5'"))
    _, spec = load_sweep(p)
    assert spec.scheduler.params == {"constraints": ["mem_gb <= 16", "acc >= 0.5"]}
    stored = SQLStorage(f"sqlite:///{tmp_path / 'db'}").create_study(spec)
    assert stored.scheduler.params == {
        "constraints": ["mem_gb <= 16", "acc >= 0.5"],
        "random_fraction": 0.0,  # bo's defaults that a new study stores
        "output_warping": False,
        "lengthscale_prior": "dim_scaled",
        "initial_design": "sobol",
        "noise_prior": "lognormal",
    }


# ---- constraints -------------------------------------------------------------------------------


def test_a_constrained_proposal_goes_to_the_feasible_side_near_the_optimum() -> None:
    st = study_of()
    h = history_of(st, quadratic, 16, seed=1)
    # n_initial close to the history's size: few milestone fits, a fast test
    free = GPSearcher(st, seed=0, n_initial=16)
    constrained = GPSearcher(st, seed=0, n_initial=16, constraints=["s>=1"])
    (c_free,) = free.propose(h, [], 1)
    (c_con,) = constrained.propose(h, [], 1)
    # unconstrained: towards (0, 0), which violates x + y >= 1
    assert c_free["x"] + c_free["y"] < 0.5
    # constrained: near the feasible optimum (0.5, 0.5) and (nearly) feasible
    assert c_con["x"] + c_con["y"] > 0.9
    assert math.dist((c_con["x"], c_con["y"]), (0.5, 0.5)) < 0.5


def test_a_constraint_nobody_reports_is_left_out_with_a_warning(caplog) -> None:
    st = study_of()
    h = history_of(st, lambda c: {"loss": quadratic(c)["loss"]}, 8)
    with caplog.at_level("WARNING", logger="hpo.schedulers.bo"):
        (c,) = GPSearcher(st, seed=0, n_initial=7, constraints=["mem_gb<=16"]).propose(h, [], 1)
    assert "'mem_gb'" in caplog.text and "['loss']" in caplog.text
    st.space.validate_config(c)


def _rung_history(st: Study, rows) -> History:
    """rows: (number, loss, metrics extra) reported at step 1."""
    h = History(st)
    for number, loss, extra in rows:
        h.apply_trial(Trial(number + 1, 1, number, {"x": 0.1, "y": 0.1}, TrialState.PAUSED, 1.0))
        h.apply_report(Report(number + 1, 1.0, {"loss": loss, **extra}, None, float(number)))
    return h


def test_infeasible_rung_results_rank_after_feasible_ones_and_missing_counts_as_infeasible():
    st = study_of(UNIT, fidelity=(1, 9), scheduler="mobster")
    cons = parse_constraints(["mem<=16"], st)
    h = _rung_history(
        st,
        [(0, 0.1, {"mem": 32.0}), (1, 0.5, {"mem": 8.0}), (2, 0.05, {}), (3, 0.9, {"mem": 16.0})],
    )
    rung = FeasibleFirstRungIndex(1.0, cons).update(h)
    assert [e[1] for e in rung.entries] == [1, 3, 2, 0]  # feasible by loss, then infeasible


def test_mobster_stops_an_infeasible_result_that_has_the_best_score() -> None:
    st = study_of(
        UNIT,
        fidelity=(1, 9),
        scheduler="mobster",
        params={"variant": "stopping", "constraints": ["mem<=16"]},
    )
    h = _rung_history(st, [(0, 0.5, {"mem": 8.0}), (1, 0.6, {"mem": 4.0}), (2, 0.01, {"mem": 99})])
    sched = make_scheduler(st)
    assert isinstance(sched, MOBSTER)
    t2 = h.by_number(2)
    assert sched.on_report(h, t2, h.report_at(t2.id, 1.0)) is Decision.STOP
    t0 = h.by_number(0)
    assert sched.on_report(h, t0, h.report_at(t0.id, 1.0)) is Decision.CONTINUE
    # without the constraint, ASHA's rule keeps the best score
    plain = make_scheduler(
        study_of(UNIT, fidelity=(1, 9), scheduler="mobster", params={"variant": "stopping"})
    )
    assert plain.on_report(h, t2, h.report_at(t2.id, 1.0)) is Decision.CONTINUE


def test_adaptive_brackets_judge_the_rungs_on_the_best_feasible_top_results() -> None:
    # 8 feasible trials (mem 8) whose low rungs rank as the top; 5 infeasible ones (mem 99) with
    # the best top scores and their low-rung ranking reversed. The 8 best by score alone are the
    # 5 infeasible and 3 feasible: tau = (3 - 25) / 28, reversed; feasible first: tau = 1.
    adaptive = {"brackets": "adaptive"}
    st = study_of(
        UNIT, fidelity=(1, 9), scheduler="mobster", params={**adaptive, "constraints": ["mem<=16"]}
    )
    h = History(st)
    rows = [(0.5 + 0.05 * i, 0.5 + 0.05 * i, 8.0) for i in range(8)]
    rows += [(0.01 * (i + 1), 0.95 - 0.01 * i, 99.0) for i in range(5)]
    for n, (top, low, mem) in enumerate(rows):
        h.apply_trial(Trial(n + 1, 1, n, {"x": 0.1, "y": 0.1}, TrialState.COMPLETED, 9.0))
        for step, loss in ((1.0, low), (3.0, low), (9.0, top)):
            h.apply_report(Report(n + 1, step, {"loss": loss, "mem": mem}, None, float(n)))
    constrained = make_scheduler(st)
    assert isinstance(constrained, MOBSTER) and constrained.adaptive
    assert constrained.agreeing_bracket(h) == 0
    plain = make_scheduler(study_of(UNIT, fidelity=(1, 9), scheduler="mobster", params=adaptive))
    assert plain.agreeing_bracket(h) == 2


@pytest.mark.slow
def test_constrained_bo_finds_the_constrained_optimum_and_random_search_does_not() -> None:
    st = study_of()
    for seed in (0, 1):
        h_bo = search(GPSearcher(st, seed=seed, constraints=["s>=1"]), st, quadratic, 25)
        h_rs = search(RandomSearcher(st, seed=seed), st, quadratic, 25)
        best_bo = min(m["loss"] for m in results(h_bo) if m["s"] >= 1)
        best_rs = min(m["loss"] for m in results(h_rs) if m["s"] >= 1)
        assert best_bo < 0.52 < best_rs  # the constrained optimum is 0.5
        late = results(h_bo)[-10:]
        assert sum(m["s"] >= 0.97 for m in late) >= 8  # late proposals hug the feasible side


# ---- several objectives ------------------------------------------------------------------------


def test_the_reference_point_is_the_worst_observed_value_or_the_users() -> None:
    st = study_of(UNIT, objectives=(Objective("f1"), Objective("acc", "max")))
    h = History(st)
    for i, (f1, acc) in enumerate([(0.0, 0.5), (1.0, 0.9), (0.5, 0.7)]):
        record(h, {"x": i / 3, "y": 0.0}, {"f1": f1, "acc": acc})
    s = GPSearcher(st, seed=0, n_initial=3)
    train = s._select(s.observations(h))
    # maximized space: (-f1, acc); worst -1.0 and 0.5, ranges 1.0 and 0.4, margin 10%
    assert s._reference_point(train, s.target) == pytest.approx((-1.1, 0.46))
    user = GPSearcher(st, seed=0, ref_point=[2.0, 0.1])
    assert user._reference_point(train, user.target) == (-2.0, 0.1)


def test_a_pending_trial_changes_the_multi_objective_proposal() -> None:
    st = study_of(UNIT, objectives=("f1", "f2"))
    h = history_of(st, zdt1, 12, seed=3)
    s = GPSearcher(st, seed=0, n_initial=12)
    (first,) = s.propose(h, [], 1)
    again = s.propose(h, [], 1)
    assert again == [first]  # deterministic given the history
    pending = [Trial(99, 1, 99, first, TrialState.RUNNING, 1.0)]
    (second,) = s.propose(h, pending, 1)
    assert math.dist((first["x"], first["y"]), (second["x"], second["y"])) > 0.02


def test_a_rebuilt_scheduler_proposes_the_same_multi_objective_configs() -> None:
    st = study_of(
        UNIT, objectives=("f1", "f2"), params={"constraints": ["f1<=0.8"], "n_initial": 10}
    )
    h = history_of(st, zdt1, 10, seed=4)
    a = make_scheduler(st).searcher.propose(h, [], 2)
    b = make_scheduler(st).searcher.propose(h, [], 2)
    assert a == b and a[0] != a[1]


@pytest.mark.slow
def test_multi_objective_bo_beats_random_search_on_zdt1_hypervolume() -> None:
    st = study_of(UNIT, objectives=("f1", "f2"))
    for seed in (0, 1):
        hv_bo = hypervolume(search(GPSearcher(st, seed=seed), st, zdt1, 25))
        hv_rs = hypervolume(search(RandomSearcher(st, seed=seed), st, zdt1, 25))
        # the true front's hypervolume against (1.1, 1.1) is 2/3 + 0.21 = 0.8767
        assert hv_bo > 0.75 > hv_rs


# ---- end to end --------------------------------------------------------------------------------


def test_the_sdk_runs_a_constrained_two_objective_bo_study_in_threads(tmp_path) -> None:
    import hpo

    client = hpo.Client(f"sqlite:///{tmp_path / 'db'}")
    study = client.create_study(
        "moc",
        {"x": hpo.Float(0, 1), "y": hpo.Float(0, 1)},
        [{"name": "f1", "mode": "min"}, {"name": "f2", "mode": "min"}],
        scheduler="bo",
        scheduler_params={"n_initial": 4, "constraints": ["f1<=0.9"], "ref_point": [1.1, 11]},
        budget={"max_trials": 6},
    )
    client.run(study, lambda t: zdt1(t.config), n_workers=2, progress=False)
    trials = client.trials(study)
    assert len(trials) == 6 and {t.state.value for t in trials} == {"completed"}
    with pytest.raises(InvalidStudy, match="op must be"):
        client.create_study(
            "bad",
            {"x": hpo.Float(0, 1)},
            "loss",
            scheduler="bo",
            scheduler_params={"constraints": [{"metric": "m", "op": "=", "bound": 1}]},
        )


def test_with_bohbs_rung_the_reference_point_comes_from_results_at_that_rung() -> None:
    """Three trials at rung 3 and two at rung 1 (none at 9), two parameters: BOHB's rung is 3,
    so the reference point is inferred from the three rung-3 results, (-1.1, -1.1) in the
    maximized space (worst -1, range 1, 10% margin); at the maximum fidelity nothing has
    reached 9 and every result counts, (-3.3, -3.3)."""
    st = study_of(UNIT, objectives=("f1", "f2"), scheduler="mobster", fidelity=(1, 9))
    h = History(st)
    rows = [((0.0, 1.0), 3.0), ((1.0, 0.0), 3.0), ((0.5, 0.5), 3.0)]
    rows += [((3.0, 2.0), 1.0), ((2.0, 3.0), 1.0)]
    for i, ((f1, f2), step) in enumerate(rows):
        record(h, {"x": i / 5, "y": (i * 3 % 5) / 5}, {"f1": f1, "f2": f2}, step)
    for acq, ref in (("bohb", -1.1), ("max", -3.3)):
        s = GPSearcher(
            st, seed=0, n_initial=3, multi_fidelity=True, levels=[1, 3, 9], acquisition_fidelity=acq
        )
        s.propose(h, [], 1)
        assert s.last_acquisition_level == (3.0 if acq == "bohb" else 9.0)
        assert s.last_ref_point == pytest.approx((ref, ref)), acq
