"""A simulated backend: replays a benchmark's learning curves on a simulated clock.

``SimulatedExecutor(blackbox, n_workers)`` is an Executor like the local one, driven by the same
``Driver`` and ``Coordinator``: each of its N workers runs one trial at a time, and a trial's
epoch e ends ``blackbox.cost(config, e)`` simulated seconds after the previous one, when the
trial reports ``blackbox.value(config, e)`` with a checkpoint and obeys the decision (CONTINUE,
PAUSE, STOP) as a real trial would. A resumed trial continues after its checkpoint; one resumed
without a checkpoint starts again at epoch 1. So an asynchronous search over hours of simulated
training runs in seconds, through the real scheduling code (as Syne Tune's simulator backend
does for its blackboxes).

Events are processed in simulated-time order (ties: the worker started first); ``poll`` runs
events until a trial ends, so that a freed worker is handed new work at the simulated time it
became free. ``trace`` records every report with its simulated time and worker, for regret over
time; ``busy_s`` the simulated seconds each worker spent training. With ``time_limit_s`` the
runs still in progress at that simulated time end there (marked failed, "simulated time
limit") and nothing more starts: the simulated equivalent of a wall-time budget. ``snapshot``
and ``restore`` carry a simulation across processes (benchmarks/compare.py resumes long runs).

Written here: each peer's simulator is tied to its own scheduler API.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hpo.coordinator import Assignment, Coordinator
from hpo.executors.base import Ended, new_instance, worker_id
from hpo.model import Decision


class Blackbox(Protocol):
    """What the simulator replays: a value and a cost per (config, epoch)."""

    max_epochs: int

    def value(self, config: Mapping[str, Any], epoch: int) -> float: ...
    def cost(self, config: Mapping[str, Any], epoch: int) -> float: ...


@dataclass(frozen=True)
class TraceEvent:
    time: float  # simulated seconds since the start
    worker: str
    trial: int  # trial number
    epoch: int
    value: float
    decision: str


@dataclass(order=True)
class _Run:
    at: float  # simulated time of this run's next report
    order: int  # tie-break: earlier start first
    worker: str = field(compare=False)
    a: Assignment = field(compare=False)
    epoch: int = field(compare=False)  # the epoch that ends at ``at``


class SimulatedExecutor:
    """Runs trials of ``blackbox`` on ``n_workers`` simulated workers (see module docstring).

    ``metric`` is the name reported (default: the study's first objective). ``resume_s``:
    simulated seconds to load a checkpoint when a trial resumes (default 0).
    """

    def __init__(
        self,
        blackbox: Blackbox,
        n_workers: int = 4,
        *,
        metric: str | None = None,
        resume_s: float = 0.0,
        time_limit_s: float | None = None,
    ) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        if resume_s < 0:
            raise ValueError(f"resume_s must be >= 0, got {resume_s}")
        self.blackbox = blackbox
        self.metric = metric
        self.time_limit_s = time_limit_s
        self.exhausted = False  # the simulated time limit passed: nothing more starts
        self.resume_s = float(resume_s)
        instance = new_instance()
        self.workers = [worker_id("sim", i, instance) for i in range(n_workers)]
        self.now = 0.0
        self.trace: list[TraceEvent] = []
        self.busy_s: dict[str, float] = {w: 0.0 for w in self.workers}
        self.coordinator: Coordinator | None = None
        self._heap: list[_Run] = []
        self._busy: dict[str, _Run] = {}
        self._order = 0

    def bind(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        if self.metric is None:
            self.metric = coordinator.study.objective.name

    def free_workers(self) -> list[str]:
        if self.exhausted:
            return []
        return [w for w in self.workers if w not in self._busy]

    def busy_workers(self) -> list[str]:
        return [w for w in self.workers if w in self._busy]

    def start(self, a: Assignment) -> None:
        if a.worker in self._busy:
            raise RuntimeError(f"worker {a.worker} is busy")
        done = int(a.checkpoint_step) if (a.resume and a.checkpoint_step) else 0
        epoch = done + 1
        if epoch > self.blackbox.max_epochs:
            raise RuntimeError(f"trial {a.number} has no epoch left to run")
        setup = self.resume_s if done else 0.0
        cost = self.blackbox.cost(a.config, epoch)
        run = _Run(self.now + setup + cost, self._order, a.worker, a, epoch)
        self.busy_s[a.worker] += setup + cost
        self._order += 1
        self._busy[a.worker] = run
        heapq.heappush(self._heap, run)

    def poll(self) -> list[Ended]:
        """Advances the clock event by event until a trial's run ends (or nothing runs)."""
        assert self.coordinator is not None, "bind() first"
        while self._heap:
            if self.time_limit_s is not None and self._heap[0].at > self.time_limit_s:
                return self._stop_all()  # the budget ends before this report would come
            run = heapq.heappop(self._heap)
            self.now = run.at
            a = run.a
            value = float(self.blackbox.value(a.config, run.epoch))
            decision = self.coordinator.report(
                a.trial_id,
                run.epoch,
                {self.metric: value},
                cost_s=self.blackbox.cost(a.config, run.epoch),
                worker=a.worker,
                checkpoint=True,
            )
            self.trace.append(
                TraceEvent(self.now, a.worker, a.number, run.epoch, value, decision.value)
            )
            if decision is Decision.CONTINUE and run.epoch < self.blackbox.max_epochs:
                nxt = run.epoch + 1
                cost = self.blackbox.cost(a.config, nxt)
                self.busy_s[a.worker] += cost
                again = _Run(self.now + cost, run.order, a.worker, a, nxt)
                self._busy[a.worker] = again
                heapq.heappush(self._heap, again)
                continue
            del self._busy[a.worker]
            return [Ended(a.trial_id, a.worker, exit_ok=True)]
        return []

    def _stop_all(self) -> list[Ended]:
        """The simulated time is up: runs in progress end (as if killed at the limit)."""
        assert self.time_limit_s is not None
        self.exhausted = True
        self.now = self.time_limit_s
        ended = [
            Ended(r.a.trial_id, w, exit_ok=False, error="simulated time limit")
            for w, r in self._busy.items()
        ]
        for w, r in self._busy.items():
            self.busy_s[w] -= r.at - self.now  # the unfinished epoch counts up to the limit
        self._heap.clear()
        self._busy.clear()
        return ended

    _STATE = ("workers", "now", "trace", "busy_s", "exhausted", "_heap", "_busy", "_order")

    def snapshot(self) -> dict[str, Any]:
        """The simulation's own state (clock, runs in flight, trace), picklable. Taken between
        ``poll`` calls, it matches the study's database at that moment (every report is stored
        before ``poll`` returns), so the two together continue an interrupted simulation:
        ``restore`` it into a new executor bound to a coordinator on a copy of that database."""
        return {k: getattr(self, k) for k in self._STATE}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continues from ``snapshot()``'s state; the runs in flight keep their workers."""
        for k in self._STATE:
            setattr(self, k, state[k])

    def heartbeat(self) -> None:
        assert self.coordinator is not None
        for w in self.busy_workers():
            self.coordinator.heartbeat(w)

    def shutdown(self) -> None:
        if self.coordinator is not None:
            for w in self.busy_workers():
                self.coordinator.release_worker(w, "the simulation was interrupted")
        self._heap.clear()
        self._busy.clear()
