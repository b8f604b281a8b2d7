"""Two of hpo's methods compared seed by seed, on runs made on the same machine with the same code.

The same code on another machine (or the same machine name with other library builds) is
another draw of every seed: a GP search's floating point decides its next proposal, so its runs
diverge within a few events (docs/benchmarks.md, "Where the gate fires"). Two variants that make
the same decisions on a seed then give identical trajectories only where they ran on one host;
comparing them across hosts measures the hosts. This script reads the stored runs of
``benchmarks.compare --runs-dir`` and prints, per seed, whether the two runs are identical (the
variants made the same decisions all run), each final normalized regret and their difference,
the count of seeds where the second is lower, equal and higher, and a paired bootstrap of the
mean difference (10-90 % of the resamples). Runs whose recorded origins (``"from"``: host, stack)
differ are flagged: their difference is not paired.

``--runs-dir`` may be given more than once, for pairs made on several machines (each directory
one machine, say): every directory's pairs are rows of their own, and the summary pools them. A
seed on another machine is another draw, but its first events (the initial design) are the
same, so pooled pairs of one seed are not fully independent draws.

    python -m benchmarks.paired --benchmark breast_cancer-mlp-best --hours 0.01 --seeds 10 \\
        --methods hpo-mobster-acqbohb,hpo-mobster-gated --runs-dir RUNS [--runs-dir RUNS2]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
from pathlib import Path
from typing import Any


def host_of(origin: str) -> str:
    """The machine part of a run's origin (``compare.run_origin``): the host label and, where
    recorded, the numerical stack (with the interpreter that ran a Syne Tune legacy search,
    "; run by Python ...", ``synetune_legacy_runner.origin_here``), without the code and the
    date; for a run resumed elsewhere, every part in turn."""
    parts = []
    for part in origin.split("; then "):
        host, _, rest = part.partition(", code of ")
        # the stack is the parenthesis after the date (the code may hold one of its own: "an
        # unknown commit (no git here; ...)")
        m = re.search(r", \d{4}-\d{2}-\d{2}(?P<stack> \(.*\)(?:; run by .*)?)?$", rest)
        parts.append(host + ((m.group("stack") or "") if m else ""))
    return "; then ".join(parts)


def paired_rows(
    runs_dir: Path, methods: tuple[str, str], seeds: list[int], final: Any
) -> list[dict[str, Any]]:
    """Per seed with both runs stored: identical trajectories?, each final (``final(trajectory)``),
    the difference (second minus first) and whether both ran on one host (``host_of``)."""
    rows = []
    for seed in seeds:
        data = []
        for m in methods:
            path = runs_dir / f"{m}-seed{seed}.json"
            if not path.exists():
                break
            run = json.loads(path.read_text())
            if "trajectory" not in run:
                break
            data.append(run)
        if len(data) < 2:
            continue
        a, b = (final([tuple(p) for p in d["trajectory"]]) for d in data)
        hosts = [host_of(str(d.get("from", "unknown"))) for d in data]
        rows.append(
            {
                "seed": seed,
                "identical": data[0]["trajectory"] == data[1]["trajectory"],
                "finals": (a, b),
                "diff": b - a,
                "same_host": hosts[0] == hosts[1] and hosts[0] != "unknown",
                "hosts": hosts,
            }
        )
    return rows


def bootstrap_mean(xs: list[float], n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """10th and 90th percentiles of the mean of ``n`` resamples of ``xs`` with replacement."""
    from benchmarks.compare import _percentile

    rng = random.Random(seed)
    means = [statistics.mean(rng.choices(xs, k=len(xs))) for _ in range(n)]
    return _percentile(means, 0.1), _percentile(means, 0.9)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.compare import (
        SavedRuns,
        add_setting_args,
        make_benchmark,
        regret_at,
        regret_scale,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setting_args(ap)
    ap.add_argument("--methods", required=True, help="two methods, comma-separated")
    ap.add_argument(
        "--runs-dir",
        required=True,
        action="append",
        help="a directory of stored runs (benchmarks.compare --runs-dir); again for more",
    )
    args = ap.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    if len(methods) != 2 or methods[0] == methods[1]:
        ap.error("--methods must name two different methods")
    if args.seeds < 1 or args.hours <= 0:
        ap.error("--seeds and --hours must be positive")
    dirs = []
    for runs_dir in args.runs_dir:
        d = SavedRuns(runs_dir, args.benchmark, args.workers, args.hours, args.noise, True).dir
        assert d is not None
        if not d.is_dir():
            ap.error(f"no stored runs in {d}")
        dirs.append((runs_dir, d))
    bb = make_benchmark(args.benchmark, args.noise)
    scale, limit = regret_scale(bb), args.hours * 3600

    def final(traj: list[tuple[float, float]]) -> float:
        return regret_at(traj, limit, bb, scale)

    rows = []
    for runs_dir, d in dirs:
        for r in paired_rows(d, methods, list(range(args.seeds)), final):
            rows.append({**r, "runs": runs_dir})
    if not rows:
        ap.error(
            f"no seed below {args.seeds} has stored runs of both {methods[0]} and {methods[1]}"
        )
    print(f"{args.benchmark}: {methods[1]} against {methods[0]}, final normalized regret\n")
    many = len(dirs) > 1
    head = f"| seed | identical runs | {methods[0]} | {methods[1]} | difference | one host |"
    print(("| runs " if many else "") + head)
    print(("|:---" if many else "") + "|---:|:---:|---:|---:|---:|:---:|")
    for r in rows:
        a, b = r["finals"]
        same = "yes" if r["same_host"] else "no: " + " / ".join(r["hosts"])
        ident = "yes" if r["identical"] else "no"
        print(
            (f"| {r['runs']} " if many else "")
            + f"| {r['seed']} | {ident} | {a:.4g} | {b:.4g} | {r['diff']:+.4g} | {same} |"
        )
    diffs = [r["diff"] for r in rows]
    lo, hi = bootstrap_mean(diffs)
    lower, higher = sum(x < 0 for x in diffs), sum(x > 0 for x in diffs)
    print(
        f"\n{len(rows)} pairs, {sum(r['identical'] for r in rows)} identical, "
        f"{sum(not r['same_host'] for r in rows)} not on one host; mean "
        f"{statistics.mean(r['finals'][0] for r in rows):.4g} against "
        f"{statistics.mean(r['finals'][1] for r in rows):.4g}, mean difference "
        f"{statistics.mean(diffs):+.4g} (10-90 % of 1,000 resamples: {lo:+.4g} to {hi:+.4g}); "
        f"{methods[1]} lower in {lower}, equal in {len(diffs) - lower - higher}, higher in {higher}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
