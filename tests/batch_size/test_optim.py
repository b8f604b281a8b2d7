"""LARS and LAMB updates against the papers' equations computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
from hpo.batch_size import LAMB, LARS, layerwise_param_groups


def _param(values, grad):
    p = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))
    p.grad = torch.tensor(grad, dtype=torch.float64)
    return p


def test_lars_first_step_matches_algorithm_1():
    w0, g = [3.0, 4.0], [0.6, -0.8]  # |w| = 5, |g| = 1
    p = _param(w0, g)
    gamma, eta, beta = 0.5, 0.01, 0.1
    LARS([p], lr=gamma, momentum=0.9, weight_decay=beta, trust_coefficient=eta).step()
    local = eta * 5.0 / (1.0 + beta * 5.0)
    expected = [w - gamma * local * (gi + beta * w) for w, gi in zip(w0, g, strict=True)]
    assert p.detach().tolist() == pytest.approx(expected, rel=1e-12)


def test_lars_momentum_accumulates_scaled_updates():
    p = _param([3.0, 4.0], [0.6, -0.8])
    opt = LARS([p], lr=1.0, momentum=0.5, trust_coefficient=0.1)
    w0 = p.detach().clone()
    opt.step()
    v1 = 0.1 * 5.0 / 1.0 * torch.tensor([0.6, -0.8], dtype=torch.float64)
    assert torch.allclose(p.detach(), w0 - v1)
    w1 = p.detach().clone()
    p.grad = torch.tensor([0.0, 2.0], dtype=torch.float64)
    opt.step()
    v2 = 0.5 * v1 + 0.1 * float(w1.norm()) / 2.0 * p.grad
    assert torch.allclose(p.detach(), w1 - v2)


def test_lars_uses_ratio_one_for_zero_norms_and_skips_excluded_groups():
    zero = _param([0.0, 0.0], [1.0, 2.0])
    LARS([zero], lr=0.1, momentum=0.0, trust_coefficient=0.001).step()
    assert zero.detach().tolist() == pytest.approx([-0.1, -0.2])
    bias = _param([1.0, 1.0], [1.0, 2.0])
    LARS(
        [{"params": [bias], "layer_adaptation": False}], lr=0.1, momentum=0.0, weight_decay=0.5
    ).step()
    assert bias.detach().tolist() == pytest.approx([0.9, 0.8])  # plain SGD, no decay


def test_lamb_first_step_matches_algorithm_2():
    x0, g = [1.0, -2.0, 2.0], [0.5, 0.1, -3.0]
    p = _param(x0, g)
    lr, lam, eps = 0.01, 0.1, 1e-6
    LAMB([p], lr=lr, betas=(0.9, 0.999), eps=eps, weight_decay=lam).step()
    # t = 1: m_hat = g, v_hat = g^2, r = g / (|g| + eps)
    r = [gi / (abs(gi) + eps) for gi in g]
    u = [ri + lam * xi for ri, xi in zip(r, x0, strict=True)]
    ratio = math.sqrt(sum(x * x for x in x0)) / math.sqrt(sum(ui * ui for ui in u))
    expected = [xi - lr * ratio * ui for xi, ui in zip(x0, u, strict=True)]
    assert p.detach().tolist() == pytest.approx(expected, rel=1e-12)


def test_lamb_second_step_uses_bias_corrected_moments():
    p = _param([1.0, -2.0], [0.5, 0.1])
    b1, b2, eps, lr = 0.9, 0.99, 1e-8, 0.1
    opt = LAMB([p], lr=lr, betas=(b1, b2), eps=eps)
    opt.step()
    x1 = p.detach().clone()
    g1, g2 = (
        torch.tensor([0.5, 0.1], dtype=torch.float64),
        torch.tensor([-1.0, 0.3], dtype=torch.float64),
    )
    p.grad = g2.clone()
    opt.step()
    m = (b1 * (1 - b1) * g1 + (1 - b1) * g2) / (1 - b1**2)
    v = (b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2) / (1 - b2**2)
    u = m / (v.sqrt() + eps)
    expected = x1 - lr * x1.norm() / u.norm() * u
    assert torch.allclose(p.detach(), expected, rtol=1e-12)


def test_lamb_step_is_invariant_to_gradient_scale():
    a, b = _param([1.0, -2.0, 0.5], [0.5, 0.1, -3.0]), _param([1.0, -2.0, 0.5], [0.5, 0.1, -3.0])
    b.grad.mul_(1000.0)
    for p in (a, b):
        LAMB([p], lr=0.05, eps=1e-12, weight_decay=0.01).step()
    assert torch.allclose(a.detach(), b.detach(), rtol=1e-9)


def test_lamb_clamps_the_weight_norm_in_phi():
    p = _param([30.0, 40.0], [1.0, 1.0])  # |x| = 50, clamped to 10
    LAMB([p], lr=0.1, eps=0.0, clamp_value=(0.0, 10.0)).step()
    u = torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert torch.allclose(
        p.detach(), torch.tensor([30.0, 40.0], dtype=torch.float64) - 0.1 * 10.0 / u.norm() * u
    )


def test_layerwise_groups_exclude_biases_and_norm_layers():
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.LayerNorm(8),
        torch.nn.BatchNorm1d(8),
        torch.nn.Linear(8, 2),
    )
    adapted, excluded = layerwise_param_groups(model, weight_decay=0.05, lr=0.1)
    assert {id(p) for p in adapted["params"]} == {id(model[0].weight), id(model[3].weight)}
    assert len(excluded["params"]) == 6  # 2 biases + LayerNorm (2) + BatchNorm (2)
    assert adapted["weight_decay"] == 0.05 and excluded["weight_decay"] == 0.0
    assert excluded["layer_adaptation"] is False and adapted["lr"] == 0.1
    LAMB(layerwise_param_groups(model, 0.05), lr=0.1)  # accepted as param groups


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (LARS, {"lr": -1.0}, "lr"),
        (LARS, {"momentum": 1.0}, "momentum"),
        (LAMB, {"betas": (0.9, 1.0)}, "beta2"),
        (LAMB, {"clamp_value": (5.0, 1.0)}, "clamp"),
    ],
)
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([torch.nn.Parameter(torch.zeros(2))], **kwargs)
