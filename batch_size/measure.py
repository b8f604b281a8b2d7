"""A short noise-scale measurement of a user's model, and the schedule it recommends.

Backs ``hpo batch-size measure script.py``. The script defines a function (``setup`` by default)
that returns a mapping or an object with:

* ``model``: the torch module (on the device to measure on);
* ``data``: ``__len__`` plus ``get_batch(indices)`` or ``__getitem__`` (see AdaptiveBatchTrainer);
* ``loss_fn(model, batch)``: the micro-batch's mean loss;
* optionally ``optimizer`` (default: SGD at ``lr``) and ``lr``.

The measurement trains ``steps`` optimizer steps at a fixed global batch split into
``micro_batches`` micro-batches (the two batch sizes of the estimator, McCandlish et al. 2018),
then reports B_simple with its standard error and the schedule a
:class:`~hpo.batch_size.NoiseScaleController` would start from there. The noise scale grows as
the loss falls, so a measurement early in training is a lower bound for later phases.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.batch_size.schedule import NoiseScaleController, Schedule


@dataclass(frozen=True)
class MeasureResult:
    steps: int
    batch_size: int
    micro_batch_size: int
    b_noise: float
    b_noise_std: float
    grad_sq: float
    trace_cov: float
    first_loss: float
    last_loss: float
    seconds_per_step: float
    recommended_batch: int
    recommended_lr: float
    schedule: Schedule

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "schedule"}
        d["schedule"] = self.schedule.to_dict()
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()
        }


def load_setup(path: str | Path, factory: str = "setup") -> Mapping[str, Any]:
    """Imports ``path`` as a module and calls ``factory()``; ValueError with a clear message."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"measurement script not found: {p}")
    spec = importlib.util.spec_from_file_location(f"_hpo_measure_{p.stem}", p)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {p} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(p.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise ValueError(f"{p} defines no function {factory!r}() returning model, data, loss_fn")
    made = fn()
    items = made if isinstance(made, Mapping) else vars(made)
    missing = [k for k in ("model", "data", "loss_fn") if k not in items]
    if missing:
        raise ValueError(f"{p}:{factory}() must return {', '.join(missing)} (missing)")
    return items


def measure(
    setup: Mapping[str, Any],
    *,
    batch_size: int,
    micro_batches: int = 4,
    steps: int = 100,
    lr: float | None = None,
    lr_rule: str = "sqrt",
    max_batch: int | None = None,
    fraction: float = 1.0,
    beta: float = 0.95,
    seed: int = 0,
    on_step: Callable[[int], Any] | None = None,
) -> MeasureResult:
    """Trains ``steps`` steps at ``batch_size`` and returns the noise scale and a schedule."""
    import torch
    from hpo.batch_size.training import AdaptiveBatchTrainer

    if micro_batches < 2:
        raise ValueError("micro_batches must be >= 2: the estimator needs two batch sizes")
    if batch_size < micro_batches or batch_size % micro_batches:
        raise ValueError(
            f"batch_size ({batch_size}) must be a multiple of micro_batches ({micro_batches})"
        )
    if steps < 2:
        raise ValueError("steps must be >= 2")
    model = setup["model"]
    lr = float(lr if lr is not None else setup.get("lr", 0.01))
    opt = setup.get("optimizer") or torch.optim.SGD(model.parameters(), lr=lr)
    sched = Schedule.constant(batch_size, lr, max_micro_batch=batch_size // micro_batches)
    trainer = AdaptiveBatchTrainer(
        model, opt, setup["data"], setup["loss_fn"], schedule=sched, beta=beta, seed=seed
    )
    results = []
    for i in range(steps):
        results.append(trainer.step())
        if on_step is not None:
            on_step(i)
    gns = trainer.monitor.gns if trainer.monitor is not None else None
    assert gns is not None
    ctl = NoiseScaleController(
        base_batch=batch_size,
        base_lr=lr,
        max_batch=max(max_batch or 64 * batch_size, batch_size),
        min_batch=1,
        fraction=fraction,
        lr_rule=lr_rule,
        max_micro_batch=batch_size // micro_batches,
        hysteresis=1.0,
        allow_decrease=True,
        min_observations=0,
    )
    ctl.update(0, gns.b_simple, gns.count, gns.grad_sq, gns.trace_cov)
    rec = ctl.schedule.phases[-1]
    timed = results[len(results) // 5 :] or results
    return MeasureResult(
        steps=steps,
        batch_size=batch_size,
        micro_batch_size=batch_size // micro_batches,
        b_noise=gns.b_simple,
        b_noise_std=gns.b_simple_std,
        grad_sq=gns.grad_sq,
        trace_cov=gns.trace_cov,
        first_loss=results[0].loss,
        last_loss=results[-1].loss,
        seconds_per_step=sum(r.seconds for r in timed) / len(timed),
        recommended_batch=rec.batch_size,
        recommended_lr=rec.lr,
        schedule=Schedule([{**rec.__dict__, "start_step": 0}]),
    )
