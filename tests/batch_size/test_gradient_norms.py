"""Sources of the two batch sizes: micro-batch hooks and per-example gradients."""

from __future__ import annotations

import pytest
import torch
from hpo.batch_size import GradientNoiseMonitor, per_example_sq_norms

from tests.batch_size.linreg import batch_grad, closed_form, problem, sample


def _linear_model(w: torch.Tensor) -> torch.nn.Module:
    model = torch.nn.Linear(w.numel(), 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w.unsqueeze(0))
    return model


def _half_mse(model, x, y):
    return 0.5 * (model(x).squeeze(-1) - y).pow(2).mean()


def _accumulate(model, monitor, chunks, mode="mean", scale=1.0):
    k = len(chunks)
    for x, y in chunks:
        loss = _half_mse(model, x, y) * scale
        (loss / k if mode == "mean" else loss).backward()
    out = monitor.observe(loss_scale=scale if scale != 1.0 else None)
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("monitor_mode", ["exact", "fused"])
@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize("scale", [1.0, 1024.0])
def test_monitor_norms_equal_the_micro_batch_gradients(monitor_mode, mode, scale):
    w_star, w = problem()
    gen = torch.Generator().manual_seed(0)
    x, y = sample(32, w_star, gen)
    chunks = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    model = _linear_model(w)
    monitor = GradientNoiseMonitor(
        model, micro_batch_size=8, micro_batch_losses=mode, mode=monitor_mode
    )
    out = _accumulate(model, monitor, chunks, mode, scale)
    small_norms = [batch_grad(cx, cy, w).pow(2).sum().item() for cx, cy in chunks]
    # exact: the mean over the 4 micro-batches; fused: the first micro-batch only
    small = sum(small_norms) / 4 if monitor_mode == "exact" else small_norms[0]
    big = batch_grad(x, y, w).pow(2).sum().item()
    # With "sum" the accumulated .grad is 4x the mean gradient; the monitor divides that out.
    assert out["small_sq_norm"] == pytest.approx(small, rel=1e-5)
    assert out["big_sq_norm"] == pytest.approx(big, rel=1e-5)
    assert (out["small_batch"], out["big_batch"]) == (8.0, 32.0)


@pytest.mark.parametrize("monitor_mode", ["exact", "fused"])
def test_monitor_counts_a_tied_weight_once_per_backward(monitor_mode):
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4, 4, dtype=torch.float64))

        def forward(self, x):
            return (x @ self.w) @ self.w.T

    torch.manual_seed(0)
    model = Tied()
    xs = [torch.randn(3, 4, dtype=torch.float64) for _ in range(2)]
    grads = []
    for x in xs:
        (g,) = torch.autograd.grad(model(x).pow(2).mean(), [model.w])
        grads.append(g)
    # created after the reference gradients: tensor hooks also fire in autograd.grad
    monitor = GradientNoiseMonitor(model, micro_batch_size=3, mode=monitor_mode)
    for x in xs:
        (model(x).pow(2).mean() / 2).backward()
    out = monitor.observe()
    norms = [g.pow(2).sum().item() for g in grads]
    small = sum(norms) / 2 if monitor_mode == "exact" else norms[0]
    big = ((grads[0] + grads[1]) / 2).pow(2).sum().item()
    assert out["small_sq_norm"] == pytest.approx(small, rel=1e-5)
    assert out["big_sq_norm"] == pytest.approx(big, rel=1e-5)


@pytest.mark.parametrize("monitor_mode", ["exact", "fused"])
def test_monitor_recovers_the_closed_form_noise_scale(monitor_mode):
    w_star, w = problem()
    _, _, b_true = closed_form(w_star, w)
    model = _linear_model(w)  # parameters stay fixed: no optimizer step
    monitor = GradientNoiseMonitor(model, micro_batch_size=8, beta=1.0, mode=monitor_mode)
    gen = torch.Generator().manual_seed(5)
    for _ in range(2500):
        x, y = sample(64, w_star, gen)
        _accumulate(model, monitor, [(x[i : i + 8], y[i : i + 8]) for i in range(0, 64, 8)])
    assert monitor.gns.b_simple == pytest.approx(b_true, rel=0.05)
    assert abs(monitor.gns.b_simple - b_true) < 4 * monitor.gns.b_simple_std


def test_deferred_observations_equal_immediate_ones():
    w_star, w = problem()
    gen = torch.Generator().manual_seed(4)
    batches = [sample(32, w_star, gen) for _ in range(5)]
    results = []
    for defer in (False, True):
        model = _linear_model(w)
        monitor = GradientNoiseMonitor(model, micro_batch_size=8, beta=0.9)
        for x, y in batches:
            chunks = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
            for cx, cy in chunks:
                (_half_mse(model, cx, cy) / 4).backward()
            assert (monitor.observe(defer=defer) is None) == defer
            model.zero_grad(set_to_none=True)
        results.append(monitor.gns.estimate())
    assert results[0] == results[1]


def test_fused_mode_is_refused_under_ddp_only_by_construction():
    model = torch.nn.Linear(3, 1)
    assert GradientNoiseMonitor(model, micro_batch_size=2).mode == "fused"
    with pytest.raises(ValueError, match="mode"):
        GradientNoiseMonitor(model, micro_batch_size=2, mode="per-layer")


def test_monitor_needs_two_small_batches_and_honours_its_interval():
    w_star, w = problem()
    model = _linear_model(w)
    gen = torch.Generator().manual_seed(1)
    x, y = sample(16, w_star, gen)
    for mode in ("exact", "fused"):
        single = GradientNoiseMonitor(model, micro_batch_size=16, mode=mode)
        assert _accumulate(model, single, [(x, y)]) is None
        single.remove()
    every2 = GradientNoiseMonitor(model, micro_batch_size=8, interval=2)
    results = [_accumulate(model, every2, [(x[:8], y[:8]), (x[8:], y[8:])]) for _ in range(4)]
    assert [r is not None for r in results] == [True, False, True, False]
    assert every2.gns.count == 2


def test_monitor_skips_steps_with_non_finite_gradients():
    model = torch.nn.Linear(3, 1)
    monitor = GradientNoiseMonitor(model, micro_batch_size=2)
    for _ in range(2):
        (model(torch.full((2, 3), float("inf"))).sum() / 2).backward()
    assert monitor.observe() is None
    assert monitor.gns.count == 0


def test_monitor_rejects_bad_arguments():
    model = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match="micro_batch_size"):
        GradientNoiseMonitor(model, micro_batch_size=0)
    with pytest.raises(ValueError, match="micro_batch_losses"):
        GradientNoiseMonitor(model, micro_batch_size=2, micro_batch_losses="avg")
    frozen = torch.nn.Linear(3, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="no parameters"):
        GradientNoiseMonitor(frozen, micro_batch_size=2)


def test_per_example_norms_match_the_closed_form_gradients():
    w_star, w = problem()
    gen = torch.Generator().manual_seed(3)
    x, y = sample(16, w_star, gen)
    model = _linear_model(w)
    per_ex, big = per_example_sq_norms(
        model, lambda out, t: 0.5 * (out.squeeze(-1) - t).pow(2).mean(), x, y
    )
    residual = x @ w - y
    expected = (x * residual.unsqueeze(1)).pow(2).sum(dim=1)  # |x_i (x_i.r - xi_i)|^2
    assert torch.allclose(per_ex, expected, rtol=1e-10)
    assert big.item() == pytest.approx(batch_grad(x, y, w).pow(2).sum().item(), rel=1e-10)


def test_per_example_path_recovers_the_closed_form_noise_scale():
    from hpo.batch_size import GradientNoiseScale

    w_star, w = problem()
    _, _, b_true = closed_form(w_star, w)
    model = _linear_model(w)
    gns = GradientNoiseScale(beta=1.0)
    gen = torch.Generator().manual_seed(9)
    loss = lambda out, t: 0.5 * (out.squeeze(-1) - t).pow(2).mean()  # noqa: E731
    for _ in range(600):
        x, y = sample(64, w_star, gen)
        per_ex, big = per_example_sq_norms(model, loss, x, y)
        gns.update(per_ex.mean(), 1, big, 64)
    assert gns.b_simple == pytest.approx(b_true, rel=0.05)


def test_per_example_norms_on_a_small_mlp_equal_a_loop_over_examples():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    loss = torch.nn.functional.cross_entropy
    per_ex, _ = per_example_sq_norms(model, loss, x, y)
    for i in range(6):
        grads = torch.autograd.grad(loss(model(x[i : i + 1]), y[i : i + 1]), model.parameters())
        assert per_ex[i].item() == pytest.approx(sum(g.pow(2).sum().item() for g in grads), 1e-5)
