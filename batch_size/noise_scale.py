"""Gradient noise scale: unbiased two-batch estimators, their EMA, and B_simple with an error bar.

McCandlish, Kaplan, Amodei et al. 2018, "An Empirical Model of Large-Batch Training"
(arXiv 1812.06162), Appendix A.1. A batch of B examples gives a gradient G_B with
E|G_B|^2 = |G|^2 + tr(Sigma)/B, where G is the true gradient and Sigma the per-example gradient
covariance. Two squared norms of the same step, at B_small < B_big, give the unbiased estimates

    |G|^2     ~ (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)
    tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1/B_small - 1/B_big)

Each estimate is noisy (|G|^2 may come out negative), so the ratio is never taken per step:
:class:`GradientNoiseScale` keeps separate exponential moving averages of the two and reports
B_simple = EMA[tr Sigma] / EMA[|G|^2] (a ratio of averages). Its uncertainty comes from the
weighted sample (co)variances of the per-step estimates, the EMA's effective number of samples
and the delta method for a ratio; it treats the observations as independent, which holds when the
parameters move little over the EMA's window.

Written here because no maintained package provides it (see docs/batch_size.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _as_float(x: Any, name: str) -> float:
    """A finite float from a Python number or a one-element tensor; ValueError otherwise."""
    try:
        v = float(x.item()) if hasattr(x, "item") else float(x)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name} must be a number or a one-element tensor, got {x!r}") from e
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def check_batch_sizes(small_batch: Any, big_batch: Any) -> tuple[float, float]:
    """Validates a (small, big) batch-size pair: both positive and finite, big > small."""
    b_small = _as_float(small_batch, "small_batch")
    b_big = _as_float(big_batch, "big_batch")
    if b_small <= 0 or b_big <= 0:
        raise ValueError(
            f"batch sizes must be positive, got small_batch={b_small:g}, big_batch={b_big:g}"
        )
    if b_big <= b_small:
        raise ValueError(
            f"big_batch ({b_big:g}) must be larger than small_batch ({b_small:g}): the estimator "
            "needs gradient norms at two different batch sizes"
        )
    return b_small, b_big


def estimate_from_norms(
    small_sq_norm: Any, small_batch: Any, big_sq_norm: Any, big_batch: Any
) -> tuple[Any, Any]:
    """Unbiased estimates ``(grad_sq, trace_cov)`` of |G|^2 and tr(Sigma) from one step.

    ``small_sq_norm`` is |G_small|^2, the squared norm of a gradient averaged over
    ``small_batch`` examples (or the mean of several such squared norms), ``big_sq_norm`` that of
    the gradient averaged over ``big_batch`` examples; McCandlish et al. 2018, eqs. A.2-A.3.
    Norms may be Python floats or tensors (then the results are tensors of the same shape and
    nothing is copied to the host besides the finiteness check). Raises ValueError on
    non-positive batch sizes, ``big_batch <= small_batch``, negative or non-finite norms.
    """
    b_small, b_big = check_batch_sizes(small_batch, big_batch)
    for name, v in (("small_sq_norm", small_sq_norm), ("big_sq_norm", big_sq_norm)):
        if hasattr(v, "isfinite"):
            import torch

            if not bool(torch.isfinite(v).all()):
                raise ValueError(f"{name} must be finite (NaN or inf found)")
            if bool((v < 0).any()):
                raise ValueError(f"{name} is a squared norm and cannot be negative")
        else:
            fv = _as_float(v, name)
            if fv < 0:
                raise ValueError(f"{name} is a squared norm and cannot be negative, got {fv:g}")
    grad_sq = (b_big * big_sq_norm - b_small * small_sq_norm) / (b_big - b_small)
    trace_cov = (small_sq_norm - big_sq_norm) / (1.0 / b_small - 1.0 / b_big)
    return grad_sq, trace_cov


@dataclass(frozen=True)
class NoiseScaleEstimate:
    """A snapshot of :class:`GradientNoiseScale`: point estimates and their standard errors."""

    b_simple: float
    b_simple_std: float
    grad_sq: float
    trace_cov: float
    observations: int
    effective_samples: float

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """Finite values as a flat dict (for reports): b_noise, b_noise_std, grad_sq, trace_cov."""
        out = {
            f"{prefix}b_noise": self.b_simple,
            f"{prefix}b_noise_std": self.b_simple_std,
            f"{prefix}grad_sq": self.grad_sq,
            f"{prefix}trace_cov": self.trace_cov,
        }
        return {k: v for k, v in out.items() if math.isfinite(v)}


class GradientNoiseScale:
    """Accumulates two-batch observations; exposes ``b_simple``, ``grad_sq``, ``trace_cov``.

    ``beta`` is the EMA decay per observation (0 < beta <= 1); ``beta=1`` weighs all observations
    equally (a running mean). The averages are bias-corrected (divided by 1 - beta^t), so the
    first observation is not shrunk towards zero; the correction cancels in B_simple.

    ``b_simple`` is NaN before any observation, +inf while the averaged |G|^2 is not positive
    (the gradient is not yet distinguishable from noise) and 0 when the averaged tr(Sigma) is not
    positive. ``b_simple_std`` is the delta-method standard error (NaN with fewer than 2
    observations).
    """

    def __init__(self, beta: float = 0.99) -> None:
        if not (0.0 < beta <= 1.0) or not math.isfinite(beta):
            raise ValueError(f"beta must be in (0, 1], got {beta!r}")
        self.beta = float(beta)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        # Unnormalized EMA sums: sum_i w_i x_i for x in (g, s, g^2, s^2, g*s), and sum_i w_i,
        # sum_i w_i^2 for the bias correction and the effective sample size.
        self._m = [0.0, 0.0, 0.0, 0.0, 0.0]
        self._w1 = 0.0
        self._w2 = 0.0

    # ---- observations ------------------------------------------------------------------------
    def update(
        self, small_sq_norm: Any, small_batch: Any, big_sq_norm: Any, big_batch: Any
    ) -> tuple[float, float]:
        """Adds one step's two squared norms; returns that step's (grad_sq, trace_cov)."""
        g, s = estimate_from_norms(small_sq_norm, small_batch, big_sq_norm, big_batch)
        g, s = _as_float(g, "grad_sq"), _as_float(s, "trace_cov")
        self.update_estimates(g, s)
        return g, s

    def update_estimates(self, grad_sq: float, trace_cov: float) -> None:
        """Adds one step's unbiased estimates directly (e.g. from per-example gradients)."""
        g, s = _as_float(grad_sq, "grad_sq"), _as_float(trace_cov, "trace_cov")
        if self.beta == 1.0:
            keep, w = 1.0, 1.0
        else:
            keep, w = self.beta, 1.0 - self.beta
        xs = (g, s, g * g, s * s, g * s)
        self._m = [keep * m + w * x for m, x in zip(self._m, xs, strict=True)]
        self._w1 = keep * self._w1 + w
        self._w2 = keep * keep * self._w2 + w * w
        self.count += 1

    # ---- estimates ---------------------------------------------------------------------------
    def _mean(self, i: int) -> float:
        return self._m[i] / self._w1 if self._w1 > 0 else math.nan

    @property
    def grad_sq(self) -> float:
        """The averaged estimate of |G|^2 (NaN before any observation)."""
        return self._mean(0)

    @property
    def trace_cov(self) -> float:
        """The averaged estimate of tr(Sigma) (NaN before any observation)."""
        return self._mean(1)

    @property
    def effective_samples(self) -> float:
        """Kish's effective sample size of the EMA weights, (sum w)^2 / sum w^2."""
        return self._w1 * self._w1 / self._w2 if self._w2 > 0 else 0.0

    @property
    def b_simple(self) -> float:
        """B_simple = tr(Sigma) / |G|^2 from the averaged estimates (McCandlish eq. 2.9)."""
        if self.count == 0:
            return math.nan
        g, s = self.grad_sq, self.trace_cov
        if s <= 0:
            return 0.0
        if g <= 0:
            return math.inf
        return s / g

    @property
    def b_simple_std(self) -> float:
        """Standard error of ``b_simple`` by the delta method for a ratio of two means."""
        n = self.effective_samples
        b = self.b_simple
        if self.count < 2 or n <= 1 or not math.isfinite(b) or b == 0:
            return math.nan
        g, s = self.grad_sq, self.trace_cov
        # Weighted sample (co)variances with the unbiased correction n / (n - 1).
        corr = n / (n - 1.0)
        var_g = max(self._mean(2) - g * g, 0.0) * corr
        var_s = max(self._mean(3) - s * s, 0.0) * corr
        cov = (self._mean(4) - g * s) * corr
        rel = var_s / (s * s) + var_g / (g * g) - 2.0 * cov / (s * g)
        return abs(b) * math.sqrt(max(rel, 0.0) / n)

    def estimate(self) -> NoiseScaleEstimate:
        return NoiseScaleEstimate(
            b_simple=self.b_simple,
            b_simple_std=self.b_simple_std,
            grad_sq=self.grad_sq,
            trace_cov=self.trace_cov,
            observations=self.count,
            effective_samples=self.effective_samples,
        )

    # ---- persistence (so a resumed trial keeps its measurement) ------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "count": self.count,
            "m": list(self._m),
            "w1": self._w1,
            "w2": self._w2,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.beta = float(state["beta"])
        self.count = int(state["count"])
        self._m = [float(x) for x in state["m"]]
        self._w1 = float(state["w1"])
        self._w2 = float(state["w2"])

    def __repr__(self) -> str:
        return (
            f"GradientNoiseScale(b_simple={self.b_simple:.4g} ± {self.b_simple_std:.2g}, "
            f"grad_sq={self.grad_sq:.4g}, trace_cov={self.trace_cov:.4g}, n={self.count})"
        )
