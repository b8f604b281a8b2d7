"""The generated tables: their contents, and the nearest-neighbour blackbox over them."""

from __future__ import annotations

import random

import pytest

from benchmarks.tabular import load
from benchmarks.tabular.generate import SPACE, sample_configs, train_one


@pytest.fixture(scope="module")
def digits():
    return load("digits-mlp")


def test_shipped_tables_have_the_documented_shape():
    for name, n in (("digits-mlp", 1600), ("breast_cancer-mlp", 1200)):
        b = load(name)
        assert len(b.rows) == n and b.max_epochs == 30 and b.space == SPACE
        assert all(len(r["curve"]) == 30 for r in b.rows)
        assert b.generated["config_seed"] == 0
        # the stored configurations are exactly the seeded sample the script draws
        assert [r["config"] for r in b.rows[:50]] == sample_configs(n, 0)[:50]


def test_a_config_on_the_grid_replays_its_own_curve(digits):
    row = digits.rows[123]
    cfg = row["config"]
    assert digits.nearest(cfg) == 123
    assert [digits.value(cfg, e) for e in range(1, 31)] == [c[0] for c in row["curve"]]
    secs = [c[2] for c in row["curve"]]
    assert digits.cost(cfg, 1) == secs[0]
    assert digits.cost(cfg, 7) == pytest.approx(secs[6] - secs[5])


def test_an_off_grid_config_gets_the_nearest_row_in_the_unit_cube(digits):
    rng = random.Random(0)
    cfg = {k: rng.uniform(p["low"], p["high"]) for k, p in SPACE.items()}
    i = digits.nearest(cfg)
    from benchmarks.tabular import _unit

    x = _unit(SPACE, cfg)
    dists = [
        sum((a - b) ** 2 for a, b in zip(x, _unit(SPACE, r["config"]), strict=True))
        for r in digits.rows
    ]
    assert dists[i] == min(dists)


def test_optimum_is_the_best_value_anywhere_in_the_table(digits):
    best = min(c[0] for r in digits.rows for c in r["curve"])
    assert digits.optimum == best
    acc = load("digits-mlp", metric="val_acc")
    assert acc.optimum == -max(c[1] for r in acc.rows for c in r["curve"])


def test_generation_is_reproducible_for_a_config():
    cfg = sample_configs(3, 0)[2]
    a = train_one(("breast_cancer", 2, cfg, 3))
    b = train_one(("breast_cancer", 2, cfg, 3))
    assert [c[:2] for c in a["curve"]] == [c[:2] for c in b["curve"]]
