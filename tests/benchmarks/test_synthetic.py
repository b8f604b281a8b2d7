"""Synthetic multi-fidelity functions against their published optima."""

from __future__ import annotations

import random

import pytest

from benchmarks.synthetic import (
    BRANIN_ARGMINS,
    BRANIN_MIN,
    HARTMANN6_ARGMIN,
    HARTMANN6_MIN,
    branin,
    hartmann6,
    mf_branin,
    mf_hartmann6,
)


@pytest.mark.parametrize("x", BRANIN_ARGMINS)
def test_branin_has_its_known_minimum_at_the_three_argmins(x):
    assert branin(*x) == pytest.approx(BRANIN_MIN, abs=1e-6)


def test_branin_minimum_is_not_beaten_on_a_grid():
    best = min(branin(-5 + 15 * i / 300, 15 * j / 300) for i in range(301) for j in range(301))
    assert BRANIN_MIN - 1e-9 <= best < BRANIN_MIN + 0.01


def test_hartmann6_known_minimum_and_random_search_cannot_beat_it():
    assert hartmann6(HARTMANN6_ARGMIN) == pytest.approx(HARTMANN6_MIN, abs=1e-4)
    rng = random.Random(0)
    assert all(hartmann6([rng.random() for _ in range(6)]) > HARTMANN6_MIN for _ in range(20000))


def test_hand_computed_values():
    # Branin at (0, 0): (-6)^2 + 10 (1 - 1/(8 pi)) cos 0 + 10 = 36 + 20 - 10/(8 pi)
    import math

    assert branin(0.0, 0.0) == pytest.approx(56 - 10 / (8 * math.pi), rel=1e-12)
    # Hartmann-6 far from every P row is close to 0 from below
    assert -1e-3 < hartmann6([1.0] * 6) < 0


def test_low_fidelity_is_biased_and_the_bias_vanishes_at_full_fidelity():
    rng = random.Random(1)
    for _ in range(50):
        x = (rng.uniform(-5, 10), rng.uniform(0, 15))
        gaps = [abs(branin(*x, z) - branin(*x)) for z in (0.1, 0.5, 0.9, 1.0)]
        assert gaps[-1] == 0.0 and gaps[0] > 0
    x6 = [rng.random() for _ in range(6)]
    assert hartmann6(x6, 1.0) == hartmann6(x6)
    assert hartmann6(HARTMANN6_ARGMIN, 0.2) > HARTMANN6_MIN  # a worse low-fidelity optimum


def test_low_fidelity_changes_the_ranking_somewhere():
    rng = random.Random(2)
    xs = [(rng.uniform(-5, 10), rng.uniform(0, 15)) for _ in range(200)]
    low = sorted(range(200), key=lambda i: branin(*xs[i], 0.1))
    high = sorted(range(200), key=lambda i: branin(*xs[i], 1.0))
    assert low != high  # multi-fidelity is not a trivial shift


def test_benchmark_values_are_reproducible_and_noise_shrinks_with_fidelity():
    b = mf_hartmann6(noise=0.1, seed=3)
    cfg = {f"x{i}": 0.3 for i in range(1, 7)}
    assert b.curve(cfg) == b.curve(cfg)  # replay gives the same curve
    other_seed = mf_hartmann6(noise=0.1, seed=4)
    assert b.value(cfg, 5) != other_seed.value(cfg, 5)
    clean = mf_hartmann6()
    rng_cfgs = [
        {f"x{i}": random.Random(k * 7 + i).random() for i in range(1, 7)} for k in range(300)
    ]
    err_low = sum(abs(b.value(c, 1) - clean.value(c, 1)) for c in rng_cfgs) / 300
    err_high = sum(abs(b.value(c, 27) - clean.value(c, 27)) for c in rng_cfgs) / 300
    assert err_high < err_low / 3
    assert clean.value({"x1": 0.0, **{f"x{i}": 0.0 for i in range(2, 7)}}, 27) == hartmann6([0] * 6)


def test_benchmark_space_and_regret():
    b = mf_branin()
    assert set(b.space) == {"x1", "x2"} and b.max_epochs == 27
    x1, x2 = BRANIN_ARGMINS[0]
    assert b.regret(b.value({"x1": x1, "x2": x2}, 27)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="epoch"):
        b.value({"x1": 0, "x2": 0}, 0)
    with pytest.raises(ValueError, match="fidelity"):
        branin(0, 0, 0.0)
    import hpo

    hpo.SearchSpace.from_dict(b.space)  # the space is a valid hpo space
