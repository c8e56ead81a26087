"""The ASGI application: routers, the error edge, and the background loops' lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from flowport import __version__, web
from flowport.api import errors
from flowport.api.dialects import activiti, creatio, sherpa, studio
from flowport.api.limits import BodyLimit
from flowport.api.native import (
    agents,
    instances,
    jobs,
    overview,
    processes,
    records,
    robots,
    schedules,
    session,
    steps,
    tokens,
    users,
)
from flowport.loops import background_loops
from flowport.services.context import Context


def create_app(ctx: Context) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loops = background_loops(ctx) if ctx.settings.run_loops else []
        for loop in loops:
            loop.start()
        try:
            yield
        finally:
            for loop in loops:
                await run_in_threadpool(loop.stop)

    app = FastAPI(
        title="Flowport", version=__version__, lifespan=lifespan,
        openapi_url="/api/v1/openapi.json", docs_url="/docs", redoc_url=None,
        description="Deploy, start, watch and clean up business processes. Authenticate with "
                    "`Authorization: Bearer <token>`.",
    )
    app.state.ctx = ctx
    errors.install(app)
    # Uploads are the largest bodies; leave room for the multipart envelope around them.
    app.add_middleware(BodyLimit, max_bytes=ctx.settings.max_body_bytes,
                       max_upload_bytes=ctx.settings.max_upload_bytes + 1024 * 1024)
    for module in (processes, instances, jobs, steps, overview, records, schedules, robots,
                   agents, session, tokens,
                   users):
        app.include_router(module.router, responses=errors.PROBLEM_RESPONSES)

    creatio.install(app)
    studio.install(app)
    activiti.install(app)
    sherpa.install(app)
    web.install(app, ctx.settings)

    @app.get("/healthz", tags=["system"])
    def healthz() -> dict[str, Any]:
        ctx.store.ping()
        return {"status": "ok", "version": __version__, "database": ctx.store.dialect}

    return app
