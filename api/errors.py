"""Maps hpo's errors and request validation to JSON error bodies with 4xx status codes."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hpo.errors import (
    HpoError,
    InvalidConfig,
    InvalidReport,
    InvalidSpace,
    InvalidStudy,
    StudyExists,
    StudyNotFound,
    TrialNotFound,
    TrialStateError,
    Unauthorized,
    UnknownScheduler,
)

log = logging.getLogger(__name__)

STATUS: list[tuple[type[HpoError], int]] = [
    (Unauthorized, 401),
    (StudyNotFound, 404),
    (TrialNotFound, 404),
    (StudyExists, 409),
    (TrialStateError, 409),
    (InvalidSpace, 422),
    (InvalidConfig, 422),
    (InvalidStudy, 422),
    (InvalidReport, 422),
    (UnknownScheduler, 422),
]


def status_of(e: HpoError) -> int:
    for cls, code in STATUS:
        if isinstance(e, cls):
            return code
    return 400


def _body(message: str, kind: str, detail: list | None = None) -> dict:
    out: dict = {"error": message, "type": kind}
    if detail is not None:
        out["detail"] = detail
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(HpoError)
    async def hpo_error(_: Request, e: HpoError) -> JSONResponse:
        return JSONResponse(_body(str(e), type(e).__name__), status_code=status_of(e))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, e: RequestValidationError) -> JSONResponse:
        detail = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            msg = err.get("msg", "")
            if err.get("type") == "json_invalid":  # loc is the character offset
                why = (err.get("ctx") or {}).get("error", "")
                msg, loc = f"malformed JSON at character {loc}" + (f": {why}" if why else ""), ""
            detail.append({"loc": loc, "msg": msg, "type": err.get("type", "")})
        first = detail[0] if detail else {"loc": "", "msg": "invalid request"}
        message = f"{first['loc']}: {first['msg']}" if first["loc"] else first["msg"]
        if len(detail) > 1:
            message += f" (and {len(detail) - 1} more)"
        return JSONResponse(_body(message, "ValidationError", detail), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        """Starlette's own answers (no such route, method not allowed, a body that is not
        UTF-8 or nests too deep) in the same body as ours."""
        try:
            phrase = HTTPStatus(e.status_code).phrase
        except ValueError:  # not a standard code
            phrase = "Error"
        if e.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif e.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = e.detail if isinstance(e.detail, str) else phrase
        kind = phrase.title().replace(" ", "").replace("-", "")
        return JSONResponse(_body(message, kind), status_code=e.status_code, headers=e.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:  # pragma: no cover
        log.exception("unexpected error")
        return JSONResponse(_body("internal error (see the server log)", "InternalError"), 500)
