"""Critical batch size fits against the McCandlish hyperbola and power laws."""

from __future__ import annotations

import math
import random

import pytest
from hpo.batch_size import (
    critical_batch_from_noise_scale,
    extrapolate_batch_size,
    fit_critical_batch,
    fit_power_law,
)

BATCHES = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]


def test_exact_hyperbola_is_recovered_exactly():
    s_min, b_crit = 1000.0, 512.0
    steps = [s_min * (1 + b_crit / b) for b in BATCHES]
    fit = fit_critical_batch(BATCHES, steps)
    assert fit.s_min == pytest.approx(s_min, rel=1e-9)
    assert fit.e_min == pytest.approx(s_min * b_crit, rel=1e-9)
    assert fit.b_crit == pytest.approx(b_crit, rel=1e-9)
    assert fit.r2_steps == pytest.approx(1.0) and fit.r2_examples == pytest.approx(1.0)


def test_noisy_sweep_gives_b_crit_within_10_percent_with_an_honest_error_bar():
    rng = random.Random(0)
    s_min, b_crit = 1000.0, 512.0
    steps = [s_min * (1 + b_crit / b) * (1 + 0.05 * rng.gauss(0, 1)) for b in BATCHES]
    fit = fit_critical_batch(BATCHES, steps)
    assert fit.b_crit == pytest.approx(b_crit, rel=0.10)
    assert abs(fit.b_crit - b_crit) < 4 * fit.b_crit_se
    assert fit.r2_steps > 0.95


def test_fitted_curve_satisfies_the_steps_examples_tradeoff():
    fit = fit_critical_batch([64, 256, 1024], [3000, 1500, 1125])
    for b in (10, 100, 1000, 10000):
        s, e = fit.steps(b), fit.examples(b)
        assert e == pytest.approx(b * s, rel=1e-12)
        # (S/S_min - 1)(E/E_min - 1) = 1 (McCandlish eq. 2.11)
        assert (s / fit.s_min - 1) * (e / fit.e_min - 1) == pytest.approx(1.0, rel=1e-9)


def test_b_star_is_the_twenty_percent_overhead_point():
    fit = fit_critical_batch(BATCHES, [1000 * (1 + 512 / b) for b in BATCHES])
    b0 = 16
    b_star = fit.b_star(b0)
    linear = fit.steps(b0) * b0 / b_star
    assert fit.steps(b_star) / linear == pytest.approx(1.2, rel=1e-9)
    # B* ~ 0.2 B_crit when B_0 << B_crit
    assert fit.b_star(1e-6) == pytest.approx(0.2 * 512, rel=1e-6)


def test_examples_default_to_batch_times_steps():
    steps = [1000 * (1 + 512 / b) for b in BATCHES]
    a = fit_critical_batch(BATCHES, steps)
    b = fit_critical_batch(BATCHES, steps, [x * s for x, s in zip(BATCHES, steps, strict=True)])
    assert a == b


@pytest.mark.parametrize(
    ("bs", "steps", "match"),
    [
        ([64, 64], [100, 110], "two distinct"),
        ([64], [100], "two distinct"),
        ([64, 0], [100, 110], "positive"),
        ([64, -8], [100, 110], "positive"),
        ([64, 128], [100, float("nan")], "finite"),
        ([64, 128], [100], "length"),
        ([64, 128, 256], [100, 200, 400], "does not follow"),
    ],
)
def test_bad_sweeps_raise_value_error(bs, steps, match):
    with pytest.raises(ValueError, match=match):
        fit_critical_batch(bs, steps)


def test_noise_scale_summary_is_a_robust_median():
    series = [1.0] * 10 + [100.0, 110.0, 120.0, 130.0, 1e9, math.nan, 105.0, 115.0, 125.0]
    median, spread = critical_batch_from_noise_scale(series, skip_fraction=10 / 19)
    assert median == pytest.approx(117.5)
    assert 0 < spread < 1e8  # the outlier moves the quartiles little
    with pytest.raises(ValueError, match="no finite"):
        critical_batch_from_noise_scale([math.nan, math.inf])


def _noisy_law(seed: int, ds: list[float]) -> list[float]:
    rng = random.Random(seed)
    return [0.05 * d**0.46 * math.exp(0.03 * rng.gauss(0, 1)) for d in ds]


def test_power_law_fit_recovers_exponent_and_coefficient():
    ds = [1e8 * 2**i for i in range(8)]
    law = fit_power_law(ds, _noisy_law(1, ds))
    assert law.exponent == pytest.approx(0.46, abs=4 * law.exponent_se)
    assert law.exponent == pytest.approx(0.46, abs=0.03)
    assert law(1e9) == pytest.approx(0.05 * 1e9**0.46, rel=0.05)


def test_extrapolation_interval_has_its_nominal_coverage():
    ds = [1e8, 3e8, 1e9, 3e9, 1e10]
    truth = 0.05 * 1e11**0.46
    hits = 0
    for seed in range(300):
        b, lo, hi = extrapolate_batch_size(fit_power_law(ds, _noisy_law(seed, ds)), 1e11)
        assert lo < b < hi
        hits += lo < truth * math.exp(0.03 * random.Random(10_000 + seed).gauss(0, 1)) < hi
    assert 0.90 < hits / 300 < 0.99


def test_extrapolation_interval_widens_away_from_the_data():
    ds = [1e8, 3e8, 1e9, 3e9, 1e10]
    law = fit_power_law(ds, _noisy_law(2, ds))
    b, lo, hi = extrapolate_batch_size(law, 1e12)
    near_lo, near_hi = law.interval(1e9)
    assert (hi - lo) / b > (near_hi - near_lo) / law(1e9)
    with pytest.raises(ValueError, match="positive"):
        extrapolate_batch_size(law, -1)
