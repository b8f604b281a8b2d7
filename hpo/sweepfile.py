"""sweep.yaml: reading and validating a sweep file (pydantic v2), all before anything is written.

Example::

    name: digits-asha
    command: python examples/digits/train.py --lr {lr} --hidden {hidden}
    space:
      lr: {type: float, low: 1.0e-4, high: 0.3, log: true}
      hidden: {type: int, low: 16, high: 256, log: true}
    objective: {name: val_loss, mode: min}
    fidelity: {name: epoch, min: 1, max: 27}
    scheduler: {name: asha, eta: 3}
    budget: {max_trials: 40, wall_time: 10m}
    parallelism: 2
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hpo.errors import HpoError, InvalidSweepFile
from hpo.model import Budget, SchedulerSpec, Study, StudySpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveIn(_Strict):
    name: str = Field(min_length=1)
    mode: str = Field(default="min", pattern="^(min|max)$")


class FidelityIn(_Strict):
    name: str = Field(min_length=1)
    min: float = Field(gt=0)
    max: float = Field(gt=0)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


def parse_duration(v: Any) -> float | None:
    """``90``, ``"90s"``, ``"10m"``, ``"2h"``, ``"1d"`` to seconds."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("expected a duration like 90s, 10m or 2h")
    if isinstance(v, (int, float)):
        return float(v)
    m = _DURATION.match(str(v))
    if not m:
        raise ValueError(f"expected a duration like 90s, 10m or 2h, got {v!r}")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]


class BudgetIn(_Strict):
    max_trials: int | None = Field(default=None, gt=0)
    max_fidelity: float | None = Field(default=None, gt=0)
    wall_time: float | None = Field(default=None, gt=0)

    @field_validator("wall_time", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float | None:
        return parse_duration(v)


class SweepFile(_Strict):
    name: str = Field(min_length=1, max_length=200)
    project: str = "default"
    storage: str | None = None
    command: str | list[str]
    space: dict[str, dict[str, Any]] = Field(min_length=1)
    objective: ObjectiveIn | None = None
    objectives: list[ObjectiveIn] | None = None
    fidelity: FidelityIn | None = None
    scheduler: dict[str, Any] = Field(default_factory=lambda: {"name": "random"})
    budget: BudgetIn = Field(default_factory=BudgetIn)
    parallelism: int | None = Field(default=None, gt=0, le=1024)
    runs_dir: str = "hpo-runs"
    checkpoint_url: str | None = Field(
        default=None,
        description="shared path or object-store URL (fsspec) for checkpoints, so that trials "
        "resume on any machine; default: they stay in runs_dir",
    )
    grace_s: float = Field(default=10.0, ge=0)
    lease_s: float = Field(default=60.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    ray: dict[str, Any] | None = Field(
        default=None, description="Ray executor settings (docs/ray.md): resources per trial etc."
    )

    @field_validator("command", mode="before")
    @classmethod
    def _one_string_or_strings(cls, v: Any) -> Any:
        if isinstance(v, list):
            bad = next((a for a in v if not isinstance(a, str)), None)
            if bad is not None:
                raise ValueError(
                    "must be one string, or a list of strings (quote every argument): "
                    f"{bad!r} is not a string"
                )
        elif not isinstance(v, str):
            raise ValueError(f"must be one string (or a list of strings), got {v!r}")
        return v

    @field_validator("command")
    @classmethod
    def _nonempty(cls, v: str | list[str]) -> str | list[str]:
        if (isinstance(v, str) and not v.strip()) or (isinstance(v, list) and not v):
            raise ValueError("the command is empty")
        return v

    def study_spec(self) -> StudySpec:
        from hpo.client import _fidelity, _objectives, _space

        if self.objective is not None and self.objectives is not None:
            raise InvalidSweepFile("give either 'objective' or 'objectives', not both")
        objs = self.objectives or ([self.objective] if self.objective else None)
        if not objs:
            raise InvalidSweepFile("the sweep needs an 'objective: {name, mode}'")
        sched = dict(self.scheduler)
        name = sched.pop("name", None)
        if not isinstance(name, str):
            raise InvalidSweepFile("scheduler needs a 'name' (random, sha, hyperband, asha)")
        return StudySpec(
            name=self.name,
            space=_space(self.space),
            objectives=_objectives([o.model_dump() for o in objs], "min"),
            fidelity=_fidelity(self.fidelity.model_dump() if self.fidelity else None),
            scheduler=SchedulerSpec(name, sched),
            budget=Budget(self.budget.max_trials, self.budget.max_fidelity, self.budget.wall_time),
            project=self.project,
            metadata={"sweep": self.model_dump(exclude={"storage"})},
        )


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(x) for x in err.get("loc", ())) or "file"


def load_sweep(path: str | Path) -> tuple[SweepFile, StudySpec]:
    """Reads and validates a sweep file; raises InvalidSweepFile with one line on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidSweepFile(f"{p}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise InvalidSweepFile(
            f"{p}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise InvalidSweepFile(f"{p}: {problem}{where}") from None
    if not isinstance(raw, dict):
        raise InvalidSweepFile(f"{p}: expected a mapping at the top level")
    try:
        sweep = SweepFile.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        elif first["type"] == "value_error" and "error" in first.get("ctx", {}):
            msg = str(first["ctx"]["error"])  # our validators' messages, without "Value error, "
        more = f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise InvalidSweepFile(f"{p}: {_loc(first)}: {msg}{more}") from None
    try:
        spec = sweep.study_spec()
        check_runnable(sweep, spec)
    except HpoError as e:
        raise InvalidSweepFile(f"{p}: {e}") from None
    return sweep, spec


def check_runnable(sweep: SweepFile, spec: StudySpec) -> None:
    """Builds the scheduler and renders the command once, so mistakes surface before any write."""
    from hpo.executors.local import render_command
    from hpo.schedulers import SCHEDULERS, check_new_study

    study = Study(**spec.__dict__)
    sched = check_new_study(study)
    if sweep.ray is not None:
        from hpo.executors.ray import RayOptions

        RayOptions.from_dict(sweep.ray)
    config = study.space.decode([0.5] * len(study.space))
    render_command(
        sweep.command,
        config,
        {"trial_id": 0, "number": 0, "checkpoint_dir": "", "until": 1, "study": spec.name},
    )
    finite = getattr(sched, "max_brackets", None) is not None
    if spec.budget.unlimited and not finite:
        raise InvalidSweepFile(
            "the sweep never ends: set a budget (max_trials, max_fidelity or wall_time)"
            + (
                " or max_brackets"
                if SCHEDULERS[spec.scheduler.name].__name__ in ("SuccessiveHalving", "Hyperband")
                else ""
            )
        )
