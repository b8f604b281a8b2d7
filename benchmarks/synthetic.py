"""Synthetic multi-fidelity test functions with known optima (no download, pure code).

* Branin (Dixon & Szegő 1978; as in Jones et al. 1998): on x1 in [-5, 10], x2 in [0, 15],
  f = a (x2 - b x1^2 + c x1 - r)^2 + s (1 - t) cos(x1) + s with a=1, b=5.1/(4 pi^2), c=5/pi, r=6,
  s=10, t=1/(8 pi); global minimum 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475).
* Hartmann-6 (Hartmann 1972; constants as tabulated by Surjanovic & Bingham's Virtual Library of
  Simulation Experiments): on [0, 1]^6, f = -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2);
  global minimum -3.32237 at x* below.

Multi-fidelity versions, following the construction of Kandasamy et al. 2017 ("Multi-fidelity
Bayesian Optimisation with Continuous Approximations", BOCA): the constants move away from their
true values by an amount proportional to (1 - z) for a fidelity z in (0, 1], so z = 1 is the true
function and lower fidelities are biased, smoothly and differently across the domain (so the
ranking of configurations changes with fidelity, as in real learning curves). Branin:
b(z) = b - 0.01 (1 - z), c(z) = c - 0.1 (1 - z), t(z) = t + 0.05 (1 - z). Hartmann-6:
alpha(z) = alpha - 0.1 (1 - z) on every component. Observation noise (optional) is Gaussian with a
standard deviation that shrinks with fidelity, seeded per (config, fidelity) so that a replay gives
the same value. Written here: the formulas are a few lines and need no dependency.

A benchmark exposes the search space as hpo parameters, the fidelity range (epochs 1..max), the
value at (config, epoch), a cost in simulated seconds per epoch, and the known optimum, so that
regret can be normalized.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BRANIN_MIN = 0.397887357729738
BRANIN_ARGMINS = ((-math.pi, 12.275), (math.pi, 2.275), (9.42477796, 2.475))

HARTMANN6_ALPHA = (1.0, 1.2, 3.0, 3.2)
HARTMANN6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
HARTMANN6_P = tuple(
    tuple(v * 1e-4 for v in row)
    for row in (
        (1312, 1696, 5569, 124, 8283, 5886),
        (2329, 4135, 8307, 3736, 1004, 9991),
        (2348, 1451, 3522, 2883, 3047, 6650),
        (4047, 8828, 8732, 5743, 1091, 381),
    )
)
HARTMANN6_MIN = -3.32236801141551
HARTMANN6_ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)


def branin(x1: float, x2: float, z: float = 1.0) -> float:
    """Branin at fidelity z in (0, 1] (z = 1: the true function)."""
    _check_z(z)
    a, r, s = 1.0, 6.0, 10.0
    b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    t = 1 / (8 * math.pi) + 0.05 * (1 - z)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def hartmann6(x: Sequence[float], z: float = 1.0) -> float:
    """Hartmann-6 at fidelity z in (0, 1] (z = 1: the true function)."""
    _check_z(z)
    if len(x) != 6:
        raise ValueError(f"hartmann6 takes 6 coordinates, got {len(x)}")
    total = 0.0
    for alpha, a_row, p_row in zip(HARTMANN6_ALPHA, HARTMANN6_A, HARTMANN6_P, strict=True):
        inner = sum(a * (xj - p) ** 2 for a, xj, p in zip(a_row, x, p_row, strict=True))
        total += (alpha - 0.1 * (1 - z)) * math.exp(-inner)
    return -total


def _check_z(z: float) -> None:
    if not (0 < z <= 1) or math.isnan(z):
        raise ValueError(f"fidelity z must be in (0, 1], got {z!r}")


@dataclass(frozen=True)
class SyntheticBenchmark:
    """A multi-fidelity function as an HPO benchmark with epochs 1..max_epochs as fidelity.

    ``value(config, epoch)`` is the function at z = epoch / max_epochs plus noise of standard
    deviation ``noise * (1 - z + 0.1)`` seeded by (seed, config, epoch); ``cost(config, epoch)``
    is the simulated seconds that epoch takes (``epoch_seconds``, constant per epoch).
    """

    name: str
    space: Mapping[str, Mapping[str, Any]]
    optimum: float
    max_epochs: int = 27
    noise: float = 0.0
    epoch_seconds: float = 60.0
    seed: int = 0

    def _f(self, config: Mapping[str, Any], z: float) -> float:
        if self.name.startswith("branin"):
            return branin(float(config["x1"]), float(config["x2"]), z)
        return hartmann6([float(config[f"x{i}"]) for i in range(1, 7)], z)

    def value(self, config: Mapping[str, Any], epoch: int) -> float:
        if not 1 <= epoch <= self.max_epochs:
            raise ValueError(f"epoch must be in 1..{self.max_epochs}, got {epoch}")
        z = epoch / self.max_epochs
        v = self._f(config, z)
        if self.noise:
            key = repr((self.seed, sorted(config.items()), epoch)).encode()
            rng = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
            v += rng.gauss(0.0, self.noise * (1 - z + 0.1))
        return v

    def curve(self, config: Mapping[str, Any]) -> list[float]:
        """Values at epochs 1..max_epochs (what a trial of this config would report)."""
        return [self.value(config, e) for e in range(1, self.max_epochs + 1)]

    def cost(self, config: Mapping[str, Any], epoch: int) -> float:
        return self.epoch_seconds

    def true_value(self, config: Mapping[str, Any]) -> float:
        """The objective at full fidelity without noise (what regret is measured on)."""
        return self._f(config, 1.0)

    def sample(self, rng: random.Random) -> dict[str, float]:
        """A uniformly random configuration."""
        return {k: rng.uniform(v["low"], v["high"]) for k, v in self.space.items()}

    def regret(self, value: float) -> float:
        """value - optimum (>= 0 up to noise)."""
        return value - self.optimum


def mf_branin(**kwargs: Any) -> SyntheticBenchmark:
    space = {
        "x1": {"type": "float", "low": -5.0, "high": 10.0},
        "x2": {"type": "float", "low": 0.0, "high": 15.0},
    }
    return SyntheticBenchmark("branin-mf", space, BRANIN_MIN, **kwargs)


def mf_hartmann6(**kwargs: Any) -> SyntheticBenchmark:
    space = {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(1, 7)}
    return SyntheticBenchmark("hartmann6-mf", space, HARTMANN6_MIN, **kwargs)


BENCHMARKS = {"branin-mf": mf_branin, "hartmann6-mf": mf_hartmann6}
