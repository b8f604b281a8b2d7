"""The two-batch noise-scale estimator and its EMA against closed forms (McCandlish et al. 2018)."""

from __future__ import annotations

import math

import pytest
import torch
from hpo.batch_size import GradientNoiseScale, estimate_from_norms

from tests.batch_size.linreg import batch_grad, closed_form, problem, sample


def test_estimates_match_a_hand_computed_case():
    # |G|^2 = (64*5 - 8*10) / (64 - 8) = 240/56; tr(Sigma) = (10 - 5) / (1/8 - 1/64) = 320/7.
    g, s = estimate_from_norms(10.0, 8, 5.0, 64)
    assert g == pytest.approx(240 / 56, rel=1e-12)
    assert s == pytest.approx(320 / 7, rel=1e-12)


@pytest.mark.parametrize(("b_small", "b_big"), [(1, 2), (8, 64), (32, 33), (3, 1000)])
def test_estimates_invert_the_expected_norm_exactly(b_small, b_big):
    # E|G_B|^2 = |G|^2 + tr(Sigma)/B: feeding the expectations recovers (|G|^2, tr Sigma).
    grad_sq, trace = 3.0, 40.0
    g, s = estimate_from_norms(grad_sq + trace / b_small, b_small, grad_sq + trace / b_big, b_big)
    assert g == pytest.approx(grad_sq, rel=1e-9)
    assert s == pytest.approx(trace, rel=1e-9)


def test_tensor_norms_give_tensor_estimates():
    small = torch.tensor([13.0, 5.5])
    big = torch.tensor([3.625, 1.0])
    g, s = estimate_from_norms(small, 4, big, 32)
    assert isinstance(g, torch.Tensor) and g.shape == (2,)
    ref = [estimate_from_norms(float(a), 4, float(b), 32) for a, b in zip(small, big, strict=True)]
    assert torch.allclose(g, torch.tensor([r[0] for r in ref]))
    assert torch.allclose(s, torch.tensor([r[1] for r in ref]))


def _draws(n_draws: int, b_small: int, b_big: int, seed: int = 1):
    """Per draw: |G_small|^2 on the first b_small examples of a batch, |G_big|^2 on all."""
    w_star, w = problem()
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_draws):
        x, y = sample(b_big, w_star, gen)
        small = batch_grad(x[:b_small], y[:b_small], w).pow(2).sum().item()
        big = batch_grad(x, y, w).pow(2).sum().item()
        out.append((small, big))
    return out


def test_estimators_are_unbiased_on_linear_regression():
    w_star, w = problem()
    r2, trace, _ = closed_form(w_star, w)
    draws = _draws(6000, 4, 32)
    est = [estimate_from_norms(a, 4, b, 32) for a, b in draws]
    for i, truth in ((0, r2), (1, trace)):
        xs = torch.tensor([e[i] for e in est], dtype=torch.float64)
        se = float(xs.std()) / math.sqrt(len(xs))
        assert abs(float(xs.mean()) - truth) < 3.5 * se, (i, float(xs.mean()), truth, se)


def test_b_simple_matches_the_closed_form_within_5_percent():
    w_star, w = problem()
    r2, trace, b_true = closed_form(w_star, w)
    gns = GradientNoiseScale(beta=1.0)  # equal weights: a plain average of the estimates
    for a, b in _draws(10000, 8, 64, seed=2):
        gns.update(a, 8, b, 64)
    assert gns.b_simple == pytest.approx(b_true, rel=0.05)
    assert gns.grad_sq == pytest.approx(r2, rel=0.05)
    assert gns.trace_cov == pytest.approx(trace, rel=0.05)
    # The reported standard error is consistent with the actual error.
    assert abs(gns.b_simple - b_true) < 4 * gns.b_simple_std
    assert gns.b_simple_std < 0.05 * b_true


def test_b_simple_std_is_calibrated_across_repetitions():
    w_star, w = problem()
    estimates, stds = [], []
    for rep in range(60):
        gns = GradientNoiseScale(beta=1.0)
        for a, b in _draws(150, 4, 32, seed=100 + rep):
            gns.update(a, 4, b, 32)
        estimates.append(gns.b_simple)
        stds.append(gns.b_simple_std)
    spread = float(torch.tensor(estimates).std())
    mean_std = sum(stds) / len(stds)
    assert 0.6 < mean_std / spread < 1.6, (mean_std, spread)


def test_per_step_ratio_is_unusable_which_is_why_ratio_of_averages_is_used():
    # Single-step |G|^2 estimates are often negative: a per-step ratio would be meaningless.
    est = [estimate_from_norms(a, 4, b, 32) for a, b in _draws(400, 4, 32, seed=3)]
    assert any(g < 0 for g, _ in est)


def test_ema_of_constant_estimates_equals_them_from_the_first_step():
    gns = GradientNoiseScale(beta=0.9)
    for _ in range(5):
        gns.update_estimates(2.0, 30.0)
        assert gns.grad_sq == pytest.approx(2.0, rel=1e-12)
        assert gns.trace_cov == pytest.approx(30.0, rel=1e-12)
        assert gns.b_simple == pytest.approx(15.0, rel=1e-12)


def test_ema_weighs_recent_observations_by_beta():
    gns = GradientNoiseScale(beta=0.5)
    gns.update_estimates(1.0, 1.0)
    gns.update_estimates(4.0, 1.0)
    # Debiased EMA: (0.5*0.5*1 + 0.5*4) / (1 - 0.25) = 2.25 / 0.75 = 3.
    assert gns.grad_sq == pytest.approx(3.0, rel=1e-12)
    # Kish effective size of weights (0.25, 0.5): 0.75^2 / (0.0625 + 0.25) = 1.8.
    assert gns.effective_samples == pytest.approx(1.8, rel=1e-12)


def test_edge_values_of_b_simple():
    gns = GradientNoiseScale()
    assert math.isnan(gns.b_simple) and math.isnan(gns.b_simple_std)
    gns.update_estimates(-1.0, 5.0)
    assert gns.b_simple == math.inf
    gns2 = GradientNoiseScale()
    gns2.update_estimates(1.0, -5.0)
    assert gns2.b_simple == 0.0


def test_state_dict_round_trip_restores_the_estimate_exactly():
    gns = GradientNoiseScale(beta=0.95)
    for a, b in _draws(50, 4, 32):
        gns.update(a, 4, b, 32)
    other = GradientNoiseScale()
    other.load_state_dict(gns.state_dict())
    assert other.b_simple == gns.b_simple
    assert other.b_simple_std == gns.b_simple_std
    assert other.estimate() == gns.estimate()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1.0, 0, 0.5, 8), "positive"),
        ((1.0, -4, 0.5, 8), "positive"),
        ((1.0, 8, 0.5, 8), "larger than small_batch"),
        ((1.0, 16, 0.5, 8), "larger than small_batch"),
        ((float("nan"), 4, 0.5, 8), "finite"),
        ((1.0, 4, float("inf"), 8), "finite"),
        ((-1.0, 4, 0.5, 8), "negative"),
        ((torch.tensor(float("nan")), 4, torch.tensor(1.0), 8), "finite"),
        (("abc", 4, 1.0, 8), "number"),
    ],
)
def test_bad_input_raises_a_clear_value_error(args, match):
    with pytest.raises(ValueError, match=match):
        estimate_from_norms(*args)


@pytest.mark.parametrize("beta", [0.0, -0.1, 1.5, float("nan")])
def test_bad_beta_is_rejected(beta):
    with pytest.raises(ValueError, match="beta"):
        GradientNoiseScale(beta)
