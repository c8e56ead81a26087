"""The dashboard: a box per page that has something to say at a glance."""

from __future__ import annotations

from fastapi import Request, Response

from flowport.api.auth import Ctx
from flowport.domain.accounts import Principal
from flowport.domain.instances import Status
from flowport.services import overview
from flowport.services.context import Context
from flowport.web.auth import Reader
from flowport.web.render import NavEntry, Panel, console, render
from flowport.web.routing import page_router

router = page_router()
NAV = NavEntry("Dashboard", "/", order=0)


def panel(ctx: Context, who: Principal) -> Panel:
    seen = overview.overview(ctx, who)
    return Panel("Instances", "panels/instances.html", {
        "counts": [(s, seen.counts[s]) for s in Status], "failures": seen.failures,
        "waiting_tasks": seen.waiting_tasks, "window_hours": 24}, order=0)


@router.get("/")
def dashboard(request: Request, ctx: Ctx, who: Reader) -> Response:
    boxes = [box for source in console(request).panels if (box := source(ctx, who))]
    boxes.sort(key=lambda box: box.order)
    return render(request, "dashboard.html", who, panels=boxes)
