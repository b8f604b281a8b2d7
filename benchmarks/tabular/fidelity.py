"""How well each epoch of a table's curves predicts what the comparison scores.

``benchmarks/compare.py`` scores a table by the best value observed at *any* epoch (a row's
``best``), while a searcher that models the last epoch (hpo's trial value is its latest report)
optimizes the value at the maximum fidelity. Where the two disagree (overfitting curves), the
table rewards low-fidelity screening more than a model of the last epoch. For every table this
prints, per epoch, Spearman's rank correlation of the epoch's value with the row's best and with
its last value, and where the 5% best rows (by best value) rank at that epoch.

    python -m benchmarks.tabular.fidelity [digits-mlp breast_cancer-mlp charlm-gpt]
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.stats import spearmanr

from benchmarks.tabular import load


def epoch_stats(curves: np.ndarray, epochs: list[int]) -> list[tuple[int, float, float, float]]:
    """``(epoch, rank corr. with best, rank corr. with last, share of the top-5% rows in the
    epoch's best third)`` for each epoch (1-based) of ``curves`` (rows x epochs, lower better)."""
    best, last = curves.min(1), curves[:, -1]
    top = best <= np.quantile(best, 0.05)
    out = []
    for e in epochs:
        v = curves[:, e - 1]
        share = float(np.mean(v[top] <= np.quantile(v, 1 / 3)))
        out.append((e, float(spearmanr(v, best)[0]), float(spearmanr(v, last)[0]), share))
    return out


def report(name: str) -> list[str]:
    bb = load(name)
    curves = np.array([bb.curve(i) for i in range(len(bb.rows))])
    n_epochs = curves.shape[1]
    out = [
        f"{name}: {len(curves)} rows, {n_epochs} epochs; the best epoch is before the last in "
        f"{100 * np.mean(curves.argmin(1) < n_epochs - 1):.0f}% of rows",
        "| epoch | rank corr. with best | rank corr. with last "
        "| top-5% rows in this epoch's best third |",
        "|---:|---:|---:|---:|",
    ]
    for e, cb, cl, share in epoch_stats(curves, sorted({1, 3, 9, n_epochs})):
        out.append(f"| {e} | {cb:.2f} | {cl:.2f} | {100 * share:.0f}% |")
    return out


def main(argv: list[str]) -> int:
    for name in argv or ["digits-mlp", "breast_cancer-mlp", "charlm-gpt"]:
        print("\n".join(report(name)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
