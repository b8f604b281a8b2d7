"""LR, beta2 and weight-decay rules against the papers' formulas."""

from __future__ import annotations

import math

import pytest
from hpo.batch_size import (
    adamw_timescale,
    adascale_gain,
    linear_warmup,
    scale_beta2,
    scale_lr,
    statistical_efficiency,
    weight_decay_for_timescale,
)


def test_linear_rule_multiplies_by_k():
    # Goyal et al.: lr = 0.1 * B / 256 for ResNet-50.
    assert scale_lr(0.1, 256, 8192, "linear") == pytest.approx(3.2)


def test_sqrt_rule_multiplies_by_root_k():
    assert scale_lr(1e-3, 64, 256, "sqrt") == pytest.approx(2e-3)
    assert scale_lr(1e-3, 64, 16, "sqrt") == pytest.approx(5e-4)
    assert scale_lr(1e-3, 64, 256, "none") == 1e-3


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.1, 0, 8), "base_batch"),
        ((0.1, 8, -1), "new_batch"),
        ((0.0, 8, 16), "base_lr"),
        ((0.1, 8, 16, "cubic"), "unknown LR scaling rule"),
    ],
)
def test_scale_lr_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        scale_lr(*args)


def test_goyal_warmup_ramps_linearly_to_k_times_the_base_lr():
    base, k, warm = 0.1, 32, 5 * 100  # 5 epochs of 100 steps
    lrs = [linear_warmup(t, warm, base, k * base) for t in range(warm + 3)]
    assert lrs[0] == pytest.approx(base)
    assert lrs[warm // 2] == pytest.approx(base + (k * base - base) / 2)
    assert lrs[warm] == pytest.approx(k * base) and lrs[-1] == pytest.approx(k * base)
    diffs = {round(b - a, 12) for a, b in zip(lrs[:warm], lrs[1:warm], strict=False)}
    assert len(diffs) == 1  # linear
    assert linear_warmup(7, 0, 0.0, 1.0) == 1.0


def test_adascale_gain_limits_and_formula():
    assert adascale_gain(grad_sq=1.0, trace_cov=0.0, scale=8) == pytest.approx(1.0)
    assert adascale_gain(grad_sq=0.0, trace_cov=5.0, scale=8) == pytest.approx(8.0)
    # sigma^2 = 40/4 = 10 at base batch 4, mu^2 = 2: (10 + 2) / (10/3 + 2) = 2.25
    assert adascale_gain(2.0, 40.0, 3, base_batch=4) == pytest.approx(12 / (10 / 3 + 2))
    gains = [adascale_gain(2.0, 40.0, s, 4) for s in (1, 2, 4, 8, 16, 64)]
    assert gains[0] == pytest.approx(1.0)
    assert all(1 <= g <= s for g, s in zip(gains, (1, 2, 4, 8, 16, 64), strict=True))
    assert gains == sorted(gains)
    # Equivalent form S (B_noise + B0) / (B_noise + S B0), B_noise = 20
    assert adascale_gain(2.0, 40.0, 8, 4) == pytest.approx(8 * (20 + 4) / (20 + 8 * 4))


def test_beta2_rule_keeps_the_half_life_in_examples():
    # Marek et al.: beta2 = 0.95 at B=512 -> B=1 gives 0.95^(1/512) ~ 0.9999
    assert scale_beta2(0.95, 512, 1) == pytest.approx(0.95 ** (1 / 512))
    assert scale_beta2(0.95, 512, 1) == pytest.approx(0.9999, abs=1e-4)
    b2 = scale_beta2(0.999, 64, 1024)
    half_life_examples = lambda beta, batch: math.log(0.5) / math.log(beta) * batch  # noqa: E731
    assert half_life_examples(b2, 1024) == pytest.approx(half_life_examples(0.999, 64))
    assert scale_beta2(b2, 1024, 64) == pytest.approx(0.999, rel=1e-12)  # round trip
    with pytest.raises(ValueError, match="beta2"):
        scale_beta2(1.0, 64, 128)


def test_adamw_timescale_rule():
    # tau = B / (eta * lambda * D)
    tau = adamw_timescale(batch_size=256, lr=1e-3, weight_decay=0.1, dataset_size=1e7)
    assert tau == pytest.approx(256 / (1e-3 * 0.1 * 1e7))
    lam = weight_decay_for_timescale(tau, batch_size=256, lr=1e-3, dataset_size=1e7)
    assert lam == pytest.approx(0.1)
    # At fixed eta and tau, lambda grows linearly with B (Power Lines).
    assert weight_decay_for_timescale(tau, 1024, 1e-3, 1e7) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="weight_decay"):
        adamw_timescale(256, 1e-3, 0.0, 1e7)


def test_statistical_efficiency_is_one_at_the_base_batch_and_falls():
    assert statistical_efficiency(100.0, 32, 32) == pytest.approx(1.0)
    assert statistical_efficiency(100.0, 32, 132) == pytest.approx(132 / 232)
