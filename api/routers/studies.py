"""/v1/studies: create, list, get, delete; best trial and Pareto front."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response, status
from hpo.api import schemas as S
from hpo.api.deps import project, service
from hpo.api.service import Service, study_out, trial_out

from hpo.errors import TrialNotFound

router = APIRouter(prefix="/v1/studies", tags=["studies"])

ERRORS = {
    401: {"model": S.Error, "description": "missing, unknown or revoked API token"},
    404: {"model": S.Error, "description": "no such study (in the token's project)"},
    422: {"model": S.Error, "description": "invalid request"},
    413: {"model": S.Error, "description": "request body too large"},
}


@router.post(
    "",
    response_model=S.StudyOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": S.Error, "description": "a study of that name exists"}, **ERRORS},
)
def create_study(
    body: S.StudyCreate, svc: Service = Depends(service), proj: str = Depends(project)
) -> S.StudyOut:
    """Creates a study; the space, scheduler and its parameters are validated first."""
    from hpo.client import study_spec

    spec = study_spec(
        body.name,
        {k: v.model_dump() for k, v in body.space.items()},
        [o.model_dump() for o in body.objectives],
        fidelity=body.fidelity.model_dump() if body.fidelity else None,
        scheduler=body.scheduler.model_dump(),
        budget=body.budget.model_dump(),
        metadata=body.metadata,
        project=proj,
    )
    s = svc.storage.create_study(spec, exist_ok=body.exist_ok)
    return study_out(s)


@router.get("", response_model=list[S.StudyOut], responses=ERRORS)
def list_studies(svc: Service = Depends(service), proj: str = Depends(project)):
    return [study_out(s) for s in svc.storage.list_studies(proj)]


@router.get("/{name}", response_model=S.StudyOut, responses=ERRORS)
def get_study(name: str, svc: Service = Depends(service), proj: str = Depends(project)):
    return study_out(svc.study(name, proj))


@router.delete(
    "/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=ERRORS
)
def delete_study(name: str, svc: Service = Depends(service), proj: str = Depends(project)):
    s = svc.study(name, proj)
    svc.forget(s.id)
    svc.storage.delete_study(s.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/pause", response_model=S.StudyOut, responses=ERRORS)
def pause(name: str, svc: Service = Depends(service), proj: str = Depends(project)):
    """Nothing new starts; running trials are told PAUSE at their next report (they checkpoint
    and free their workers). Idempotent."""
    return study_out(svc.coordinator(name, proj).pause())


@router.post("/{name}/resume", response_model=S.StudyOut, responses=ERRORS)
def resume(name: str, svc: Service = Depends(service), proj: str = Depends(project)):
    """Undoes pause: the trials it paused resume first (from their checkpoints)."""
    return study_out(svc.coordinator(name, proj).resume())


@router.get("/{name}/best", response_model=S.ResultOut, responses=ERRORS)
def best(name: str, svc: Service = Depends(service), proj: str = Depends(project)):
    """The best trial by the first objective (its result at the highest fidelity reached)."""
    from hpo.results import best_trial

    r = best_trial(svc.coordinator(name, proj).history())
    if r is None:
        raise TrialNotFound(f"study {name!r} has no results yet")
    return S.ResultOut(trial=trial_out(r.trial), step=r.step, values=r.values)


@router.get(
    "/{name}/export",
    responses={
        200: {
            "description": "the study: JSON (spec, trials, reports) or CSV (a row per trial)",
            "content": {"application/json": {}, "text/csv": {}},
        },
        **ERRORS,
    },
)
def export(
    name: str,
    format: Literal["json", "csv"] = Query(default="json"),
    svc: Service = Depends(service),
    proj: str = Depends(project),
) -> Response:
    """Every trial with its reports (JSON) or its latest values (CSV)."""
    import json

    from hpo.results import export_csv, export_json

    h = svc.coordinator(name, proj).history()
    if format == "csv":
        return Response(export_csv(h), media_type="text/csv")
    return Response(json.dumps(export_json(h)), media_type="application/json")


@router.get("/{name}/pareto", response_model=list[S.ResultOut], responses=ERRORS)
def pareto(name: str, svc: Service = Depends(service), proj: str = Depends(project)):
    """The non-dominated trials over all objectives."""
    from hpo.results import pareto_front

    front = pareto_front(svc.coordinator(name, proj).history())
    return [S.ResultOut(trial=trial_out(r.trial), step=r.step, values=r.values) for r in front]
