"""Robots: each with its status, heartbeat age, the jobs it holds, its version and tags; the
robot groups; and how many robots are online, on the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from flowport.api.auth import Ctx
from flowport.domain.accounts import Principal
from flowport.domain.robots import RobotGroup, RobotStatus
from flowport.services import robots as svc
from flowport.services.context import Context
from flowport.web.auth import Reader
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


@router.get("/robots")
def robots_page(request: Request, ctx: Ctx, who: Reader,
                cursor: Annotated[str | None, Query(max_length=1024)] = None) -> Response:
    robots, next_cursor = svc.robots_at_work(ctx, who, cursor or None, PAGE_SIZE)
    groups = svc.list_groups(ctx, who)
    names = {r.robot.id: r.robot.name for r in robots}
    return render(request, "robots.html", who, robots=robots, groups=groups, names=names,
                  cursor=cursor, next_cursor=next_cursor, now=ctx.clock.now())


@router.get("/robots/{robot_id}")
def robot_page(request: Request, robot_id: str, ctx: Ctx, who: Reader) -> Response:
    robot = svc.robot_at_work(ctx, who, robot_id)
    groups = _groups_of(svc.list_groups(ctx, who), robot.robot.groups)
    return render(request, "robot.html", who, r=robot, groups=groups, now=ctx.clock.now(),
                  disconnect_seconds=ctx.settings.robot_disconnect_seconds)
