"""benchmarks/tabular/fidelity.py: rank agreement of an epoch with the scored value, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tabular.fidelity import epoch_stats


def test_overfitting_curves_whose_last_epoch_reverses_the_ranking():
    # 20 rows, 2 epochs: epoch 1 is each row's best (i), epoch 2 overfits in reverse order
    # (100 - i), so the last epoch ranks the rows exactly against what is scored
    i = np.arange(20, dtype=float)
    curves = np.stack([i, 100 - i], axis=1)
    (e1, best1, last1, share1), (e2, best2, last2, share2) = epoch_stats(curves, [1, 2])
    assert (e1, e2) == (1, 2)
    assert best1 == pytest.approx(1.0) and last1 == pytest.approx(-1.0)
    assert best2 == pytest.approx(-1.0) and last2 == pytest.approx(1.0)
    # the top 5% by best value is row 0: in epoch 1's best third, in epoch 2's worst
    assert share1 == 1.0 and share2 == 0.0


def test_the_best_variant_serves_running_bests_of_the_same_curves():
    from benchmarks.tabular import load

    raw, best = load("breast_cancer-mlp"), load("breast_cancer-mlp-best")
    assert best.name == raw.name + "-best" and best.optimum == raw.optimum
    config = raw.rows[7]["config"]
    values = [raw.value(config, e) for e in range(1, raw.max_epochs + 1)]
    assert [best.value(config, e) for e in range(1, raw.max_epochs + 1)] == [
        min(values[:e]) for e in range(1, raw.max_epochs + 1)
    ]
    assert best.value(config, raw.max_epochs) == raw.true_value(config)  # the scored value
    assert best.cost(config, 5) == raw.cost(config, 5)


def test_coverage_counts_rows_and_epochs_spent_on_repeats():
    """benchmarks/tabular/coverage.py on hand-made trials mapped to known rows."""
    from benchmarks.tabular import load
    from benchmarks.tabular.coverage import coverage

    bb = load("breast_cancer-mlp")
    order = sorted(range(len(bb.rows)), key=bb.best)
    best, fifth = bb.rows[order[0]]["config"], bb.rows[order[5]]["config"]
    # trial 2 re-reads trial 0's row (the table's best) for 9 epochs, trial 3 the fifth row's
    trials = [(3, fifth, 3.0), (0, best, 1.0), (2, best, 9.0), (1, fifth, 27.0)]
    c = coverage(bb, trials)
    assert c["trials"] == 4 and c["distinct_rows"] == 2 and c["table_rows"] == len(bb.rows)
    assert c["repeat_epochs"] == pytest.approx((9 + 3) / (1 + 27 + 9 + 3))
    assert c["most_visits"] == 2 and c["best_rank"] == 0
    assert coverage(bb, [(0, fifth, 5.0)])["best_rank"] == 5
