"""What every scheduler's seed must be at creation (schedulers/base.py ``check_seed``; eta and the
number of rungs are in test_rungs.py).

A bad value is an InvalidStudy naming the parameter, raised when the study is created (SDK,
REST and sweep files all build the scheduler then), never a crash at its first ask.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hpo.schedulers import make_scheduler
from hpo.schedulers.base import MAX_SEED

from hpo.client import study_spec
from hpo.errors import InvalidStudy, InvalidSweepFile
from hpo.model import Study

MULTI_FIDELITY = ["asha", "sha", "hyperband"]


# ---- seed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["random", *MULTI_FIDELITY])
@pytest.mark.parametrize("seed", [-1, "abc", 1.7, 2.0, True, None, MAX_SEED + 1])
def test_a_seed_that_is_not_an_integer_in_range_is_refused_at_creation(scheduler, seed) -> None:
    with pytest.raises(InvalidStudy, match=r"seed must be an integer from 0 to 4294967295"):
        study_spec(
            "s",
            {"x": {"type": "float", "low": 0.0, "high": 1.0}},
            fidelity={"name": "epoch", "min": 1, "max": 9},
            scheduler={"name": scheduler, "params": {"seed": seed}},
        )


@pytest.mark.parametrize("seed", [0, 7, MAX_SEED])
def test_a_seed_in_range_is_kept_and_the_scheduler_proposes(seed: int) -> None:
    from hpo.history import History

    st = study_spec(
        "s",
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler={"name": "asha", "params": {"seed": seed}},
    )
    study = as_study(st)
    sched = make_scheduler(study)
    assert sched.seed == seed
    assert sched.suggest(History(study)) is not None


def as_study(spec: Any) -> Study:
    """The Study a created ``StudySpec`` stands for (what ``make_scheduler`` takes)."""
    return Study(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})


def load_sweep_with(tmp_path: Any, scheduler: str) -> Any:
    """``load_sweep`` of a one-float sweep file (x in [0, 1], epochs 1-9) whose scheduler line is
    ``scheduler`` (YAML flow mapping)."""
    from hpo.sweepfile import load_sweep

    p = tmp_path / "sweep.yaml"
    p.write_text(
        "name: s\ncommand: echo {x}\nspace: {x: {type: float, low: 0, high: 1}}\n"
        "objective: {name: loss}\nfidelity: {name: epoch, min: 1, max: 9}\n"
        f"budget: {{max_trials: 3}}\nscheduler: {scheduler}\n"
    )
    return load_sweep(p)


def test_a_sweep_file_with_a_negative_seed_fails_with_one_line(tmp_path) -> None:
    with pytest.raises(InvalidSweepFile, match=r"seed must be an integer from 0 to \d+, got -1$"):
        load_sweep_with(tmp_path, "{name: asha, seed: -1}")


# ---- points_to_evaluate -----------------------------------------------------------------------

POINTS_SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "x": {"type": "float", "low": -1.0, "high": 3.0},
    "layers": {"type": "int", "low": 1, "high": 5},
    "act": {"type": "categorical", "choices": ["tanh", "relu", "gelu"]},
}
ALL_SCHEDULERS = ["random", "sha", "hyperband", "asha", "bo", "mobster", "hypertune"]


def points_study(scheduler: str, points: Any, **params: Any) -> Study:
    st = study_spec(
        "s",
        POINTS_SPACE,
        fidelity={"name": "epoch", "min": 1, "max": 9},
        scheduler={"name": scheduler, "params": {"points_to_evaluate": points, **params}},
    )
    return as_study(st)


def new_trials(study: Study, n: int) -> list[dict[str, Any]]:
    """The configurations of the study's first ``n`` new trials, each started and left running
    (a scheduler's suggestion at each step, as the coordinator hands them out)."""
    from hpo.history import History
    from hpo.model import Trial, TrialState

    sched = make_scheduler(study)
    history = History(study)
    out = []
    while len(out) < n:
        s = sched.suggest(history)
        assert s is not None and s.kind == "new" and s.config is not None
        k = len(out)
        history.apply_trial(
            Trial(k, 1, k, s.config, TrialState.RUNNING, until=s.until, bracket=s.bracket)
        )
        out.append(s.config)
    return out


@pytest.mark.parametrize("scheduler", ALL_SCHEDULERS)
def test_the_first_trials_get_the_points_to_evaluate_in_order(scheduler: str) -> None:
    full = {"lr": 0.003, "x": 2.5, "layers": 4, "act": "gelu"}
    study = points_study(scheduler, [full, {"x": -0.5}])
    first, second, third = new_trials(study, 3)
    assert first == full
    # a partial point is completed at each range's middle in its own scale and the first choice:
    # lr at the geometric mean of 1e-4 and 1, x at 1.0, layers at 3 of 1..5, act "tanh"
    assert second["x"] == -0.5 and second["layers"] == 3 and second["act"] == "tanh"
    assert second["lr"] == pytest.approx(1e-2)
    assert third not in (first, second)  # then the scheduler's own searcher
    # without points the same scheduler's first trial is its own proposal, not the given one
    assert new_trials(points_study(scheduler, None), 1)[0] != full


def test_a_model_based_design_continues_after_the_points() -> None:
    """``bo``'s Sobol' design gives trial k its point k: two given points take trials 0 and 1,
    and trial 2 gets the design's point 2, as it would without them."""
    given = [{"x": 0.0}, {"x": 1.0}]
    with_points = new_trials(points_study("bo", given), 3)
    without = new_trials(points_study("bo", None), 3)
    assert with_points[2] == without[2]
    assert with_points[:2] != without[:2]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ({"x": 1.0}, r"points_to_evaluate must be a list of configurations .* got dict$"),
        ("x=1", r"points_to_evaluate must be a list of configurations .* got str$"),
        ([{"x": 1.0}, 3], r"points_to_evaluate\[1\] must be a mapping .* got 3$"),
        ([{"y": 1.0}], r"points_to_evaluate\[0\]: unknown parameters \['y'\]"),
        ([{"x": 9.0}], r"points_to_evaluate\[0\]: parameter 'x': 9.0 is outside"),
        ([{"act": "sigmoid"}], r"points_to_evaluate\[0\]: parameter 'act': 'sigmoid' is outside"),
        ([{"layers": 2.5}], r"points_to_evaluate\[0\]: parameter 'layers': 2.5 is outside"),
        ([{}] * 1001, r"has 1001 configurations; at most 1000 are taken"),
    ],
)
def test_bad_points_to_evaluate_are_refused_at_creation_naming_the_entry(points, message) -> None:
    with pytest.raises(InvalidStudy, match=message):
        points_study("mobster", points)


def test_a_sweep_file_with_a_bad_point_fails_with_one_line(tmp_path) -> None:
    with pytest.raises(InvalidSweepFile, match=r"points_to_evaluate\[1\]: parameter 'x': 2"):
        load_sweep_with(tmp_path, "{name: asha, points_to_evaluate: [{x: 0.5}, {x: 2}]}")
