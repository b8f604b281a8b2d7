"""How often a run's trials sit on the boundary of the search box.

A GP whose lengthscales are long next to the data is close to linear, and the improvement it
expects is then largest at a corner of the box. Once the data lie on one face (a parameter at its
bound), the model has no evidence that the parameter matters, the acquisition is flat along it,
and the acquisition search, which starts near the best points, stays on that face
(docs/benchmarks.md, "The default measured again"). Per method and seed this prints the true
normalized regret at the end (synthetic benchmarks), the trials, and, among the trials after the
first ``--skip`` (the random initial design), those with any parameter at a bound, those with
every parameter at one (corners), and the parameter most often at a bound.

    python -m benchmarks.boundary --benchmark hartmann6-mf --noise 0.05 --seeds 0,4,5 \\
        --methods hpo-mobster,hpo-mobster-gamma
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

EPS = 1e-6  # of a parameter's range: closer to a bound than this counts as on it


def at_bounds(config: Mapping[str, Any], space: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The numeric parameters of ``config`` at the low or high bound of their range in ``space``
    (a benchmark's ``{name: {"low": .., "high": ..}}``; parameters without a range are skipped)."""
    out = []
    for name, dom in space.items():
        if "low" not in dom or "high" not in dom or name not in config:
            continue
        lo, hi = float(dom["low"]), float(dom["high"])
        u = (float(config[name]) - lo) / (hi - lo)
        if u <= EPS or u >= 1 - EPS:
            out.append(name)
    return out


def summary(
    configs: Sequence[Mapping[str, Any]], space: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Counts over ``configs``: ``n``, ``any`` (some parameter at a bound), ``corner`` (every
    ranged parameter at one), and ``by_param`` (a Counter of parameters at a bound)."""
    ranged = [k for k, d in space.items() if "low" in d and "high" in d]
    by_param: Counter[str] = Counter()
    n_any = corners = 0
    for c in configs:
        hit = at_bounds(c, space)
        by_param.update(hit)
        n_any += bool(hit)
        corners += bool(ranged) and len(hit) == len(ranged)
    return {"n": len(configs), "any": n_any, "corner": corners, "by_param": by_param}


def main(argv: list[str] | None = None) -> int:
    from benchmarks import compare

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    compare.add_hpo_run_args(ap, benchmark="hartmann6-mf")
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--skip", type=int, default=10, help="initial trials left out of the counts")
    args = ap.parse_args(argv)
    methods, seeds = compare.hpo_methods_and_seeds(ap, args.methods, args.seeds)
    if args.hours <= 0 or args.skip < 0 or args.noise < 0:
        ap.error("--hours must be positive, --skip and --noise not negative")
    with compare.quiet():  # no warnings or log records below ERROR while it runs
        bb = compare.make_benchmark(args.benchmark, args.noise)
        synthetic = args.benchmark in compare.SYNTHETIC
        scale = compare.regret_scale(bb) if synthetic else 1.0
        head = "| method | seed | final true regret | trials | at a bound | at a corner |"
        head += " most on one |"
        rule = "|---|---:|---:|---:|---:|---:|---|"
        print(
            f"{args.benchmark}, noise {args.noise:g}, {args.workers} workers, {args.hours:g} h; "
            f"counts after the first {args.skip} trials\n\n{head}\n{rule}"
        )
        for m in methods:
            for seed in seeds:
                trials: list[tuple[int, dict[str, Any], float]] = []
                traj = compare.run_hpo(
                    bb,
                    compare.hpo_scheduler(m),
                    seed,
                    args.workers,
                    args.hours * 3600,
                    trials_out=trials,
                )
                later = [c for _, c, _ in sorted(trials, key=lambda t: t[0])[args.skip :]]
                s = summary(later, bb.space)
                final = (
                    ""
                    if not synthetic or not traj
                    else compare.regret_cell((traj[-1][1] - bb.optimum) / scale)
                )
                top = s["by_param"].most_common(1)
                most = f"{top[0][0]} ({top[0][1]})" if top else "none"
                print(
                    f"| {m} | {seed} | {final} | {len(trials)} | {s['any']} of {s['n']} | "
                    f"{s['corner']} | {most} |"
                )
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
