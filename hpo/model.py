"""The domain model: studies, trials, reports and decisions.

These are plain, frozen dataclasses with no I/O. Storage builds them from rows; schedulers read
them. JSON forms (``to_dict``/``from_dict``) are what storage and the API keep.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpo.errors import InvalidReport, InvalidStudy
from hpo.space import Config, SearchSpace


class TrialState(str, enum.Enum):
    """``pending → running → (paused → running)* → completed | stopped | failed``.

    ``held``: paused (or kept from starting) by a user, who alone resumes it; no scheduler
    promotes, resumes or retires a held trial, and a study does not end while one is held.
    """

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    HELD = "held"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (TrialState.COMPLETED, TrialState.STOPPED, TrialState.FAILED)


class Decision(str, enum.Enum):
    """What a running trial does after a report."""

    CONTINUE = "continue"
    PAUSE = "pause"  # checkpoint and release the worker; the scheduler may resume it later
    STOP = "stop"  # end the trial for good


class Mode(str, enum.Enum):
    MIN = "min"
    MAX = "max"


@dataclass(frozen=True)
class Objective:
    name: str
    mode: Mode = Mode.MIN

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidStudy("an objective needs a non-empty metric name")
        try:
            object.__setattr__(self, "mode", Mode(self.mode))
        except ValueError:
            raise InvalidStudy(
                f"objective {self.name!r}: mode must be 'min' or 'max', got {self.mode!r}"
            ) from None

    def sign(self) -> float:
        """+1 for minimisation, -1 for maximisation: ``sign * value`` is always minimised."""
        return 1.0 if self.mode is Mode.MIN else -1.0

    def better(self, a: float, b: float) -> bool:
        return a < b if self.mode is Mode.MIN else a > b

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode.value}


@dataclass(frozen=True)
class Fidelity:
    """The resource a trial consumes, counted in steps (epochs, steps, tokens)."""

    name: str
    min: float
    max: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidStudy("the fidelity needs a non-empty name")
        for f in ("min", "max"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InvalidStudy(f"fidelity {f} must be a finite number, got {v!r}")
        if not 0 < self.min <= self.max:
            raise InvalidStudy(f"fidelity needs 0 < min <= max, got min={self.min}, max={self.max}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min": self.min, "max": self.max}


@dataclass(frozen=True)
class Budget:
    """When a study ends: any limit reached ends it. ``None`` means no limit.

    ``max_fidelity`` is the total resource over all trials (sum of each trial's highest step).
    ``wall_time_s`` counts from the start of each sweep invocation (``hpo sweep`` or ``resume``).
    """

    max_trials: int | None = None
    max_fidelity: float | None = None
    wall_time_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_trials is not None and (
            isinstance(self.max_trials, bool)
            or not isinstance(self.max_trials, int)
            or self.max_trials < 1
        ):
            raise InvalidStudy(
                f"budget max_trials must be a positive integer, got {self.max_trials!r}"
            )
        for f in ("max_fidelity", "wall_time_s"):
            v = getattr(self, f)
            if v is not None and (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not v > 0
                or not math.isfinite(v)
            ):
                raise InvalidStudy(f"budget {f} must be a positive number, got {v!r}")

    @property
    def unlimited(self) -> bool:
        return self.max_trials is None and self.max_fidelity is None and self.wall_time_s is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_trials": self.max_trials,
            "max_fidelity": self.max_fidelity,
            "wall_time_s": self.wall_time_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Budget:
        d = d or {}
        return cls(d.get("max_trials"), d.get("max_fidelity"), d.get("wall_time_s"))


@dataclass(frozen=True)
class SchedulerSpec:
    name: str = "random"
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class StudySpec:
    """Everything needed to create a study; validated on creation."""

    name: str
    space: SearchSpace
    objectives: tuple[Objective, ...]
    fidelity: Fidelity | None = None
    scheduler: SchedulerSpec = field(default_factory=SchedulerSpec)
    budget: Budget = field(default_factory=Budget)
    project: str = "default"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidStudy("a study needs a non-empty name")
        if len(self.name) > 200:
            raise InvalidStudy("a study name has at most 200 characters")
        if not isinstance(self.space, SearchSpace):
            raise InvalidStudy("space must be a SearchSpace")
        objectives = tuple(self.objectives)
        if not objectives:
            raise InvalidStudy("a study needs at least one objective")
        names = [o.name for o in objectives]
        if len(set(names)) != len(names):
            raise InvalidStudy(f"objective names must be distinct, got {names}")
        object.__setattr__(self, "objectives", objectives)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project": self.project,
            "space": self.space.to_dict(),
            "objectives": [o.to_dict() for o in self.objectives],
            "fidelity": self.fidelity.to_dict() if self.fidelity else None,
            "scheduler": self.scheduler.to_dict(),
            "budget": self.budget.to_dict(),
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Study(StudySpec):
    id: int = 0
    created_at: float = 0.0
    finished: bool = False
    paused: bool = False

    @property
    def objective(self) -> Objective:
        """The first objective: the one schedulers rank by."""
        return self.objectives[0]

    @property
    def max_fidelity(self) -> float:
        return self.fidelity.max if self.fidelity else 1.0


@dataclass(frozen=True)
class Report:
    """One intermediate or final result of a trial at fidelity ``step``. Append-only."""

    trial_id: int
    step: float
    metrics: Mapping[str, float]
    cost_s: float | None = None
    time: float = 0.0
    decision: Decision | None = None


@dataclass(frozen=True)
class Trial:
    id: int
    study_id: int
    number: int
    config: Config
    state: TrialState
    until: float | None = None  # the fidelity the scheduler asked this run to reach
    bracket: int | None = None
    worker: str | None = None
    lease_expires: float | None = None
    checkpoint_step: float | None = None  # last step with a saved checkpoint, if any
    last_step: float | None = None  # highest step reported
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    resumes: int = 0  # how many times the trial has been resumed (paused -> running)
    interrupted: bool = False  # its worker vanished; it is resumed before anything new starts
    held: bool = False  # a user paused it: it is HELD (or RUNNING until its next report)

    @property
    def has_checkpoint(self) -> bool:
        return self.checkpoint_step is not None


def check_metrics(metrics: Mapping[str, Any], objectives: Sequence[Objective]) -> dict[str, float]:
    """Validates a report's metrics: finite numbers, and every objective present."""
    if not isinstance(metrics, Mapping):
        raise InvalidReport("metrics must be a mapping of names to numbers")
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if not isinstance(k, str) or not k:
            raise InvalidReport(f"metric names must be non-empty strings, got {k!r}")
        if isinstance(v, bool) or type(v).__name__ in ("bool", "bool_"):  # numpy's too
            raise InvalidReport(f"metric {k!r} must be a number, not a boolean ({v!r})")
        if not isinstance(v, (int, float)):
            try:
                v = float(v)  # numpy scalars, tensors with __float__
            except (TypeError, ValueError):
                raise InvalidReport(f"metric {k!r} must be a number, got {v!r}") from None
        if not math.isfinite(v):
            raise InvalidReport(f"metric {k!r} must be finite, got {v!r}")
        out[k] = float(v)
    missing = [o.name for o in objectives if o.name not in out]
    if missing:
        raise InvalidReport(f"report lacks the objective metric(s) {missing}; got {sorted(out)}")
    return out


def check_step(step: Any, fidelity: Fidelity | None = None) -> float:
    """Validates a report's step: a finite number >= 0 and, in a study with a ``fidelity``, at
    most its maximum (within a relative 1e-9, for steps summed from fractions of an epoch)."""
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
        raise InvalidReport(f"step must be a finite number, got {step!r}")
    if step < 0:
        raise InvalidReport(f"step must be >= 0, got {step}")
    if fidelity is not None and step > fidelity.max * (1 + 1e-9):
        raise InvalidReport(
            f"step {step:g} is above the study's maximum fidelity ({fidelity.name} = "
            f"{fidelity.max:g}); steps go from 0 to {fidelity.max:g}"
        )
    return step
