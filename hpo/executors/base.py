"""What executors share: the end-of-run event, worker ids, and releasing dead local workers."""

from __future__ import annotations

import itertools
import os
import socket
from dataclasses import dataclass
from typing import Protocol

from hpo.coordinator import Assignment, Coordinator


@dataclass(frozen=True)
class Ended:
    """A run of a trial ended: ``exit_ok`` if it exited cleanly; ``error`` says why not."""

    trial_id: int
    worker: str
    exit_ok: bool
    error: str | None = None


class Executor(Protocol):
    """Where trials run. The driver asks the coordinator for work for each free worker."""

    def bind(self, coordinator: Coordinator) -> None: ...
    def free_workers(self) -> list[str]: ...
    def start(self, assignment: Assignment) -> None: ...
    def poll(self) -> list[Ended]: ...
    def busy_workers(self) -> list[str]: ...
    def shutdown(self) -> None: ...


_instances = itertools.count()


def new_instance() -> int:
    """A number unique to each executor in this process (two drivers in one process, or two
    RemoteClient.run calls, must not share worker ids: ``ask`` is idempotent per worker)."""
    return next(_instances)


def worker_id(kind: str, slot: int, instance: int = 0) -> str:
    """``kind:host:pid:instance.slot``: unique per slot, and the pid tells whether it lives."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{instance}.{slot}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_local_workers(coordinator: Coordinator) -> int:
    """Releases trials held by local or thread workers of this host whose process is gone.

    A coordinator killed with ``kill -9`` leaves its trials running with leases that would only
    expire later; on the same host we can tell at once that their owner is dead.
    """
    host = socket.gethostname()
    dead: set[str] = set()
    for t in coordinator.running_trials():
        parts = (t.worker or "").split(":")
        if len(parts) == 4 and parts[0] in ("local", "thread") and parts[1] == host:
            pid = int(parts[2]) if parts[2].isdigit() else -1
            if pid != os.getpid() and not _pid_alive(pid):
                dead.add(t.worker or "")
    return sum(coordinator.release_worker(w, "its coordinator process died") for w in dead)
