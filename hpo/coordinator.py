"""The coordinator: hands trials to workers and turns their reports into decisions.

It keeps nothing that storage does not: every call is one storage transaction holding the
study's write lock, inside which the scheduler decides from the current history. A coordinator
killed at any point and started again on the same storage continues the study; several
coordinators (threads, processes, API replicas) may serve one study at once.

Worker protocol::

    a = coord.ask(worker)                  # Assignment or None (nothing to run now)
    coord.report(a.trial_id, step, {...})  # -> Decision; a retried report is stored once
    coord.end(a.trial_id, exit_ok=True)    # the run ended: completed / paused / stopped / failed
    coord.heartbeat(worker)                # extends the worker's leases

A lease that expires returns its trial to ``paused`` (if it has a checkpoint) or ``pending``,
marked *interrupted*; interrupted trials are resumed before the scheduler is asked for new work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpo.errors import InvalidReport, TrialNotFound, TrialStateError
from hpo.history import History
from hpo.model import (
    Decision,
    Report,
    Study,
    Trial,
    TrialState,
    check_metrics,
    check_step,
)
from hpo.space import Config
from hpo.storage.sql import SQLStorage, StudyWriter

log = logging.getLogger(__name__)


def _metrics_text(metrics: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items()))


DEFAULT_LEASE_S = 60.0


@dataclass(frozen=True)
class Assignment:
    """A trial handed to a worker: run ``config`` up to fidelity ``until``."""

    trial_id: int
    number: int
    study: str
    config: Config
    until: float
    resume: bool  # True if the trial continues from a checkpoint or earlier progress
    checkpoint_step: float | None
    worker: str
    lease_expires: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Coordinator:
    """Serves one study. See the module docstring for the protocol.

    Args:
        storage: where the study lives.
        study: a Study, or its name or id.
        scheduler: overrides the scheduler built from the study's spec (tests, benchmarks).
        lease_s: default lease length; workers must heartbeat (or report) within it.
    """

    def __init__(
        self,
        storage: SQLStorage,
        study: Study | str | int,
        *,
        scheduler: Any = None,
        lease_s: float = DEFAULT_LEASE_S,
        project: str = "default",
    ):
        from hpo.schedulers import make_scheduler

        self.storage = storage
        self.study = study if isinstance(study, Study) else storage.get_study(study, project)
        self.scheduler = scheduler if scheduler is not None else make_scheduler(self.study)
        self.lease_s = float(lease_s)
        self.started_at = time.time()
        self.finished = False
        self.paused = False  # as of the last ask
        self._waiting_logged = False

    # ---- budget -----------------------------------------------------------------------------
    def _exhausted(self, h: History, now: float) -> str | None:
        """Why no more work may run (total fidelity or wall time spent), or None."""
        b = self.study.budget
        if b.max_fidelity is not None and h.total_fidelity >= b.max_fidelity:
            return f"fidelity budget {b.max_fidelity:g} spent"
        if b.wall_time_s is not None and now - self.started_at >= b.wall_time_s:
            return f"wall-time budget {b.wall_time_s:g}s spent"
        return None

    def _trials_left(self, h: History) -> bool:
        m = self.study.budget.max_trials
        return m is None or h.n_trials < m

    # ---- leases -----------------------------------------------------------------------------
    def _release(self, w: StudyWriter, t: Trial, why: str) -> Trial:
        last = self._run_decision(w.history, t)
        common = dict(worker=None, lease_expires=None)
        if last is Decision.STOP:
            return w.update_trial(t, state=self._stopped_state(t), **common)
        if last is Decision.PAUSE:
            return w.update_trial(t, state=self._paused_state(t), **common)
        state = TrialState.PAUSED if t.has_checkpoint else TrialState.PENDING
        log.warning("trial %d: %s; it will be resumed (%s)", t.number, why, state.value)
        if t.held:
            state = TrialState.HELD  # resumed (first) when the user resumes it
        return w.update_trial(t, state=state, interrupted=True, **common)

    @staticmethod
    def _paused_state(t: Trial) -> TrialState:
        """Where a run that obeyed PAUSE goes: held if a user paused the trial."""
        return TrialState.HELD if t.held else TrialState.PAUSED

    @staticmethod
    def _run_decision(h: History, t: Trial) -> Decision | None:
        """The last decision made during the trial's current run (not a PAUSE it resumed from)."""
        r = h.last_report(t.id)
        if r is None:
            return None
        if r.decision is Decision.PAUSE and t.until is not None and r.step < t.until:
            return None  # resumed past that pause; this run has not reported yet
        return r.decision

    def _stopped_state(self, t: Trial) -> TrialState:
        """A trial told to STOP at the maximum fidelity has completed; earlier, it was stopped."""
        done = t.last_step is not None and t.last_step >= self.study.max_fidelity
        return TrialState.COMPLETED if done else TrialState.STOPPED

    def _expire(self, w: StudyWriter) -> None:
        h = w.history
        for tid in list(h.ids_in(TrialState.RUNNING)):
            t = h.trial(tid)
            if t.lease_expires is not None and t.lease_expires < w.now:
                self._release(w, t, f"lease of worker {t.worker} expired")

    def expire(self) -> None:
        """Releases trials whose lease has expired."""
        with self.storage.write(self.study.id) as w:
            self._expire(w)

    def release_worker(self, worker: str, why: str = "its worker died") -> int:
        """Releases every trial a (dead) worker holds, as if its leases had expired."""
        n = 0
        with self.storage.write(self.study.id) as w:
            for tid in list(w.history.ids_in(TrialState.RUNNING)):
                t = w.history.trial(tid)
                if t.worker == worker:
                    self._release(w, t, why)
                    n += 1
        return n

    # ---- ask --------------------------------------------------------------------------------
    def _assignment(self, t: Trial, resume: bool) -> Assignment:
        return Assignment(
            trial_id=t.id,
            number=t.number,
            study=self.study.name,
            config=dict(t.config),
            until=t.until if t.until is not None else self.study.max_fidelity,
            resume=resume,
            checkpoint_step=t.checkpoint_step,
            worker=t.worker or "",
            lease_expires=t.lease_expires or 0.0,
        )

    def ask(self, worker: str, lease_s: float | None = None) -> Assignment | None:
        """The next trial for ``worker``, or None when there is nothing to run right now.

        Idempotent per worker: a worker that asks again while holding a trial gets it back.
        When None is returned and no trial is running anywhere, the study is over and
        ``self.finished`` becomes True.
        """
        lease = self.lease_s if lease_s is None else float(lease_s)
        with self.storage.write(self.study.id) as w:
            h = w.history
            self._expire(w)
            expires = w.now + lease
            for tid in h.ids_in(TrialState.RUNNING):
                t = h.trial(tid)
                if t.worker == worker:
                    t = w.update_trial(t, lease_expires=expires)
                    return self._assignment(t, resume=t.resumes > 0 or t.last_step is not None)
            self.paused = w.paused
            if w.paused:
                return None  # paused by a user: nothing starts until it is resumed
            a = self._ask_locked(w, worker, expires)
            if a is None and h.count(TrialState.RUNNING) == 0:
                if h.count(TrialState.HELD) == 0 or self._exhausted(h, w.now):
                    self._finish_study(w)
                elif not self._waiting_logged:
                    self._waiting_logged = True
                    log.warning(
                        "study %s waits for %d trial(s) held by a user (resume or delete them)",
                        self.study.name,
                        h.count(TrialState.HELD),
                    )
            return a

    def _ask_locked(self, w: StudyWriter, worker: str, expires: float) -> Assignment | None:
        h = w.history
        if self._exhausted(h, w.now):
            return None
        for tid in self.scheduler.retired(h):
            w.update_trial(h.trial(tid), state=TrialState.STOPPED)
        interrupted = h.interrupted((TrialState.PENDING, TrialState.PAUSED))
        if interrupted:
            t = interrupted[0]
            w.lock_trial(t.id)
            until = t.until
            if until is not None and t.last_step is not None and until <= t.last_step:
                # paused where its run was meant to end (a study pause): aim at the next level
                until = self.scheduler.next_until(h, t, t.last_step)
            t = w.update_trial(
                t,
                state=TrialState.RUNNING,
                worker=worker,
                lease_expires=expires,
                interrupted=False,
                resumes=t.resumes + 1,
                until=until,
            )
            return self._assignment(t, resume=True)
        trials_left = self._trials_left(h)
        self.scheduler.starts_allowed = trials_left
        s = self.scheduler.suggest(h)
        if s is None:
            return None
        if s.kind == "resume":
            t = h.trial(s.trial_id)
            if t.state is not TrialState.PAUSED:
                raise TrialStateError(
                    f"scheduler asked to resume trial {t.number}, which is {t.state.value}"
                )
            w.lock_trial(t.id)
            t = w.update_trial(
                t,
                state=TrialState.RUNNING,
                until=s.until,
                worker=worker,
                lease_expires=expires,
                resumes=t.resumes + 1,
            )
            return self._assignment(t, resume=True)
        if not trials_left:  # a scheduler that ignores starts_allowed
            return None
        config = self.study.space.validate_config(s.config)
        t = w.add_trial(
            config,
            state=TrialState.RUNNING,
            until=s.until,
            bracket=s.bracket,
            worker=worker,
            lease_expires=expires,
        )
        return self._assignment(t, resume=False)

    def _finish_study(self, w: StudyWriter) -> None:
        """Nothing runs and nothing can start: the study is over. Paused trials are stopped
        (held ones too, once the budget is spent)."""
        h = w.history
        for t in h.trials((TrialState.PAUSED, TrialState.PENDING, TrialState.HELD)):
            w.update_trial(t, state=TrialState.STOPPED, interrupted=False)
        if not self.study.finished:
            w.set_finished(True)
        self.finished = True

    # ---- report -----------------------------------------------------------------------------
    def report(
        self,
        trial_id: int,
        step: float,
        metrics: Mapping[str, Any],
        *,
        cost_s: float | None = None,
        worker: str | None = None,
        checkpoint: bool = False,
        lease_s: float | None = None,
    ) -> Decision:
        """Stores a result at fidelity ``step`` and returns what the trial should do next.

        A report for a (trial, step) that is already stored is not stored again; the decision
        given the first time is returned. A step above the study's maximum fidelity is refused.
        """
        step = check_step(step, self.study.fidelity)
        values = check_metrics(metrics, self.study.objectives)
        if cost_s is not None and (not isinstance(cost_s, (int, float)) or cost_s < 0):
            raise InvalidReport(f"cost_s must be a non-negative number, got {cost_s!r}")
        lease = self.lease_s if lease_s is None else float(lease_s)
        with self.storage.write(self.study.id) as w:
            h = w.history
            t = h.get(trial_id)
            if t is None:
                raise TrialNotFound(f"no trial {trial_id} in study {self.study.name!r}")
            seen = h.report_at(trial_id, step)
            if seen is not None:
                if dict(seen.metrics) != dict(values):
                    # a retry after a lost response repeats the values; other values mean the
                    # step ran again (a resume from an older checkpoint, a nondeterministic
                    # training): the first stays, and the user should know
                    log.warning(
                        "trial %d of %r reported step %g again with other values (%s); the "
                        "first report (%s) is kept",
                        t.number,
                        self.study.name,
                        step,
                        _metrics_text(values),
                        _metrics_text(seen.metrics),
                    )
                return seen.decision or Decision.CONTINUE
            if t.state is not TrialState.RUNNING or (
                worker is not None and t.worker is not None and t.worker != worker
            ):
                return Decision.STOP  # a stale worker: the trial is no longer its own
            rep = Report(trial_id, step, values, cost_s, w.now, None)
            h.apply_report(rep)
            last_step = max(t.last_step or 0.0, step) if t.last_step is not None else step
            t = w.update_trial(
                t,
                last_step=last_step,
                lease_expires=w.now + lease,
                checkpoint_step=step if checkpoint else t.checkpoint_step,
            )
            if self._exhausted(h, w.now) or step >= self.study.max_fidelity:
                decision = Decision.STOP  # at the maximum fidelity the trial is done
            else:
                decision = self.scheduler.on_report(h, t, rep)
                if (w.paused or t.held) and decision is Decision.CONTINUE:
                    # The study (or this trial) is paused by a user: checkpoint and free the
                    # worker; marked interrupted, the trial is resumed before anything new once
                    # the study (the trial) is resumed.
                    decision = Decision.PAUSE
                    t = w.update_trial(t, interrupted=True, until=step)
            w.add_report(Report(trial_id, step, values, cost_s, w.now, decision))
            if decision is Decision.CONTINUE and t.until is not None and step >= t.until:
                w.update_trial(t, until=self.scheduler.next_until(h, t, step))
            return decision

    # ---- end of a run -----------------------------------------------------------------------
    def end(
        self,
        trial_id: int,
        *,
        exit_ok: bool = True,
        error: str | None = None,
        worker: str | None = None,
    ) -> Trial:
        """A run of the trial ended (its process exited, its function returned or raised).

        The new state follows the last decision: PAUSE → paused (an exit after PAUSE is taken to
        mean the checkpoint at the last step was saved), STOP → stopped (completed if the trial
        had reached the maximum fidelity, where every trial is told STOP); otherwise completed
        if the run exited cleanly, failed (with ``error``) if not.
        """
        with self.storage.write(self.study.id) as w:
            h = w.history
            t = h.get(trial_id)
            if t is None:
                raise TrialNotFound(f"no trial {trial_id} in study {self.study.name!r}")
            if t.state is not TrialState.RUNNING or (
                worker is not None and t.worker is not None and t.worker != worker
            ):
                return t  # already released (lease expired, or another worker holds it)
            last = self._run_decision(h, t)
            common: dict[str, Any] = dict(worker=None, lease_expires=None)
            if last is Decision.PAUSE:
                ck = t.last_step if exit_ok else t.checkpoint_step
                return w.update_trial(t, state=self._paused_state(t), checkpoint_step=ck, **common)
            if last is Decision.STOP:
                return w.update_trial(t, state=self._stopped_state(t), **common)
            if exit_ok:
                return w.update_trial(t, state=TrialState.COMPLETED, **common)
            return w.update_trial(
                t, state=TrialState.FAILED, error=(error or "failed")[-4000:], **common
            )

    def fail(self, trial_id: int, error: str, worker: str | None = None) -> Trial:
        return self.end(trial_id, exit_ok=False, error=error, worker=worker)

    def tell(
        self,
        trial_id: int,
        metrics: Mapping[str, Any] | float | None = None,
        *,
        step: float | None = None,
        worker: str | None = None,
    ) -> Trial:
        """Ends a trial, with an optional final result (a dict, or one number for the objective).

        Without ``step`` the final result is stored at the study's maximum fidelity.
        """
        if metrics is not None:
            if not isinstance(metrics, Mapping):
                metrics = {self.study.objective.name: metrics}
            self.report(
                trial_id,
                self.study.max_fidelity if step is None else step,
                metrics,
                worker=worker,
            )
        return self.end(trial_id, exit_ok=True, worker=worker)

    def heartbeat(self, worker: str, lease_s: float | None = None) -> int:
        """Extends the leases of every trial ``worker`` runs; returns how many."""
        lease = self.lease_s if lease_s is None else float(lease_s)
        n = 0
        with self.storage.write(self.study.id) as w:
            for tid in list(w.history.ids_in(TrialState.RUNNING)):
                t = w.history.trial(tid)
                if t.worker == worker:
                    w.update_trial(t, lease_expires=w.now + lease)
                    n += 1
        return n

    def history(self) -> History:
        return self.storage.history(self.study.id)

    def pause(self) -> Study:
        """Pauses the study: ``ask`` hands out nothing, and every running trial is told PAUSE
        at its next report (it checkpoints and frees its worker). Idempotent."""
        with self.storage.write(self.study.id) as w:
            if not w.paused:
                w.set_paused(True)
        return self.storage.get_study(self.study.id)

    def resume(self) -> Study:
        """Undoes ``pause``: trials paused by it are resumed first, then the scheduler goes on."""
        with self.storage.write(self.study.id) as w:
            if w.paused:
                w.set_paused(False)
        return self.storage.get_study(self.study.id)

    def pause_trial(self, number: int) -> Trial:
        """Holds one trial until ``resume_trial``: a running trial is told PAUSE at its next
        report (it checkpoints and frees its worker); a paused or pending one is kept from
        starting. No scheduler resumes, promotes or retires a held trial, and the study does not
        end while one is held (unless its budget is spent). Idempotent; 409 for ended trials."""
        with self.storage.write(self.study.id) as w:
            t = self._user_trial(w, number)
            if t.state.is_final:
                raise TrialStateError(f"trial {number} has ended ({t.state.value})")
            if t.state is TrialState.RUNNING:
                return w.update_trial(t, held=True)
            if t.state in (TrialState.PAUSED, TrialState.PENDING):
                return w.update_trial(t, held=True, state=TrialState.HELD)
            return t

    def resume_trial(self, number: int) -> Trial:
        """Undoes ``pause_trial``. A trial that the hold stopped mid-run is resumed (from its
        checkpoint) before anything new starts; one the scheduler had paused goes back to it.
        Idempotent; a trial that is not held is returned unchanged; 409 for ended trials, as
        for ``pause_trial`` (there is nothing to resume)."""
        with self.storage.write(self.study.id) as w:
            t = self._user_trial(w, number)
            if t.state.is_final:
                if t.held:  # held while running, then it ended: only the flag is left to clear
                    return w.update_trial(t, held=False)
                raise TrialStateError(f"trial {number} has ended ({t.state.value})")
            if t.state is TrialState.HELD:
                state = TrialState.PAUSED if t.has_checkpoint else TrialState.PENDING
                self._waiting_logged = False
                return w.update_trial(t, held=False, state=state)
            return w.update_trial(t, held=False) if t.held else t

    def _user_trial(self, w: StudyWriter, number: int) -> Trial:
        t = w.history.by_number(number)
        if t is None:
            raise TrialNotFound(f"no trial {number} in study {self.study.name!r}")
        w.lock_trial(t.id)
        return t

    def running_trials(self) -> list[Trial]:
        return self.history().trials((TrialState.RUNNING,))

    def counts(self) -> dict[str, int]:
        """Number of trials in each state."""
        return self.storage.study_counts(self.study.id)
