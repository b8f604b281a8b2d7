"""Drives a whole search: fills free workers from the coordinator, collects ended runs,
heartbeats, and shows progress. Used by ``hpo.run`` and the CLI's ``sweep`` and ``resume``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpo.coordinator import Coordinator
from hpo.errors import SweepFailed
from hpo.executors.base import Ended, Executor
from hpo.model import Study, TrialState

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    study: Study
    counts: dict[str, int]
    elapsed_s: float
    failed_errors: list[str]
    succeeded: int = 0  # runs that ended completed, paused or stopped (not failed)


def error_line(error: str, lines: int = 3) -> str:
    """A trial's (multi-line) error on one line: its first line, then its last ones (where a
    traceback or a stderr tail says what went wrong), joined by `` | ``."""
    rows = [x.strip() for x in error.splitlines() if x.strip()]
    if len(rows) > lines:
        rows = rows[:1] + rows[len(rows) - lines + 1 :]
    return " | ".join(rows)


class Driver:
    """Runs the loop until the study is over (budget spent or scheduler finished).

    Args:
        fail_fast: abort with SweepFailed when this many trials have failed and none has
            completed or been paused/stopped by the scheduler (a broken command, say).
        on_progress: called after every change with the coordinator's history.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        executor: Executor,
        *,
        poll_s: float = 0.02,
        heartbeat_s: float | None = None,
        fail_fast: int = 3,
        on_progress: Callable[[Any], None] | None = None,
    ):
        self.coordinator = coordinator
        self.executor = executor
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s or max(coordinator.lease_s / 3, 0.5)
        self.fail_fast = fail_fast
        self.on_progress = on_progress
        self.failed_errors: list[str] = []
        self._failed = 0
        self._succeeded = 0

    def _handle(self, e: Ended) -> None:
        t = self.coordinator.end(e.trial_id, exit_ok=e.exit_ok, error=e.error, worker=e.worker)
        if t.state is TrialState.FAILED:
            self._failed += 1
            self.failed_errors.append(f"trial {t.number}: {(t.error or '').strip()}")
            log.warning("trial %d failed: %s", t.number, (t.error or "").strip()[-500:])
        elif t.state is not TrialState.RUNNING:
            self._succeeded += 1

    def run(self) -> RunSummary:
        coord = self.coordinator
        ex = self.executor
        ex.bind(coord)
        t0 = time.time()
        last_hb = time.monotonic()
        try:
            while True:
                changed = False
                for e in ex.poll():
                    self._handle(e)
                    changed = True
                if self.fail_fast and self._failed >= self.fail_fast and self._succeeded == 0:
                    raise SweepFailed(
                        f"{self._failed} trials failed and none succeeded; last: "
                        + error_line(self.failed_errors[-1])
                    )
                for w in ex.free_workers():
                    a = coord.ask(w)
                    if a is None:
                        break
                    ex.start(a)
                    changed = True
                if (coord.finished or getattr(ex, "exhausted", False)) and not ex.busy_workers():
                    break
                if changed and self.on_progress is not None:
                    self.on_progress(coord)
                if time.monotonic() - last_hb >= self.heartbeat_s:
                    ex.heartbeat()
                    last_hb = time.monotonic()
                if not changed:
                    time.sleep(self.poll_s)
        except BaseException:
            ex.shutdown()
            raise
        if self.on_progress is not None:
            self.on_progress(coord)
        counts = coord.counts()
        return RunSummary(
            coord.study, counts, time.time() - t0, self.failed_errors, self._succeeded
        )


def run(
    study: Study | str,
    objective: Callable[..., Any] | str | list[str],
    *,
    n_workers: int | None = None,
    storage: Any = None,
    runs_dir: str = "hpo-runs",
    progress: bool = True,
    lease_s: float = 60.0,
    fail_fast: int = 3,
) -> RunSummary:
    """Runs a whole search on ``study`` until its budget is spent.

    ``objective`` is a function ``fn(trial)`` (run in ``n_workers`` threads; report with
    ``trial.report(step, **metrics)`` or return the final metrics) or a command (template string
    or argument list, run as local processes with ``n_workers`` slots). The budget is the
    study's; set it in ``Client.create_study(..., budget=...)``.
    """
    from hpo.storage import SQLStorage

    st = storage if isinstance(storage, SQLStorage) else SQLStorage(storage)
    coord = Coordinator(
        st, study if isinstance(study, Study) else st.get_study(study), lease_s=lease_s
    )
    return drive(
        coord,
        objective,
        n_workers=n_workers,
        runs_dir=runs_dir,
        progress=progress,
        fail_fast=fail_fast,
    )


def drive(
    coord: Any,
    objective: Callable[..., Any] | str | list[str],
    *,
    n_workers: int | None = None,
    runs_dir: str = "hpo-runs",
    progress: bool = True,
    fail_fast: int = 3,
    poll_s: float = 0.02,
) -> RunSummary:
    """Runs ``objective`` (function: threads; command: local processes) for any coordinator:
    an in-process Coordinator, or hpo.remote.RemoteCoordinator over the REST service."""
    from hpo.executors.local import LocalExecutor
    from hpo.executors.thread import ThreadExecutor

    ex: Executor
    if callable(objective):
        ex = ThreadExecutor(objective, n_slots=n_workers or 1, runs_dir=runs_dir)
    else:
        ex = LocalExecutor(objective, n_slots=n_workers, runs_dir=runs_dir)
    if not progress:
        return Driver(coord, ex, fail_fast=fail_fast, poll_s=poll_s).run()
    from hpo.progress import SweepProgress

    with SweepProgress(coord) as p:
        return Driver(coord, ex, fail_fast=fail_fast, poll_s=poll_s, on_progress=p.update).run()
