"""Inside a trial: ``hpo.trial.current()`` gives the config, checkpoint directory and ``report()``.

A trial started by the local executor finds its assignment in ``HPO_*`` environment variables and
reports over a pipe to the executor, which answers each report with the scheduler's decision. A
trial function run by ``hpo.run`` in a thread gets a context that calls the coordinator directly.
Any program may instead print ``{"hpo": {"step": 3, "loss": 0.21}}`` lines on stdout.

Contract on PAUSE: save a checkpoint in ``checkpoint_dir`` and exit (return) normally; the trial is
resumed later with ``resume=True`` and should load it. On STOP: exit. Reporting again after either
raises ``TrialStopped``.

Outside hpo (a script run by hand), ``current()`` returns a detached context: ``config`` is empty,
reports are logged and always answered CONTINUE, so the same script runs standalone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpo.errors import InvalidReport, TrialStopped
from hpo.model import Decision

log = logging.getLogger(__name__)

_local = threading.local()


class TrialContext:
    """What a running trial knows about itself, and how it reports."""

    def __init__(
        self,
        *,
        trial_id: int | None,
        number: int | None,
        study: str | None,
        config: Mapping[str, Any],
        until: float | None,
        resume: bool,
        checkpoint_dir: str | os.PathLike[str] | None,
        checkpoint_step: float | None,
        send: Callable[[dict[str, Any]], Decision] | None,
    ):
        self.trial_id = trial_id
        self.number = number
        self.study = study
        self.config = dict(config)
        self.until = until
        self.resume = resume
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.checkpoint_step = checkpoint_step
        self._send = send
        self.last_decision: Decision | None = None

    @property
    def detached(self) -> bool:
        return self._send is None

    def report(
        self,
        step: float,
        *,
        checkpoint: bool = False,
        cost_s: float | None = None,
        **metrics: float,
    ) -> Decision:
        """Reports metrics at fidelity ``step``; returns CONTINUE, PAUSE or STOP.

        ``checkpoint=True`` tells hpo that a checkpoint of this step is saved in
        ``checkpoint_dir``, so a crash after it resumes from there.
        """
        if self.last_decision in (Decision.PAUSE, Decision.STOP):
            raise TrialStopped(
                f"trial {self.number} was told to {self.last_decision.value}; stop reporting"
            )
        if self._send is None:
            log.info("detached report step=%s %s", step, metrics)
            return Decision.CONTINUE
        msg: dict[str, Any] = {"step": step, "metrics": metrics, "checkpoint": checkpoint}
        if cost_s is not None:
            msg["cost_s"] = cost_s
        self.last_decision = self._send(msg)
        return self.last_decision

    @property
    def should_stop(self) -> bool:
        return self.last_decision in (Decision.PAUSE, Decision.STOP)


def _pipe_sender(report_fd: int, decision_fd: int) -> Callable[[dict[str, Any]], Decision]:
    out = os.fdopen(report_fd, "w", buffering=1, closefd=False)
    inp = os.fdopen(decision_fd, "r", buffering=1, closefd=False)
    lock = threading.Lock()

    def send(msg: dict[str, Any]) -> Decision:
        with lock:
            out.write(json.dumps(msg) + "\n")
            out.flush()
            line = inp.readline()
        if not line:
            raise TrialStopped("the executor closed the report channel; stopping")
        reply = json.loads(line)
        if "error" in reply:
            raise InvalidReport(reply["error"])
        return Decision(reply["decision"])

    return send


def _from_env() -> TrialContext:
    env = os.environ
    send = None
    if "HPO_REPORT_FD" in env and "HPO_DECISION_FD" in env:
        send = _pipe_sender(int(env["HPO_REPORT_FD"]), int(env["HPO_DECISION_FD"]))
    ck = env.get("HPO_CHECKPOINT_STEP")
    until = env.get("HPO_UNTIL")
    return TrialContext(
        trial_id=int(env["HPO_TRIAL_ID"]) if "HPO_TRIAL_ID" in env else None,
        number=int(env["HPO_TRIAL_NUMBER"]) if "HPO_TRIAL_NUMBER" in env else None,
        study=env.get("HPO_STUDY"),
        config=json.loads(env.get("HPO_CONFIG", "{}")),
        until=float(until) if until else None,
        resume=env.get("HPO_RESUME") == "1",
        checkpoint_dir=env.get("HPO_CHECKPOINT_DIR"),
        checkpoint_step=float(ck) if ck else None,
        send=send,
    )


_process_ctx: TrialContext | None = None
_process_lock = threading.Lock()


def current() -> TrialContext:
    """The context of the trial this code runs in (thread, process, or detached)."""
    global _process_ctx
    ctx = getattr(_local, "ctx", None)
    if ctx is not None:
        return ctx
    with _process_lock:
        if _process_ctx is None:
            _process_ctx = _from_env()
        return _process_ctx


def in_trial() -> bool:
    return getattr(_local, "ctx", None) is not None or "HPO_TRIAL_ID" in os.environ


def _set_thread_context(ctx: TrialContext | None) -> None:
    _local.ctx = ctx
