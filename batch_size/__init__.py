"""hpo.batch_size: gradient noise scale, critical batch size, batch/LR schedules, LARS and LAMB.

Depends on torch only (the rest of hpo never imports torch, and this package imports nothing of
the service's dependencies). See docs/batch_size.md for a guide.

* Noise scale (McCandlish et al. 2018): :func:`estimate_from_norms`,
  :class:`GradientNoiseScale`, :class:`GradientNoiseMonitor` (micro-batches and DDP ranks),
  :func:`per_example_sq_norms` (torch.func).
* Critical batch size: :func:`fit_critical_batch`, :func:`critical_batch_from_noise_scale`,
  :func:`fit_power_law`, :func:`extrapolate_batch_size`.
* Schedules: :class:`Schedule`, :class:`Phase`, :class:`NoiseScaleController`,
  :func:`scale_lr`, :func:`linear_warmup`, :func:`adascale_gain`, :func:`scale_beta2`,
  :func:`adamw_timescale`, :func:`weight_decay_for_timescale`.
* Optimizers: :class:`LARS`, :class:`LAMB`, :func:`layerwise_param_groups`.
* Training loop: :class:`AdaptiveBatchTrainer`.
"""

from __future__ import annotations

import importlib
from typing import Any

from hpo.batch_size.critical_batch import (
    CriticalBatchFit,
    PowerLaw,
    critical_batch_from_noise_scale,
    extrapolate_batch_size,
    fit_critical_batch,
    fit_power_law,
)
from hpo.batch_size.noise_scale import GradientNoiseScale, NoiseScaleEstimate, estimate_from_norms
from hpo.batch_size.scaling import (
    adamw_timescale,
    adascale_gain,
    linear_warmup,
    scale_beta2,
    scale_lr,
    statistical_efficiency,
    weight_decay_for_timescale,
)
from hpo.batch_size.schedule import (
    NoiseScaleController,
    Phase,
    Schedule,
    StepSettings,
    plan_micro_batches,
)

# These import torch; load them on first use so that the pure-Python parts work without it.
_LAZY = {
    "GradientNoiseMonitor": "hpo.batch_size.gradient_norms",
    "per_example_sq_norms": "hpo.batch_size.gradient_norms",
    "LARS": "hpo.batch_size.optim",
    "LAMB": "hpo.batch_size.optim",
    "layerwise_param_groups": "hpo.batch_size.optim",
    "AdaptiveBatchTrainer": "hpo.batch_size.training",
    "StepResult": "hpo.batch_size.training",
}

__all__ = [
    "AdaptiveBatchTrainer",
    "CriticalBatchFit",
    "GradientNoiseMonitor",
    "GradientNoiseScale",
    "LAMB",
    "LARS",
    "NoiseScaleController",
    "NoiseScaleEstimate",
    "Phase",
    "PowerLaw",
    "Schedule",
    "StepResult",
    "StepSettings",
    "adamw_timescale",
    "adascale_gain",
    "critical_batch_from_noise_scale",
    "estimate_from_norms",
    "extrapolate_batch_size",
    "fit_critical_batch",
    "fit_power_law",
    "layerwise_param_groups",
    "linear_warmup",
    "per_example_sq_norms",
    "plan_micro_batches",
    "scale_beta2",
    "scale_lr",
    "statistical_efficiency",
    "weight_decay_for_timescale",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpo.batch_size' has no attribute {name!r}")
