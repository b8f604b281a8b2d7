"""Batch-size schedules (batch, accumulation, LR per step) and the noise-scale controller.

A :class:`Schedule` is a list of :class:`Phase` objects, each starting at an optimizer step and
fixing the global batch size, its split into per-rank micro-batches and accumulation steps, the
learning rate and optionally Adam's beta2 and the weight decay, plus a linear warmup
(Goyal et al. 2017) over the first steps. It serializes to JSON, so the coordinator can put it in
a trial's config and the trial rebuilds it with :meth:`Schedule.from_json`.

:class:`NoiseScaleController` grows the batch with the measured gradient noise scale:
McCandlish et al. 2018 show that training at B ~ B_noise balances steps against examples
(both within 2x of their minima at B = B_crit ~ B_noise), and B_noise grows as the loss falls.
The controller targets ``fraction * B_noise``, rounded to the data-parallel granularity, clamped
to bounds, with hysteresis so that estimation noise does not make it oscillate; each new batch
size re-derives the LR (linear or square-root rule, or AdaScale's gain), beta2 (fixed half-life
in examples) and the weight decay (fixed AdamW timescale), and splits the batch into micro-batches
that fit in memory. Written here: AdaptDL's controller is tied to its own cluster scheduler.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hpo.batch_size.scaling import adascale_gain, linear_warmup, scale_beta2, scale_lr


@dataclass(frozen=True)
class Phase:
    """Settings that hold from ``start_step`` until the next phase starts."""

    start_step: int
    batch_size: int
    micro_batch_size: int
    accumulation_steps: int
    lr: float
    beta2: float | None = None
    weight_decay: float | None = None

    def check(self, world_size: int) -> None:
        for name in ("batch_size", "micro_batch_size", "accumulation_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"phase {name} must be a positive integer, got {v!r}")
        if isinstance(self.start_step, bool) or not isinstance(self.start_step, int):
            raise ValueError(f"phase start_step must be an integer, got {self.start_step!r}")
        if self.start_step < 0:
            raise ValueError(f"phase start_step must be >= 0, got {self.start_step}")
        if self.micro_batch_size * self.accumulation_steps * world_size != self.batch_size:
            raise ValueError(
                f"batch_size {self.batch_size} != micro_batch_size {self.micro_batch_size} x "
                f"accumulation_steps {self.accumulation_steps} x world_size {world_size}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"phase lr must be positive and finite, got {self.lr!r}")
        if self.beta2 is not None and not 0.0 < self.beta2 < 1.0:
            raise ValueError(f"phase beta2 must be in (0, 1), got {self.beta2!r}")
        if self.weight_decay is not None and not (
            math.isfinite(self.weight_decay) and self.weight_decay >= 0
        ):
            raise ValueError(f"phase weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass(frozen=True)
class StepSettings:
    """What :meth:`Schedule.at` returns: the settings of one optimizer step."""

    step: int
    batch_size: int
    micro_batch_size: int
    accumulation_steps: int
    lr: float
    beta2: float | None
    weight_decay: float | None


def plan_micro_batches(
    batch_size: int,
    world_size: int = 1,
    max_micro_batch: int | None = None,
    min_accumulation_steps: int = 1,
) -> tuple[int, int]:
    """Splits a global batch into (micro_batch_size, accumulation_steps) per rank.

    The fewest accumulation steps (at least ``min_accumulation_steps``, e.g. 2 so that a single
    GPU can measure the noise scale) whose micro-batch fits ``max_micro_batch`` (the most
    examples one backward pass may hold in memory) and divides the per-rank batch exactly.
    """
    if batch_size < 1 or world_size < 1:
        raise ValueError("batch_size and world_size must be positive")
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} is not a multiple of world_size {world_size}")
    per_rank = batch_size // world_size
    if max_micro_batch is not None and max_micro_batch < 1:
        raise ValueError(f"max_micro_batch must be >= 1, got {max_micro_batch}")
    if min_accumulation_steps < 1 or min_accumulation_steps > per_rank:
        raise ValueError(
            f"min_accumulation_steps must be in [1, {per_rank}] (the per-rank batch), "
            f"got {min_accumulation_steps}"
        )
    cap = per_rank if max_micro_batch is None else max_micro_batch
    accum = max(min_accumulation_steps, math.ceil(per_rank / cap))
    while per_rank % accum:
        accum += 1
    return per_rank // accum, accum


@dataclass
class Schedule:
    """Per-step batch size, micro-batching and learning rate; JSON round-trips exactly."""

    phases: list[Phase]
    world_size: int = 1
    warmup_steps: int = 0
    warmup_start_factor: float = 0.0  # LR at step 0, as a fraction of the first phase's LR

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a schedule needs at least one phase")
        if self.world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {self.world_size}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.warmup_start_factor <= 1.0:
            raise ValueError(
                f"warmup_start_factor must be in [0, 1], got {self.warmup_start_factor}"
            )
        self.phases = [p if isinstance(p, Phase) else Phase(**p) for p in self.phases]
        for p in self.phases:
            p.check(self.world_size)
        starts = [p.start_step for p in self.phases]
        if starts[0] != 0:
            raise ValueError("the first phase must start at step 0")
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise ValueError(f"phase start steps must increase strictly, got {starts}")

    @classmethod
    def constant(
        cls,
        batch_size: int,
        lr: float,
        *,
        world_size: int = 1,
        max_micro_batch: int | None = None,
        warmup_steps: int = 0,
        warmup_start_factor: float = 0.0,
        beta2: float | None = None,
        weight_decay: float | None = None,
    ) -> Schedule:
        micro, accum = plan_micro_batches(batch_size, world_size, max_micro_batch)
        phase = Phase(0, batch_size, micro, accum, float(lr), beta2, weight_decay)
        return cls([phase], world_size, warmup_steps, warmup_start_factor)

    def phase_at(self, step: int) -> Phase:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        current = self.phases[0]
        for p in self.phases:
            if p.start_step > step:
                break
            current = p
        return current

    def at(self, step: int) -> StepSettings:
        p = self.phase_at(step)
        lr = p.lr
        if step < self.warmup_steps:
            lr = linear_warmup(step, self.warmup_steps, self.warmup_start_factor * p.lr, p.lr)
        return StepSettings(
            step,
            p.batch_size,
            p.micro_batch_size,
            p.accumulation_steps,
            lr,
            p.beta2,
            p.weight_decay,
        )

    def append(self, phase: Phase) -> None:
        """Adds a phase that starts after the last one (controllers use this)."""
        phase.check(self.world_size)
        if phase.start_step <= self.phases[-1].start_step:
            raise ValueError(
                f"a new phase must start after step {self.phases[-1].start_step}, "
                f"got {phase.start_step}"
            )
        self.phases.append(phase)

    def examples_until(self, step: int) -> int:
        """Training examples consumed by optimizer steps 0 .. step-1."""
        total, prev = 0, None
        for p in self.phases:
            if prev is not None:
                total += prev.batch_size * (min(p.start_step, step) - prev.start_step)
            if p.start_step >= step:
                prev = None
                break
            prev = p
        if prev is not None:
            total += prev.batch_size * (step - prev.start_step)
        return total

    # ---- serialization -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "phases": [asdict(p) for p in self.phases],
            "world_size": self.world_size,
            "warmup_steps": self.warmup_steps,
            "warmup_start_factor": self.warmup_start_factor,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        if not isinstance(data, dict) or "phases" not in data:
            raise ValueError("a schedule is a JSON object with a 'phases' list")
        unknown = set(data) - {"phases", "world_size", "warmup_steps", "warmup_start_factor"}
        if unknown:
            raise ValueError(f"unknown schedule keys: {', '.join(sorted(unknown))}")
        try:
            phases = [Phase(**p) for p in data["phases"]]
        except TypeError as e:
            raise ValueError(f"invalid schedule phase: {e}") from e
        return cls(
            phases,
            int(data.get("world_size", 1)),
            int(data.get("warmup_steps", 0)),
            float(data.get("warmup_start_factor", 0.0)),
        )

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> Schedule:
        """From a JSON string (or an already decoded dict, as a trial's config may hold)."""
        if isinstance(text, dict):
            return cls.from_dict(text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"a schedule must be valid JSON: {e}") from e
        return cls.from_dict(data)


LR_RULES = ("linear", "sqrt", "none", "adascale")


@dataclass
class NoiseScaleController:
    """Grows the batch size with the measured noise scale and records the result as a Schedule.

    The batch targeted is ``fraction * b_noise`` rounded down to a multiple of
    ``world_size * batch_multiple * min_accumulation_steps`` (and to whole micro-batches of
    ``max_micro_batch`` when accumulation is needed) and clamped to [``min_batch``,
    ``max_batch``]; ``min_accumulation_steps=2`` keeps a single GPU measuring. The controller
    switches when the target differs from the current batch by at least ``hysteresis`` (a
    factor), never shrinks the batch unless ``allow_decrease``, and waits for
    ``min_observations`` noise-scale observations. ``lr_rule`` derives the LR from ``base_lr``
    tuned at ``base_batch`` ("linear", "sqrt", "none", or "adascale", which needs the noise
    scale's |G|^2 and tr(Sigma)). With ``base_beta2`` it keeps Adam's beta2 half-life fixed in
    examples; with ``base_weight_decay`` it keeps AdamW's timescale B/(eta lambda D) fixed.
    """

    base_batch: int
    base_lr: float
    max_batch: int
    fraction: float = 1.0
    min_batch: int | None = None
    lr_rule: str = "sqrt"
    world_size: int = 1
    batch_multiple: int = 1
    max_micro_batch: int | None = None
    min_accumulation_steps: int = 1
    hysteresis: float = 1.25
    allow_decrease: bool = False
    min_observations: int = 10
    base_beta2: float | None = None
    base_weight_decay: float | None = None
    warmup_steps: int = 0
    warmup_start_factor: float = 0.0
    schedule: Schedule = field(init=False)

    def __post_init__(self) -> None:
        if self.lr_rule not in LR_RULES:
            raise ValueError(f"lr_rule must be one of {', '.join(LR_RULES)}, got {self.lr_rule!r}")
        if not (math.isfinite(self.fraction) and self.fraction > 0):
            raise ValueError(f"fraction must be positive, got {self.fraction}")
        if self.hysteresis < 1:
            raise ValueError(f"hysteresis must be >= 1, got {self.hysteresis}")
        if self.min_batch is None:
            self.min_batch = self.base_batch
        unit = self._unit
        for name in ("base_batch", "min_batch", "max_batch"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1 or v % unit:
                raise ValueError(
                    f"{name} must be a positive multiple of world_size x batch_multiple x "
                    f"min_accumulation_steps ({unit}), got {v!r}"
                )
        if not self.min_batch <= self.base_batch <= self.max_batch:
            raise ValueError(
                f"need min_batch <= base_batch <= max_batch, got {self.min_batch}, "
                f"{self.base_batch}, {self.max_batch}"
            )
        self.schedule = Schedule(
            [self._phase(0, self.base_batch, None, None)],
            self.world_size,
            self.warmup_steps,
            self.warmup_start_factor,
        )

    @property
    def batch_size(self) -> int:
        return self.schedule.phases[-1].batch_size

    @property
    def _unit(self) -> int:
        """Every batch is a multiple of this: ranks x batch_multiple x min accumulation."""
        return self.world_size * self.batch_multiple * self.min_accumulation_steps

    def _phase(
        self, start: int, batch: int, grad_sq: float | None, trace_cov: float | None
    ) -> Phase:
        micro, accum = plan_micro_batches(
            batch, self.world_size, self.max_micro_batch, self.min_accumulation_steps
        )
        if self.lr_rule == "adascale":
            if grad_sq is None or trace_cov is None or batch == self.base_batch:
                gain = 1.0
            else:
                gain = adascale_gain(grad_sq, trace_cov, batch / self.base_batch, self.base_batch)
            lr = self.base_lr * gain
        else:
            lr = scale_lr(self.base_lr, self.base_batch, batch, self.lr_rule)
        beta2 = (
            None
            if self.base_beta2 is None
            else scale_beta2(self.base_beta2, self.base_batch, batch)
        )
        wd = None
        if self.base_weight_decay is not None:
            # Fixed tau = B / (lr * wd * D)  =>  wd' = wd * (B'/B) * (lr / lr').
            wd = self.base_weight_decay * (batch / self.base_batch) * (self.base_lr / lr)
        return Phase(start, batch, micro, accum, lr, beta2, wd)

    def target(self, b_noise: float) -> int:
        """The batch size this controller aims for at noise scale ``b_noise``."""
        assert self.min_batch is not None
        unit = self._unit
        if not math.isfinite(b_noise):
            return self.batch_size
        raw = self.fraction * b_noise
        raw = min(raw, self.max_batch)
        if self.max_micro_batch is not None and raw > self.world_size * self.max_micro_batch:
            # Accumulation needed: whole micro-batches of the largest size that fits.
            unit = math.lcm(unit, self.world_size * self.max_micro_batch)
        b = int(raw // unit) * unit
        return max(self.min_batch, min(self.max_batch, b))

    def update(
        self,
        step: int,
        b_noise: float,
        observations: int | None = None,
        grad_sq: float | None = None,
        trace_cov: float | None = None,
    ) -> Phase | None:
        """Considers the noise scale measured up to optimizer step ``step``.

        Returns the new phase (starting at ``step + 1``) when the batch changes, else None.
        """
        if observations is not None and observations < self.min_observations:
            return None
        if b_noise is None or not math.isfinite(b_noise):
            # NaN: nothing measured; inf: the averaged |G|^2 is not positive, which early in
            # training is estimation noise far more often than a huge noise scale. Wait.
            return None
        current = self.batch_size
        new = self.target(float(b_noise))
        grow = new >= current * self.hysteresis
        shrink = self.allow_decrease and new * self.hysteresis <= current
        if not (grow or shrink) or new == current:
            return None
        phase = self._phase(step + 1, new, grad_sq, trace_cov)
        if phase.start_step <= self.schedule.phases[-1].start_step:
            phase = replace(phase, start_step=self.schedule.phases[-1].start_step + 1)
        self.schedule.append(phase)
        return phase

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule = Schedule.from_dict(state["schedule"])
