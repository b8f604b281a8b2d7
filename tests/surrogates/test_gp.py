"""GP surrogate (surrogates/gp.py): closed-form posterior, features, subsampling, fit schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("botorch")

from hpo.surrogates.gp import (  # noqa: E402
    FeatureMap,
    GPSurrogate,
    HyperparameterSchedule,
    power_warp,
    subsample,
)

from hpo.space import Categorical, Float, Int, SearchSpace  # noqa: E402


def matern52(a: np.ndarray, b: np.ndarray, lengthscale: np.ndarray) -> np.ndarray:
    d = (a[:, None, :] - b[None, :, :]) / lengthscale
    r = np.sqrt((d**2).sum(-1))
    return (1 + math.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-math.sqrt(5) * r)


def test_posterior_matches_a_closed_form_gp_with_the_same_kernel_and_noise() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((9, 2))
    y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2
    Xs = rng.random((6, 2))
    ls, noise = np.array([0.3, 0.6]), 0.02
    gp = GPSurrogate().fit(X, y, optimize=False)
    gp.set_kernel(ls, noise)
    mean, var = gp.posterior(Xs)

    mu, sd = y.mean(), y.std(ddof=1)  # BoTorch's Standardize
    yt = (y - mu) / sd
    K = matern52(X, X, ls) + noise * np.eye(len(X))
    Ks = matern52(X, Xs, ls)
    m = Ks.T @ np.linalg.solve(K, yt)
    v = 1.0 - np.einsum("ij,ij->j", Ks, np.linalg.solve(K, Ks))
    np.testing.assert_allclose(mean, mu + sd * m, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(var, sd**2 * v, rtol=1e-5, atol=1e-8)


def test_held_out_means_are_those_of_a_gp_refitted_without_the_block() -> None:
    """The closed-form block held-out means equal the posterior mean at the row of a GP on the
    other rows (same kernel, noise and standardization), computed directly; one-row blocks are
    ordinary leave-one-out."""
    rng = np.random.default_rng(1)
    X = rng.random((12, 2))
    y = np.cos(4 * X[:, 0]) + X[:, 1]
    ls, noise = np.array([0.4, 0.5]), 0.01
    gp = GPSurrogate().fit(X, y, optimize=False)
    gp.set_kernel(ls, noise)
    yt = (y - y.mean()) / y.std(ddof=1)
    blocks, at = [[0, 3, 7], [5], [2, 11]], [3, 5, 11]
    got = gp.held_out_means(blocks, at)
    for block, row, g in zip(blocks, at, got, strict=True):
        keep = [i for i in range(len(X)) if i not in block]
        K = matern52(X[keep], X[keep], ls) + noise * np.eye(len(keep))
        want = matern52(X[row : row + 1], X[keep], ls) @ np.linalg.solve(K, yt[keep])
        assert g == pytest.approx(float(want[0]), rel=1e-6, abs=1e-9)
    assert not np.allclose(got, yt[at], atol=1e-3)  # not the in-sample values


def test_a_fit_explains_a_smooth_function_better_than_its_mean() -> None:
    rng = np.random.default_rng(1)
    X = rng.random((30, 2))
    y = np.sin(6 * X[:, 0]) + 0.5 * X[:, 1]
    Xs = rng.random((50, 2))
    ys = np.sin(6 * Xs[:, 0]) + 0.5 * Xs[:, 1]
    mean, _ = GPSurrogate().fit(X, y).posterior(Xs)
    assert np.mean((mean - ys) ** 2) < 0.05 * np.var(ys)


SPACE = SearchSpace(
    {
        "lr": Float(1e-5, 1.0, log=True),
        "layers": Int(1, 4),
        "units": Int(8, 512, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
    }
)


@settings(max_examples=50, deadline=None)
@given(
    lr=st.floats(1e-5, 1.0),
    layers=st.integers(1, 4),
    units=st.integers(8, 512),
    act=st.sampled_from(["relu", "tanh", "gelu"]),
)
def test_features_decode_back_to_the_configuration(lr, layers, units, act) -> None:
    fm = FeatureMap(SPACE)
    cfg = {"lr": lr, "layers": layers, "units": units, "act": act}
    x = fm.encode([cfg])[0]
    lo, hi = fm.bounds()
    assert np.all(x >= lo - 1e-12) and np.all(x <= hi + 1e-12)
    back = fm.decode(x)
    assert back["layers"] == layers and back["units"] == units and back["act"] == act
    assert back["lr"] == pytest.approx(lr, rel=1e-9)


def test_integers_are_discrete_columns_and_categoricals_index_columns() -> None:
    fm = FeatureMap(SPACE, fidelity=(1, 27))
    assert fm.dim == 5 and fm.fidelity_dim == 4
    assert sorted(fm.int_dims) == [1, 2] and len(fm.int_dims[2]) == 512 - 8 + 1
    assert fm.cat_dims == {3: [0.0, 1.0, 2.0]}
    assert fm.z(1) == 0.0 and fm.z(27) == 1.0 and fm.z(3) == pytest.approx(1 / 3)


def test_subsampling_caps_the_training_set_and_keeps_each_trials_latest_result() -> None:
    n = 2000
    trial = [i // 4 for i in range(n)]  # 500 trials with 4 results each
    latest = [i % 4 == 3 for i in range(n)]
    fidelity = [float(1 + i % 4) for i in range(n)]
    score = [float((i * 7919) % 101) for i in range(n)]
    kept = subsample(n, latest, fidelity, score, list(range(n)), max_points=800)
    assert len(kept) == 800 and kept == sorted(kept)
    assert {trial[i] for i in kept if latest[i]} == set(range(500))


def test_subsampling_keeps_best_and_most_recent_when_latest_results_alone_are_too_many() -> None:
    n = 1000
    score = [float(n - i) if i % 2 else float(i) for i in range(n)]
    kept = subsample(n, [True] * n, [1.0] * n, score, list(range(n)), max_points=100)
    best = sorted(range(n), key=lambda i: score[i])[:50]
    assert len(kept) == 100 and set(best) <= set(kept)
    assert set(range(n - 50, n)) - set(best) <= set(kept)


def test_hyperparameters_are_refitted_only_at_geometric_milestones() -> None:
    s = HyperparameterSchedule(first=5, growth=1.5)
    assert s.milestones(40) == [5, 8, 12, 17, 26, 38]


def test_a_cached_fit_chain_equals_a_fresh_one_on_the_same_data() -> None:
    rng = np.random.default_rng(2)
    X = rng.random((60, 3))
    y = np.cos(4 * X).sum(1)

    def data_at(m):
        return X[:m], y[:m]

    live = HyperparameterSchedule(first=5, growth=1.5)
    for n in (10, 30, 45, 60):  # a study growing, one proposal at each size
        hp_live = live.for_size(n, data_at, GPSurrogate)
    fits = live.fits
    fresh = HyperparameterSchedule(first=5, growth=1.5).for_size(60, data_at, GPSurrogate)
    assert fits == len(live.milestones(60))  # each milestone fitted once
    assert hp_live.keys() == fresh.keys()
    for k in fresh:
        assert np.array_equal(hp_live[k].numpy(), fresh[k].numpy()), k


class _Quadratic:
    """A deterministic acquisition ``-sum(w * (A x - c)^2)`` on ``b x 1 x d`` inputs (a torch
    module, as BoTorch's optimizers expect), to check the relaxed integer optimizer against the
    lattice point found by enumeration."""

    def __new__(cls, A, c, w):
        import torch

        class Q(torch.nn.Module):
            def forward(self, X):
                Z = X.squeeze(-2) @ torch.as_tensor(A, dtype=X.dtype).T
                return -((Z - torch.as_tensor(c, dtype=X.dtype)) ** 2 * torch.as_tensor(w)).sum(-1)

        return Q()


@pytest.mark.parametrize(
    "A, c, w",
    [
        # separable: rounding the continuous optimum is already the best lattice point
        ([[1.0, 0.0], [0.0, 1.0]], [0.31, 0.77], [1.0, 1.0]),
        # coupled: the continuous optimum x = y = 0.5933 rounds both coordinates up to 4/6,
        # whose sum misses c[0] = 1.1867 by 0.147; the best lattice point is (3/6, 4/6), one step
        # down in one integer column
        ([[1.0, 1.0], [1.0, -1.0]], [7 / 6 + 0.02, 0.0], [10.0, 1.0]),
    ],
)
def test_relaxed_integer_optimizer_finds_the_best_lattice_point(A, c, w) -> None:
    import itertools

    import torch
    from hpo.surrogates.gp import _optimize_relaxed

    vals = [i / 6 for i in range(7)]  # allowed values of both integer columns
    acq = _Quadratic(A, c, w)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    x = _optimize_relaxed(acq, bounds, None, {0: vals, 1: vals}, raw_samples=32, num_restarts=2)
    assert all(min(abs(x[j] - v) for v in vals) < 1e-12 for j in (0, 1))  # on the lattice
    grid = torch.tensor(list(itertools.product(vals, vals)), dtype=torch.float64)
    with torch.no_grad():
        scores = acq(grid.unsqueeze(1))
        got = acq(torch.as_tensor(x).reshape(1, 1, -1))
    assert float(got) == pytest.approx(float(scores.max()), abs=1e-12)


def _needle_acquisition(X_train: np.ndarray, needle: np.ndarray, width: float):
    """A BoTorch acquisition that is a Gaussian bump of ``width`` at ``needle`` (zero gradient
    anywhere farther than a few widths), over a GP whose posterior mean is best at the training
    point nearest to ``needle``."""
    import torch
    from botorch.acquisition import AcquisitionFunction
    from botorch.models import SingleTaskGP

    Xt = torch.as_tensor(X_train, dtype=torch.float64)
    Y = -((Xt - torch.as_tensor(needle)) ** 2).sum(-1, keepdim=True)
    model = SingleTaskGP(Xt, Y)
    model.eval()

    class Needle(AcquisitionFunction):
        def __init__(self) -> None:
            super().__init__(model=model)
            self.X_baseline = Xt

        def forward(self, X):
            d2 = ((X[..., 0, :] - torch.as_tensor(needle)) ** 2).sum(-1)
            return torch.exp(-d2 / (2 * width**2))

    return Needle()


def test_acquisition_restarts_start_around_the_best_evaluated_point() -> None:
    """The needle is 1e-3 from the best evaluated point and 2e-3 wide: none of 128 Sobol starts
    (about 0.09 apart in 2-d) is within reach of its gradient, the perturbations of the best
    point are (sigma 1e-3), so L-BFGS-B ends on it; also through the cost-weighted wrapper,
    which passes the wrapped acquisition's baseline on."""
    import torch
    from hpo.surrogates import gp

    rng = np.random.default_rng(0)
    best = np.array([0.25137, 0.74219])
    X_train = np.vstack([best, rng.random((9, 2))])
    needle = best + 1e-3
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    acq = _needle_acquisition(X_train, needle, 2e-3)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x = gp._lbfgs(acq, bounds, None, 128, 2, retry=False, best_only=True)
    assert np.linalg.norm(x.detach().reshape(-1).numpy() - needle) < 1e-3
    cost = gp.GPSurrogate().fit(X_train, np.zeros(len(X_train)))  # a constant cost
    wrapped = gp._cost_weighted_class()(acq, cost.model, [0, 1])
    assert wrapped.X_baseline is acq.X_baseline
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x = gp._lbfgs(wrapped, bounds, None, 128, 2, retry=False, best_only=True)
    assert np.linalg.norm(x.detach().reshape(-1).numpy() - needle) < 1e-3


def test_a_lower_noise_floor_lets_a_noise_free_fit_resolve_the_optimum() -> None:
    """Branin values span about 300, so BoTorch's least noise variance (1e-4 of the standardized
    variance) is a noise of about 0.5 in Branin's units, and the fitted model cannot place the
    minimum closer than that resolution allows; with a floor of 1e-8 the fit takes less noise and
    its posterior mean's best grid point is far closer to the true minimum (0.397887 at
    (pi, 2.275))."""
    import torch

    from benchmarks.synthetic import BRANIN_MIN, branin

    rng = np.random.default_rng(0)
    lo, hi = np.array([-5.0, 0.0]), np.array([10.0, 15.0])
    pts = np.vstack([rng.uniform(lo, hi, (40, 2)), [math.pi, 2.275] + rng.normal(0, 0.05, (30, 2))])
    X = (pts - lo) / (hi - lo)
    y = -np.array([branin(*p) for p in pts])
    g = np.linspace(-0.05, 0.05, 41)
    grid = np.array([[math.pi + a, 2.275 + b] for a in g for b in g])
    regret = {}
    for floor in (1e-4, 1e-8):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            s = GPSurrogate(noise_floor=floor).fit(X, y)
        noise = float(s.model.likelihood.noise.item())
        assert noise >= floor * 0.999  # the bound is kept in float32
        mean, _ = s.posterior((grid - lo) / (hi - lo))
        regret[floor] = branin(*grid[int(np.argmax(mean))]) - BRANIN_MIN
    assert noise < 1e-6  # the 1e-8 fit: the data call for (almost) no noise
    assert regret[1e-8] < regret[1e-4] / 10


def test_without_the_noise_prior_a_noise_free_fit_interpolates_and_a_noisy_one_finds_its_noise():
    """BoTorch's LogNormal(-4, 1) noise prior has its mode at exp(-5), about 0.0067 of the
    standardized variance. On 8 exact values of sin(6 x) the fit with the prior keeps about that
    much noise and misses the data by about 0.01; without it the noise drops to the floor and the
    posterior mean passes through the data. With noise in the data (standard deviation 3 on
    Branin, variance 9 / var(y) standardized) both fits find it: the prior's pull is only felt
    where the data say little."""
    import torch

    from benchmarks.synthetic import branin

    X = np.linspace(0, 1, 8)[:, None]
    y = np.sin(6 * X[:, 0])
    fits = {}
    for prior in ("lognormal", "none"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            fits[prior] = GPSurrogate(noise_floor=1e-6, noise_prior=prior).fit(X, y)
    priors = {k: [n for n, *_ in f.model.likelihood.named_priors()] for k, f in fits.items()}
    assert priors == {"lognormal": ["noise_covar.noise_prior"], "none": []}
    noise = {k: float(f.model.likelihood.noise.item()) for k, f in fits.items()}
    miss = {k: float(np.abs(f.posterior(X)[0] - y).max()) for k, f in fits.items()}
    assert noise["lognormal"] > 1e-3 and miss["lognormal"] > 1e-3
    assert noise["none"] < 1e-5 and miss["none"] < 1e-4

    rng = np.random.default_rng(0)
    lo, hi = np.array([-5.0, 0.0]), np.array([10.0, 15.0])
    pts = rng.uniform(lo, hi, (70, 2))
    yn = np.array([branin(*p) for p in pts]) + rng.normal(0, 3.0, 70)
    truth = 9.0 / np.var(yn)
    for prior in ("lognormal", "none"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            f = GPSurrogate(noise_floor=1e-6, noise_prior=prior).fit((pts - lo) / (hi - lo), yn)
        assert truth / 2 < float(f.model.likelihood.noise.item()) < truth * 2
    with pytest.raises(ValueError, match="noise_prior must be one of"):
        GPSurrogate(noise_prior="gamma")


def test_the_gamma_lengthscale_prior_is_botorchs_earlier_and_fits_shorter_lengthscales() -> None:
    """With 10 points in 6 inputs the fit stays near its prior: the dimension-scaled prior's
    median lengthscale is exp(sqrt(2) + log(6) / 2), about 10 unit cubes (Hvarfner et al. 2024),
    Gamma(3, 6)'s mode is 1/3; the fitted lengthscales follow them."""
    import torch
    from gpytorch.priors import GammaPrior, LogNormalPrior

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (10, 6))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    fitted = {}
    for prior in ("dim_scaled", "gamma"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            s = GPSurrogate(lengthscale_prior=prior).fit(X, y)
        kernel = getattr(s.model.covar_module, "base_kernel", s.model.covar_module)
        fitted[prior] = float(np.median(kernel.lengthscale.detach().numpy()))
        kind = LogNormalPrior if prior == "dim_scaled" else GammaPrior
        assert isinstance(kernel.lengthscale_prior, kind)
    gamma = GPSurrogate(lengthscale_prior="gamma").fit(X, y)
    assert isinstance(gamma.model.covar_module.outputscale_prior, GammaPrior)
    assert fitted["gamma"] < 1.0 < fitted["dim_scaled"]
    with pytest.raises(ValueError, match="lengthscale_prior must be one of"):
        GPSurrogate(lengthscale_prior="wide")


def test_the_gamma_prior_with_categoricals_builds_the_mixed_model() -> None:
    from gpytorch.priors import GammaPrior, LogNormalPrior

    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(0, 1, 12), rng.integers(0, 3, 12)])
    y = X[:, 0] + (X[:, 1] == 2)
    for prior, kind in (("gamma", GammaPrior), ("dim_scaled", LogNormalPrior)):
        s = GPSurrogate(cat_dims=[1], lengthscale_prior=prior).fit(X, y)
        lengthscale = [p for n, _, p, _, _ in s.model.named_priors() if "lengthscale" in n]
        assert len(lengthscale) == 2  # the continuous kernel in the sum and in the product
        assert all(isinstance(p, kind) for p in lengthscale)
        mean, var = s.posterior(X[:3])
        assert np.all(np.isfinite(mean)) and np.all(var > 0)


# ---- output warping ----------------------------------------------------------------------------


def test_power_warp_is_the_maximum_likelihood_box_cox_when_its_exponent_is_in_range() -> None:
    """Log-normal losses: scipy's own (unbounded) Box-Cox MLE has an exponent near 0, inside
    [-1, 1], and the warp is that transform."""
    from scipy import stats

    s = np.exp(np.random.default_rng(0).normal(-1.0, 1.2, 200))
    expected, lmb = stats.boxcox(s)
    assert -1 < lmb < 1
    np.testing.assert_allclose(power_warp(s), expected, rtol=1e-3, atol=1e-3)


def test_power_warp_clips_the_exponent_to_minus_one_and_one() -> None:
    from scipy import stats

    rng = np.random.default_rng(1)
    # s**-2 normal: the MLE exponent is about -2, below the range, so the warp is 1 - 1/s
    s = rng.normal(1.0, 0.15, 200) ** -0.5
    assert stats.boxcox(s)[1] < -1
    np.testing.assert_allclose(power_warp(s), 1 - 1 / s, rtol=1e-12)
    # a long tail of good values (left-skewed): the MLE exponent is above 1, and the scores stay
    # as they are (Box-Cox at 1 is s - 1): the good tail is never compressed
    left = 10.0 - np.exp(rng.normal(0.0, 0.6, 200))
    assert left.min() > 0 and stats.boxcox(left)[1] > 1
    np.testing.assert_allclose(power_warp(left), left - 1, rtol=1e-12)


def test_power_warp_uses_yeo_johnson_on_standardized_scores_with_negative_values() -> None:
    from scipy import stats

    rng = np.random.default_rng(2)
    s = np.exp(rng.normal(0.0, 1.0, 200)) - 2.0  # right-skewed, partly negative
    z = (s - s.mean()) / s.std()
    expected, lmb = stats.yeojohnson(z)
    assert -1 < lmb < 1
    np.testing.assert_allclose(power_warp(s), expected, rtol=1e-3, atol=1e-3)
    acc = -(0.1 + 0.05 * np.exp(rng.normal(0.0, 0.7, 200)))  # negated accuracies, a long good tail
    za = (acc - acc.mean()) / acc.std()
    assert stats.yeojohnson(za)[1] > 1
    np.testing.assert_allclose(power_warp(acc), za, rtol=1e-9, atol=1e-12)  # YJ at 1: identity


def test_power_warp_keeps_the_order_and_ties_and_leaves_degenerate_scores_alone() -> None:
    rng = np.random.default_rng(3)
    s = np.round(np.exp(rng.standard_cauchy(300).clip(-30, 30)), 3)  # heavy tails, many ties
    w = power_warp(s)
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(w[order]) >= 0)
    assert all(w[i] == w[j] for i in range(50) for j in range(50) if s[i] == s[j])
    assert np.all(np.diff(w[order])[np.diff(s[order]) > 0] > 0)  # strictly where s is
    for degenerate in ([0.5, 2.0], [1.0, 1.0, 1.0], [1.0, np.inf, 2.0]):
        np.testing.assert_array_equal(power_warp(degenerate), np.array(degenerate))


@pytest.mark.parametrize("lmb", [-1.0, -0.4, 0.0, 0.5, 1.0])
def test_power_warp_likelihood_and_transforms_are_scipys(lmb) -> None:
    from hpo.surrogates.gp import _power, _power_llf
    from scipy import stats

    rng = np.random.default_rng(4)
    pos = np.exp(rng.normal(0.0, 1.5, 100))
    mixed = rng.standard_t(3, 100)
    assert _power_llf(pos, lmb, False) == pytest.approx(stats.boxcox_llf(lmb, pos), rel=1e-10)
    assert _power_llf(mixed, lmb, True) == pytest.approx(
        stats.yeojohnson_llf(lmb, mixed), rel=1e-10
    )
    np.testing.assert_allclose(_power(pos, lmb, False), stats.boxcox(pos, lmb), rtol=1e-10)
    np.testing.assert_allclose(_power(mixed, lmb, True), stats.yeojohnson(mixed, lmb), rtol=1e-10)


def test_a_keyed_fit_chain_equals_the_digested_one_and_encodes_only_new_milestones() -> None:
    """``prefix_keys`` name each prefix instead of hashing its data: the hyperparameters are
    the same as the digest-keyed chain's, and ``data_at`` runs only for milestones not yet
    fitted."""
    rng = np.random.default_rng(3)
    X = rng.random((50, 2))
    y = np.sin(5 * X).sum(1)
    asked: list[int] = []

    def data_at(m):
        asked.append(m)
        return X[:m], y[:m]

    keyed = HyperparameterSchedule(first=5, growth=1.5)
    names = list(range(1, 51))  # the first m rows of a fixed table: m names them
    hp = keyed.for_size(30, data_at, GPSurrogate, prefix_keys=names)
    assert asked == keyed.milestones(30)
    asked.clear()
    hp = keyed.for_size(50, data_at, GPSurrogate, prefix_keys=names)
    assert asked == [m for m in keyed.milestones(50) if m > 30]  # the new milestone only
    digested = HyperparameterSchedule(first=5, growth=1.5).for_size(50, data_at, GPSurrogate)
    for k in digested:
        assert np.array_equal(hp[k].numpy(), digested[k].numpy()), k
