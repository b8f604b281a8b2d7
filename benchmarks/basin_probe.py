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
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np


def local_minimum() -> np.ndarray:
    """Hartmann6's local minimum near (0.40, 0.88, 0.85, 0.57, 0.14, 0.04), by L-BFGS-B."""
    from scipy.optimize import minimize

    from benchmarks.synthetic import hartmann6

    start = [0.40, 0.88, 0.85, 0.57, 0.14, 0.04]
    return minimize(hartmann6, start, bounds=[(0.0, 1.0)] * 6).x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--hours", type=float, default=3.0, help="simulated hours to run")
    ap.add_argument("--every", type=int, default=5, help="look at every N-th model proposal")
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)
    if args.hours <= 0 or args.every < 1:
        ap.error("--hours must be > 0 and --every >= 1")

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
