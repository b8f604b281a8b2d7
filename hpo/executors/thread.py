"""Trial functions in threads of this process (what ``hpo.run(study, fn)`` uses).

``fn(trial)`` receives a TrialContext whose ``report()`` calls the coordinator directly. Returning
ends the run (a returned number or dict is the final result at the assigned fidelity, unless the
function already reported there); raising fails the trial with its traceback. Threads cannot be
killed, so PAUSE and STOP are cooperative: the decision is returned by ``report()``, and reporting
again afterwards raises TrialStopped, which ends the run cleanly.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpo.coordinator import Assignment, Coordinator
from hpo.errors import TrialStopped
from hpo.executors.base import Ended, new_instance, release_dead_local_workers, worker_id
from hpo.model import Decision
from hpo.trial import TrialContext, _set_thread_context


class ThreadExecutor:
    def __init__(
        self,
        fn: Callable[[TrialContext], Any],
        *,
        n_slots: int = 1,
        runs_dir: str = "hpo-runs",
    ):
        self.fn = fn
        self.n_slots = n_slots
        self.runs_dir = Path(runs_dir)
        instance = new_instance()
        self.workers = [worker_id("thread", i, instance) for i in range(n_slots)]
        self._busy: dict[str, threading.Thread] = {}
        self._ended: queue.Queue[Ended] = queue.Queue()
        self._lock = threading.Lock()
        self.coordinator: Coordinator | None = None

    def bind(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        release_dead_local_workers(coordinator)

    def free_workers(self) -> list[str]:
        with self._lock:
            return [w for w in self.workers if w not in self._busy]

    def busy_workers(self) -> list[str]:
        with self._lock:
            return list(self._busy)

    def start(self, a: Assignment) -> None:
        t = threading.Thread(target=self._run, args=(a,), daemon=True, name=f"trial-{a.number}")
        with self._lock:
            self._busy[a.worker] = t
        t.start()

    def _run(self, a: Assignment) -> None:
        coord = self.coordinator
        assert coord is not None
        tdir = self.runs_dir / a.study / f"trial-{a.number}"
        tdir.mkdir(parents=True, exist_ok=True)

        def send(msg: dict[str, Any]) -> Decision:
            return coord.report(
                a.trial_id,
                msg["step"],
                msg["metrics"],
                cost_s=msg.get("cost_s"),
                worker=a.worker,
                checkpoint=msg.get("checkpoint", False),
            )

        ctx = TrialContext(
            trial_id=a.trial_id,
            number=a.number,
            study=a.study,
            config=a.config,
            until=a.until,
            resume=a.resume,
            checkpoint_dir=tdir,
            checkpoint_step=a.checkpoint_step,
            send=send,
        )
        _set_thread_context(ctx)
        try:
            result = self.fn(ctx)
            if result is not None and ctx.last_decision not in (Decision.PAUSE, Decision.STOP):
                if not isinstance(result, Mapping):
                    result = {coord.study.objective.name: result}
                send({"step": a.until, "metrics": dict(result)})
            ended = Ended(a.trial_id, a.worker, True)
        except TrialStopped:
            ended = Ended(a.trial_id, a.worker, True)
        except BaseException:  # noqa: BLE001 - any crash of user code fails the trial
            ended = Ended(a.trial_id, a.worker, False, traceback.format_exc()[-4000:])
        finally:
            _set_thread_context(None)
        self._ended.put(ended)

    def poll(self) -> list[Ended]:
        out: list[Ended] = []
        while True:
            try:
                e = self._ended.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                t = self._busy.pop(e.worker, None)
            if t is not None:
                t.join(timeout=5)
            out.append(e)
        return out

    def heartbeat(self) -> None:
        assert self.coordinator is not None
        for w in self.busy_workers():
            self.coordinator.heartbeat(w)

    def shutdown(self) -> None:
        """Threads cannot be interrupted: waits for running functions to return."""
        with self._lock:
            threads = list(self._busy.values())
        for t in threads:
            t.join()
