"""Creatio's error envelope, and the translation of domain errors into it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from fastapi.responses import JSONResponse

from flowport import errors
from flowport.api.auth import CsrfMismatch
from flowport.api.errors import status_of


class CreatioFault(Exception):
    def __init__(self, status: int, code: str, message: str,
                 parameter: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.parameter = status, code, message, parameter


async def handle(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CreatioFault)
    info: dict[str, object] = {"errorCode": exc.code, "message": exc.message}
    if exc.parameter:
        info["parameterName"] = exc.parameter
    return JSONResponse({"success": False, "errorInfo": info}, status_code=exc.status)


GENERIC = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           409: "Conflict", 413: "RequestTooLarge", 422: "InvalidParameterValue",
           429: "TooManyRequests", 503: "ServiceUnavailable"}


@contextmanager
def translated(**codes: str) -> Iterator[None]:
    """Turn domain errors into Creatio faults; `codes` names the errorCode per domain error
    class name (e.g. NotFound="ProcessSchemaNotFound")."""
    try:
        yield
    except CsrfMismatch as exc:
        raise CreatioFault(401, "CsrfTokenInvalid", exc.message) from exc
    except errors.Unauthenticated as exc:
        raise CreatioFault(401, "Unauthorized", exc.message) from exc
    except errors.InvalidParameters as exc:
        raise CreatioFault(400, "InvalidParameterValue", exc.message, exc.field) from exc
    except errors.FlowportError as exc:
        status = status_of(exc)
        code = next((codes[cls.__name__] for cls in type(exc).__mro__ if cls.__name__ in codes),
                     GENERIC.get(status, "Error"))
        raise CreatioFault(status, code, exc.message, exc.field) from exc
