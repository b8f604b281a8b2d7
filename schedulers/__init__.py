"""Schedulers (when trials run, pause, stop, resume) and searchers (what to try next).

``make_scheduler(study)`` builds the one named in ``study.scheduler``; names are listed in
``SCHEDULERS``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hpo.schedulers.asha import ASHA
from hpo.schedulers.base import (
    RandomSearcher,
    Scheduler,
    Searcher,
    Suggestion,
    check_seed,
    legacy_defaults,
    pinned_defaults,
    rung_levels,
    scheduler_defaults,
    scheduler_params,
)
from hpo.schedulers.bo import MOBSTER, BayesianOptimization, GPSearcher
from hpo.schedulers.hypertune import HyperTune
from hpo.schedulers.random_search import RandomSearch
from hpo.schedulers.successive_halving import Hyperband, SuccessiveHalving, hyperband_brackets

from hpo.errors import InvalidStudy, UnknownScheduler
from hpo.model import Study

SCHEDULERS: dict[str, type[Scheduler]] = {
    "random": RandomSearch,
    "sha": SuccessiveHalving,
    "successive_halving": SuccessiveHalving,
    "hyperband": Hyperband,
    "asha": ASHA,
    "bo": BayesianOptimization,
    "mobster": MOBSTER,
    "hypertune": HyperTune,
}


def make_scheduler(study: Study, **overrides: Any) -> Scheduler:
    """The scheduler named in ``study.scheduler`` with its params; unknown params are errors."""
    name = study.scheduler.name
    cls = SCHEDULERS.get(name)
    if cls is None:
        raise UnknownScheduler(
            f"unknown scheduler {name!r}; choose one of {', '.join(sorted(SCHEDULERS))}"
        )
    params = {**dict(study.scheduler.params), **overrides}
    allowed = scheduler_params(cls)
    unknown = sorted(set(params) - set(allowed) - {"searcher"})
    if unknown:
        raise InvalidStudy(f"scheduler {name!r} has no parameter(s) {unknown}; it takes {allowed}")
    try:
        return cls(study, **params)
    except TypeError as e:
        raise InvalidStudy(f"scheduler {name!r}: {e}") from None


def check_new_study(study: Study) -> Scheduler:
    """``make_scheduler`` plus the checks that only a study being created gets (a stored one
    runs on with what it was created with): the seed's range (``check_seed``)."""
    sched = make_scheduler(study)
    check_seed(sched.seed, new=True)
    return sched


def with_pinned_defaults(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of scheduler ``name`` plus the current default of each of its ``pinned``
    parameters that ``params`` leaves out: what a new study stores. Unknown names: unchanged."""
    cls = SCHEDULERS.get(name)
    if cls is None:
        return dict(params)
    return {**pinned_defaults(cls), **params}


def with_stored_defaults(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as stored with a study of scheduler ``name``, plus, for each pinned parameter
    they lack, the value the study was created under (``Scheduler.legacy``): only a study stored
    before that parameter was pinned lacks it. A float ``seed`` (refused at creation since
    ``check_seed``; older releases truncated it) becomes the integer the study ran with. Unknown
    names: unchanged."""
    cls = SCHEDULERS.get(name)
    if cls is None:
        return dict(params)
    out = {**legacy_defaults(cls, params), **params}
    seed = out.get("seed")
    if isinstance(seed, float) and math.isfinite(seed) and seed >= 0:
        out["seed"] = int(seed)
    return out


__all__ = [
    "ASHA",
    "check_new_study",
    "MOBSTER",
    "SCHEDULERS",
    "BayesianOptimization",
    "GPSearcher",
    "HyperTune",
    "Hyperband",
    "RandomSearch",
    "RandomSearcher",
    "Scheduler",
    "Searcher",
    "SuccessiveHalving",
    "Suggestion",
    "hyperband_brackets",
    "make_scheduler",
    "rung_levels",
    "scheduler_defaults",
    "with_pinned_defaults",
    "with_stored_defaults",
]
