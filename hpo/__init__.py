"""hpo: hyperparameter and batch-size optimization.

``import hpo`` is light: the storage layer (SQLAlchemy), the CLI and everything heavier load on
first use of the names below.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Client": "hpo.client",
    "run": "hpo.runner",
    "SearchSpace": "hpo.space",
    "Float": "hpo.space",
    "Int": "hpo.space",
    "Categorical": "hpo.space",
    "Fidelity": "hpo.model",
    "Objective": "hpo.model",
    "Budget": "hpo.model",
    "Decision": "hpo.model",
    "TrialState": "hpo.model",
    "Study": "hpo.model",
    "Trial": "hpo.model",
    "Report": "hpo.model",
    "Coordinator": "hpo.coordinator",
    "Assignment": "hpo.coordinator",
    "TrialStopped": "hpo.errors",
}
_SUBMODULES = {"trial", "errors", "schedulers", "surrogates", "batch_size", "api", "dashboard"}

__all__ = sorted([*_LAZY, *_SUBMODULES])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"hpo.{name}")
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
