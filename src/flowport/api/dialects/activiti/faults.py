"""Spring Boot's error body, and the translation of domain errors into it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import JSONResponse

from flowport import errors
from flowport.api.errors import TITLES, status_of

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ActivitiFault(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def wall_clock(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """"YYYY-MM-DD HH:MM:SS" in the deployment's display time zone."""
    return moment.astimezone(zone).strftime(TIME_FORMAT) if moment else None


async def handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ActivitiFault)
    zone = ZoneInfo(request.app.state.ctx.settings.display_time_zone)
    return JSONResponse({
        "timestamp": wall_clock(datetime.now(UTC), zone), "status": exc.status,
        "error": TITLES.get(exc.status, "Error"), "message": exc.message,
        "path": request.url.path,
    }, status_code=exc.status)


@contextmanager
def translated() -> Iterator[None]:
    """Domain errors in Spring's shape; launch variables that miss a required input are a
    400 here (the native API says 422)."""
    try:
        yield
    except errors.InvalidParameters as exc:
        raise ActivitiFault(400, exc.message) from exc
    except errors.FlowportError as exc:
        raise ActivitiFault(status_of(exc), exc.message) from exc
