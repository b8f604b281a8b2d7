"""Adapters that run the peers' own search algorithms on our benchmarks (benchmarks/compare.py).

Each adapter module has ``run(bb, method, seed, workers, limit_s)`` returning the events of one
search as ``[(simulated_seconds, config, reported_value), ...]``, one per reported epoch, where
``bb`` is a benchmark (benchmarks/synthetic.py or benchmarks/tabular) with ``space``,
``max_epochs``, ``value(config, epoch)`` and ``cost(config, epoch)``. Every adapter runs on the
same workers and per-epoch costs, so the trajectories are comparable.

``PEER_METHODS`` maps a method name of compare.py to (adapter module, the adapter's own name).
Modules are imported only when one of their methods is asked for, so a missing peer library
fails only the methods that need it.
"""

from __future__ import annotations

import importlib
from typing import Any

PEER_METHODS: dict[str, tuple[str, str]] = {
    "synetune-asha": ("benchmarks.peers.synetune", "asha"),
    "synetune-hyperband": ("benchmarks.peers.synetune", "hyperband"),
    "synetune-mobster": ("benchmarks.peers.synetune", "mobster"),
    "synetune-bohb": ("benchmarks.peers.synetune", "bohb"),
    "synetune-dehb": ("benchmarks.peers.synetune", "dehb"),
    "synetune-mobster-promotion": ("benchmarks.peers.synetune", "mobster-promotion"),
    "synetune-hyperband-sync": ("benchmarks.peers.synetune", "hyperband-sync"),
    "raytune-asha": ("benchmarks.peers.raytune", "asha"),
    "raytune-hyperband": ("benchmarks.peers.raytune", "hyperband"),
    "raytune-bohb": ("benchmarks.peers.raytune", "bohb"),
}


class MethodUnavailable(RuntimeError):
    """The installed peer library does not have this method, or cannot run it as asked (the
    message says why)."""


class RunInterrupted(RuntimeError):
    """A peer's run was stopped from outside before it ended (the process running it was killed
    by a signal); a run that keeps a checkpoint goes on from it the next time it is asked for."""


def run_peer(bb: Any, method: str, seed: int, workers: int, limit_s: float, **options: Any) -> list:
    """Events of one search by a peer's method (see the module docstring); ``options`` go to
    the adapter's ``run`` (``checkpoint`` and ``origin`` for Syne Tune's, see
    ``CHECKPOINTED``)."""
    module, name = PEER_METHODS[method]
    return importlib.import_module(module).run(bb, name, seed, workers, limit_s, **options)


#: Peer methods whose runs resume from a checkpoint file (``run(..., checkpoint=, origin=)``).
CHECKPOINTED = frozenset(
    m for m, (module, _) in PEER_METHODS.items() if module.endswith("synetune")
)
