"""Tabular learning-curve benchmarks made by real training (benchmarks/tabular/generate.py).

A table holds, for each of a few thousand sampled configurations, the validation loss and
accuracy and the CPU seconds after every epoch. :class:`TabularBenchmark` serves it as a
blackbox for the simulated backend: ``value(config, epoch)`` and ``cost(config, epoch)`` come from
the row nearest to ``config`` in the unit cube of the space (log-scaled where the parameter is),
so a searcher may propose configurations off the table's grid, as Syne Tune's blackbox
repository allows with its nearest-neighbour surrogate.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def _unit(space: Mapping[str, Mapping[str, Any]], config: Mapping[str, Any]) -> list[float]:
    out = []
    for k, p in space.items():
        lo, hi, v = float(p["low"]), float(p["high"]), float(config[k])
        if p.get("log"):
            lo, hi, v = math.log(lo), math.log(hi), math.log(max(v, 1e-300))
        out.append((v - lo) / (hi - lo) if hi > lo else 0.0)
    return out


class TabularBenchmark:
    """A generated table as a blackbox. ``metric``: "val_loss" (minimized) or "val_acc"
    (served negated, so that lower is better everywhere)."""

    def __init__(
        self, path: str | Path, metric: str = "val_loss", best_so_far: bool = False
    ) -> None:
        with gzip.open(path, "rt") as f:
            doc = json.load(f)
        if metric not in ("val_loss", "val_acc"):
            raise ValueError(f"metric must be val_loss or val_acc, got {metric!r}")
        self.table = doc["name"]  # the file's name in DATA
        self.name = self.table + ("-best" if best_so_far else "")
        # best_so_far: a trial reports the best validation value of its epochs so far (a training
        # loop that keeps its best checkpoint), so the value at the last epoch is what is scored
        self.best_so_far = best_so_far
        self.space: dict[str, dict[str, Any]] = doc["space"]
        self.max_epochs = int(doc["epochs"])
        self.generated = doc["generated"]
        self._col = doc["columns"].index(metric)
        self.cost_column = doc["columns"][2]  # cumulative cost per epoch: CPU or GPU seconds
        self._sign = -1.0 if metric == "val_acc" else 1.0
        self.rows = doc["rows"]
        self._points = [_unit(self.space, r["config"]) for r in self.rows]
        self._cache: dict[tuple, int] = {}
        # Regret on tables is measured on observed values (the best validation value seen so
        # far, at any epoch, as tabular HPO benchmarks do): curves are not monotone (networks
        # overfit), so the optimum is the best value anywhere in the table.
        self.observed_regret = True
        self.optimum = min(self.best(i) for i in range(len(self.rows)))

    def curve(self, i: int) -> list[float]:
        """Row ``i``'s metric at every epoch, as served (lower is better), not running bests."""
        return [self._sign * c[self._col] for c in self.rows[i]["curve"]]

    def best(self, i: int) -> float:
        """Row ``i``'s best value at any epoch: what the comparison scores."""
        return min(self.curve(i))

    def nearest(self, config: Mapping[str, Any]) -> int:
        """Index of the table's row nearest to ``config`` (Euclidean, unit cube)."""
        key = tuple(sorted((k, float(v)) for k, v in config.items()))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        x = _unit(self.space, config)
        best = min(
            range(len(self._points)),
            key=lambda i: sum((a - b) ** 2 for a, b in zip(x, self._points[i], strict=True)),
        )
        self._cache[key] = best
        return best

    def value(self, config: Mapping[str, Any], epoch: int) -> float:
        if not 1 <= epoch <= self.max_epochs:
            raise ValueError(f"epoch must be in 1..{self.max_epochs}, got {epoch}")
        i = self.nearest(config)
        if self.best_so_far:
            return min(self.curve(i)[:epoch])
        return self._sign * self.rows[i]["curve"][epoch - 1][self._col]

    def cost(self, config: Mapping[str, Any], epoch: int) -> float:
        curve = self.rows[self.nearest(config)]["curve"]
        return curve[epoch - 1][2] - (curve[epoch - 2][2] if epoch > 1 else 0.0)

    def true_value(self, config: Mapping[str, Any]) -> float:
        """The best value the config's curve reaches (what a random draw is scaled by)."""
        return self.best(self.nearest(config))

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return dict(self.rows[rng.randrange(len(self.rows))]["config"])


def load(name: str, metric: str = "val_loss") -> TabularBenchmark:
    """The table ``name``; ``<table>-best`` serves its curves as running bests (``best_so_far``)."""
    best = name.endswith("-best") and not (DATA / f"{name}.json.gz").exists()
    if best:
        name = name[: -len("-best")]
    path = DATA / f"{name}.json.gz"
    if not path.exists():
        raise ValueError(f"no table {name!r} in {DATA} (run benchmarks/tabular/generate.py)")
    return TabularBenchmark(path, metric, best_so_far=best)
