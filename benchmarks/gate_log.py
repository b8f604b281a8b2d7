"""What MOBSTER's ``promote_by: auto`` gate saw in one run: the model's tau and the rung's.

``promote_by: auto`` ranks a rung by the model's predictions only while the model's held-out
predictions rank the best top results better than the rung's own results do
(``GPSearcher.held_out_agreement``, ``model_ranks_better``), by more than ``auto_z`` spreads of
the difference of two taus over the ``n`` trials compared (``tau_difference_sd``). This script
runs one seed of a method on the simulated clock with the searcher's ``held_out_agreement``
wrapped, records every new answer it gave (model tau, rung tau, n) with the simulated time of
the last report then (new: unlike that level's last answer; the scheduler asks about every
rung at each decision), and prints, per rung level and window of the budget: how many new answers,
the median difference in spreads (``z``), and the share of them that would hand the rung to the
model under ``auto_z`` 0 (any difference) and under 1. The run itself follows the method's own
``auto_z``; the two shares tell what each rule would have decided on the states it reached.

    python -m benchmarks.gate_log --benchmark charlm-gpt --hours 0.5 --seed 4 \\
        [--method hpo-mobster] [--noise 0] [--windows 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from hpo.schedulers.bo import model_beats_rung, tau_difference_sd

# (simulated time, level, model tau, rung tau, n): one answer of held_out_agreement
Answer = tuple[float, float, float, float | None, int]


def spread_z(model: float, rung: float | None, n: int) -> float:
    """The model's tau minus the rung's, in spreads of that difference over ``n`` trials (an
    all-tied rung counts as tau 0, as ``model_ranks_better`` takes it with ``auto_z`` above 0)."""
    return (model - (0.0 if rung is None else rung)) / tau_difference_sd(n)


def summarize(answers: Sequence[Answer], limit_s: float, n_windows: int) -> list[dict[str, Any]]:
    """Per (level, window) with answers: their count, median ``spread_z``, and the shares that
    hand the rung to the model under ``auto_z`` 0 and 1 (``model_beats_rung``, the searcher's
    own rule: with 0 an all-tied rung always goes to the model)."""
    rows = []
    width = limit_s / n_windows
    for level in sorted({a[1] for a in answers}):
        for w in range(n_windows):
            mine = [
                (m, g, n)
                for t, lv, m, g, n in answers
                if lv == level and min(int(t // width), n_windows - 1) == w
            ]
            if not mine:
                continue
            rows.append(
                {
                    "level": level,
                    "window": (w * width / 3600, (w + 1) * width / 3600),
                    "answers": len(mine),
                    "median z": statistics.median(spread_z(*a) for a in mine),
                    "share z > 0": sum(model_beats_rung(*a, 0.0) for a in mine) / len(mine),
                    "share z > 1": sum(model_beats_rung(*a, 1.0) for a in mine) / len(mine),
                }
            )
    return rows


def record(bench: Any, method: str, seed: int, limit_s: float) -> list[Answer]:
    """Run ``method`` (one of hpo's MOBSTER methods) for one seed and return every new answer of
    the gate, timed by the simulated time of the reports made by then (the executor's trace, in
    the order the history applied them)."""
    from hpo.schedulers.bo import GPSearcher

    from benchmarks.compare import hpo_scheduler, run_hpo

    raw: list[tuple[int, float, float, float | None, int]] = []
    last: dict[float, tuple[float, float | None, int]] = {}  # per level, its last answer
    original = GPSearcher.held_out_agreement

    def logged(self, history, level):
        got = original(self, history, level)
        if got is not None and got[0] is not None and last.get(float(level)) != got:
            last[float(level)] = got
            raw.append((history.report_revision, float(level), *got))
        return got

    trace: list[tuple[float, int, int, float]] = []
    GPSearcher.held_out_agreement = logged  # type: ignore[method-assign]
    try:
        run_hpo(bench, hpo_scheduler(method), seed, 4, limit_s, trials_out=[], trace_out=trace)
    finally:
        GPSearcher.held_out_agreement = original  # type: ignore[method-assign]
    times = sorted(t for t, *_ in trace)
    return [(times[min(rev, len(times)) - 1] if rev else 0.0, *rest) for rev, *rest in raw]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.compare import (
        HPO_METHODS,
        HPO_VARIANTS,
        SYNTHETIC,
        TABULAR,
        hpo_scheduler,
        make_benchmark,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--benchmark", required=True, choices=sorted([*SYNTHETIC, *TABULAR]))
    ap.add_argument("--hours", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--method", default="hpo-mobster")
    ap.add_argument("--windows", type=int, default=8)
    args = ap.parse_args(argv)
    mobsters = [m for m in (*HPO_METHODS, *HPO_VARIANTS) if hpo_scheduler(m)[0] == "mobster"]
    if args.method not in mobsters:
        ap.error(f"--method must be one of hpo's MOBSTER methods: {mobsters}")
    if args.hours <= 0 or args.windows < 1:
        ap.error("--hours must be positive and --windows at least 1")
    limit_s = args.hours * 3600
    answers = record(make_benchmark(args.benchmark, args.noise), args.method, args.seed, limit_s)
    print(f"# {args.benchmark}: {args.method}, seed {args.seed}, {len(answers)} answers")
    print(
        "| level | window (h) | answers | median z "
        "| share to the model, auto_z 0 | share, auto_z 1 |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for r in summarize(answers, limit_s, args.windows):
        a, b = r["window"]
        print(
            f"| {r['level']:g} | {a:.3g}-{b:.3g} | {r['answers']} | {r['median z']:.2f} "
            f"| {r['share z > 0']:.2f} | {r['share z > 1']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
