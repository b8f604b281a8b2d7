"""One-step probe of MOBSTER's model: how good are its next proposals after a random start?

For each of ``--histories`` seeds, ``--trials`` random configurations of a benchmark go through
ASHA's rungs (eta 3 from epoch 1 to the last, the top third of each rung promoted), as MOBSTER's
first trials would; the reports carry the benchmark's per-epoch costs. Then MOBSTER's searcher
(random fraction 0, so every proposal comes from the model) proposes 4 configurations at once
(pending ones fantasized), once per variant: output warping off or on, cost-aware EI off or on,
the lengthscale prior (``--variants`` picks some).

Printed per variant: the proposals' mean normalized regret (the true value of the row or point
they land on; a median random configuration is 1.0, the optimum 0) and their cost per epoch
relative to the median random configuration's. A model that learned nothing proposes at about
1.0 regret. No simulated clock: this isolates the model from the scheduler.

    python -m benchmarks.proposal_probe --benchmark digits-mlp --histories 10 --trials 40
    python -m benchmarks.proposal_probe --benchmark digits-mlp --variants warped,warped+gamma
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

import numpy as np

VARIANTS = {
    "plain": {"output_warping": False},
    "warped": {"output_warping": True},
    "cost-aware": {"output_warping": False, "cost_aware": True},
    "warped+cost-aware": {"output_warping": True, "cost_aware": True},
    # the Gamma(3, 6) lengthscale prior (surrogates/gp.py LENGTHSCALE_PRIORS), mobster's default
    # since the eleventh session, with its default output warping
    "warped+gamma": {"output_warping": True, "lengthscale_prior": "gamma"},
    # each result as the best value its trial reported so far (best_so_far)
    "warped+gamma+best": {
        "output_warping": True,
        "lengthscale_prior": "gamma",
        "best_so_far": True,
    },
    "warped+best": {"output_warping": True, "best_so_far": True},
}
# the others with the dimension-scaled prior, mobster's default when they were measured
for _params in VARIANTS.values():
    _params.setdefault("lengthscale_prior", "dim_scaled")


def rung_history(bb: Any, study: Any, configs: list[dict], levels: list[int]) -> Any:
    """A History of ``configs`` run through ASHA's rungs at ``levels`` (top third promoted)."""
    from hpo.history import History
    from hpo.model import Report, Trial, TrialState

    h = History(study)
    for i, c in enumerate(configs):
        h.apply_trial(Trial(i + 1, 1, i, c, TrialState.COMPLETED, levels[-1], last_step=levels[0]))
    alive, clock, prev = list(range(len(configs))), 0.0, 0
    for level in levels:
        values = {}
        for i in alive:
            values[i] = bb.value(configs[i], level)
            cost = sum(bb.cost(configs[i], e) for e in range(prev + 1, level + 1))
            clock += 1.0
            h.apply_report(Report(i + 1, level, {"loss": values[i]}, cost, clock))
        alive = sorted(alive, key=values.get)[: max(1, len(alive) // 3)]
        prev = level
    return h


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", default="digits-mlp")
    ap.add_argument("--histories", type=int, default=10)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, of: {', '.join(VARIANTS)}",
    )
    args = ap.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        ap.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")

    from hpo.schedulers.base import rung_levels
    from hpo.schedulers.bo import MOBSTER

    from benchmarks.compare import make_benchmark
    from hpo.model import Fidelity, Objective, SchedulerSpec, Study
    from hpo.space import SearchSpace

    bb = make_benchmark(args.benchmark, args.noise)
    epochs = int(bb.max_epochs)
    space = SearchSpace.from_dict(bb.space)
    rng = np.random.default_rng(12345)
    reference = [space.sample(rng) for _ in range(400)]
    scale = statistics.median(bb.true_value(c) for c in reference) - bb.optimum
    epoch_cost = statistics.median(bb.cost(c, 1) for c in reference)
    levels = [int(x) for x in rung_levels(1, epochs, 3, True)]
    study = Study(
        name="probe",
        space=space,
        objectives=(Objective("loss"),),
        fidelity=Fidelity("epoch", 1, epochs),
        scheduler=SchedulerSpec("mobster", {}),
        id=1,
    )
    regret: dict[str, list[float]] = {v: [] for v in variants}
    cost: dict[str, list[float]] = {v: [] for v in variants}
    for seed in range(args.histories):
        rng = np.random.default_rng(seed)
        configs = [space.sample(rng) for _ in range(args.trials)]
        h = rung_history(bb, study, configs, levels)
        for name in variants:
            params = VARIANTS[name]
            searcher = MOBSTER(study, seed=seed, random_fraction=0, **params).searcher
            proposals = searcher.propose(h, [], n=4)
            regret[name].append(
                statistics.mean((bb.true_value(c) - bb.optimum) / scale for c in proposals)
            )
            cost[name].append(statistics.mean(bb.cost(c, 1) / epoch_cost for c in proposals))
        print(
            f"history {seed}: " + ", ".join(f"{v} {regret[v][-1]:.3f}" for v in variants),
            file=sys.stderr,
            flush=True,
        )
    print(
        f"# {args.benchmark}: {args.histories} histories of {args.trials} random trials through "
        f"ASHA's rungs {levels}, 4 proposals each"
    )
    print("| variant | mean regret | median | worst | cost per epoch / random's |")
    print("|---|---:|---:|---:|---:|")
    for v in variants:
        r = regret[v]
        print(
            f"| {v} | {statistics.mean(r):.3f} | {statistics.median(r):.3f} | {max(r):.3f} "
            f"| {statistics.mean(cost[v]):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
