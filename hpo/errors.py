"""Exceptions that users see. Each carries a message a user can act on.

The CLI prints ``str(error)`` on one line and exits non-zero; the REST API maps them to 4xx.
"""

from __future__ import annotations


class HpoError(Exception):
    """Base class of every error hpo raises on purpose."""

    exit_code = 2


class InvalidSpace(HpoError, ValueError):
    """A search space or one of its parameters is malformed."""


class InvalidConfig(HpoError, ValueError):
    """A configuration does not belong to the search space."""


class InvalidStudy(HpoError, ValueError):
    """A study specification is inconsistent (objectives, fidelity, scheduler, budget)."""


class InvalidReport(HpoError, ValueError):
    """A report carries a bad step or metric (NaN, inf, wrong type, missing objective)."""


class InvalidSweepFile(HpoError, ValueError):
    """A sweep.yaml cannot be read or does not validate."""


class StudyNotFound(HpoError, LookupError):
    """No study with that name or id."""


class StudyExists(HpoError):
    """A study with that name already exists."""


class TrialNotFound(HpoError, LookupError):
    """No trial with that id in this study."""


class TrialStateError(HpoError):
    """The trial is not in a state that allows the requested transition."""


class UnknownScheduler(HpoError, ValueError):
    """The scheduler name is not registered."""


class StorageError(HpoError):
    """The storage URL cannot be opened or its schema is not usable."""


class Unauthorized(HpoError):
    """The API call needs a valid token (missing, unknown or revoked)."""


class SweepFailed(HpoError):
    """A sweep could not make progress, for example because every trial crashed."""

    exit_code = 1


class TrialStopped(Exception):  # noqa: N818 - control-flow signal, as Optuna's TrialPruned
    """Raised inside a trial function that keeps reporting after it was told to stop or pause."""
