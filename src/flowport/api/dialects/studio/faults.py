"""Studio's error bodies, Django REST framework style, and the translation of domain errors into
them. CRUD endpoints answer `{"detail": ...}` or field errors `{"<field>": ["<message>"]}`;
action endpoints (save, upload, execute, stop) put `"success": false` in front."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowport import errors
from flowport.api.errors import status_of

PREFIXES = ("/api/process", "/api/login", "/api/logout")
ACTIONS = tuple(f"/api/process/{verb}" for verb in ("save", "upload", "execute", "stop"))
AUTHENTICATE = {"WWW-Authenticate": "Token"}
# DRF's own wording, which Studio clients may look for.
NOT_FOUND = "Not found."
INVALID_TOKEN = "Invalid token."
NO_CREDENTIALS = "Authentication credentials were not provided."
FORBIDDEN = "You do not have permission to perform this action."
REQUIRED = "This field is required."


class StudioError(Exception):
    def __init__(self, status: int, detail: str = "", *,
                 fields: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or str(fields))
        self.status, self.detail, self.fields, self.headers = status, detail, fields, headers


def is_studio(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


def _body(request: Request, status: int, body: dict[str, object],
          headers: dict[str, str] | None = None) -> JSONResponse:
    if request.url.path.startswith(ACTIONS):
        body = {"success": False, **body}
    return JSONResponse(body, status_code=status, headers=headers)


async def handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StudioError)
    body: dict[str, object] = dict(exc.fields) if exc.fields else {"detail": exc.detail}
    return _body(request, exc.status, body, exc.headers)


def install(app: FastAPI) -> None:
    """Studio's handler, and Studio's shape for the router's own 404 and 405 on Studio paths
    (every other path keeps the handler it had)."""
    app.add_exception_handler(StudioError, handle)
    previous = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_studio(request.url.path):
            answer = previous(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        detail = {404: NOT_FOUND, 405: f'Method "{request.method}" not allowed.'}.get(
            exc.status_code, str(exc.detail))
        return _body(request, exc.status_code, {"detail": detail},
                     dict(exc.headers) if exc.headers else None)

    app.add_exception_handler(StarletteHTTPException, http_error)


def from_domain(exc: errors.FlowportError, details: dict[str, str]) -> StudioError:
    """The Studio error for a domain error; `details` overrides the message per domain error
    class name (e.g. InvalidTransition="job 7 is not running")."""
    override = next((details[c.__name__] for c in type(exc).__mro__ if c.__name__ in details),
                    None)
    # Studio has no 422: a value the declared parameters refuse is plain invalid input.
    status = 400 if isinstance(exc, errors.InvalidParameters) else status_of(exc)
    if override is not None:
        return StudioError(status, override)
    if isinstance(exc, errors.UnknownIds):
        return StudioError(404, f"Not found: {','.join(map(str, exc.ids))}")
    if isinstance(exc, errors.TooManyRequests):
        return StudioError(429, f"Request was throttled. Expected available in "
                                f"{exc.retry_after} seconds.",
                           headers={"Retry-After": str(exc.retry_after)})
    fixed = {401: INVALID_TOKEN, 403: FORBIDDEN, 404: NOT_FOUND}
    return StudioError(status, fixed.get(status, exc.message),
                       headers=AUTHENTICATE if status == 401 else None)


@contextmanager
def translated(**details: str) -> Iterator[None]:
    try:
        yield
    except errors.FlowportError as exc:
        raise from_domain(exc, details) from exc
