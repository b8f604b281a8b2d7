"""Critical batch size: from a sweep of fixed batch sizes, from the noise scale, and power laws.

* :func:`fit_critical_batch`: McCandlish et al. 2018 (arXiv 1812.06162), eq. 2.11: the steps S
  and examples E = B*S needed to reach a fixed target loss obey
  ``(S/S_min - 1)(E/E_min - 1) = 1``, i.e. ``S = S_min + E_min/B`` and ``E = E_min + S_min*B``:
  both are linear in the unknowns (S_min, E_min). We fit the two lines jointly by least squares
  on relative errors and report ``B_crit = E_min/S_min`` with standard errors, plus Zhang et al.
  2024's ("How Does Critical Batch Size Scale in Pre-training?", arXiv 2410.21676) B*: the batch
  size whose steps exceed perfect linear scaling from a reference batch B_0 by 20%.
* :func:`critical_batch_from_noise_scale`: McCandlish's empirical B_crit ~ B_noise (their Fig. 4
  and Section 3): a robust summary of the noise scale measured over training.
* :func:`fit_power_law` / :class:`PowerLaw`: B_opt and B_crit as power laws of the dataset size D
  (Bergsma et al. 2025, "Power Lines", arXiv 2505.13738; Zhang et al. 2024), fitted on
  log-log axes, with prediction intervals for extrapolation.

Pure Python (no numpy needed): the fits are 2x2 weighted least squares.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace


def _floats(xs: Sequence[float], name: str, *, positive: bool = True) -> list[float]:
    try:
        out = [float(x) for x in xs]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a sequence of numbers") from e
    for x in out:
        if not math.isfinite(x):
            raise ValueError(f"{name} must be finite, got {x}")
        if positive and x <= 0:
            raise ValueError(f"{name} must be positive, got {x:g}")
    return out


def _weighted_lstsq(
    rows: list[tuple[float, float]], ys: list[float], ws: list[float]
) -> tuple[float, float, list[list[float]], float]:
    """Solves min sum w (y - a*r0 - b*r1)^2; returns a, b, covariance of (a, b), residual var."""
    s00 = s01 = s11 = t0 = t1 = 0.0
    for (r0, r1), y, w in zip(rows, ys, ws, strict=True):
        s00 += w * r0 * r0
        s01 += w * r0 * r1
        s11 += w * r1 * r1
        t0 += w * r0 * y
        t1 += w * r1 * y
    det = s00 * s11 - s01 * s01
    if det <= 1e-300 * max(s00 * s11, 1e-300):
        raise ValueError("the fit is degenerate: give at least two distinct batch sizes")
    a = (s11 * t0 - s01 * t1) / det
    b = (s00 * t1 - s01 * t0) / det
    rss = sum(w * (y - a * r0 - b * r1) ** 2 for (r0, r1), y, w in zip(rows, ys, ws, strict=True))
    dof = len(ys) - 2
    sigma2 = rss / dof if dof > 0 else math.nan
    inv = [[s11 / det, -s01 / det], [-s01 / det, s00 / det]]
    cov = [[sigma2 * inv[i][j] for j in range(2)] for i in range(2)]
    return a, b, cov, sigma2


@dataclass(frozen=True)
class CriticalBatchFit:
    """Result of :func:`fit_critical_batch`. Errors are one standard error (NaN if not known)."""

    s_min: float
    e_min: float
    b_crit: float
    s_min_se: float
    e_min_se: float
    b_crit_se: float
    r2_steps: float
    r2_examples: float

    def steps(self, batch_size: float) -> float:
        """Predicted steps to target at ``batch_size``: S_min (1 + B_crit/B)."""
        return self.s_min + self.e_min / batch_size

    def examples(self, batch_size: float) -> float:
        """Predicted examples to target at ``batch_size``: E_min (1 + B/B_crit)."""
        return self.e_min + self.s_min * batch_size

    def b_star(self, reference_batch: float, overhead: float = 0.2) -> float:
        """Zhang et al. 2024's critical batch: steps exceed linear scaling by ``overhead``.

        Linear scaling from B_0 predicts S(B_0) B_0 / B steps; on S = S_min + E_min/B the excess
        S(B) / (S(B_0) B_0/B) = (B + B_crit) / (B_0 + B_crit) equals 1 + overhead at
        B* = (1 + overhead)(B_0 + B_crit) - B_crit (~ overhead * B_crit when B_0 << B_crit).
        """
        if reference_batch <= 0 or overhead <= 0:
            raise ValueError("reference_batch and overhead must be positive")
        return (1.0 + overhead) * (reference_batch + self.b_crit) - self.b_crit

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def fit_critical_batch(
    batch_sizes: Sequence[float],
    steps_to_target: Sequence[float],
    examples_to_target: Sequence[float] | None = None,
) -> CriticalBatchFit:
    """Fits S_min, E_min and B_crit = E_min/S_min to a sweep of fixed batch sizes.

    ``steps_to_target[i]`` and ``examples_to_target[i]`` are the optimizer steps and the training
    examples that batch size ``batch_sizes[i]`` needed to reach the target (examples default to
    B*S). Each point contributes two equations, S = S_min + E_min/B and E = E_min + S_min B, with
    weights 1/S^2 and 1/E^2 so that both are fitted in relative terms; the standard errors come
    from the residuals and, for B_crit, the delta method. Needs two or more distinct batch sizes.
    """
    bs = _floats(batch_sizes, "batch_sizes")
    ss = _floats(steps_to_target, "steps_to_target")
    if len(bs) != len(ss):
        raise ValueError(
            f"batch_sizes and steps_to_target differ in length ({len(bs)} != {len(ss)})"
        )
    if examples_to_target is None:
        es = [b * s for b, s in zip(bs, ss, strict=True)]
    else:
        es = _floats(examples_to_target, "examples_to_target")
        if len(es) != len(bs):
            raise ValueError(
                f"batch_sizes and examples_to_target differ in length ({len(bs)} != {len(es)})"
            )
    if len(set(bs)) < 2:
        raise ValueError("need at least two distinct batch sizes to fit the critical batch size")
    rows: list[tuple[float, float]] = []
    ys: list[float] = []
    ws: list[float] = []
    for b, s, e in zip(bs, ss, es, strict=True):
        rows.append((1.0, 1.0 / b))  # S = S_min * 1 + E_min * (1/B)
        ys.append(s)
        ws.append(1.0 / (s * s))
        rows.append((b, 1.0))  # E = S_min * B + E_min * 1
        ys.append(e)
        ws.append(1.0 / (e * e))
    s_min, e_min, cov, _ = _weighted_lstsq(rows, ys, ws)
    if s_min <= 0 or e_min <= 0:
        raise ValueError(
            f"the sweep does not follow S = S_min (1 + B_crit/B) (fitted S_min={s_min:.4g}, "
            f"E_min={e_min:.4g}); check that every run reached the same target"
        )
    b_crit = e_min / s_min
    var_b = b_crit**2 * (
        cov[1][1] / e_min**2 + cov[0][0] / s_min**2 - 2.0 * cov[0][1] / (e_min * s_min)
    )
    fit = CriticalBatchFit(
        s_min=s_min,
        e_min=e_min,
        b_crit=b_crit,
        s_min_se=math.sqrt(cov[0][0]) if cov[0][0] >= 0 else math.nan,
        e_min_se=math.sqrt(cov[1][1]) if cov[1][1] >= 0 else math.nan,
        b_crit_se=math.sqrt(var_b) if var_b >= 0 else math.nan,
        r2_steps=math.nan,
        r2_examples=math.nan,
    )
    r2_s = _r2(ss, [fit.steps(b) for b in bs])
    r2_e = _r2(es, [fit.examples(b) for b in bs])
    return replace(fit, r2_steps=r2_s, r2_examples=r2_e)


def _r2(ys: list[float], preds: list[float]) -> float:
    """Coefficient of determination on log values (the points span orders of magnitude)."""
    ly = [math.log(y) for y in ys]
    lp = [math.log(max(p, 1e-300)) for p in preds]
    mean = sum(ly) / len(ly)
    tot = sum((y - mean) ** 2 for y in ly)
    res = sum((y - p) ** 2 for y, p in zip(ly, lp, strict=True))
    return 1.0 - res / tot if tot > 0 else math.nan


def critical_batch_from_noise_scale(
    b_noise: Sequence[float], *, skip_fraction: float = 0.1
) -> tuple[float, float]:
    """B_crit from the noise scale measured over training: (median, interquartile range / 2).

    McCandlish et al. 2018 find B_crit ~ B_noise (B_simple within a small factor) and both grow
    as the loss falls; the first ``skip_fraction`` of the series (before the estimate settles)
    is dropped and the median of the rest returned with half its interquartile range, which
    ignores the spikes a few noisy steps cause. Non-finite values are ignored.
    """
    if not 0 <= skip_fraction < 1:
        raise ValueError(f"skip_fraction must be in [0, 1), got {skip_fraction}")
    vals = [float(v) for v in b_noise]
    vals = vals[int(len(vals) * skip_fraction) :]
    vals = sorted(v for v in vals if math.isfinite(v))
    if not vals:
        raise ValueError("no finite noise-scale values to summarise")

    def q(p: float) -> float:
        x = p * (len(vals) - 1)
        lo = math.floor(x)
        hi = min(lo + 1, len(vals) - 1)
        return vals[lo] + (vals[hi] - vals[lo]) * (x - lo)

    return q(0.5), (q(0.75) - q(0.25)) / 2.0


@dataclass(frozen=True)
class PowerLaw:
    """y = coef * x^exponent, fitted on log-log axes (natural logs)."""

    coef: float
    exponent: float
    exponent_se: float
    log_coef_se: float
    residual_std: float  # of log y
    n: int
    mean_log_x: float
    sxx: float  # sum (log x - mean)^2

    def __call__(self, x: float) -> float:
        return self.coef * float(x) ** self.exponent

    def interval(self, x: float, level: float = 0.95) -> tuple[float, float]:
        """A prediction interval for y at x at confidence ``level`` (Student t on log y).

        Widens with the distance of log x from the fitted range: extrapolate with care.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        lx = math.log(float(x))
        if self.n <= 2 or not math.isfinite(self.residual_std):
            return (math.nan, math.nan)
        se = self.residual_std * math.sqrt(
            1.0 + 1.0 / self.n + (lx - self.mean_log_x) ** 2 / self.sxx
        )
        q = _t_quantile(0.5 + level / 2, self.n - 2)
        centre = math.log(self(x))
        return math.exp(centre - q * se), math.exp(centre + q * se)


def _t_quantile(p: float, dof: int) -> float:
    """Student t quantile by the Cornish-Fisher expansion around the normal (Abramowitz &
    Stegun 26.7.5); within 4% of the exact value for dof >= 3, exact as dof grows."""
    z = statistics.NormalDist().inv_cdf(p)
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


def fit_power_law(xs: Sequence[float], ys: Sequence[float]) -> PowerLaw:
    """Least-squares fit of log y = log coef + exponent * log x (two or more distinct x)."""
    lx = [math.log(v) for v in _floats(xs, "xs")]
    ly = [math.log(v) for v in _floats(ys, "ys")]
    if len(lx) != len(ly):
        raise ValueError(f"xs and ys differ in length ({len(lx)} != {len(ly)})")
    rows = [(1.0, v) for v in lx]
    log_c, k, cov, sigma2 = _weighted_lstsq(rows, ly, [1.0] * len(ly))
    mean = sum(lx) / len(lx)
    return PowerLaw(
        coef=math.exp(log_c),
        exponent=k,
        exponent_se=math.sqrt(cov[1][1]) if cov[1][1] >= 0 else math.nan,
        log_coef_se=math.sqrt(cov[0][0]) if cov[0][0] >= 0 else math.nan,
        residual_std=math.sqrt(sigma2) if sigma2 >= 0 else math.nan,
        n=len(lx),
        mean_log_x=mean,
        sxx=sum((v - mean) ** 2 for v in lx),
    )


def extrapolate_batch_size(
    law: PowerLaw, dataset_size: float, *, level: float = 0.95
) -> tuple[float, float, float]:
    """(B, low, high): ``law`` evaluated at ``dataset_size`` with its prediction interval.

    Use with a :func:`fit_power_law` of B_opt or B_crit against dataset size (Power Lines:
    both follow D^a independently of model size) measured at small scale.
    """
    d = float(dataset_size)
    if not math.isfinite(d) or d <= 0:
        raise ValueError(f"dataset_size must be positive, got {dataset_size!r}")
    lo, hi = law.interval(d, level)
    return law(d), lo, hi
