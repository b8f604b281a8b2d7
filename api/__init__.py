"""hpo.api: the REST service (FastAPI). ``create_app(storage_url)`` builds it;
``hpo serve --storage URL --host --port`` runs it under uvicorn.

Layout as in FastAPI's "bigger applications": routers per resource (``routers/studies.py``,
``routers/trials.py``), pydantic schemas apart from the storage models (``schemas.py``),
dependencies for the service and the caller's project (``deps.py``), and one place that maps
hpo's errors to status codes (``errors.py``). Importing ``hpo.api`` alone loads nothing heavy.
"""

from __future__ import annotations

from typing import Any

MAX_BODY_BYTES = 1 << 20  # 1 MiB: a report or a study is a few kB


def create_app(
    storage_url: str | None = None,
    *,
    require_auth: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """The FastAPI application over one storage URL (None: $HPO_STORAGE or ./hpo.db).

    Tokens are demanded once any exists in the storage, or always with ``require_auth``.
    """
    from fastapi import FastAPI
    from hpo.api import errors
    from hpo.api.routers import studies, trials
    from hpo.api.service import Service

    import hpo

    app = FastAPI(
        title="hpo",
        version=hpo.__version__,
        description="Asynchronous multi-fidelity hyperparameter search: studies, trials, "
        "ask / report / finish.",
    )
    app.state.service = Service(storage_url, require_auth=require_auth)
    errors.install(app)
    app.include_router(studies.router)
    app.include_router(trials.router)
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


class _BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _reject(send, self.max_bytes)
                    return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _reject(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _reject(send: Any, limit: int) -> None:
    import json

    body = json.dumps(
        {"error": f"request body larger than {limit} bytes", "type": "PayloadTooLarge"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
