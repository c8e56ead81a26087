"""The Sherpa Orchestrator API: processes, versions, jobs, robots, groups, logs and triggers
(seeds 000, 001; contracts/sherpa.md)."""

from fastapi import FastAPI

from flowport.api.dialects.sherpa import faults, jobs, logs, processes, robots, triggers
from flowport.api.dialects.sherpa.access import router

# Importing the route modules registers their routes on `router`.
_ROUTES = (jobs, logs, processes, robots, triggers)


def install(app: FastAPI) -> None:
    """After api.errors.install: Sherpa's 404 and 405 wrap the handler before them."""
    faults.install(app)
    app.include_router(router)


__all__ = ["install"]
