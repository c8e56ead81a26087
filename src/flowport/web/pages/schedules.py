"""Schedules: each with its next fire times and history, enabled or disabled here by those who
may start instances, with a link to the instances it started; the next runs on the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from flowport.api.auth import Ctx
from flowport.api.errors import status_of
from flowport.api.native.schemas import RowId
from flowport.domain.accounts import Principal
from flowport.errors import FlowportError
from flowport.services import schedules as svc
from flowport.services.context import Context
from flowport.web.auth import Reader, Starter
from flowport.web.render import NavEntry, Panel, redirect, render
from flowport.web.routing import page_router

router = page_router()
NAV = NavEntry("Schedules", "/schedules", order=50)
PAGE_SIZE = 50
UPCOMING = 5
RUNS = 20
DONE = {"enabled": "The schedule is enabled.", "disabled": "The schedule is disabled."}


def panel(ctx: Context, who: Principal) -> Panel:
    return Panel("Next scheduled runs", "panels/schedules.html",
                 {"schedules": svc.next_fires(ctx, who, UPCOMING)}, order=20)


@router.get("/schedules")
def schedules_page(request: Request, ctx: Ctx, who: Reader,
                   cursor: Annotated[str | None, Query(max_length=1024)] = None) -> Response:
    page = svc.list_schedules(ctx, who, svc.ListSchedules(cursor=cursor or None,
                                                          limit=PAGE_SIZE))
    return render(request, "schedules.html", who, page=page, cursor=cursor)


def schedule_view(request: Request, ctx: Context, who: Principal, schedule_id: int, *,
                  status: int = 200, message: str | None = None,
                  error: FlowportError | None = None) -> Response:
    schedule = svc.get_schedule(ctx, who, schedule_id)
    runs = svc.list_runs(ctx, who, schedule_id, limit=RUNS)
    return render(request, "schedule.html", who, status=status, s=schedule,
                  upcoming=schedule.upcoming(UPCOMING), runs=runs.items, message=message,
                  error=error)


@router.get("/schedules/{schedule_id}")
def schedule_page(request: Request, schedule_id: RowId, ctx: Ctx, who: Reader,
                  done: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    return schedule_view(request, ctx, who, schedule_id, message=DONE.get(done or ""))


def _switch(request: Request, ctx: Context, who: Principal, schedule_id: int,
            enabled: bool) -> Response:
    try:
        svc.update_schedule(ctx, who, schedule_id, svc.UpdateSchedule({"enabled": enabled}))
    except FlowportError as exc:
        return schedule_view(request, ctx, who, schedule_id, status=status_of(exc), error=exc)
    return redirect(f"/schedules/{schedule_id}?done={'enabled' if enabled else 'disabled'}")


@router.post("/schedules/{schedule_id}/enable")
def enable_schedule(request: Request, schedule_id: RowId, ctx: Ctx, who: Starter) -> Response:
    return _switch(request, ctx, who, schedule_id, True)


@router.post("/schedules/{schedule_id}/disable")
def disable_schedule(request: Request, schedule_id: RowId, ctx: Ctx, who: Starter) -> Response:
    return _switch(request, ctx, who, schedule_id, False)
