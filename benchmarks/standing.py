"""Where issue 7's two targets stand, from the stored runs of all seven benchmarks at once.

Issue 7 asks of hpo's MOBSTER-like searcher, against the peers (Optuna, Syne Tune, Ray Tune) on
every benchmark: the lowest mean normalized regret at the end of the budget on most benchmarks,
and the best peer's final mean regret reached in at most half the simulated time that peer
takes. ``benchmarks.compare --saved-only`` prints one benchmark's full table; this script reads
the same stored runs (``compare --runs-dir``) for the seven settings that docs/benchmarks.md
reports and prints the summary table of "Where issue 7 stands": per benchmark the method's final,
the best peer with every seed stored and its final (a peer's unfinished seed already at regret 0
on a table counts as stored: nothing later changes its curve, ``unfinished.settled``; the row
says how many; ``--finished-only`` leaves them out, and ``--so-far`` takes the others on a table
as if they ended now, the peer's worst case), whether the method's final is the lowest,
the speed-up (``compare.speedups``) with its 10-90 % band over seed resamples
(``compare.bootstrap_target``), and the peers left out for want of seeds, which can still change
the best peer (``benchmarks.unfinished`` says by how much). The counts at the end are the two
targets' tallies.

    python -m benchmarks.standing --runs-dir RUNS [--method hpo-mobster] [--seeds 10]
        [--bootstrap 1000] [--benchmarks branin-mf,charlm-gpt]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.compare import (
    SavedRuns,
    band_cell,
    bootstrap_target,
    make_benchmark,
    mean_curve,
    ratio_cell,
    regret_cell,
    regret_curves,
    regret_scale,
    speedup_band,
    speedups,
    time_grid,
)
from benchmarks.seed_reach import load_runs
from benchmarks.unfinished import is_settled, trajectory_so_far

# the settings docs/benchmarks.md reports for issue 7 (those of benchmarks/device/compare_gp.sh):
# benchmark, simulated hours, noise; 4 workers each
SETTINGS = (
    ("branin-mf", 8.0, 0.0),
    ("hartmann6-mf", 8.0, 0.05),
    ("charlm-gpt", 0.5, 0.0),
    ("digits-mlp", 0.03, 0.0),
    ("breast_cancer-mlp", 0.01, 0.0),
    ("digits-mlp-best", 0.03, 0.0),
    ("breast_cancer-mlp-best", 0.01, 0.0),
)
WORKERS = 4


@dataclass
class Standing:
    """One benchmark's row: ``final`` is the method's mean final regret; ``peer`` the best peer
    among those with every seed (None: no such peer); ``speedup`` None where the method's mean
    curve never reaches that peer's final; ``band`` the 10th and 90th percentiles of the
    speed-up over resamples (0: not reached); ``partial`` the peers left out, each with why
    (``peer_runs``)."""

    benchmark: str
    final: float
    peer: str | None
    peer_final: float | None
    speedup: float | None
    band: tuple[float, float] | None
    partial: dict[str, str]
    # peer -> how many of its seeds are unfinished runs already settled, and how many are taken
    # as if they ended now (``--so-far``) (``peer_runs``)
    settled: dict[str, int] = field(default_factory=dict)
    so_far: dict[str, int] = field(default_factory=dict)

    @property
    def lowest(self) -> bool:
        return self.peer_final is not None and self.final <= self.peer_final

    @property
    def fast(self) -> bool:
        return self.speedup is not None and self.speedup >= 2.0


def peer_runs(
    saved: SavedRuns,
    peer: str,
    seeds: int,
    bb: Any = None,
    limit_s: float = 0.0,
    scale: float = 1.0,
    so_far: bool = False,
) -> tuple[list[list[tuple[float, float]]], int, int] | str:
    """The trajectories of seeds 0..seeds-1 of ``peer``, each file read once, how many of them
    come from an unfinished run that is already settled (``unfinished.settled``: at regret 0 on
    a table; looked for only where ``bb`` is given) and, with ``so_far``, how many from an
    unfinished run on a table taken as if it ended now (the peer's worst case); or why the peer
    is left out: that a seed was recorded as unavailable (its library could not run it), or how
    many seeds are finished (settled ones among them)."""
    got: list[Any] = [saved.load(peer, seed) for seed in range(seeds)]
    if any(isinstance(g, str) for g in got):
        return "unavailable"
    early = frozen = 0
    for seed, g in enumerate(got):
        part = saved.checkpoint(peer, seed)
        if g is None and bb is not None and part is not None and Path(part).exists():
            traj = trajectory_so_far(Path(part), bb)  # the checkpoint read once
            if traj and is_settled(traj, bb, limit_s, scale):
                got[seed], early = (traj, None), early + 1
            elif traj and so_far:
                got[seed], frozen = (traj, None), frozen + 1
    if any(g is None for g in got):
        n = sum(g is not None for g in got)
        said = [f"{early} of them settled"] if early else []
        said += [f"{frozen} of them as far as run"] if frozen else []
        return ", ".join([f"{n} finished", *said])
    return [g[0] for g in got], early, frozen


def standing(
    runs_dir: str,
    benchmark: str,
    hours: float,
    noise: float,
    method: str,
    seeds: int,
    reps: int,
    finished_only: bool = False,
    so_far: bool = False,
) -> Standing | None:
    """The row for one benchmark (None where ``method`` lacks some of its seeds there). A peer's
    unfinished seed that is settled counts as finished unless ``finished_only``; with ``so_far``
    a peer's other unfinished seeds on a table count as if they ended now."""
    saved = SavedRuns(runs_dir, benchmark, WORKERS, hours, noise, read_only=True)
    mine = load_runs(saved, method, seeds)
    if mine is None:
        return None
    bb = make_benchmark(benchmark, noise)
    scale = regret_scale(bb)
    grid = time_grid(hours * 3600)
    per_run = {method: regret_curves(mine, grid, bb, scale)}
    partial: dict[str, str] = {}
    early: dict[str, int] = {}
    frozen: dict[str, int] = {}
    limit_s = hours * 3600
    # a peer is any method not of hpo; one with a run or a checkpoint here but not every seed
    # finished is reported, not compared
    for peer in sorted(saved.methods(checkpoints=True) - {method}):
        if peer.startswith("hpo-"):
            continue
        got = peer_runs(saved, peer, seeds, None if finished_only else bb, limit_s, scale, so_far)
        if isinstance(got, str):
            partial[peer] = got
        else:
            per_run[peer] = regret_curves(got[0], grid, bb, scale)
            if got[1]:
                early[peer] = got[1]
            if got[2]:
                frozen[peer] = got[2]
    curves = {m: mean_curve(c) for m, c in per_run.items()}
    peers = [m for m in curves if m != method]
    if not peers:
        return Standing(
            benchmark, curves[method][-1], None, None, None, None, partial, early, frozen
        )
    best, speed = speedups(curves, grid, peers)
    band = None
    if reps > 0:
        ratios = bootstrap_target(per_run, grid, peers, reps)[method]["speedup"]
        band = speedup_band(ratios)
    return Standing(
        benchmark,
        curves[method][-1],
        best,
        curves[best][-1],
        speed[method][1],
        band,
        partial,
        early,
        frozen,
    )


def row(s: Standing) -> str:
    """The markdown row of ``s``."""
    if s.peer is None:
        peer, lowest, speed = "none with every seed", "—", "—"
    else:
        peer = f"{s.peer}, {regret_cell(s.peer_final or 0.0)}"
        said = [f"{s.settled[s.peer]} seeds settled"] if s.settled.get(s.peer) else []
        if s.so_far.get(s.peer):
            said.append(f"{s.so_far[s.peer]} as far as run")
        if said:
            peer += f" ({', '.join(said)})"
        lowest = "yes" if s.lowest else "no"
        speed = ratio_cell(s.speedup)
        if s.fast:
            speed = f"**{speed}**"
        if s.band is not None:
            speed += f" ({band_cell(*s.band)})"
    left = ", ".join(f"{m} ({why})" for m, why in s.partial.items()) or "—"
    return f"| {s.benchmark} | {regret_cell(s.final)} | {peer} | {lowest} | {speed} | {left} |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs-dir", required=True)
    ap.add_argument("--method", default="hpo-mobster")
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    ap.add_argument(
        "--bootstrap", type=int, default=1000, help="seed resamples for the band (0: none)"
    )
    ap.add_argument(
        "--benchmarks",
        default=",".join(b for b, _, _ in SETTINGS),
        help="comma-separated, from " + ", ".join(b for b, _, _ in SETTINGS),
    )
    ap.add_argument(
        "--finished-only",
        action="store_true",
        help="count only finished peer runs (not the unfinished ones already at regret 0 on a"
        " table)",
    )
    ap.add_argument(
        "--so-far",
        action="store_true",
        help="count a peer's other unfinished seeds on a table as if they ended now (its worst"
        " case: regret so far only falls); the row says how many",
    )
    args = ap.parse_args(argv)
    if args.finished_only and args.so_far:
        ap.error("--finished-only and --so-far exclude each other")
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    if args.bootstrap < 0:
        ap.error("--bootstrap must be 0 or more")
    known = {b: (h, n) for b, h, n in SETTINGS}
    names = [b for b in args.benchmarks.split(",") if b]
    unknown = [b for b in names if b not in known]
    if unknown or not names:
        ap.error(f"unknown benchmarks: {unknown}; choose from {', '.join(known)}")
    rows: list[Standing] = []
    skipped: list[str] = []
    for b in names:
        got = standing(
            args.runs_dir,
            b,
            *known[b],
            args.method,
            args.seeds,
            args.bootstrap,
            args.finished_only,
            args.so_far,
        )
        if got is None:
            skipped.append(b)
        else:
            rows.append(got)
    print(f"# {args.method} against the peers, {args.seeds} seeds, {WORKERS} workers")
    print(f"command: python -m benchmarks.standing {' '.join(argv or sys.argv[1:])}")
    band = f", 10-90 % over {args.bootstrap} resamples" if args.bootstrap else ""
    print(
        f"\n| benchmark | {args.method} final | best peer with every seed, final | lowest final? "
        f"| speed-up to that final{band} | peers left out (seeds finished) |"
    )
    print("|---|---:|---|:---:|---|---|")
    for s in rows:
        print(row(s))
    for b in skipped:
        print(f"| {b} | not every seed of {args.method} stored | | | | |")
    compared = [s for s in rows if s.peer is not None]
    lowest = [s.benchmark for s in compared if s.lowest]
    fast = [s.benchmark for s in compared if s.fast]
    print(f"\nlowest final: {len(lowest)} of {len(compared)} ({', '.join(lowest) or 'none'})")
    print(
        f"the best peer's final in at most half its time: {len(fast)} of {len(compared)} "
        f"({', '.join(fast) or 'none'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
