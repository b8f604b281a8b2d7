"""FastAPI dependencies: the service and the caller's project (from its API token)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from hpo.api.service import Service

from hpo.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="an API token from `hpo token create`")


def service(request: Request) -> Service:
    return request.app.state.service


def project(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
    """The project the caller acts in: its token's. Without any token configured (and only then,
    on a server bound to localhost) every caller is in the project "default"."""
    svc: Service = request.app.state.service
    if not svc.auth_required():
        return "default"
    if creds is None or not creds.credentials:
        raise Unauthorized("this server needs an API token: Authorization: Bearer <token>")
    proj = svc.project_for_token(creds.credentials)
    if proj is None:
        raise Unauthorized("unknown or revoked API token")
    return proj
