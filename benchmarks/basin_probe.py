"""Why a MOBSTER run stays in Hartmann6's local optimum: its acquisition there and elsewhere.

Hartmann6 has a local minimum of -3.2032 (normalized regret about 0.038) besides its global one
(-3.3224); a run whose first good results fall in the local basin can stay there for the whole
budget (docs/benchmarks.md, "Unfinished seeds, and Hartmann6's local optimum"). This script runs
hpo's MOBSTER (the default settings) on hartmann6-mf for one seed and, at every ``--every``-th
proposal from the model, prints what the model believes where the search is not:

* the distance of the proposal from the local and the global minimum (unit cube);
* the searcher's own acquisition (qLogNEI with pending trials fantasized) at the proposal, its
  maximum over 8,192 Sobol' points, and that maximum over the points more than 0.3 from the
  local minimum;
* the GP posterior at the global minimum against its best posterior mean among the evaluated
  configurations (standardized units), and the closed-form log EI there: a Monte Carlo qLogNEI
  of 32 samples cannot resolve improvements that none of its samples make, so far from the
  data it says only "about zero".

It wraps ``hpo.surrogates.gp.propose_log_ei`` to look, and changes no proposal.

    python -m benchmarks.basin_probe --seed 9 --hours 3 [--every 5] [--noise 0.05]

``--designs N`` runs nothing: for seeds 0..N-1 it prints where MOBSTER's initial design (the
default's first ``n_initial`` Sobol' points, ``SobolSearcher``) lies against the two minima: its
point nearest the global minimum, and its best point (Hartmann6 at the top fidelity, no noise)
with that point's distance from each minimum. The seeds that end in a local basin are those whose
best initial point lies far from the global minimum (docs/benchmarks.md, session 45):

    python -m benchmarks.basin_probe --designs 20

``--where`` runs the seed for ``--hours`` without looking into the acquisition and prints how
close MOBSTER's proposals come to each minimum: the initial design's (every proposal made before
``n_initial`` trials have results: with 4 workers a few more than ``n_initial``), then the
model's in windows of its proposals (within 0.3 of each minimum, and the least distance from the
global one). Its benchmark is ``benchmarks.compare``'s (noise drawn with seed 0 whatever the run's
seed), so the run is the stored one's; the acquisition probe above draws the noise with
``--seed`` too, as it did when its tables were made:

    python -m benchmarks.basin_probe --seed 10 --hours 8 --where
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from typing import Any

import numpy as np


@functools.cache
def local_minimum() -> np.ndarray:
    """Hartmann6's local minimum near (0.40, 0.88, 0.85, 0.57, 0.14, 0.04), by L-BFGS-B (found
    once per process; read-only, as every caller shares it)."""
    from scipy.optimize import minimize

    from benchmarks.synthetic import hartmann6

    start = [0.40, 0.88, 0.85, 0.57, 0.14, 0.04]
    x = minimize(hartmann6, start, bounds=[(0.0, 1.0)] * 6).x
    x.setflags(write=False)
    return x


def unit_row(config: dict[str, Any]) -> np.ndarray:
    """A hartmann6-mf configuration as its point in the unit cube (x1..x6)."""
    return np.array([config[f"x{i}"] for i in range(1, 7)], dtype=float)


def hartmann_study(params: dict[str, Any] | None = None) -> Any:
    """A hartmann6-mf study (epochs 1-27) for MOBSTER with ``params``: what a comparison run
    builds, to ask its scheduler for proposals outside a run."""
    from benchmarks.synthetic import mf_hartmann6
    from hpo.model import Fidelity, Objective, SchedulerSpec, Study
    from hpo.space import SearchSpace

    return Study(
        name="hartmann6-mf",
        space=SearchSpace.from_dict(mf_hartmann6().space),
        objectives=(Objective("loss"),),
        fidelity=Fidelity("epoch", 1, 27),
        scheduler=SchedulerSpec("mobster", params or {}),
        id=1,
    )


def design_row(points: np.ndarray) -> dict[str, float]:
    """Of the unit-cube ``points`` (``n x 6``): the least distance from Hartmann6's global
    minimum, the best point's value (the true function) and its distances from the global and
    the local minimum."""
    from benchmarks.synthetic import HARTMANN6_ARGMIN, hartmann6

    glob, loc = np.asarray(HARTMANN6_ARGMIN), local_minimum()
    values = [hartmann6(p) for p in points]
    best = points[int(np.argmin(values))]
    return {
        "nearest_global": float(np.linalg.norm(points - glob, axis=1).min()),
        "best_value": float(min(values)),
        "best_to_global": float(np.linalg.norm(best - glob)),
        "best_to_local": float(np.linalg.norm(best - loc)),
    }


def initial_design(seed: int) -> np.ndarray:
    """The first ``n_initial`` proposals of MOBSTER's default initial design on hartmann6-mf
    (``SobolSearcher`` with the study's seed), as unit-cube rows."""
    from hpo.schedulers.base import SobolSearcher
    from hpo.schedulers.bo import default_n_initial

    from hpo.history import History

    study = hartmann_study()
    configs = SobolSearcher(study, seed=seed).propose(History(study), [], default_n_initial(6))
    return np.array([unit_row(c) for c in configs])


WINDOWS = ((0, 20), (20, 50), (50, 100), (100, 200), (200, 400), (400, None))


def where(seed: int, hours: float, noise: float, workers: int) -> float:
    """Runs MOBSTER's default on hartmann6-mf and prints, per window of its model's proposals,
    how many lie within 0.3 of the global and of the local minimum and the least distance from
    the global one; returns the final normalized regret. Wraps ``GPSearcher.propose`` to look
    and changes no proposal."""
    from hpo.schedulers import bo

    from benchmarks import compare
    from benchmarks.synthetic import HARTMANN6_ARGMIN

    loc, glob = local_minimum(), np.asarray(HARTMANN6_ARGMIN)
    seen: list[tuple[bool, float, float]] = []  # (from the model, to the local, to the global)
    original = bo.GPSearcher.propose

    def propose(self: Any, history: Any, pending: Any, n: int = 1) -> Any:
        out = original(self, history, pending, n)
        model = len({o.trial for o in self.observations(history)}) >= self.n_initial
        for c in out:
            x = unit_row(c)
            seen.append((model, float(np.linalg.norm(x - loc)), float(np.linalg.norm(x - glob))))
        return out

    bo.GPSearcher.propose = propose
    try:
        bb = compare.make_benchmark("hartmann6-mf", noise)  # as benchmarks.compare's runs
        traj = compare.run_hpo(
            bb, compare.hpo_scheduler("hpo-mobster"), seed, workers, hours * 3600
        )
    finally:
        bo.GPSearcher.propose = original
    final = compare.regret_at(traj, hours * 3600, bb, compare.regret_scale(bb))
    first = [s for s in seen if not s[0]]
    model = [s for s in seen if s[0]]
    print(f"seed {seed}: {len(seen)} proposals, normalized regret at {hours:g} h {final:.4f}")
    if first:
        print(
            f"initial design ({len(first)}): least distance from the global min "
            f"{min(s[2] for s in first):.2f}, from the local min {min(s[1] for s in first):.2f}"
        )
    for lo, hi in WINDOWS:
        part = model[lo:hi]
        if not part:
            break
        print(
            f"model proposals {lo + 1}-{lo + len(part)}: within 0.3 of the global min "
            f"{sum(s[2] < 0.3 for s in part)}, of the local min {sum(s[1] < 0.3 for s in part)}; "
            f"least distance from the global min {min(s[2] for s in part):.2f}"
        )
    return final


def designs(n: int) -> None:
    print(
        "| seed | initial point nearest the global min: distance | best initial point: value "
        "| its distance from the global min | from the local min |"
    )
    print("|---:|---:|---:|---:|---:|")
    for seed in range(n):
        r = design_row(initial_design(seed))
        print(
            f"| {seed} | {r['nearest_global']:.2f} | {r['best_value']:.2f} | "
            f"{r['best_to_global']:.2f} | {r['best_to_local']:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int)
    ap.add_argument(
        "--designs", type=int, help="print where the initial designs of seeds 0..N-1 lie, only"
    )
    ap.add_argument(
        "--where", action="store_true", help="print where the proposals go, not the acquisition"
    )
    ap.add_argument("--hours", type=float, default=3.0, help="simulated hours to run")
    ap.add_argument("--every", type=int, default=5, help="look at every N-th model proposal")
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)
    if args.designs is not None:
        if args.designs < 1:
            ap.error("--designs must be >= 1")
        designs(args.designs)
        return 0
    if args.seed is None:
        ap.error("give --seed (or --designs)")
    if args.hours <= 0 or args.every < 1:
        ap.error("--hours must be > 0 and --every >= 1")
    if args.where:
        where(args.seed, args.hours, args.noise, args.workers)
        return 0

    import torch
    from botorch.acquisition.analytic import LogExpectedImprovement
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.sampling import SobolQMCNormalSampler
    from hpo.surrogates import gp
    from torch.quasirandom import SobolEngine

    from benchmarks import compare
    from benchmarks.synthetic import HARTMANN6_ARGMIN, mf_hartmann6

    loc, glob = local_minimum(), np.asarray(HARTMANN6_ARGMIN)
    points = SobolEngine(6, scramble=True, seed=1).draw(8192).double()
    far = torch.as_tensor(np.linalg.norm(points.numpy() - loc, axis=1) > 0.3)
    original, calls = gp.propose_log_ei, [0]

    def looking(surrogate: Any, features: Any, X_baseline: Any, X_pending: Any, **kw: Any):
        x = original(surrogate, features, X_baseline, X_pending, **kw)
        calls[0] += 1
        if calls[0] % args.every:
            return x
        model, z = surrogate.model, float(features.target_z)

        def rows(u: Any) -> Any:  # configurations in the unit cube, at the target fidelity
            return torch.cat([u, torch.full((u.shape[0], 1), z, dtype=u.dtype)], 1)

        pending = None if X_pending is None or not len(X_pending) else gp._tensor(X_pending)
        with torch.no_grad():
            acq = qLogNoisyExpectedImprovement(
                model,
                X_baseline=gp._tensor(X_baseline),
                sampler=SobolQMCNormalSampler(torch.Size([32]), seed=kw["seed"]),
                X_pending=pending,
                prune_baseline=True,
                cache_root=True,
            )
            values = torch.cat([acq(rows(p).unsqueeze(1)) for p in points.split(1024)])
            chosen = acq(torch.as_tensor(np.asarray(x)).double().reshape(1, 1, -1)).item()
            at_glob = rows(torch.as_tensor(glob).double().reshape(1, -1))
            best = model.posterior(gp._tensor(X_baseline)).mean.max()
            post = model.posterior(at_glob)
            ei = LogExpectedImprovement(model, best_f=best)(at_glob.unsqueeze(1)).item()
        xs = np.asarray(x)[:6]
        print(
            f"proposal {calls[0]:3d} ({len(X_baseline)} at the target): "
            f"{np.linalg.norm(xs - loc):.2f} from the local min, {np.linalg.norm(xs - glob):.2f} "
            f"from the global | qLogNEI there {chosen:.1f}, max {values.max().item():.1f}, "
            f"max > 0.3 from the local min {values[far].max().item():.1f} | at the global min: "
            f"mean {post.mean.item():.2f}, sd {math.sqrt(post.variance.item()):.2f} (best "
            f"{best.item():.2f}), log EI {ei:.1f}",
            flush=True,
        )
        return x

    gp.propose_log_ei = looking
    try:
        bb = mf_hartmann6(noise=args.noise, seed=args.seed)
        traj = compare.run_hpo(
            bb, compare.hpo_scheduler("hpo-mobster"), args.seed, args.workers, args.hours * 3600
        )
    finally:  # the module's own function again, for whatever runs next in this process
        gp.propose_log_ei = original
    scale = compare.regret_scale(bb)
    final = compare.regret_at(traj, args.hours * 3600, bb, scale)
    print(f"normalized regret at {args.hours:g} h: {final:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
