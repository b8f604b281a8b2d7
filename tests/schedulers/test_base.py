"""What every scheduler's seed must be at creation (schedulers/base.py ``check_seed``; eta and the
number of rungs are in test_rungs.py).

A bad value is an InvalidStudy naming the parameter, raised when the study is created (SDK,
REST and sweep files all build the scheduler then), never a crash at its first ask.
"""

from __future__ import annotations

import dataclasses

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
    study = Study(**{f.name: getattr(st, f.name) for f in dataclasses.fields(st)})
    sched = make_scheduler(study)
    assert sched.seed == seed
    assert sched.suggest(History(study)) is not None


def test_a_sweep_file_with_a_negative_seed_fails_with_one_line(tmp_path) -> None:
    from hpo.sweepfile import load_sweep

    p = tmp_path / "sweep.yaml"
    p.write_text(
        "name: s\ncommand: echo {x}\nspace: {x: {type: float, low: 0, high: 1}}\n"
        "objective: {name: loss}\nfidelity: {name: epoch, min: 1, max: 9}\n"
        "budget: {max_trials: 3}\nscheduler: {name: asha, seed: -1}\n"
    )
    with pytest.raises(InvalidSweepFile, match=r"seed must be an integer from 0 to \d+, got -1$"):
        load_sweep(p)
