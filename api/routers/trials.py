"""/v1/studies/{name}/...: ask, report, finish, fail, heartbeat, and reading trials.

Retries are safe: a report for a (trial, step) already stored is not stored again and returns
the decision given the first time; finishing or failing a trial that is no longer running
returns it unchanged.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from hpo.api import schemas as S
from hpo.api.deps import project, service
from hpo.api.routers.studies import ERRORS
from hpo.api.service import Service, assignment_out, trial_out

from hpo.model import TrialState

router = APIRouter(prefix="/v1/studies/{name}", tags=["trials"])

States = Literal["pending", "running", "paused", "held", "completed", "stopped", "failed"]


@router.post("/ask", response_model=S.AskOut, responses=ERRORS)
def ask(name: str, body: S.AskIn, svc: Service = Depends(service), proj: str = Depends(project)):
    """Claims a trial for ``worker`` with a lease (idempotent per worker while it runs)."""
    coord = svc.coordinator(name, proj)
    a = coord.ask(body.worker, lease_s=body.lease_s)
    paused = a is None and coord.paused
    return S.AskOut(
        assignment=assignment_out(a) if a else None,
        finished=a is None and coord.finished and not paused,
        paused=paused,
    )


@router.post("/trials/{number}/reports", response_model=S.DecisionOut, responses=ERRORS)
def report(
    name: str,
    number: int,
    body: S.ReportIn,
    svc: Service = Depends(service),
    proj: str = Depends(project),
):
    """Stores an intermediate result; the answer says continue, pause or stop."""
    coord = svc.coordinator(name, proj)
    d = coord.report(
        svc.trial_id(coord, number),
        body.step,
        body.metrics,
        cost_s=body.cost_s,
        worker=body.worker,
        checkpoint=body.checkpoint,
    )
    return S.DecisionOut(decision=d.value)


@router.post("/trials/{number}/finish", response_model=S.TrialOut, responses=ERRORS)
def finish(
    name: str,
    number: int,
    body: S.FinishIn,
    svc: Service = Depends(service),
    proj: str = Depends(project),
):
    """Ends a run: with ``metrics``, stores them as the final result first."""
    coord = svc.coordinator(name, proj)
    t = coord.tell(svc.trial_id(coord, number), body.metrics, step=body.step, worker=body.worker)
    return trial_out(t)


@router.post("/trials/{number}/fail", response_model=S.TrialOut, responses=ERRORS)
def fail(
    name: str,
    number: int,
    body: S.FailIn,
    svc: Service = Depends(service),
    proj: str = Depends(project),
):
    coord = svc.coordinator(name, proj)
    return trial_out(coord.fail(svc.trial_id(coord, number), body.error, worker=body.worker))


@router.post("/trials/{number}/pause", response_model=S.TrialOut, responses=ERRORS)
def pause_trial(
    name: str, number: int, svc: Service = Depends(service), proj: str = Depends(project)
):
    """Holds one trial until it is resumed: if it runs, it is told PAUSE at its next report (it
    checkpoints and frees its worker); no scheduler resumes, promotes or retires it meanwhile,
    and the study does not end while it is held. Idempotent; 409 for a trial that has ended."""
    return trial_out(svc.coordinator(name, proj).pause_trial(number))


@router.post("/trials/{number}/resume", response_model=S.TrialOut, responses=ERRORS)
def resume_trial(
    name: str, number: int, svc: Service = Depends(service), proj: str = Depends(project)
):
    """Undoes pause: a trial the hold stopped mid-run resumes from its checkpoint before
    anything new starts; one the scheduler had paused goes back to the scheduler."""
    return trial_out(svc.coordinator(name, proj).resume_trial(number))


@router.post("/heartbeat", response_model=S.HeartbeatOut, responses=ERRORS)
def heartbeat(
    name: str, body: S.HeartbeatIn, svc: Service = Depends(service), proj: str = Depends(project)
):
    """Extends the leases of every trial the worker runs."""
    n = svc.coordinator(name, proj).heartbeat(body.worker, lease_s=body.lease_s)
    return S.HeartbeatOut(trials=n)


@router.post("/release", response_model=S.HeartbeatOut, responses=ERRORS)
def release(
    name: str, body: S.ReleaseIn, svc: Service = Depends(service), proj: str = Depends(project)
):
    """Hands back every trial the worker runs (paused if it has a checkpoint, else pending),
    marked interrupted so that they are resumed first: what a worker does when it stops."""
    n = svc.coordinator(name, proj).release_worker(body.worker, body.why)
    return S.HeartbeatOut(trials=n)


@router.get("/trials", response_model=S.TrialPage, responses=ERRORS)
def trials(
    name: str,
    state: list[States] | None = Query(default=None, description="filter by state (repeatable)"),
    offset: int = Query(default=0, ge=0),
    limit: int = Query(default=100, ge=1, le=1000),
    svc: Service = Depends(service),
    proj: str = Depends(project),
):
    """Trials ordered by number, optionally filtered by state, a page at a time."""
    h = svc.coordinator(name, proj).history()
    items = h.trials(None if state is None else [TrialState(s) for s in state])
    page = items[offset : offset + limit]
    return S.TrialPage(
        items=[trial_out(t) for t in page], total=len(items), offset=offset, limit=limit
    )


@router.get("/trials/{number}", response_model=S.TrialOut, responses=ERRORS)
def trial(name: str, number: int, svc: Service = Depends(service), proj: str = Depends(project)):
    """One trial with all its reports."""
    coord = svc.coordinator(name, proj)
    h = coord.history()
    tid = svc.trial_id(coord, number)
    return trial_out(h.trial(tid), h.reports(tid))
