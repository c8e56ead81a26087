"""The one edge where domain errors become HTTP: RFC 7807 problem documents.

Dialects with their own error bodies register their own handlers for their path prefix and reuse
`status_of` so that every front door agrees on the status code.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowport import errors

log = logging.getLogger("flowport.api")

STATUS: list[tuple[type[errors.FlowportError], int]] = [
    (errors.InvalidParameters, 422),
    (errors.InvalidSchedule, 422),
    (errors.BadInput, 400),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.TooLarge, 413),
    (errors.TooManyRequests, 429),
    (errors.Unavailable, 503),
]

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Content",
          429: "Too Many Requests", 500: "Internal Error",
          503: "Service Unavailable"}


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "code": {"type": "string"}, "field": {"type": ["string", "null"]},
    },
}
# Documented on every route, so clients (and the fuzzer) know the shape of each error.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": TITLES[status],
             "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}
    for status in (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 503)
}


def status_of(exc: errors.FlowportError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def problem(status: int, detail: str, *, code: str | None = None, field: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if code:
        body["code"] = code
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers,
                        media_type="application/problem+json")


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.FlowportError)
    async def _domain(_request: Request, exc: errors.FlowportError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, errors.TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, errors.Unavailable):
            headers = {"Retry-After": "1"}  # the database or the script workers: soon
        return problem(status, exc.message, code=exc.code, field=exc.field, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
            for e in exc.errors()
        ]
        first = issues[0] if issues else {"field": None, "message": "invalid request"}
        return problem(422, f"{first['field']}: {first['message']}", code="invalid_request",
                       field=first["field"] or None, errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error happened; it has been logged")
