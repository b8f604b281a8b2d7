"""Which seeds set a speed-up: each stored run's regret over time and when it reaches a target.

``benchmarks.compare``'s speed-up reads the simulated time at which the *mean* of the seeds'
regret curves reaches the best peer's final mean regret, so one slow seed can hold it back
(docs/benchmarks.md, "Where issue 7 stands"). This script reads the stored runs of one method
(``benchmarks.compare --runs-dir``) and prints, per seed, the normalized regret at eighths of the
budget and the first simulated time at which that run is at or below the target: a number, or
the final mean regret of a peer's stored runs (``--target optuna-gp``, default: the best peer's
as ``compare`` picks it, among the peers stored for the same setting). The last rows give the
mean curve's time to the target and how many seeds are at or below it at half that peer's time.

    python -m benchmarks.seed_reach --benchmark branin-mf --hours 8 --method hpo-mobster \\
        --runs-dir RUNS [--seeds 10] [--target optuna-gp | --target 1.6e-6]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from benchmarks.compare import (
    SavedRuns,
    add_setting_args,
    make_benchmark,
    mean_curve,
    regret_cell,
    regret_curves,
    regret_scale,
    speedups,
    time_grid,
    time_to_reach,
)

FRACTIONS = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)


def load_runs(saved: SavedRuns, method: str, seeds: int) -> list[list[tuple[float, float]]] | None:
    """The trajectories of seeds 0..seeds-1 of ``method`` (``SavedRuns.load``, which refuses a
    run made with other settings than the method has now); None if one is missing or is a
    peer's "unavailable" record."""
    out = []
    for seed in range(seeds):
        got = saved.load(method, seed)
        if got is None or isinstance(got, str):
            return None
        out.append(got[0])
    return out


def seed_table(
    per_run: list[list[float]], grid: list[float], target: float, half_peer: float | None
) -> dict[str, Any]:
    """Per seed its regret at ``FRACTIONS`` of the budget and its first time at the target; the
    mean curve's time to the target; the seeds at or below it by ``half_peer`` (half the peer's
    own time to its final)."""
    n = len(grid)
    rows = []
    for curve in per_run:
        at = [curve[max(round(f * n) - 1, 0)] for f in FRACTIONS]
        rows.append({"at": at, "reach": time_to_reach(curve, grid, target)})
    mean = mean_curve(per_run)
    by_half = None
    if half_peer is not None:
        by_half = sum(1 for r in rows if r["reach"] is not None and r["reach"] <= half_peer)
    return {"rows": rows, "mean_reach": time_to_reach(mean, grid, target), "by_half": by_half}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_setting_args(ap)
    ap.add_argument("--method", required=True)
    ap.add_argument("--runs-dir", required=True)
    ap.add_argument(
        "--target",
        default=None,
        help="a normalized regret, or a peer whose final mean regret is the target (default: "
        "the stored peer with the lowest final mean regret)",
    )
    args = ap.parse_args(argv)
    saved = SavedRuns(
        args.runs_dir, args.benchmark, args.workers, args.hours, args.noise, read_only=True
    )
    folder = saved.dir
    assert folder is not None
    runs = load_runs(saved, args.method, args.seeds)
    if runs is None:
        ap.error(f"{folder} does not hold {args.method}'s seeds 0..{args.seeds - 1}")
    bb = make_benchmark(args.benchmark, args.noise)
    scale = regret_scale(bb)
    grid = time_grid(args.hours * 3600)

    peer_time: float | None = None
    target: float | None = None
    with contextlib.suppress(ValueError):  # not a number: a peer's name
        target = float(args.target) if args.target is not None else None
    label = "" if target is None else f"{target:g}"
    if target is None:
        names = [args.target] if args.target else None
        if names is None:
            names = sorted(m for m in saved.methods() if not m.startswith("hpo-"))
        curves = {
            m: mean_curve(regret_curves(r, grid, bb, scale))
            for m in names
            if (r := load_runs(saved, m, args.seeds)) is not None
        }
        if not curves:
            ap.error(f"no peer with all {args.seeds} seeds in {folder} to take the target from")
        peer, speed = speedups(curves, grid, list(curves))  # the best peer, as compare picks it
        target, peer_time = curves[peer][-1], speed[peer][0]
        label = f"{peer}'s final {regret_cell(target)}"
    table = seed_table(
        regret_curves(runs, grid, bb, scale),
        grid,
        target,
        None if peer_time is None else peer_time / 2,
    )
    hours = " | ".join(f"{f * args.hours:g} h" for f in FRACTIONS)
    print(f"# {args.benchmark}: {args.method}, {args.seeds} seeds, target {label}")
    print(f"| seed | {hours} | first at target (h) |")
    print("|---:|" + "---:|" * (len(FRACTIONS) + 1))
    for seed, row in enumerate(table["rows"]):
        cells = " | ".join(regret_cell(v) for v in row["at"])
        reach = "never" if row["reach"] is None else f"{row['reach'] / 3600:.2f}"
        print(f"| {seed} | {cells} | {reach} |")
    mean_reach = table["mean_reach"]
    print(
        "mean curve at the target: "
        + ("never" if mean_reach is None else f"{mean_reach / 3600:.2f} h")
        + (
            ""
            if peer_time is None
            else f"; the peer's own time {peer_time / 3600:.2f} h, half of it "
            f"{peer_time / 7200:.2f} h, by which {table['by_half']} of {args.seeds} seeds are "
            "at the target"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
