"""Where a multi-fidelity run's epochs go over time: new trials, and how far they get.

For each window of the simulated budget this prints the trials started in it (first report in
the window), the share of them that reach each rung level by the end of the run, the results at
the maximum fidelity reported in it and, on the synthetic benchmarks, the best true normalized
regret among those (the configurations the incumbent can come from), and, at the window's end,
Kendall's tau between each lower level and the top over the best results at the top
(``top_agreement``), and what MOBSTER's ``acquisition_fidelity: gated`` sees there: the pooled
tau of trials promoted between rungs, BOHB's level, and the level it acquires at (``gate_at``).
A GP-driven search late in
a run proposes configurations near its incumbent; if the low fidelities rank those differently
from the maximum one (branin-mf's low fidelities have their optimum elsewhere), asynchronous
successive halving stops them at the low rungs and almost none is measured at the maximum
fidelity, so the incumbent stops improving (docs/benchmarks.md, "Brackets").

    python -m benchmarks.rung_reach --benchmark branin-mf --hours 8 --seeds 2,3 \\
        --methods hpo-mobster,hpo-mobster-hb
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

# as adaptive brackets compare them (hpo.schedulers.asha): the best results at the top level whose
# ranking the lower levels are compared with, and the fewest that give a tau
from hpo.schedulers.asha import AGREE_MIN as MIN_PAIRS
from hpo.schedulers.asha import AGREE_TOP_K as TOP_K
from hpo.schedulers.asha import kendall_tau


def top_agreement(
    trace: Sequence[tuple[float, int, int, float]], until: float, levels: Sequence[int]
) -> dict[int, float | None]:
    """Kendall's tau, per level below the top, between the values at that level and at the top of
    the ``TOP_K`` trials with the lowest top-level values reported by ``until`` (among those with a
    value at both; None below ``MIN_PAIRS``). Where the low levels rank the best configurations
    as the top one does, tau is near 1; on branin-mf late in a run it is negative."""
    top = max(levels)
    vals: dict[int, dict[int, float]] = {}
    for t, trial, epoch, v in trace:
        if t <= until:
            vals.setdefault(trial, {})[epoch] = v
    out: dict[int, float | None] = {}
    for r in levels:
        if r == top:
            continue
        both = sorted((d[top], d[r]) for d in vals.values() if top in d and r in d)[:TOP_K]
        enough = len(both) >= MIN_PAIRS
        out[r] = kendall_tau([a for a, _ in both], [b for _, b in both]) if enough else None
    return out


def gate_at(
    trace: Sequence[tuple[float, int, int, float]], until: float, levels: Sequence[int], d: int
) -> tuple[float | None, int, int, int]:
    """What MOBSTER's ``acquisition_fidelity="gated"`` sees at ``until`` (the reports made by
    then, at the rung ``levels``, of a space of ``d`` parameters): (pooled Kendall's tau or None,
    trials pooled, BOHB's level, the level gated acquires at), from the searcher's own functions
    (``hpo.schedulers.bo.bohb_level``, ``gated_level``, ``pooled_agreement``)."""
    from hpo.schedulers.bo import bohb_level, gated_level, pooled_agreement

    per_level: dict[float, dict[int, float]] = {}
    for t, trial, epoch, v in trace:
        if t <= until and epoch in levels:
            per_level.setdefault(epoch, {})[trial] = v
    top = max(levels)
    start = bohb_level(per_level, levels, top, d)
    agreement = pooled_agreement(per_level, levels, top)
    tau, n = (None, 0) if agreement is None else agreement
    return tau, n, int(start), int(gated_level(per_level, levels, start, top))


def windows(
    trace: Sequence[tuple[float, int, int, float]],
    limit_s: float,
    n_windows: int,
    levels: Sequence[int],
    true_regret: Any = None,
    configs: dict[int, dict[str, Any]] | None = None,
    d: int | None = None,
) -> list[dict[str, Any]]:
    """Per window: trials started, share reaching each of ``levels``, results at the top level,
    and ``top_agreement`` at the window's end; with ``d`` (the space's parameters), ``gate_at``
    the window's end too.

    ``trace``: (simulated time, trial number, epoch, value) of every report, in time order.
    ``true_regret(config)`` (with ``configs``: trial number -> config), when given, adds the
    best true regret among the window's results at the top level.
    """
    first: dict[int, float] = {}
    reached: dict[int, int] = {}
    for t, trial, epoch, _ in trace:
        first.setdefault(trial, t)
        reached[trial] = max(reached.get(trial, 0), epoch)
    top = max(levels)
    width = limit_s / n_windows

    def window(t: float) -> int:  # the last window includes the limit itself
        return min(int(t // width), n_windows - 1)

    out = []
    for w in range(n_windows):
        started = [n for n, t in first.items() if window(t) == w]
        full = [n for t, n, e, _ in trace if window(t) == w and e == top]
        row: dict[str, Any] = {
            "window_h": (w * width / 3600, (w + 1) * width / 3600),
            "started": len(started),
            "reach": {
                r: (sum(reached[n] >= r for n in started) / len(started) if started else None)
                for r in levels
            },
            "top_results": len(full),
            "agreement": top_agreement(trace, (w + 1) * width, levels),
        }
        if d is not None:
            row["gate"] = gate_at(trace, (w + 1) * width, levels, d)
        if true_regret is not None and configs is not None:
            row["best_top_regret"] = min((true_regret(configs[n]) for n in full), default=None)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    from hpo.schedulers.base import rung_levels

    from benchmarks.compare import (
        SYNTHETIC,
        add_hpo_run_args,
        hpo_methods_and_seeds,
        hpo_scheduler,
        make_benchmark,
        quiet,
        regret_scale,
        run_hpo,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_hpo_run_args(ap, benchmark="branin-mf")
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.0, help="as benchmarks.compare's --noise")
    args = ap.parse_args(argv)
    methods, seeds = hpo_methods_and_seeds(ap, args.methods, args.seeds)
    if args.hours <= 0 or args.windows < 1 or args.noise < 0:
        ap.error("--hours and --windows must be positive, --noise not negative")
    with quiet():  # no warnings or log records below ERROR while it runs
        bb = make_benchmark(args.benchmark, args.noise)
        levels = [int(x) for x in rung_levels(1, bb.max_epochs, 3, True)]
        regret = None
        if args.benchmark in SYNTHETIC:
            scale = regret_scale(bb)

            def regret(config: dict[str, Any]) -> float:
                return max(bb.true_value(config) - bb.optimum, 0.0) / scale

        print(
            f"{args.benchmark}, {args.workers} workers, {args.hours:g} h, noise {args.noise:g};"
            f" rungs {levels}"
        )
        head = [
            "window (h)",
            "trials started",
            *[f"reach {r}" for r in levels[1:]],
            "results at top",
        ]
        head += [f"tau {r}" for r in levels[:-1]]
        head += ["pooled tau (trials)", "bohb level", "gated level"]
        if regret is not None:
            head.append("best true regret at top")
        for m in methods:
            for seed in seeds:
                trace: list[tuple[float, int, int, float]] = []
                trials: list[tuple[int, dict[str, Any], float]] = []
                run_hpo(
                    bb,
                    hpo_scheduler(m),
                    seed,
                    args.workers,
                    args.hours * 3600,
                    trials_out=trials,
                    trace_out=trace,
                )
                configs = {n: c for n, c, _ in trials}
                rows = windows(
                    trace, args.hours * 3600, args.windows, levels, regret, configs, len(bb.space)
                )
                print(f"\n{m}, seed {seed}\n\n| " + " | ".join(head) + " |")
                print("|" + "---|" * len(head))
                for r in rows:
                    cells = [f"{r['window_h'][0]:.2f}-{r['window_h'][1]:.2f}", str(r["started"])]
                    cells += [
                        "—" if r["reach"][x] is None else f"{r['reach'][x]:.0%}" for x in levels[1:]
                    ]
                    cells.append(str(r["top_results"]))
                    agree = [r["agreement"][x] for x in levels[:-1]]
                    cells += ["—" if v is None else f"{v:+.2f}" for v in agree]
                    tau, n, start, gated = r["gate"]
                    cells += ["—" if tau is None else f"{tau:+.2f} ({n})", str(start), str(gated)]
                    if regret is not None:
                        b = r["best_top_regret"]
                        cells.append("—" if b is None else f"{b:.1e}")
                    print("| " + " | ".join(cells) + " |")
        return 0


if __name__ == "__main__":
    sys.exit(main())
