"""What the routers share: one storage, the coordinators of its studies, and the converters
between the domain model (hpo.model) and the API's schemas.

The service keeps no state of its own beyond caches: every decision is made by a
:class:`~hpo.coordinator.Coordinator` inside the study's write lock in the database, so several
replicas of the service may serve one study from one PostgreSQL database.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from hpo.api import schemas as S

from hpo.coordinator import Assignment, Coordinator
from hpo.errors import TrialNotFound
from hpo.model import Report, Study, Trial


class Service:
    """``require_auth``: always demand a token (a server bound beyond localhost); otherwise a
    token is demanded as soon as one exists in the storage."""

    TOKEN_TTL_S = 5.0  # how long a token check (or "no tokens exist") is trusted
    STUDY_TTL_S = 5.0  # how long a study's name -> id lookup is trusted

    def __init__(self, storage_url: str | None = None, *, require_auth: bool = False) -> None:
        from hpo.storage import SQLStorage

        self.storage = SQLStorage(storage_url)
        self.require_auth = require_auth
        self._coordinators: dict[int, Coordinator] = {}
        self._by_name: dict[tuple[str, str], tuple[Coordinator, float]] = {}
        self._trial_ids: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str | None, float]] = {}
        self._has_tokens: tuple[bool, float] = (False, -1e9)

    def auth_required(self) -> bool:
        if self.require_auth:
            return True
        value, at = self._has_tokens
        if time.monotonic() - at > self.TOKEN_TTL_S:
            value = self.storage.has_tokens()
            self._has_tokens = (value, time.monotonic())
        return value

    def project_for_token(self, token: str) -> str | None:
        hit = self._tokens.get(token)
        if hit is not None and time.monotonic() - hit[1] <= self.TOKEN_TTL_S:
            return hit[0]
        proj = self.storage.project_for_token(token)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[token] = (proj, time.monotonic())
        return proj

    def study(self, name: str, project: str) -> Study:
        return self.storage.get_study(name, project)

    def coordinator(self, name: str, project: str) -> Coordinator:
        """The study's coordinator. The lookup by name is trusted for ``STUDY_TTL_S``: a study
        deleted by another replica meanwhile answers 404 from its first write or read, and one
        re-created under the same name is found once the entry expires."""
        key = (name, project)
        now = time.monotonic()
        with self._lock:
            hit = self._by_name.get(key)
        if hit is not None and now - hit[1] <= self.STUDY_TTL_S:
            return hit[0]
        study = self.study(name, project)
        with self._lock:
            c = self._coordinators.get(study.id)
            if c is None:
                c = self._coordinators[study.id] = Coordinator(self.storage, study)
            if len(self._by_name) > 10_000:
                self._by_name.clear()
            self._by_name[key] = (c, now)
            return c

    def forget(self, study_id: int) -> None:
        with self._lock:
            self._coordinators.pop(study_id, None)
            for k in [k for k, (c, _) in self._by_name.items() if c.study.id == study_id]:
                del self._by_name[k]
            for k in [k for k in self._trial_ids if k[0] == study_id]:
                del self._trial_ids[k]

    def trial_id(self, coord: Coordinator, number: int) -> int:
        """A trial's id from its number (immutable once the trial exists: cached)."""
        key = (coord.study.id, number)
        tid = self._trial_ids.get(key)
        if tid is None:
            try:
                tid = self.storage.trial_id(coord.study.id, number)
            except TrialNotFound:
                raise TrialNotFound(f"no trial {number} in study {coord.study.name!r}") from None
            if len(self._trial_ids) > 1_000_000:
                self._trial_ids.clear()
            self._trial_ids[key] = tid
        return tid


def study_out(s: Study) -> S.StudyOut:
    return S.StudyOut(
        id=s.id,
        name=s.name,
        project=s.project,
        space=s.space.to_dict(),
        objectives=[S.ObjectiveIn(**o.to_dict()) for o in s.objectives],
        fidelity=S.FidelityIn(**s.fidelity.to_dict()) if s.fidelity else None,
        scheduler=S.SchedulerIn(**s.scheduler.to_dict()),
        budget=S.BudgetIn(**s.budget.to_dict()),
        metadata=dict(s.metadata),
        created_at=s.created_at,
        finished=s.finished,
        paused=s.paused,
    )


def report_out(r: Report) -> S.ReportOut:
    return S.ReportOut(
        step=r.step,
        metrics=dict(r.metrics),
        cost_s=r.cost_s,
        time=r.time,
        decision=r.decision.value if r.decision else None,
    )


def trial_out(t: Trial, reports: list[Report] | None = None) -> S.TrialOut:
    return S.TrialOut(
        id=t.id,
        study_id=t.study_id,
        number=t.number,
        state=t.state.value,
        config=dict(t.config),
        until=t.until,
        bracket=t.bracket,
        worker=t.worker,
        checkpoint_step=t.checkpoint_step,
        last_step=t.last_step,
        error=t.error,
        resumes=t.resumes,
        interrupted=t.interrupted,
        held=t.held,
        created_at=t.created_at,
        updated_at=t.updated_at,
        reports=None if reports is None else [report_out(r) for r in reports],
    )


def assignment_out(a: Assignment) -> S.AssignmentOut:
    d: dict[str, Any] = a.to_dict()
    d["config"] = dict(d["config"])
    return S.AssignmentOut(**d)
