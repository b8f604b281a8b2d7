"""Where a GP scheduler's real time goes in one run of the comparison's simulated clock.

One (method, seed) run of ``benchmarks.compare`` (same benchmark, 4 workers, same budget), with
``GPSearcher.propose`` and ``surrogates.gp.propose_log_ei`` timed. Printed per method: the
run's real seconds, the trials it started, the epochs they trained (more, cheaper trials in the
same simulated time mean more proposals), the proposals and how many of them came from the
acquisition (the rest: the initial design and random draws), the real seconds in each, the mean
GP training set, and for ``mobster`` the fidelity levels its acquisition was taken at
(``acquisition_fidelity``) with the share of model proposals at each; with ``gated``, how many
of its level checks moved the acquisition from BOHB's rung to the maximum (``gated_level``).

    python -m benchmarks.propose_time --benchmark charlm-gpt --seed 0 --hours 0.5 \\
        --methods hpo-mobster-acqmax,hpo-mobster
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any


def profile(bench: str, method: str, seed: int, hours: float, noise: float) -> dict[str, Any]:
    """Run one seed of ``method`` with the searcher's proposals timed (patched for the run)."""
    from hpo.schedulers import bo
    from hpo.surrogates import gp

    from benchmarks.compare import hpo_scheduler, make_benchmark, run_hpo

    stats: Counter[str] = Counter()
    levels: Counter[float] = Counter()
    propose, acquire = bo.GPSearcher.propose, gp.propose_log_ei

    def timed_propose(self: Any, history: Any, pending: Any, n: int = 1) -> Any:
        # both are records the searcher sets when it fits (bo.py): cleared, they say whether
        # this call fitted a model and where its acquisition was
        self.last_training_size, self.last_acquisition_level = 0, None
        t0 = time.perf_counter()
        out = propose(self, history, pending, n)
        stats["propose_s"] += time.perf_counter() - t0  # type: ignore[assignment]
        stats["proposals"] += n
        if self.last_training_size:
            stats["fits"] += 1
            stats["train_points"] += self.last_training_size
            if self.last_acquisition_level is not None:
                levels[float(self.last_acquisition_level)] += n
        return out

    def timed_acquire(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = acquire(*args, **kwargs)
        stats["acquire_s"] += time.perf_counter() - t0  # type: ignore[assignment]
        stats["acquisitions"] += 1
        return out

    gated = bo.gated_level

    def counted_gate(per_level: Any, levels_: Any, start: float, target: float) -> float:
        level = gated(per_level, levels_, start, target)
        stats["gate_checks"] += 1
        stats["gate_fired"] += level != start
        return level

    bo.GPSearcher.propose, gp.propose_log_ei = timed_propose, timed_acquire  # type: ignore
    bo.gated_level = counted_gate  # type: ignore[assignment]
    try:
        trials: list[tuple[int, dict[str, Any], float]] = []
        t0 = time.perf_counter()
        run_hpo(
            make_benchmark(bench, noise), hpo_scheduler(method), seed, 4, hours * 3600, None, trials
        )
        wall = time.perf_counter() - t0
    finally:
        bo.GPSearcher.propose, gp.propose_log_ei = propose, acquire  # type: ignore
        bo.gated_level = gated  # type: ignore[assignment]
    return {
        "wall_s": wall,
        "trials": len(trials),
        "epochs": sum(t[2] for t in trials),
        **stats,
        "levels": dict(sorted(levels.items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmark", default="charlm-gpt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hours", type=float, default=0.5, help="simulated time budget")
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--methods", default="hpo-mobster-acqmax,hpo-mobster")
    args = ap.parse_args(argv)
    print(f"{args.benchmark}, seed {args.seed}, {args.hours:g} simulated hours, 4 workers")
    print(
        "| method | real s | trials | epochs | proposals (from the model) | s proposing "
        "| s in log EI | mean GP points | acquisition levels (share of model proposals) "
        "| gated: moved to the maximum (checks) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for m in args.methods.split(","):
        r = profile(args.benchmark, m, args.seed, args.hours, args.noise)
        fits = max(1, r.get("fits", 0))
        total = sum(r["levels"].values()) or 1
        levels = ", ".join(f"{z:g}: {k / total:.0%}" for z, k in r["levels"].items()) or "—"
        print(
            f"| {m} | {r['wall_s']:.0f} | {r['trials']} | {r['epochs']:.0f} | "
            f"{r.get('proposals', 0)} ({r.get('acquisitions', 0)}) | {r.get('propose_s', 0):.0f} | "
            f"{r.get('acquire_s', 0):.0f} | {r.get('train_points', 0) / fits:.0f} | {levels} | "
            + (f"{r['gate_fired']} ({r['gate_checks']})" if r.get("gate_checks") else "—")
            + " |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
