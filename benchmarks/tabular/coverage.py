"""How much of a table a scheduler's trials actually visit.

A table answers a configuration with its *nearest* row, so two different configurations in
the same row's cell get the same learning curve: a searcher that proposes near its incumbent
again and again spends epochs re-reading rows it has seen, which on a real objective would
have told it something new. This runs hpo's schedulers on a table (the simulated backend of
``benchmarks/compare.py``, same settings) and prints, per run, the trials, the distinct rows
they map to, the share of trained epochs spent on rows visited before, the most visited row's
count and the best rank (0 = the table's best row) among the visited rows.

    python -m benchmarks.tabular.coverage --benchmark breast_cancer-mlp --hours 0.01 \\
        --methods hpo-asha,hpo-mobster --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any


def coverage(bb: Any, trials: Sequence[tuple[int, dict[str, Any], float]]) -> dict[str, Any]:
    """Coverage of ``trials`` ((number, config, last fidelity reached)) on the table ``bb``.

    ``repeat_epochs`` is the share of all trained epochs spent by trials whose row an earlier
    trial (by number) had already been mapped to.
    """
    ordered = sorted(trials, key=lambda t: t[0])
    rows = [bb.nearest(cfg) for _, cfg, _ in ordered]
    visits = Counter(rows)
    seen: set[int] = set()
    epochs = repeat = 0.0
    for row, (_, _, last) in zip(rows, ordered, strict=True):
        epochs += last
        if row in seen:
            repeat += last
        seen.add(row)
    rank = {i: r for r, i in enumerate(sorted(range(len(bb.rows)), key=bb.best))}
    return {
        "trials": len(ordered),
        "distinct_rows": len(visits),
        "table_rows": len(bb.rows),
        "repeat_epochs": repeat / epochs if epochs else 0.0,
        "most_visits": visits.most_common(1)[0][1] if visits else 0,
        "best_rank": min((rank[i] for i in visits), default=None),
    }


def main(argv: list[str] | None = None) -> int:
    import logging

    from benchmarks.compare import (
        TABULAR,
        add_hpo_run_args,
        hpo_methods_and_seeds,
        hpo_scheduler,
        make_benchmark,
        run_hpo,
    )

    logging.getLogger("hpo").setLevel(logging.ERROR)  # trials cut by the time limit are expected

    ap = argparse.ArgumentParser(prog="python -m benchmarks.tabular.coverage", description=__doc__)
    add_hpo_run_args(
        ap,
        benchmark="breast_cancer-mlp",
        methods="hpo-asha,hpo-mobster",
        hours=0.01,
        choices=TABULAR,
    )
    args = ap.parse_args(argv)
    methods, seeds = hpo_methods_and_seeds(ap, args.methods, args.seeds)
    bb = make_benchmark(args.benchmark)
    print(f"# {bb.name}: {len(bb.rows)} rows, {args.workers} workers, {args.hours:g} h")
    print(
        "| method | seed | trials | distinct rows | epochs on repeated rows | most visits "
        "| best rank visited |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in methods:
        for seed in seeds:
            trials: list[tuple[int, dict[str, Any], float]] = []
            run_hpo(bb, hpo_scheduler(m), seed, args.workers, args.hours * 3600, trials_out=trials)
            c = coverage(bb, trials)
            print(
                f"| {m} | {seed} | {c['trials']} | {c['distinct_rows']} "
                f"| {100 * c['repeat_epochs']:.0f}% | {c['most_visits']} | {c['best_rank']} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
