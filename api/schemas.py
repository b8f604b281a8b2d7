"""Request and response bodies of the REST API (pydantic v2), apart from the storage models.

Every request model forbids unknown keys, so a typo is a 422 with the key's name rather than a
silently ignored field; metric values must be finite numbers (NaN, infinities and booleans
are refused: pydantic would read ``true`` as 1.0).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w.\-]*$")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Step = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _not_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError(f"must be a number, not a boolean ({str(v).lower()})")
    return v


Metric = Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]
Worker = Annotated[str, Field(min_length=1, max_length=300)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    """Every 4xx/5xx body: a one-line message and the error's kind."""

    error: str = Field(description="what went wrong, in one line")
    type: str = Field(description="the error class, e.g. StudyNotFound, ValidationError")
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="per-field problems (validation errors only)"
    )


class ObjectiveIn(_In):
    name: Name
    mode: Literal["min", "max"] = "min"


class FidelityIn(_In):
    name: Name
    min: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    max: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SchedulerIn(_In):
    name: Name = "random"
    params: dict[str, Any] = Field(default_factory=dict)


class BudgetIn(_In):
    max_trials: Annotated[int, Field(ge=1)] | None = None
    max_fidelity: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    wall_time_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class FloatParam(_In):
    type: Literal["float"]
    low: Finite
    high: Finite = Field(description="must be > low")
    log: bool = Field(default=False, description="sample on a log scale (needs low > 0)")


class IntParam(_In):
    type: Literal["int"]
    low: int
    high: int = Field(description="must be > low")
    log: bool = Field(default=False, description="sample on a log scale (needs low > 0)")


class CategoricalParam(_In):
    type: Literal["categorical"]
    choices: list[str | bool | int | Finite] = Field(
        min_length=1, max_length=10_000, description="distinct values"
    )


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class StudyCreate(_In):
    name: Name
    space: dict[Name, Param] = Field(
        description='parameters, e.g. {"lr": {"type": "float", "low": 1e-4, "high": 1, '
        '"log": true}, "act": {"type": "categorical", "choices": ["relu", "tanh"]}}',
        min_length=1,
        max_length=200,
    )
    objectives: list[ObjectiveIn] = Field(min_length=1, max_length=16)
    fidelity: FidelityIn | None = None
    scheduler: SchedulerIn = Field(default_factory=SchedulerIn)
    budget: BudgetIn = Field(default_factory=BudgetIn)
    metadata: dict[str, Any] = Field(default_factory=dict)
    exist_ok: bool = False


class StudyOut(BaseModel):
    id: int
    name: str
    project: str
    space: dict[str, dict[str, Any]]
    objectives: list[ObjectiveIn]
    fidelity: FidelityIn | None
    scheduler: SchedulerIn
    budget: BudgetIn
    metadata: dict[str, Any]
    created_at: float
    finished: bool
    paused: bool = Field(description="paused by a user: nothing starts until it is resumed")


class AskIn(_In):
    worker: Worker
    lease_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = None


class AssignmentOut(BaseModel):
    trial_id: int
    number: int
    study: str
    config: dict[str, Any]
    until: float
    resume: bool
    checkpoint_step: float | None
    worker: str
    lease_expires: float


class AskOut(BaseModel):
    assignment: AssignmentOut | None = Field(
        description="the trial to run, or null when nothing can run now"
    )
    finished: bool = Field(description="true when the study is over: stop asking")
    paused: bool = Field(default=False, description="the study is paused: ask again later")


class ReportIn(_In):
    step: Step
    metrics: dict[Name, Metric] = Field(min_length=1, max_length=1000)
    checkpoint: bool = False
    cost_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    worker: Worker | None = None


class DecisionOut(BaseModel):
    decision: Literal["continue", "pause", "stop"]


class FinishIn(_In):
    metrics: dict[Name, Metric] | None = Field(
        default=None, description="final result, stored at `step` (default: max fidelity)"
    )
    step: Step | None = None
    worker: Worker | None = None


class FailIn(_In):
    error: Annotated[str, Field(max_length=20000)] = "failed"
    worker: Worker | None = None


class HeartbeatIn(_In):
    worker: Worker
    lease_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = None


class ReleaseIn(_In):
    worker: Worker
    why: Annotated[str, Field(max_length=2000)] = "its worker stopped"


class HeartbeatOut(BaseModel):
    trials: int = Field(description="leases extended")


class ReportOut(BaseModel):
    step: float
    metrics: dict[str, float]
    cost_s: float | None
    time: float
    decision: Literal["continue", "pause", "stop"] | None


class TrialOut(BaseModel):
    id: int
    study_id: int
    number: int
    state: Literal["pending", "running", "paused", "held", "completed", "stopped", "failed"]
    config: dict[str, Any]
    until: float | None
    bracket: int | None
    worker: str | None
    checkpoint_step: float | None
    last_step: float | None
    error: str | None
    resumes: int
    interrupted: bool
    held: bool = Field(
        default=False,
        description="paused by a user (pause_trial): no scheduler resumes it until resume_trial",
    )
    created_at: float
    updated_at: float
    reports: list[ReportOut] | None = Field(
        default=None, description="present on the single-trial endpoint"
    )


class TrialPage(BaseModel):
    items: list[TrialOut]
    total: int
    offset: int
    limit: int


class ResultOut(BaseModel):
    trial: TrialOut
    step: float
    values: dict[str, float]
