"""Rules that carry optimizer hyperparameters across batch sizes.

* :func:`scale_lr`: linear rule for SGD (Goyal et al. 2017, "Accurate, Large Minibatch SGD",
  arXiv 1706.02677, Sec. 2.1: multiply the LR by k when the batch grows k-fold) and square-root
  rule for adaptive optimizers (Granziol et al. 2022, JMLR, "Learning Rates as a Function of Batch
  Size"; Malladi et al. 2022's SDE scaling for Adam).
* :func:`linear_warmup`: Goyal et al.'s gradual warmup, a linear ramp of the LR over the first
  steps, ending exactly at the target LR.
* :func:`adascale_gain`: AdaScale (Johnson et al. 2020, ICML), r = (sigma^2 + mu^2) /
  (sigma^2/S + mu^2) for batch scale S, with sigma^2 = tr(Sigma) (per example) and mu^2 = |G|^2.
* :func:`scale_beta2`: keeps Adam's second-moment half-life fixed in examples (tokens) when the
  batch changes, beta2' = beta2^(B'/B) (Marek et al. 2025, "Small Batch Size Training for
  Language Models", arXiv 2507.07101).
* :func:`adamw_timescale` / :func:`weight_decay_for_timescale`: AdamW as an EMA of updates with
  timescale tau = B / (eta * lambda * D) in fractions of training (Bergsma et al. 2025,
  "Power Lines", arXiv 2505.13738; Wang & Aitchison 2024).
"""

from __future__ import annotations

import math
from typing import Any

LR_RULES = ("linear", "sqrt", "none")


def _pos(x: Any, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a number, got {x!r}") from e
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be positive and finite, got {x!r}")
    return v


def scale_lr(base_lr: float, base_batch: float, new_batch: float, rule: str = "linear") -> float:
    """The learning rate for ``new_batch`` given ``base_lr`` tuned at ``base_batch``.

    ``rule``: "linear" (lr * k, SGD), "sqrt" (lr * sqrt(k), Adam-type) or "none", with
    k = new_batch / base_batch.
    """
    lr = _pos(base_lr, "base_lr")
    k = _pos(new_batch, "new_batch") / _pos(base_batch, "base_batch")
    if rule == "linear":
        return lr * k
    if rule == "sqrt":
        return lr * math.sqrt(k)
    if rule == "none":
        return lr
    raise ValueError(f"unknown LR scaling rule {rule!r}; expected one of {', '.join(LR_RULES)}")


def linear_warmup(step: int, warmup_steps: int, start_lr: float, target_lr: float) -> float:
    """Goyal et al.'s gradual warmup: start_lr at step 0, linear, target_lr from ``warmup_steps``.

    ``lr(t) = start_lr + (target_lr - start_lr) * t / warmup_steps`` for t < warmup_steps.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if warmup_steps == 0 or step >= warmup_steps:
        return float(target_lr)
    return float(start_lr) + (float(target_lr) - float(start_lr)) * step / warmup_steps


def adascale_gain(grad_sq: float, trace_cov: float, scale: float, base_batch: float = 1) -> float:
    """AdaScale's gain ratio r in [1, S] for a batch ``scale`` times ``base_batch``.

    ``grad_sq`` is |G|^2 (AdaScale's mu^2) and ``trace_cov`` the per-example tr(Sigma), as
    :class:`~hpo.batch_size.GradientNoiseScale` estimates them; the variance of the base batch's
    gradient is sigma^2 = tr(Sigma) / base_batch and r = (sigma^2 + mu^2) / (sigma^2/S + mu^2)
    (Johnson et al. 2020, eq. 5). Negative estimates are clamped to 0 as AdaScale does; with both
    zero the gain is 1. Equivalently r = S (B_noise + B_0) / (B_noise + S B_0).
    """
    s = _pos(scale, "scale")
    if s < 1:
        raise ValueError(f"scale must be >= 1 (batch / base batch), got {scale!r}")
    b0 = _pos(base_batch, "base_batch")
    var = float(trace_cov)
    sq = float(grad_sq)
    if not (math.isfinite(var) and math.isfinite(sq)):
        raise ValueError("grad_sq and trace_cov must be finite")
    var, sq = max(var, 0.0) / b0, max(sq, 0.0)
    if var + sq == 0:
        return 1.0
    return (var + sq) / (var / s + sq)


def scale_beta2(beta2: float, base_batch: float, new_batch: float) -> float:
    """Adam's beta2 for ``new_batch`` keeping its half-life in examples fixed.

    The half-life in steps is ln(1/2)/ln(beta2); in examples it is that times the batch size, so
    beta2' = beta2^(new_batch / base_batch) (Marek et al. 2025, Sec. 4).
    """
    b2 = float(beta2)
    if not 0.0 < b2 < 1.0:
        raise ValueError(f"beta2 must be in (0, 1), got {beta2!r}")
    k = _pos(new_batch, "new_batch") / _pos(base_batch, "base_batch")
    return b2**k


def adamw_timescale(
    batch_size: float, lr: float, weight_decay: float, dataset_size: float
) -> float:
    """AdamW's EMA timescale as a fraction of training: tau = B / (eta * lambda * D).

    AdamW's decoupled decay makes the weights an EMA of updates with per-step rate eta*lambda,
    i.e. 1/(eta*lambda) steps; with D/B steps in training that is B/(eta*lambda*D) of training
    (Power Lines, eq. 2). ``dataset_size`` and ``batch_size`` in the same unit (e.g. tokens).
    """
    return _pos(batch_size, "batch_size") / (
        _pos(lr, "lr") * _pos(weight_decay, "weight_decay") * _pos(dataset_size, "dataset_size")
    )


def weight_decay_for_timescale(
    tau: float, batch_size: float, lr: float, dataset_size: float
) -> float:
    """The weight decay lambda = B / (eta * tau * D) that gives AdamW timescale ``tau``.

    Power Lines finds the optimal tau nearly constant at fixed model and data size, so lambda
    should grow linearly with the batch size at a fixed learning rate.
    """
    return _pos(batch_size, "batch_size") / (
        _pos(lr, "lr") * _pos(tau, "tau") * _pos(dataset_size, "dataset_size")
    )


def statistical_efficiency(b_noise: float, base_batch: float, batch_size: float) -> float:
    """Pollux's statistical efficiency of ``batch_size`` relative to ``base_batch``.

    (B_noise + B_0) / (B_noise + B) (Qiao et al. 2021, OSDI, eq. 4 with phi = B_noise): the
    fraction of the base batch's per-example progress that each example of the larger batch
    makes. Equals 1 at the base batch.
    """
    phi = float(b_noise)
    if not math.isfinite(phi) or phi < 0:
        raise ValueError(f"b_noise must be finite and >= 0, got {b_noise!r}")
    return (phi + _pos(base_batch, "base_batch")) / (phi + _pos(batch_size, "batch_size"))
