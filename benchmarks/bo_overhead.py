"""Suggest latency of the GP searcher (schedulers/bo.py) against Optuna's GPSampler and TPESampler.

Every method gets the same finished trials: ``n`` configurations drawn uniformly from a 5-d box
``x_i`` in [-5, 5] with the sphere's value, then asks for ``--asks`` suggestions one after the
other, each followed by its (cheap) result, as a sequential study would. Timed: the suggestion
only (hpo: ``GPSearcher.propose``; Optuna: ``study.ask()`` and 5 ``suggest_float``), with no
storage in the way (hpo reads an in-memory ``History``; Optuna an in-memory storage).

* ``hpo-bo``: ``GPSearcher`` with its defaults (training set capped at ``max_points=500``;
  hyperparameters refitted at milestones of the data size, warm-started). The first suggestion
  of a fresh process fits the milestone chain and is listed apart ("first").
* ``optuna-gp``: ``optuna.samplers.GPSampler(seed=0)``; ``optuna-tpe``: ``TPESampler(seed=0)``.

    python -m benchmarks.bo_overhead --sizes 100,1000,5000 --asks 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

DIM = 5
LOW, HIGH = -5.0, 5.0
METHODS = ("hpo-bo", "optuna-gp", "optuna-tpe")


def _sphere(x: list[float]) -> float:
    return float(sum(v * v for v in x))


def _data(n: int, seed: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return rng.uniform(LOW, HIGH, size=(n, DIM)).tolist()


def time_hpo(n: int, asks: int) -> tuple[float, list[float], int]:
    """(first suggestion s, later suggestions s, training points) for the GP searcher."""
    from hpo.schedulers.bo import GPSearcher

    from hpo.history import History
    from hpo.model import Objective, Report, Study, Trial, TrialState
    from hpo.space import SearchSpace

    space = SearchSpace.from_dict(
        {f"x{i}": {"type": "float", "low": LOW, "high": HIGH} for i in range(DIM)}
    )
    study = Study(name="bench", space=space, objectives=(Objective("loss"),), id=1)
    h = History(study)

    def add(number: int, x: list[float]) -> None:
        cfg = {f"x{i}": v for i, v in enumerate(x)}
        h.apply_trial(Trial(number + 1, 1, number, cfg, TrialState.COMPLETED, 1.0, last_step=1.0))
        h.apply_report(Report(number + 1, 1.0, {"loss": _sphere(x)}, None, float(number)))

    for i, x in enumerate(_data(n)):
        add(i, x)
    searcher = GPSearcher(study, seed=0)
    times = []
    for k in range(asks + 1):
        t0 = time.perf_counter()
        (cfg,) = searcher.propose(h, [], 1)
        times.append(time.perf_counter() - t0)
        add(n + k, [cfg[f"x{i}"] for i in range(DIM)])
    return times[0], times[1:], searcher.last_training_size


def time_optuna(method: str, n: int, asks: int) -> tuple[float, list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.GPSampler(seed=0)
        if method == "optuna-gp"
        else optuna.samplers.TPESampler(seed=0)
    )
    study = optuna.create_study(sampler=sampler)
    dists = {f"x{i}": optuna.distributions.FloatDistribution(LOW, HIGH) for i in range(DIM)}
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={f"x{i}": v for i, v in enumerate(x)}, distributions=dists, value=_sphere(x)
            )
            for x in _data(n)
        ]
    )
    times = []
    for _ in range(asks + 1):
        t0 = time.perf_counter()
        trial = study.ask()
        x = [trial.suggest_float(f"x{i}", LOW, HIGH) for i in range(DIM)]
        times.append(time.perf_counter() - t0)
        study.tell(trial, _sphere(x))
    return times[0], times[1:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bo_overhead", description=__doc__)
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--asks", type=int, default=5, help="timed suggestions after the first")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    print(
        f"# suggest latency, {DIM}-d sphere, {args.asks} timed asks after a first one; "
        f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    )
    print(f"command: python -m benchmarks.bo_overhead {' '.join(argv or sys.argv[1:])}\n")
    print("| observations | method | first s | s/suggestion (mean) | training points |")
    print("|---:|---|---:|---:|---:|")
    results: dict[tuple[int, str], float] = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        for m in methods:
            points: Any = "all"
            if m == "hpo-bo":
                first, rest, points = time_hpo(n, args.asks)
            else:
                first, rest = time_optuna(m, n, args.asks)
            mean = statistics.fmean(rest) if rest else first
            results[(n, m)] = mean
            print(f"| {n} | {m} | {first:.3f} | {mean:.3f} | {points} |", flush=True)
    for n in sorted({k[0] for k in results}):
        if (n, "hpo-bo") in results and (n, "optuna-gp") in results:
            ratio = results[(n, "optuna-gp")] / results[(n, "hpo-bo")]
            print(
                f"\n{n} observations: hpo-bo is {ratio:.1f}x faster than optuna-gp per suggestion"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
