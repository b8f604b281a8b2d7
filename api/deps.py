"""FastAPI dependencies: the service and the caller's project."""

from __future__ import annotations

from fastapi import Request
from hpo.api.service import Service


def service(request: Request) -> Service:
    return request.app.state.service


def project() -> str:
    """The project the caller acts in. Tokens (one project each) come with the auth work;
    until then every caller is in the project "default" and the server binds to localhost."""
    return "default"
