"""Shanghai Fanxi Studio's Django-REST-style process API (seed 003, contracts/studio.md)."""

from fastapi import FastAPI

from flowport.api.dialects.studio import faults, jobs, processes, session
from flowport.api.dialects.studio.access import router

# Importing the route modules registers their routes on `router`.
_ROUTES = (jobs, processes, session)


def install(app: FastAPI) -> None:
    """After api.errors.install: Studio's 404 and 405 wrap the native handler."""
    faults.install(app)
    app.include_router(router)


__all__ = ["install"]
