"""/api/v1/robots and /api/v1/robot-groups: robots and their groups, managed by people."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from flowport.api.auth import Admin, Ctx, Reader
from flowport.api.native.schemas import Body, Tags, when
from flowport.domain.robots import MAX_SLOTS, Robot, RobotGroup
from flowport.services import robots as svc
from flowport.services.context import Context

router = APIRouter(tags=["robots"])
Name = Annotated[str, Field(min_length=1, max_length=255)]


class RobotIn(Body):
    name: Name
    description: str = Field(default="", max_length=4000)
    tags: Tags = Field(default_factory=list, max_length=32)
    slots: int = Field(default=1, ge=1, le=MAX_SLOTS)


class RobotPatch(Body):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=4000)
    tags: Tags | None = Field(default=None, max_length=32)
    slots: int | None = Field(default=None, ge=1, le=MAX_SLOTS)


class GroupIn(Body):
    name: Name
    description: str = Field(default="", max_length=4000)


class GroupPatch(Body):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=4000)


def robot_out(r: Robot, ctx: Context) -> dict[str, Any]:
    status = r.status(ctx.clock.now(),
                      timedelta(seconds=ctx.settings.robot_disconnect_seconds))
    # `number`: how schedules (and Sherpa) name a robot: robot_id / robot_group_id.
    return {"id": r.id, "number": r.seq, "name": r.name, "description": r.description,
            "machine": r.machine,
            "tags": list(r.tags), "runtime_version": r.runtime_version, "slots": r.slots,
            "busy_slots": r.busy, "status": int(status), "status_name": status.name.lower(),
            "enrolled": r.enrolled, "last_heartbeat_at": when(r.last_heartbeat_at),
            "created_at": when(r.created_at), "updated_at": when(r.updated_at),
            "ip": r.ip, "mac": r.mac,
            "reported_status": None if r.reported_status is None else int(r.reported_status)}


def enrollment_out(created: svc.NewEnrollment, ctx: Context) -> dict[str, Any]:
    return {**robot_out(created.robot, ctx), "enrollment_token": created.token,
            "enrollment_expires_at": when(created.expires_at)}


def group_out(g: RobotGroup) -> dict[str, Any]:
    return {"id": g.id, "number": g.seq, "name": g.name, "description": g.description,
            "robots": list(g.robots), "created_at": when(g.created_at),
            "updated_at": when(g.updated_at)}


@router.post("/api/v1/robots", status_code=201)
def create_robot(body: RobotIn, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """Create a robot. The answer holds a one-time `enrollment_token` (shown once) that its
    agent trades for its own credential: `flowport robot --server URL --enroll TOKEN`."""
    created = svc.create_robot(ctx, who, svc.CreateRobot(body.name, body.description,
                                                         tuple(body.tags), body.slots))
    return enrollment_out(created, ctx)


@router.get("/api/v1/robots")
def list_robots(
    ctx: Ctx, who: Reader,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    page = svc.list_robots(ctx, who, cursor, limit)
    return {"items": [robot_out(r, ctx) for r in page.items],
            "next_cursor": page.next_cursor}


@router.get("/api/v1/robots/{robot_id}")
def get_robot(robot_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return robot_out(svc.get_robot(ctx, who, robot_id), ctx)


@router.patch("/api/v1/robots/{robot_id}")
def update_robot(robot_id: str, body: RobotPatch, ctx: Ctx,
                 who: Admin) -> dict[str, Any]:
    cmd = svc.UpdateRobot(body.name, body.description,
                          tuple(body.tags) if body.tags is not None else None, body.slots)
    return robot_out(svc.update_robot(ctx, who, robot_id, cmd), ctx)


@router.delete("/api/v1/robots/{robot_id}", status_code=204)
def delete_robot(robot_id: str, ctx: Ctx, who: Admin) -> Response:
    svc.delete_robot(ctx, who, robot_id)
    return Response(status_code=204)


@router.post("/api/v1/robots/{robot_id}/enrollment", status_code=201)
def new_enrollment(robot_id: str, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """A fresh one-time enrollment token for the robot (a rebuilt machine, say); its current
    credential keeps working until the token is used."""
    return enrollment_out(svc.new_enrollment(ctx, who, robot_id), ctx)


@router.post("/api/v1/robot-groups", status_code=201)
def create_group(body: GroupIn, ctx: Ctx, who: Admin) -> dict[str, Any]:
    return group_out(svc.create_group(ctx, who, svc.SaveGroup(body.name, body.description)))


@router.get("/api/v1/robot-groups")
def list_groups(ctx: Ctx, who: Reader) -> dict[str, Any]:
    return {"items": [group_out(g) for g in svc.list_groups(ctx, who)]}


@router.get("/api/v1/robot-groups/{group_id}")
def get_group(group_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return group_out(svc.get_group(ctx, who, group_id))


@router.patch("/api/v1/robot-groups/{group_id}")
def update_group(group_id: str, body: GroupPatch, ctx: Ctx, who: Admin) -> dict[str, Any]:
    return group_out(svc.update_group(ctx, who, group_id,
                                      svc.SaveGroup(body.name, body.description)))


@router.delete("/api/v1/robot-groups/{group_id}", status_code=204)
def delete_group(group_id: str, ctx: Ctx, who: Admin) -> Response:
    svc.delete_group(ctx, who, group_id)
    return Response(status_code=204)


@router.put("/api/v1/robot-groups/{group_id}/robots/{robot_id}")
def add_robot(group_id: str, robot_id: str, ctx: Ctx, who: Admin) -> dict[str, Any]:
    return group_out(svc.add_robot(ctx, who, group_id, robot_id))


@router.delete("/api/v1/robot-groups/{group_id}/robots/{robot_id}")
def remove_robot(group_id: str, robot_id: str, ctx: Ctx, who: Admin) -> dict[str, Any]:
    return group_out(svc.remove_robot(ctx, who, group_id, robot_id))
