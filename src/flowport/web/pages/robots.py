"""Robots: each with its status, heartbeat age, the jobs it holds, its version and tags; the
robot groups; and how many robots are online, on the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response
from starlette.datastructures import FormData

from flowport.api.auth import Ctx
from flowport.api.errors import status_of
from flowport.domain.accounts import Principal
from flowport.domain.robots import RobotGroup, RobotStatus
from flowport.errors import BadInput, FlowportError
from flowport.services import robots as svc
from flowport.services.context import Context
from flowport.web.auth import Admin, Reader
from flowport.web.forms import Posted, text
from flowport.web.render import NavEntry, Panel, render
from flowport.web.routing import page_router

router = page_router()
NAV = NavEntry("Robots", "/robots", order=40)
PAGE_SIZE = 50
ONLINE = (RobotStatus.READY, RobotStatus.WORKING)


def panel(ctx: Context, who: Principal) -> Panel:
    counts = svc.count_by_status(ctx, who)
    return Panel("Robots", "panels/robots.html", {
        "online": sum(counts[s] for s in ONLINE), "total": sum(counts.values()),
        "counts": [(s.name.lower(), counts[s]) for s in RobotStatus if counts[s]]}, order=10)


def _groups_of(groups: list[RobotGroup], seqs: tuple[int, ...]) -> list[RobotGroup]:
    return [g for g in groups if g.seq in seqs]


def robots_view(request: Request, ctx: Context, who: Principal, cursor: str | None = None,
                *, status: int = 200, enrollment: svc.NewEnrollment | None = None,
                error: FlowportError | None = None, form: FormData | None = None) -> Response:
    robots, next_cursor = svc.robots_at_work(ctx, who, cursor or None, PAGE_SIZE)
    groups = svc.list_groups(ctx, who)
    names = {r.robot.id: r.robot.name for r in robots}
    return render(request, "robots.html", who, status=status, robots=robots, groups=groups,
                  names=names, cursor=cursor, next_cursor=next_cursor, now=ctx.clock.now(),
                  enrollment=enrollment, error=error, posted=form,
                  server_url=str(request.base_url).rstrip("/"))


@router.get("/robots")
def robots_page(request: Request, ctx: Ctx, who: Reader,
                cursor: Annotated[str | None, Query(max_length=1024)] = None) -> Response:
    return robots_view(request, ctx, who, cursor)


def _slots(form: FormData) -> int:
    raw = text(form, "slots").strip() or "1"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise BadInput("slots must be a whole number", field="slots")
    return int(raw)


@router.post("/robots")
def create_robot(request: Request, ctx: Ctx, who: Admin, form: Posted) -> Response:
    """Answered with the page itself, not a redirect: the one-time enrollment token must not
    travel in a URL."""
    try:
        cmd = svc.CreateRobot(text(form, "name"), text(form, "description"),
                              tuple(text(form, "tags").replace(",", " ").split()),
                              _slots(form))
        created = svc.create_robot(ctx, who, cmd)
    except FlowportError as exc:
        return robots_view(request, ctx, who, status=status_of(exc), error=exc, form=form)
    return robots_view(request, ctx, who, status=201, enrollment=created)


def robot_view(request: Request, ctx: Context, who: Principal, robot_id: str, *,
               enrollment: svc.NewEnrollment | None = None) -> Response:
    robot = svc.robot_at_work(ctx, who, robot_id)
    groups = _groups_of(svc.list_groups(ctx, who), robot.robot.groups)
    return render(request, "robot.html", who, r=robot, groups=groups, now=ctx.clock.now(),
                  disconnect_seconds=ctx.settings.robot_disconnect_seconds,
                  enrollment=enrollment, server_url=str(request.base_url).rstrip("/"))


@router.get("/robots/{robot_id}")
def robot_page(request: Request, robot_id: str, ctx: Ctx, who: Reader) -> Response:
    return robot_view(request, ctx, who, robot_id)


@router.post("/robots/{robot_id}/enrollment")
def new_enrollment(request: Request, robot_id: str, ctx: Ctx, who: Admin) -> Response:
    """A fresh one-time token (a rebuilt machine); the robot's credential keeps working until
    the token is used."""
    enrollment = svc.new_enrollment(ctx, who, robot_id)
    return robot_view(request, ctx, who, robot_id, enrollment=enrollment)
