"""Gaussian-process surrogates for Bayesian optimization, on BoTorch and GPyTorch.

What comes from BoTorch (not rewritten here):

* the models: ``SingleTaskGP`` with a Matérn-5/2 ARD kernel and BoTorch's dimension-scaled
  log-normal lengthscale prior (Hvarfner et al. 2024, ``get_covar_module_with_dim_scaled_prior``;
  or, with ``lengthscale_prior="gamma"``, BoTorch's earlier Gamma priors),
  or ``MixedSingleTaskGP`` (the same continuous kernel plus a categorical Hamming kernel) when the
  space has categorical parameters; ``Standardize`` on the outcome and BoTorch's default Gaussian
  likelihood with its noise prior (or, with ``noise_prior="none"``, without it);
* the fit: ``fit_gpytorch_mll`` (type-II maximum likelihood with L-BFGS-B);
* the acquisition: ``qLogNoisyExpectedImprovement`` (Ament et al. 2023, "Unexpected improvements
  to expected improvement"), whose ``X_pending`` fantasizes the outcomes of trials still running
  by joint posterior sampling, so nothing close to them scores well;
* the acquisition optimizers: ``optimize_acqf`` for continuous spaces and
  ``optimize_acqf_mixed_alternating`` when categoricals are present, both with
  ``fixed_features`` to pin the fidelity input at its maximum (or, for MOBSTER with
  ``acquisition_fidelity="bohb"``, at a lower rung: ``FeatureMap.target_z``).

What is written here, and why:

* ``FeatureMap``: hpo's spaces to model inputs. Floats and ints use the unit-cube coordinate of
  ``hpo.space`` (so log scales are modelled in log space); integers are discrete dimensions whose
  allowed values are their bin centres; a categorical is one integer column holding the choice
  index (what ``MixedSingleTaskGP`` and the mixed optimizer expect). A multi-fidelity model gets
  one more input, ``z = log(r / r_min) / log(r_max / r_min)`` in [0, 1], as in MOBSTER
  (Klein et al. 2020), where the fidelity is a kernel input of one joint GP over
  (configuration, fidelity). Nothing in BoTorch knows hpo's space.
* ``HyperparameterSchedule``: fits must stay fast as a study grows, and decisions must be a
  function of the stored history (docs/design.md: a scheduler rebuilt from the history decides
  the same way). So hyperparameters are fitted only at *milestones* of the number of
  observations, ``m_k = ceil(first * growth**k)``, each fit on the first ``m_k`` observations in
  arrival order and warm-started from the hyperparameters of milestone ``k - 1``; between
  milestones the GP is only re-conditioned on all current data with the last milestone's
  hyperparameters (one Cholesky factorization, no optimization). A cached chain makes each new
  milestone one short warm-started fit; a fresh process recomputes the chain, whose cost is
  dominated by its last few fits (a geometric sum). BoTorch has no such schedule.
* ``subsample``: past ``max_points`` observations the exact GP's O(n^3) cost is capped by keeping
  the latest observation of each trial first (half the best, half the most recent when even those
  are too many), then other observations, highest fidelity and most recent first.
* ``_optimize_relaxed``: spaces of floats and integers only are optimized with the integers
  relaxed, then rounded and improved by a neighbour search on the integer lattice (about 0.6 s
  per proposal late in a digits-mlp MOBSTER run against 0.9 s for BoTorch's alternating mixed
  optimizer, which these spaces do not need).
* ``power_warp``: the output warping searchers apply before the GP (Box-Cox or Yeo-Johnson, the
  exponent by maximum likelihood within bounds, found by scipy's bounded scalar search). BoTorch's
  ``Power`` outcome transform takes a fixed exponent, and scikit-learn's ``PowerTransformer`` fits
  an unbounded one (a dependency BoTorch does not bring). The likelihood is written out in numpy
  because scipy's ``boxcox_llf`` costs about 1 ms a call; tests hold it to scipy's values.
* ``CostWeightedAcquisition``: log EI minus the predicted log cost, i.e. EI per unit cost
  (Snoek et al. 2012, "Practical Bayesian optimization", section 3.2), in log space so that it
  composes with log EI. BoTorch's ``InverseCostWeightedUtility`` targets knowledge-gradient
  style acquisitions, not log EI.

All tensors are float64 on the CPU. Shapes: ``X`` is ``n x d`` (features of ``FeatureMap``),
``y`` is ``n`` (maximized; searchers pass minus the score).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.space import Categorical, Config, Float, Int, SearchSpace

DTYPE_NAME = "float64"


def _torch():
    import torch

    return torch


# ---- features ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureMap:
    """Configurations (and fidelities) to model inputs, and back.

    Columns follow the space's parameter order; a multi-fidelity map adds the fidelity feature
    ``z`` as the last column. ``int_dims`` maps a column to its allowed values (bin centres),
    ``cat_dims`` to the choice indices ``0..k-1``.
    """

    space: SearchSpace
    fidelity: tuple[float, float] | None = None  # (r_min, r_max) for a multi-fidelity model
    # the fidelity feature where configurations without a fidelity are encoded and where the
    # acquisition is optimized: 1, the maximum, unless a searcher picks a lower rung
    target_z: float = 1.0

    @property
    def dim(self) -> int:
        return len(self.space) + (1 if self.fidelity is not None else 0)

    @property
    def fidelity_dim(self) -> int | None:
        return len(self.space) if self.fidelity is not None else None

    @property
    def int_dims(self) -> dict[int, list[float]]:
        out = {}
        for j, dom in enumerate(self.space.params.values()):
            if isinstance(dom, Int):
                out[j] = [dom.encode(v) for v in range(dom.low, dom.high + 1)]
        return out

    @property
    def cat_dims(self) -> dict[int, list[float]]:
        return {
            j: [float(i) for i in range(len(dom.choices))]
            for j, dom in enumerate(self.space.params.values())
            if isinstance(dom, Categorical)
        }

    def bounds(self) -> np.ndarray:
        """``2 x dim``: lower and upper bounds of every column."""
        lo, hi = np.zeros(self.dim), np.ones(self.dim)
        for j, vals in self.int_dims.items():
            lo[j], hi[j] = min(vals), max(vals)
        for j, vals in self.cat_dims.items():
            hi[j] = vals[-1]
        return np.stack([lo, hi])

    def z(self, r: float) -> float:
        """The fidelity feature of resource ``r``: its position in [r_min, r_max] in log scale."""
        assert self.fidelity is not None
        lo, hi = self.fidelity
        if hi <= lo:
            return 1.0
        return float(min(max(math.log(r / lo) / math.log(hi / lo), 0.0), 1.0))

    def encode(
        self, configs: Sequence[Mapping[str, Any]], fidelities: Sequence[float] | None = None
    ) -> np.ndarray:
        """``n x dim`` inputs; ``fidelities`` default to ``target_z`` (1: the maximum)."""
        out = np.empty((len(configs), self.dim))
        doms = list(self.space.params.items())
        for i, c in enumerate(configs):
            for j, (name, dom) in enumerate(doms):
                out[i, j] = (
                    dom.index(c[name]) if isinstance(dom, Categorical) else dom.encode(c[name])
                )
            if self.fidelity is not None:
                out[i, -1] = self.target_z if fidelities is None else self.z(fidelities[i])
        return out

    def decode(self, x: Sequence[float] | np.ndarray) -> Config:
        """One row of inputs to a valid configuration (ints rounded, categories picked)."""
        out: Config = {}
        for j, (name, dom) in enumerate(self.space.params.items()):
            u = float(x[j])
            if isinstance(dom, Categorical):
                k = len(dom.choices)
                out[name] = dom.choices[min(max(int(round(u)), 0), k - 1)]
            else:
                assert isinstance(dom, (Float, Int))
                out[name] = dom.decode(u)
        return out


# ---- the model ----------------------------------------------------------------------------------

Hyperparameters = dict[str, Any]  # parameter name -> tensor (raw, unconstrained values)
NOISE_FLOOR = 1e-4  # least GP noise variance (standardized outputs): BoTorch's default
# the Matérn lengthscale priors a GPSurrogate takes: "dim_scaled", BoTorch's default since 0.12,
# LogNormal(sqrt(2) + log(d) / 2, sqrt(3)) (Hvarfner et al. 2024, "Vanilla Bayesian optimization
# performs great in high dimensions", eq. 7), whose median lengthscale grows with the dimension
# d; "gamma", BoTorch's earlier Gamma(3, 6) lengthscale prior (mode 1/3 of the unit cube) with a
# Gamma(2, 0.15) output scale, shorter and the same in every dimension
LENGTHSCALE_PRIORS = ("dim_scaled", "gamma")
# the noise-variance priors a GPSurrogate takes: "lognormal", BoTorch's default LogNormal(-4, 1)
# on the standardized scale (Hvarfner et al. 2024; its mode exp(-5) is about 0.0067, so an
# exactly deterministic objective is fitted with more noise than it has unless its data overrule
# the prior); "none", no prior, the noise variance a maximum-likelihood estimate bounded below
# by the noise floor only
NOISE_PRIORS = ("lognormal", "none")


class GPSurrogate:
    """An exact GP on ``FeatureMap`` inputs: Matérn-5/2 ARD (plus a categorical kernel).

    ``fit(X, y)`` builds the BoTorch model and, unless ``optimize=False``, fits its
    hyperparameters by maximum marginal likelihood, starting from ``warm_start`` when given
    (then with a quarter of the iterations: the start is already close).
    ``posterior(X)`` returns the mean and variance of the latent function, shape ``n`` each.
    """

    def __init__(
        self,
        cat_dims: Sequence[int] = (),
        max_iter: int = 100,
        noise_floor: float = NOISE_FLOOR,
        lengthscale_prior: str = "dim_scaled",
        noise_prior: str = "lognormal",
    ):
        for name, value, choices in (
            ("lengthscale_prior", lengthscale_prior, LENGTHSCALE_PRIORS),
            ("noise_prior", noise_prior, NOISE_PRIORS),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
        self.cat_dims = sorted(cat_dims)
        self.max_iter = max_iter
        self.noise_floor = noise_floor
        self.lengthscale_prior = lengthscale_prior
        self.noise_prior = noise_prior
        self.model: Any = None

    def _matern(self, batch_shape: Any, ard_num_dims: int, active_dims: Any = None) -> Any:
        """The Matérn-5/2 ARD kernel with ``lengthscale_prior`` (scaled for ``gamma``; the
        dimension-scaled prior comes without an output scale). Its signature is the one
        ``MixedSingleTaskGP`` calls its ``cont_kernel_factory`` with."""
        from botorch.models.utils.gpytorch_modules import (
            get_covar_module_with_dim_scaled_prior,
        )

        if self.lengthscale_prior == "dim_scaled":
            return get_covar_module_with_dim_scaled_prior(
                ard_num_dims=ard_num_dims,
                batch_shape=batch_shape,
                active_dims=active_dims,
                use_rbf_kernel=False,
            )
        import torch
        from gpytorch.kernels import MaternKernel, ScaleKernel
        from gpytorch.priors import GammaPrior

        shape = torch.Size() if batch_shape is None else batch_shape
        return ScaleKernel(
            MaternKernel(
                nu=2.5,
                ard_num_dims=ard_num_dims,
                batch_shape=shape,
                active_dims=active_dims,
                lengthscale_prior=GammaPrior(3.0, 6.0),
            ),
            batch_shape=shape,
            outputscale_prior=GammaPrior(2.0, 0.15),
        )

    def _likelihood(self) -> Any:
        """BoTorch's default likelihood (LogNormal(-4, 1) noise prior, Hvarfner et al. 2024), or
        with ``noise_prior="none"`` the same without a prior, with ``noise_floor`` as the least
        noise variance (standardized units) instead of its 1e-4. Both start the noise at the
        prior's mode, so the two fits differ only by the prior's term in the objective."""
        from gpytorch.constraints import GreaterThan
        from gpytorch.likelihoods import GaussianLikelihood
        from gpytorch.priors import LogNormalPrior

        prior = LogNormalPrior(loc=-4.0, scale=1.0)
        return GaussianLikelihood(
            noise_prior=prior if self.noise_prior == "lognormal" else None,
            noise_constraint=GreaterThan(
                self.noise_floor, transform=None, initial_value=prior.mode
            ),
        )

    def _build(self, X: Any, Y: Any) -> Any:
        from botorch.models import MixedSingleTaskGP, SingleTaskGP

        if self.cat_dims:
            return MixedSingleTaskGP(
                X,
                Y,
                cat_dims=self.cat_dims,
                cont_kernel_factory=self._matern,
                likelihood=self._likelihood(),
            )
        covar = self._matern(None, X.shape[-1])
        return SingleTaskGP(X, Y, covar_module=covar, likelihood=self._likelihood())

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        warm_start: Hyperparameters | None = None,
        optimize: bool = True,
    ) -> GPSurrogate:
        torch = _torch()
        Xt = torch.as_tensor(np.asarray(X, dtype=float), dtype=torch.float64)
        Yt = torch.as_tensor(np.asarray(y, dtype=float), dtype=torch.float64).reshape(-1, 1)
        self.model = self._build(Xt, Yt)
        if warm_start:
            self.set_hyperparameters(warm_start)
        if optimize:
            from botorch.fit import fit_gpytorch_mll
            from gpytorch.mlls import ExactMarginalLogLikelihood

            mll = ExactMarginalLogLikelihood(self.model.likelihood, self.model)
            maxiter = self.max_iter if not warm_start else max(self.max_iter // 4, 10)
            try:
                fit_gpytorch_mll(
                    mll, optimizer_kwargs={"options": {"maxiter": maxiter}}, max_attempts=2
                )
            except Exception:  # noqa: BLE001 - a failed fit keeps the starting hyperparameters
                import logging

                logging.getLogger(__name__).warning("GP fit failed; keeping its start", exc_info=1)
        self.model.eval()
        return self

    def hyperparameters(self) -> Hyperparameters:
        """The fitted (raw) hyperparameters, to warm-start another fit."""
        return {n: p.detach().clone() for n, p in self.model.named_parameters()}

    def set_hyperparameters(self, hp: Hyperparameters) -> None:
        """Copies matching raw parameters (same name and shape) into the model."""
        torch = _torch()
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                v = hp.get(n)
                if v is not None and tuple(v.shape) == tuple(p.shape):
                    p.copy_(v)

    def set_kernel(self, lengthscale: Sequence[float], noise: float) -> None:
        """Fixes the Matérn lengthscales and the noise variance (in standardized units).

        For tests against a closed-form GP; only for the continuous model (no categoricals).
        """
        torch = _torch()
        kernel = getattr(self.model.covar_module, "base_kernel", self.model.covar_module)
        kernel.lengthscale = torch.as_tensor([list(lengthscale)], dtype=torch.float64)
        self.model.likelihood.noise = torch.as_tensor([noise], dtype=torch.float64)
        self.model.eval()

    def posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        Xt = torch.as_tensor(np.asarray(X, dtype=float), dtype=torch.float64)
        with torch.no_grad():
            post = self.model.posterior(Xt)
        return post.mean.squeeze(-1).numpy(), post.variance.squeeze(-1).numpy()

    def held_out_means(self, blocks: Sequence[Sequence[int]], at: Sequence[int]) -> np.ndarray:
        """For each block of training rows, the posterior mean at row ``at[i]`` (one of the
        block's) of the GP conditioned on every training row but that block, with the fitted
        hyperparameters kept; in the model's standardized output units (an order, as
        ``posterior`` is up to the outcome transform).

        Closed form, one inverse for all blocks: with ``A = (K + s2 I)^-1`` and
        ``a = A (y - m)``, the held-out means of block ``B`` are ``y_B - (A_BB)^-1 a_B``
        (Rasmussen & Williams 2006, eq. 5.12, for a block instead of one row). Written by hand:
        BoTorch and gpytorch offer leave-one-out only as a training loss.
        """
        torch = _torch()
        m = self.model
        X = m.train_inputs[0]
        y = m.train_targets
        with torch.no_grad():
            K = m.covar_module(X).to_dense()
            noise = m.likelihood.noise.reshape(-1)
            K = K + torch.diag(noise.expand(K.shape[-1]))
            mean = m.mean_module(X)
            A = torch.cholesky_inverse(torch.linalg.cholesky(K))
            a = A @ (y - mean)
        out = np.empty(len(blocks))
        for i, (block, row) in enumerate(zip(blocks, at, strict=True)):
            b = torch.as_tensor(list(block), dtype=torch.long)
            shift = torch.linalg.solve(A[b][:, b], a[b])
            out[i] = float(y[row] - shift[list(block).index(row)])
        return out


# ---- output warping ----------------------------------------------------------------------------

WARP_LAMBDA = (-1.0, 1.0)  # the power transform's exponent range: never convex in the score


def _power(x: np.ndarray, lmb: float, yeo_johnson: bool) -> np.ndarray:
    """Box-Cox ``(x**lmb - 1) / lmb`` (``log x`` at 0) of positive ``x``, or Yeo-Johnson: Box-Cox
    of ``x + 1`` where ``x >= 0`` and minus Box-Cox at ``2 - lmb`` of ``1 - x`` elsewhere."""

    def box_cox(log_x: np.ndarray, lam: float) -> np.ndarray:
        return log_x if abs(lam) < 1e-12 else np.expm1(lam * log_x) / lam

    if not yeo_johnson:
        return box_cox(np.log(x), lmb)
    pos = x >= 0
    out = np.empty_like(x)
    out[pos] = box_cox(np.log1p(x[pos]), lmb)
    out[~pos] = -box_cox(np.log1p(-x[~pos]), 2.0 - lmb)
    return out


def _log_jacobian_sum(x: np.ndarray, yeo_johnson: bool) -> float:
    """The sum of the log-Jacobian terms of ``_power_llf``, without its factor ``lmb - 1``."""
    jac = np.sign(x) * np.log1p(np.abs(x)) if yeo_johnson else np.log(x)
    return float(jac.sum())


def _power_llf(x: np.ndarray, lmb: float, yeo_johnson: bool, jac_sum: float | None = None) -> float:
    """The Gaussian profile log-likelihood of ``lmb`` (Box and Cox 1964, eq. 8; Yeo and Johnson
    2000, section 3): ``(lmb - 1) * sum(log |dx'/dx| terms) - n/2 * log(var of the transform)``.
    The same values as scipy's ``boxcox_llf`` / ``yeojohnson_llf``, which cost about 1 ms a call
    here against 30 us for these lines (the exponent search makes some 15 calls per proposal).
    ``jac_sum``: ``_log_jacobian_sum(x, yeo_johnson)``, the same for every ``lmb``."""
    if jac_sum is None:
        jac_sum = _log_jacobian_sum(x, yeo_johnson)
    var = float(np.var(_power(x, lmb, yeo_johnson)))
    if not var > 0 or not np.isfinite(var):
        return -math.inf
    return (lmb - 1.0) * jac_sum - 0.5 * x.size * math.log(var)


def power_warp(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Lower-is-better ``scores`` through a monotone power transform fitted by maximum likelihood.

    Box-Cox (Box and Cox 1964) when every score is positive, else Yeo-Johnson (Yeo and Johnson
    2000) on the standardized scores, with the exponent that maximizes the Gaussian profile
    log-likelihood (``_power_llf``, scipy's bounded scalar search) within ``WARP_LAMBDA``. HEBO
    (Cowen-Rivers et al. 2022, section 4.1) warps outputs this way before its GP; the upper bound
    1 is ours: an exponent above 1 would compress the good tail of a minimized score (the region
    BO must resolve) to spread its bad tail, so a score whose good values are the long tail is
    left as it is, while a long tail of bad values (diverged trainings, losses in the thousands
    next to losses of 0.06) is pulled in, instead of flattening every other result to one value
    after standardization. Fewer than 3 scores, a constant or a non-finite one: unchanged.
    """
    from scipy import optimize

    s = np.asarray(scores, dtype=float)
    if s.size < 3 or not np.all(np.isfinite(s)) or np.ptp(s) == 0:
        return s
    yj = bool(s.min() <= 0)
    data = (s - s.mean()) / s.std() if yj else s
    lo, hi = WARP_LAMBDA
    jac_sum = _log_jacobian_sum(data, yj)
    res = optimize.minimize_scalar(
        lambda lmb: -_power_llf(data, lmb, yj, jac_sum),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-4},
    )
    # the bounded search never evaluates the end points themselves (the upper one is the identity)
    lmb = max((lo, hi, float(res.x)), key=lambda x: _power_llf(data, x, yj, jac_sum))
    return _power(data, lmb, yj)


# ---- fast fits ---------------------------------------------------------------------------------


def subsample(
    n: int,
    latest: Sequence[bool],
    fidelity: Sequence[float],
    score: Sequence[float],
    order: Sequence[Any],
    max_points: int,
) -> list[int]:
    """Indices of at most ``max_points`` of ``n`` observations to train on, sorted ascending.

    ``latest[i]`` marks the latest observation of its trial, ``score`` is lower-is-better and
    ``order`` sorts by arrival. Latest-per-trial observations come first (when even they are too
    many: the best half by (fidelity desc, score), then the most recent); the rest fill up by
    fidelity and recency.
    """
    if n <= max_points:
        return list(range(n))
    lat = [i for i in range(n) if latest[i]]
    other = [i for i in range(n) if not latest[i]]
    if len(lat) >= max_points:
        best = sorted(lat, key=lambda i: (-fidelity[i], score[i], order[i]))[: max_points // 2]
        chosen = set(best)
        recent = [i for i in sorted(lat, key=lambda i: order[i], reverse=True) if i not in chosen]
        chosen.update(recent[: max_points - len(chosen)])
        return sorted(chosen)
    rest = sorted(other, key=lambda i: (-fidelity[i], _neg(order[i])))
    return sorted(lat + rest[: max_points - len(lat)])


def _neg(order: Any) -> Any:
    return tuple(-x for x in order) if isinstance(order, tuple) else -order


def _digest(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(X, dtype=float).tobytes())
    h.update(np.ascontiguousarray(y, dtype=float).tobytes())
    return h.hexdigest()


class HyperparameterSchedule:
    """Hyperparameters fitted at milestones ``ceil(first * growth**k)`` of the data size.

    ``for_size(n, data_at, surrogate_factory)`` returns the hyperparameters of the largest
    milestone ``<= n``: the chain of fits on ``data_at(m)`` (the first ``m`` observations,
    subsampled), each warm-started from the one before. Results are cached by (milestone, data
    digest), so a changed prefix is refitted and a replay gets the same numbers. A caller that
    can name each prefix more cheaply than by its data passes ``prefix_keys`` (``prefix_keys[m -
    1]`` names the first ``m``; equal keys for equal data, like the digest): then ``data_at`` is
    called only for milestones not fitted yet.
    """

    def __init__(self, first: int = 4, growth: float = 1.25, keep: int = 64):
        if growth <= 1:
            raise ValueError("growth must be > 1")
        self.first = first
        self.growth = growth
        self.keep = keep
        self._cache: dict[tuple[int, str], Hyperparameters] = {}
        self.fits = 0  # fits run (for tests and benchmarks)

    def milestones(self, n: int) -> list[int]:
        out: list[int] = []
        k = 0
        while True:
            m = math.ceil(self.first * self.growth**k - 1e-9)
            if m > n:
                return out
            if not out or m > out[-1]:
                out.append(m)
            k += 1

    def for_size(
        self,
        n: int,
        data_at: Callable[[int], tuple[np.ndarray, np.ndarray]],
        surrogate_factory: Callable[[], GPSurrogate],
        seed: int = 0,
        prefix_keys: Sequence[Hashable] | None = None,
    ) -> Hyperparameters | None:
        torch = _torch()
        hp: Hyperparameters | None = None
        for m in self.milestones(n):
            if prefix_keys is None:
                X, y = data_at(m)
                key: tuple[int, Hashable] = (m, _digest(X, y))
            else:
                key = (m, prefix_keys[m - 1])
            cached = self._cache.get(key)
            if cached is not None:
                hp = cached
                continue
            if prefix_keys is not None:
                X, y = data_at(m)
            with torch.random.fork_rng():
                torch.manual_seed(seed * 1_000_003 + m)
                hp = surrogate_factory().fit(X, y, warm_start=hp).hyperparameters()
            self.fits += 1
            self._cache[key] = hp
            if len(self._cache) > self.keep:
                self._cache.pop(next(iter(self._cache)))
        return hp


# ---- acquisition -------------------------------------------------------------------------------


def _cost_weighted_class():
    from botorch.acquisition import AcquisitionFunction

    class CostWeightedAcquisition(AcquisitionFunction):
        """``log EI(x) - exponent * E[log cost(x)]``: log of EI per unit of predicted cost.

        ``acq`` returns log EI for ``b x q x d`` inputs (shape ``b``); ``cost_model`` predicts
        the log cost from the columns ``cost_columns`` of ``x``; the q points' costs add up.
        """

        def __init__(self, acq, cost_model, cost_columns: Sequence[int], exponent: float = 1.0):
            super().__init__(model=acq.model)
            self.acq = acq
            self.cost_model = cost_model
            self.cost_columns = list(cost_columns)
            self.exponent = exponent

        # what BoTorch's sample_around_best reads from the acquisition (the evaluated points,
        # how outputs make the objective, the constraints), passed on from the wrapped one
        @property
        def X_baseline(self):
            return self.acq.X_baseline

        @property
        def objective(self):
            return getattr(self.acq, "objective", None)

        @property
        def constraints(self):
            return getattr(self.acq, "constraints", None)

        def forward(self, X):
            log_cost = self.cost_model.posterior(X[..., self.cost_columns]).mean.squeeze(-1)
            return self.acq(X) - self.exponent * log_cost.sum(-1)

    return CostWeightedAcquisition


@dataclass(frozen=True)
class OutcomeConstraint:
    """Feasibility of one model output: ``direction * (y[column] - bound) / scale <= 0``.

    ``direction`` is +1 for ``metric <= bound`` and -1 for ``metric >= bound``; ``scale`` (the
    spread of the observed values) puts the slack in units where BoTorch's sigmoid temperature
    ``eta`` means the same for every metric.
    """

    column: int
    direction: float
    bound: float
    scale: float = 1.0

    def slack(self, Z: Any) -> Any:
        """BoTorch's constraint callable: ``sample x batch x q x m`` to ``sample x batch x q``,
        negative where feasible."""
        return self.direction * (Z[..., self.column] - self.bound) / self.scale


# BoTorch's temperature of the sigmoid feasibility indicator, in units of the constraint's slack
# divided by the spread of its observed values (OutcomeConstraint.scale)
CONSTRAINT_ETA = 1e-3


def _tensor(a: Any) -> Any:
    torch = _torch()
    return torch.as_tensor(np.asarray(a, dtype=float), dtype=torch.float64)


def _lbfgs(
    acq: Any,
    bounds: Any,
    fixed: Mapping[int, float] | None,
    raw_samples: int,
    num_restarts: int,
    *,
    retry: bool,
    best_only: bool,
) -> Any:
    """BoTorch's ``optimize_acqf`` (q = 1, 25 L-BFGS-B iterations, all restarts in one batch):
    the best point, or every restart's end point (``num_restarts x 1 x d``).

    The restarts start from the best of ``raw_samples`` Sobol points plus as many small
    perturbations (sigma 1e-3 of each range) of the best-predicted evaluated points (BoTorch's
    ``sample_around_best``): from Sobol points alone, no start lies close enough to the
    incumbent for L-BFGS-B to refine it, and late in a run the last digits of the optimum are
    missed (branin-mf, docs/benchmarks.md).
    """
    from botorch.optim import optimize_acqf

    x, _ = optimize_acqf(
        acq,
        bounds=bounds,
        q=1,
        num_restarts=num_restarts,
        raw_samples=raw_samples,
        fixed_features=fixed,
        return_best_only=best_only,
        retry_on_optimization_warning=retry,
        options={
            "maxiter": 25,
            "batch_limit": num_restarts,
            "init_batch_limit": raw_samples,
            "sample_around_best": True,
        },
    )
    return x


def _optimize(
    acq: Any, features: FeatureMap, *, raw_samples: int, num_restarts: int, retry: bool = True
) -> np.ndarray:
    """The row maximizing ``acq`` (q = 1) with the fidelity input fixed at ``target_z``.

    ``retry=False``: keep L-BFGS-B's best point when it stops abnormally (as it often does on
    the steep feasibility-weighted surfaces) instead of BoTorch's restart from new initial
    conditions, which doubles the cost for a point that is rarely better.
    """
    from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating

    bounds = _tensor(features.bounds())
    fixed = None if features.fidelity_dim is None else {features.fidelity_dim: features.target_z}
    int_dims, cat_dims = features.int_dims, features.cat_dims
    if int_dims and not cat_dims:
        return _optimize_relaxed(
            acq, bounds, fixed, int_dims, raw_samples=raw_samples, num_restarts=num_restarts
        )
    if cat_dims:
        x, _ = optimize_acqf_mixed_alternating(
            acq,
            bounds=bounds,
            discrete_dims=int_dims or None,
            cat_dims=cat_dims or None,
            raw_samples=raw_samples,
            num_restarts=num_restarts,
            fixed_features=fixed,
            options={"maxiter_alternating": 4, "maxiter_continuous": 25},
        )
    else:
        x = _lbfgs(acq, bounds, fixed, raw_samples, num_restarts, retry=retry, best_only=True)
    return x.detach().reshape(-1).numpy()


def _snap(X: Any, int_dims: Mapping[int, Sequence[float]]) -> Any:
    """``X`` with every integer column moved to its nearest allowed value."""
    torch = _torch()
    X = X.clone()
    for j, vals in int_dims.items():
        v = torch.as_tensor(vals, dtype=X.dtype)
        X[..., j] = v[(X[..., j : j + 1] - v).abs().argmin(-1)]
    return X


def _step(X: Any, j: int, vals: Sequence[float], step: int) -> Any:
    """``X`` (integer columns on their allowed values) with column ``j`` moved ``step`` allowed
    values up or down, clipped at the ends."""
    torch = _torch()
    v = torch.as_tensor(vals, dtype=X.dtype)
    idx = (X[..., j : j + 1] - v).abs().argmin(-1)
    X = X.clone()
    X[..., j] = v[(idx + step).clamp(0, len(vals) - 1)]
    return X


def _optimize_relaxed(
    acq: Any,
    bounds: Any,
    fixed: Mapping[int, float] | None,
    int_dims: Mapping[int, Sequence[float]],
    *,
    raw_samples: int,
    num_restarts: int,
    max_rounds: int = 4,
) -> np.ndarray:
    """Integer columns relaxed to intervals, then rounded and improved by a local search.

    L-BFGS-B maximizes ``acq`` over the box as if every integer were continuous (the GP is a
    smooth function of the integer's unit-cube coordinate, so the relaxation is the model's own
    interpolation); every restart's end point is rounded to the nearest allowed values; then, up to
    ``max_rounds`` times, each rounded point and its neighbours one allowed value up or down in
    each integer column are scored in one batch and the best is kept (a first-improvement hill
    climb over the integer lattice, as in Daulton et al. 2022, "Bayesian optimization over discrete
    and mixed spaces via probabilistic reparameterization", whose rounding baseline this is).
    BoTorch's ``optimize_acqf_mixed_alternating`` alternates full discrete and continuous steps
    from many starts (and retries from new initial conditions) and cost about 1.5x more per
    proposal late in a run on the 6-d tabular spaces, where proposals are counted in thousands.
    """
    torch = _torch()
    xs = _lbfgs(acq, bounds, fixed, raw_samples, num_restarts, retry=False, best_only=False)
    best = _snap(xs.detach().reshape(-1, xs.shape[-1]), int_dims)
    with torch.no_grad():
        score = acq(best.unsqueeze(1))
        for _ in range(max_rounds):
            moves = [_step(best, j, vals, s) for j, vals in int_dims.items() for s in (-1, 1)]
            cand = torch.cat(moves)
            cs = acq(cand.unsqueeze(1)).reshape(len(moves), -1)
            top, arg = cs.max(0)
            better = top > score
            if not bool(better.any()):
                break
            pick = cand.reshape(len(moves), *best.shape)[arg, torch.arange(len(best))]
            best = torch.where(better.unsqueeze(-1), pick, best)
            score = torch.where(better, top, score)
    return best[int(score.argmax())].reshape(-1).numpy()


def propose_log_ei(
    surrogate: GPSurrogate,
    features: FeatureMap,
    X_baseline: np.ndarray,
    X_pending: np.ndarray | None,
    *,
    seed: int,
    cost_model: GPSurrogate | None = None,
    raw_samples: int = 128,
    num_restarts: int = 2,
    mc_samples: int = 32,
) -> np.ndarray:
    """The input row maximizing qLogNEI (q = 1) at ``features.target_z`` (the maximum
    fidelity unless a searcher picks a lower rung), shape ``dim``.

    ``X_baseline`` (configurations already evaluated, fidelity column at ``target_z``) defines the
    incumbent; ``X_pending`` are the trials in flight, whose outcomes are fantasized. With a
    ``cost_model`` (inputs: the space's columns, output: log cost), the log cost is subtracted.
    """
    torch = _torch()
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.sampling import SobolQMCNormalSampler

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        acq = qLogNoisyExpectedImprovement(
            surrogate.model,
            X_baseline=_tensor(X_baseline),
            sampler=SobolQMCNormalSampler(torch.Size([mc_samples]), seed=seed),
            X_pending=None if X_pending is None or len(X_pending) == 0 else _tensor(X_pending),
            prune_baseline=True,
            cache_root=True,
        )
        if cost_model is not None:
            acq = _cost_weighted_class()(acq, cost_model.model, range(len(features.space)))
        return _optimize(acq, features, raw_samples=raw_samples, num_restarts=num_restarts)


def propose_model_list(
    surrogates: Sequence[GPSurrogate],
    features: FeatureMap,
    X_baseline: np.ndarray,
    X_pending: np.ndarray | None,
    *,
    n_objectives: int,
    constraints: Sequence[OutcomeConstraint] = (),
    ref_point: Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
    seed: int,
    cost_model: GPSurrogate | None = None,
    raw_samples: int = 128,
    num_restarts: int = 2,
    mc_samples: int = 32,
) -> np.ndarray:
    """The input row maximizing a constrained, multi-objective or ensemble log acquisition.

    The model is BoTorch's ``ModelListGP`` of ``surrogates``: outputs ``0..n_objectives-1`` are
    the objectives (maximized), the others are constraint metrics named by ``constraints``.

    * One objective: constrained ``qLogNoisyExpectedImprovement``. The improvement of each joint
      posterior sample is multiplied by a smoothed feasibility indicator of the constraints
      (the probability of feasibility, Gardner et al. 2014, "Bayesian optimization with
      inequality constraints"; in log space with the fat-tailed sigmoid of Ament et al. 2023),
      and the incumbent of each sample is its best *feasible* baseline value.
    * Several objectives: ``qLogNoisyExpectedHypervolumeImprovement`` (qNEHVI of Daulton et al.
      2021, "Parallel Bayesian optimization of multiple noisy objectives with expected
      hypervolume improvement", in the log form of Ament et al. 2023) with respect to
      ``ref_point`` (maximization space), with the same feasibility weighting; only feasible
      baseline samples enter the Pareto front.
    * ``weights`` (one objective, no constraints): the objective is the weighted sum of *all*
      outputs, ``sum_i w_i f_i(x)`` of independent GPs (Hyper-Tune's ensemble over fidelity
      levels, ``hpo.schedulers.hypertune``), whose joint posterior samples are the weighted sums
      of the outputs' joint samples; qLogNEI as above on that sum.

    ``X_pending`` (trials in flight) is fantasized jointly with the candidate: for qLogNEI as
    extra points of the q-batch, for qLogNEHVI by adding them to the baseline whose
    hypervolume the candidate must improve. With a ``cost_model`` the log cost is subtracted.
    """
    torch = _torch()
    from botorch.models import ModelListGP
    from botorch.sampling import SobolQMCNormalSampler

    model = ModelListGP(*[s.model for s in surrogates])
    model.eval()
    callables = [c.slack for c in constraints] or None
    pending = None if X_pending is None or len(X_pending) == 0 else _tensor(X_pending)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        sampler = SobolQMCNormalSampler(torch.Size([mc_samples]), seed=seed)
        if n_objectives == 1:
            from botorch.acquisition.logei import qLogNoisyExpectedImprovement
            from botorch.acquisition.objective import GenericMCObjective

            if weights is None:
                objective = GenericMCObjective(lambda Z, X=None: Z[..., 0])
            else:
                w = _tensor(weights)
                objective = GenericMCObjective(lambda Z, X=None: Z @ w)
            acq = qLogNoisyExpectedImprovement(
                model,
                X_baseline=_tensor(X_baseline),
                sampler=sampler,
                objective=objective,
                constraints=callables,
                eta=CONSTRAINT_ETA,
                X_pending=pending,
                prune_baseline=True,
                cache_root=True,
            )
        else:
            from botorch.acquisition.multi_objective.logei import (
                qLogNoisyExpectedHypervolumeImprovement,
            )
            from botorch.acquisition.multi_objective.objective import (
                IdentityMCMultiOutputObjective,
            )

            if ref_point is None:
                raise ValueError("several objectives need a reference point")
            acq = qLogNoisyExpectedHypervolumeImprovement(
                model,
                ref_point=list(ref_point),
                X_baseline=_tensor(X_baseline),
                sampler=sampler,
                objective=IdentityMCMultiOutputObjective(outcomes=list(range(n_objectives))),
                constraints=callables,
                eta=CONSTRAINT_ETA,
                X_pending=pending,
                prune_baseline=True,
                cache_root=True,
            )
        if cost_model is not None:
            acq = _cost_weighted_class()(acq, cost_model.model, range(len(features.space)))
        return _optimize(
            acq, features, raw_samples=raw_samples, num_restarts=num_restarts, retry=False
        )
