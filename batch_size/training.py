"""A training-loop helper that measures the noise scale, applies a batch schedule and reports.

:class:`AdaptiveBatchTrainer` runs optimizer steps on a model: each step draws the global batch
the :class:`~hpo.batch_size.Schedule` (or a :class:`~hpo.batch_size.NoiseScaleController`) asks
for, splits it into per-rank micro-batches with gradient accumulation, sets the optimizer's LR
(and beta2 / weight decay when the schedule has them), measures the gradient noise scale from the
micro-batch and per-rank gradients with :class:`~hpo.batch_size.GradientNoiseMonitor` (no extra
forward or backward pass) and, inside an hpo trial, reports ``loss``, ``b_noise``,
``batch_size`` and ``lr`` through ``hpo.trial.current().report``. Under
DistributedDataParallel (pass the DDP-wrapped model after ``init_process_group``) every rank
takes its own slice of the same global batch, the accumulation steps run under ``no_sync``, and
rank 0 reports and broadcasts the coordinator's decision.

Data: any object with ``__len__`` and either ``get_batch(indices) -> batch`` (fast path, e.g. a
tensor on the GPU) or ``__getitem__`` (items are collated with ``collate_fn``, default
``torch.utils.data.default_collate``). ``loss_fn(model, batch)`` returns the micro-batch's mean
loss. The index stream is a seeded permutation per epoch, identical on every rank, so a run is
reproducible and resumable from :meth:`state_dict`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hpo.batch_size.gradient_norms import GradientNoiseMonitor
from hpo.batch_size.schedule import NoiseScaleController, Schedule, StepSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    step: int
    loss: float
    batch_size: int
    micro_batch_size: int
    accumulation_steps: int
    lr: float
    examples: int  # examples consumed including this step
    b_noise: float
    b_noise_std: float
    seconds: float
    decision: str | None = None  # CONTINUE / PAUSE / STOP when this step reported to a trial


class IndexStream:
    """Seeded epoch permutations of range(n), consumed in global batches of any size."""

    def __init__(self, n: int, seed: int = 0) -> None:
        if n < 1:
            raise ValueError("the data set is empty")
        self.n, self.seed = int(n), int(seed)
        self.epoch, self.pos = 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def take(self, k: int) -> torch.Tensor:
        out = []
        while k > 0:
            if self.pos >= self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._permutation()
            chunk = self._perm[self.pos : self.pos + k]
            self.pos += len(chunk)
            k -= len(chunk)
            out.append(chunk)
        return torch.cat(out)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._perm = self._permutation()


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class AdaptiveBatchTrainer:
    """Runs optimizer steps under a batch-size schedule while measuring the noise scale.

    Give either ``schedule`` (fixed in advance, e.g. handed over by the coordinator) or
    ``controller`` (adapts to the measured noise scale). ``measure_noise=False`` turns the
    measurement off; ``measure_interval`` measures every n-th step. ``report_every``: report to the
    enclosing hpo trial every n steps (0: never), with the step count (``fidelity="steps"``) or
    the examples consumed (``"examples"``) as the trial's fidelity value.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        data: Any,
        loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
        *,
        schedule: Schedule | None = None,
        controller: NoiseScaleController | None = None,
        measure_noise: bool = True,
        beta: float = 0.99,
        measure_interval: int = 1,
        measure_mode: str = "auto",
        report_every: int = 0,
        fidelity: str = "steps",
        collate_fn: Callable[[list[Any]], Any] | None = None,
        seed: int = 0,
        clip_grad_norm: float | None = None,
    ) -> None:
        if (schedule is None) == (controller is None):
            raise ValueError("give exactly one of schedule= and controller=")
        if fidelity not in ("steps", "examples"):
            raise ValueError(f"fidelity must be 'steps' or 'examples', got {fidelity!r}")
        self.rank, self.world_size = _dist()
        sched = controller.schedule if controller is not None else schedule
        assert sched is not None
        if sched.world_size != self.world_size:
            raise ValueError(
                f"the schedule is for world_size {sched.world_size}, but this process group "
                f"has {self.world_size} ranks"
            )
        self.model, self.optimizer, self.data, self.loss_fn = model, optimizer, data, loss_fn
        self.controller, self._schedule = controller, schedule
        self.collate_fn = collate_fn or torch.utils.data.default_collate
        self.report_every, self.fidelity = int(report_every), fidelity
        self.clip_grad_norm = clip_grad_norm
        self.stream = IndexStream(len(data), seed)
        self.step_count = 0
        self.examples = 0
        first = self.schedule.at(0)
        self.monitor = (
            GradientNoiseMonitor(
                model,
                first.micro_batch_size,
                beta=beta,
                interval=measure_interval,
                mode=measure_mode,
                watch_backward=False,
            )
            if measure_noise
            else None
        )

    @property
    def schedule(self) -> Schedule:
        return self.controller.schedule if self.controller is not None else self._schedule

    # ---- one step ----------------------------------------------------------------------------
    def _apply(self, s: StepSettings) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = s.lr
            if s.beta2 is not None and "betas" in group:
                group["betas"] = (group["betas"][0], s.beta2)
            if s.weight_decay is not None and group.get("weight_decay", 0.0) != 0.0:
                group["weight_decay"] = s.weight_decay
        if self.monitor is not None:
            self.monitor.set_micro_batch_size(s.micro_batch_size)

    def _fetch(self, idx: torch.Tensor) -> Any:
        if hasattr(self.data, "get_batch"):
            return self.data.get_batch(idx)
        return self.collate_fn([self.data[int(i)] for i in idx])

    def step(self) -> StepResult:
        """Runs one optimizer step (all its micro-batches) and returns what happened."""
        t0 = time.perf_counter()
        s = self.schedule.at(self.step_count)
        self._apply(s)
        self.model.train()
        global_idx = self.stream.take(s.batch_size)
        per_rank = s.batch_size // self.world_size
        mine = global_idx[self.rank * per_rank : (self.rank + 1) * per_rank]
        loss_sum: torch.Tensor | None = None
        for k in range(s.accumulation_steps):
            micro = mine[k * s.micro_batch_size : (k + 1) * s.micro_batch_size]
            batch = self._fetch(micro)
            last = k == s.accumulation_steps - 1
            sync = getattr(self.model, "no_sync", None)
            if sync is not None and not last:
                ctx = sync()
            elif self.monitor is not None:  # no_sync on the last one too in mode "allreduce"
                ctx = self.monitor.sync_context(self.model)
            else:
                ctx = contextlib.nullcontext()
            with ctx:
                loss = self.loss_fn(self.model, batch)
                (loss / s.accumulation_steps).backward()
            if self.monitor is not None and self.monitor.mode != "exact":
                self.monitor.after_backward()
            lv = loss.detach().float()
            loss_sum = lv if loss_sum is None else loss_sum + lv
        if self.monitor is not None:
            self.monitor.observe(defer=True)  # read back with the loss, after the step
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        assert loss_sum is not None
        loss_mean = loss_sum / s.accumulation_steps
        if self.world_size > 1:
            torch.distributed.all_reduce(loss_mean)
            loss_mean = loss_mean / self.world_size
        self.examples += s.batch_size
        step = self.step_count
        self.step_count += 1
        b_noise = b_std = math.nan
        if self.monitor is not None:
            gns = self.monitor.gns
            b_noise, b_std = gns.b_simple, gns.b_simple_std
            if self.controller is not None:
                self.controller.update(step, b_noise, gns.count, gns.grad_sq, gns.trace_cov)
        result = StepResult(
            step=step,
            loss=float(loss_mean),
            batch_size=s.batch_size,
            micro_batch_size=s.micro_batch_size,
            accumulation_steps=s.accumulation_steps,
            lr=s.lr,
            examples=self.examples,
            b_noise=b_noise,
            b_noise_std=b_std,
            seconds=time.perf_counter() - t0,
        )
        if self.report_every and self.step_count % self.report_every == 0:
            result = self._report(result)
        return result

    def metrics(self, result: StepResult) -> dict[str, float]:
        out = {
            "loss": result.loss,
            "batch_size": float(result.batch_size),
            "lr": result.lr,
            "examples": float(result.examples),
        }
        if math.isfinite(result.b_noise):
            out["b_noise"] = result.b_noise
        if math.isfinite(result.b_noise_std):
            out["b_noise_std"] = result.b_noise_std
        return out

    def _report(self, result: StepResult) -> StepResult:
        from hpo import trial as hpo_trial
        from hpo.model import Decision

        decisions = [d.value for d in Decision]
        code = 0
        if self.rank == 0 and hpo_trial.in_trial():
            value = self.step_count if self.fidelity == "steps" else self.examples
            decision = hpo_trial.current().report(value, **self.metrics(result))
            code = decisions.index(decision.value)
        if self.world_size > 1:
            t = torch.tensor([code], device=_device_of(self.model))
            torch.distributed.broadcast(t, src=0)
            code = int(t.item())
        return StepResult(**{**result.__dict__, "decision": decisions[code]})

    def run(self, steps: int, callback: Callable[[StepResult], Any] | None = None) -> StepResult:
        """Runs ``steps`` optimizer steps (fewer if a report is answered PAUSE or STOP)."""
        result = None
        for _ in range(steps):
            result = self.step()
            if callback is not None:
                callback(result)
            if result.decision in ("pause", "stop"):
                break
        if result is None:
            raise ValueError("steps must be >= 1")
        return result

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_count,
            "examples": self.examples,
            "stream": self.stream.state_dict(),
            "monitor": self.monitor.state_dict() if self.monitor is not None else None,
            "controller": self.controller.state_dict() if self.controller is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step"])
        self.examples = int(state["examples"])
        self.stream.load_state_dict(state["stream"])
        if self.monitor is not None and state.get("monitor"):
            self.monitor.load_state_dict(state["monitor"])
        if self.controller is not None and state.get("controller"):
            self.controller.load_state_dict(state["controller"])


def _device_of(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
