"""Sherpa's error body, `{"error": {"code", "message", "field"}}`, and the translation of
domain errors into it (contracts/sherpa.md §11)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowport import errors
from flowport.api.errors import status_of

# The first segment of every Sherpa path (Studio owns /api/process/...; Sherpa's process
# routes live beside Studio's there, so unknown paths under it keep Studio's answer).
PREFIXES = ("/api/processVersion", "/api/job", "/api/robot", "/api/robotGroup", "/api/log",
            "/api/schedule", "/api/queue", "/api/task", "/api/asset", "/api/storage",
            "/api/account")
AUTHENTICATE = {"WWW-Authenticate": "Bearer"}


class SherpaFault(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers


def body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


async def handle(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SherpaFault)
    return JSONResponse(body(exc.code, exc.message, exc.field), status_code=exc.status,
                        headers=exc.headers)


def is_sherpa(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


def install(app: FastAPI) -> None:
    """Sherpa's handler, and Sherpa's body for the router's own 404 and 405 on its paths."""
    app.add_exception_handler(SherpaFault, handle)
    previous = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_sherpa(request.url.path):
            answer = previous(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        code = {404: "unknown_endpoint", 405: "method_not_allowed"}.get(exc.status_code,
                                                                        "invalid_body")
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=dict(exc.headers) if exc.headers else None)

    app.add_exception_handler(StarletteHTTPException, http_error)


# Domain error classes whose Sherpa code differs from the HTTP status's usual one.
_CODES: list[tuple[type[errors.FlowportError], int, str]] = [
    (errors.InvalidTransition, 422, "invalid_transition"),
    (errors.StaleLease, 422, "invalid_transition"),
    (errors.TooLarge, 422, "too_long"),
    (errors.BadInput, 422, "invalid_value"),
    (errors.Unauthenticated, 401, "unauthorized"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.NotFound, 404, "not_found"),
]


def from_domain(exc: errors.FlowportError, field: str | None = None) -> SherpaFault:
    for cls, status, code in _CODES:
        if isinstance(exc, cls):
            return SherpaFault(status, code, exc.message, field or exc.field,
                               AUTHENTICATE if status == 401 else None)
    status = status_of(exc)
    return SherpaFault(status, "internal" if status >= 500 else exc.code, exc.message,
                       field or exc.field)


@contextmanager
def translated(field: str | None = None, **codes: tuple[int, str]) -> Iterator[None]:
    """Domain errors as Sherpa faults; `field` names the request field they concern, and
    `codes` overrides (status, code) by domain error class name."""
    try:
        yield
    except errors.FlowportError as exc:
        for cls in type(exc).__mro__:
            if cls.__name__ in codes:
                status, code = codes[cls.__name__]
                raise SherpaFault(status, code, exc.message, field or exc.field) from exc
        raise from_domain(exc, field) from exc
