"""Robot, robot group and the robot protocol: heartbeat and consumeNextJob, whose codes are
in the 200 body because Sherpa robots do not look at the HTTP status (contracts/sherpa.md
§3, §4)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import context
from flowport.api.dialects.sherpa.access import Admin, Reader, RobotOrKey, endpoint
from flowport.api.dialects.sherpa.bodies import (
    DESCRIPTION,
    GUID,
    NAME,
    Fields,
    invalid,
    moment,
    path_guid,
    read_body,
    unix,
)
from flowport.api.dialects.sherpa.faults import SherpaFault, translated
from flowport.domain.accounts import Principal
from flowport.domain.robots import Robot, RobotGroup
from flowport.errors import Forbidden, NotFound
from flowport.services import agents
from flowport.services import robots as svc
from flowport.services.context import Context

STATUSES = range(0, 4)
NOT_FOUND, NO_JOB = 101, 102


def robot_out(r: Robot) -> dict[str, Any]:
    return {"GUID": r.id, "Name": r.name, "Machine": r.machine,
            "Status": int(r.reported_status or 0), "IP": r.ip, "MAC": r.mac,
            "Description": r.description, "LicenseExpiration": 0, "LicenseString": "",
            "CreatedAt": unix(r.created_at), "UpdatedAt": unix(r.updated_at),
            "LastHeartbeatAt": unix(r.last_heartbeat_at)}


def group_out(g: RobotGroup) -> dict[str, Any]:
    return {"id": str(g.seq), "guid": g.id, "name": g.name, "description": g.description,
            "created": moment(g.created_at), "updated": moment(g.updated_at),
            "is_deleted": "0", "account_id": str(g.account_id), "robots": list(g.robots)}


@endpoint("POST", "/api/robot/create")
async def create_robot(request: Request, who: Admin) -> JSONResponse:
    f = Fields(await read_body(request))
    name = (f.text("Name", required=True) or "").strip()
    description = f.text("Description", limit=DESCRIPTION) or ""
    ctx = context(request)

    def create() -> tuple[Robot, str]:
        # A Sherpa robot gets its credential at once: the one-time token is spent here.
        with translated(Conflict=(422, "duplicate_name")):
            created = svc.create_robot(ctx, who, svc.CreateRobot(name, description))
            enrolled = svc.enroll(ctx, svc.Enroll(created.token))
        return enrolled.robot, enrolled.credential

    robot, credential = await run_in_threadpool(create)
    return JSONResponse({"Name": robot.name, "Description": robot.description,
                         "GUID": robot.id, "Status": 0, "Credential": credential})


@endpoint("GET", "/api/robot/read/{robot_guid}")
async def read_robot(robot_guid: str, request: Request, who: Reader) -> JSONResponse:
    guid = path_guid(robot_guid)
    with translated():
        robot = await run_in_threadpool(svc.get_robot, context(request), who, guid)
    return JSONResponse(robot_out(robot))


@endpoint("GET", "/api/robot/read")
async def list_robots(request: Request, who: Reader) -> JSONResponse:
    ctx = context(request)

    def read() -> list[Robot]:
        out: list[Robot] = []
        cursor = None
        while True:
            page = svc.list_robots(ctx, who, cursor, 500)
            out += page.items
            cursor = page.next_cursor
            if cursor is None or len(out) >= 10_000:
                return out

    with translated():
        robots = await run_in_threadpool(read)
    return JSONResponse([robot_out(r) for r in robots])


async def _update_robot(request: Request, who: Principal, *, status_only: bool) -> None:
    f = Fields(await read_body(request))
    guid = f.guid("GUID", required=True)
    assert guid is not None
    status = f.integer("Status", STATUSES, required=status_only)
    name = description = None
    if not status_only:
        name = f.text("Name", required=True).strip() if f.has("Name") else None  # type: ignore[union-attr]
        description = f.text("Description", limit=DESCRIPTION) if f.has("Description") \
            else None
    cmd = svc.UpdateRobot(name=name, description=description, status=status)
    with translated(Conflict=(422, "duplicate_name")):
        await run_in_threadpool(svc.update_robot, context(request), who, guid, cmd)


@endpoint(["PUT", "POST"], "/api/robot/update")
async def update_robot(request: Request, who: Admin) -> JSONResponse:
    await _update_robot(request, who, status_only=False)
    return JSONResponse([])


@endpoint(["PUT", "POST"], "/api/robot/setStatus")
async def set_status(request: Request, who: Admin) -> JSONResponse:
    await _update_robot(request, who, status_only=True)
    return JSONResponse([])


@endpoint("DELETE", "/api/robot/delete/{robot_guid}")
async def delete_robot(robot_guid: str, request: Request, who: Admin) -> JSONResponse:
    guid = path_guid(robot_guid)
    with translated():
        await run_in_threadpool(svc.delete_robot, context(request), who, guid)
    return JSONResponse([])


@endpoint("GET", "/api/robot/getStatus/{robot_guid}")
async def get_status(robot_guid: str, request: Request, who: RobotOrKey) -> JSONResponse:
    guid = path_guid(robot_guid)
    ctx = context(request)

    def read() -> int:
        if who.robot_id is not None:
            robot = svc.own_robot(ctx, who)
            if robot.id != guid:
                raise Forbidden("a robot reads its own status only")
        else:
            robot = svc.get_robot(ctx, who, guid)
        return int(robot.reported_status or 0)

    with translated():
        return JSONResponse({"Status": await run_in_threadpool(read)})


# -- the robot protocol --------------------------------------------------------------------


def _calling_robot(ctx: Context, who: Principal, f: Fields) -> Robot | None:
    """The robot a heartbeat or a consume is about: None when `RobotGUID` names none (unknown,
    deleted, another account's, or not a GUID: in-band code 101); 403 when a robot's
    credential names another robot."""
    raw = f.raw("RobotGUID")
    given = isinstance(raw, str) and raw.strip() != ""
    if given and not GUID.match(raw.strip()):
        return None
    if who.robot_id is not None:
        robot = svc.own_robot(ctx, who)
        if given and raw.strip().lower() != robot.id:
            raise Forbidden("a robot's credential speaks for that robot only")
        return robot
    if not given:
        raise SherpaFault(422, "missing_field", "RobotGUID is required with an API key",
                          "RobotGUID")
    try:
        return svc.get_robot(ctx, who, raw.strip().lower())
    except NotFound:
        return None


def _as_robot(who: Principal, robot: Robot) -> Principal:
    """An API key speaking for a robot acts with that robot's rights."""
    return who if who.robot_id is not None else svc.robot_principal(who, robot)


@endpoint("POST", "/api/robot/heartbeat")
async def heartbeat(request: Request, who: RobotOrKey) -> JSONResponse:
    f = Fields(await read_body(request))
    machine = f.text("Machine") or None
    ip, mac = f.text("IP", limit=64), f.text("MAC", limit=64)
    status = f.integer("Status", STATUSES, required=True)
    f.text("JobName", limit=NAME)
    job_type = f.integer("JobType")
    if job_type not in (None, 1):
        raise invalid("JobType", "the only job type is 1 (Orchestrated)")
    job_guid = f.raw("JobGUID")
    ctx = context(request)

    def beat() -> dict[str, Any]:
        robot = _calling_robot(ctx, who, f)
        if robot is None:
            return {"HeartbeatErrorCode": NOT_FOUND, "HasNewJob": 0,
                    "ErrorText": "robot not found"}
        speaker = _as_robot(who, robot)
        held: tuple[tuple[str, int], ...] = ()
        if isinstance(job_guid, str) and GUID.match(job_guid.strip()):
            for c in agents.held_jobs(ctx, speaker):
                if c.instance.id == job_guid.strip().lower():
                    held = ((c.instance.id, c.job.fencing),)
                    break
        result = agents.heartbeat(ctx, speaker, agents.Heartbeat(
            held, machine=machine, ip=ip, mac=mac, status=status))
        code = 0
        for command in result.commands:
            code = {"abort": 10, "stop": 20}.get(command.command, code)
        return {"HeartbeatErrorCode": code, "ErrorText": "",
                "HasNewJob": int(result.has_work)}

    with translated():
        return JSONResponse(await run_in_threadpool(beat))


def _no_job(code: int, text: str) -> dict[str, Any]:
    return {"ConsumeJobErrorCode": code, "ErrorText": text, "Job": "null",
            "ProcessVersion": "null", "Task": "null"}


@endpoint("POST", "/api/robot/consumeNextJob")
async def consume_next_job(request: Request, who: RobotOrKey) -> JSONResponse:
    f = Fields(await read_body(request))
    f.integer("Status", STATUSES)
    ctx = context(request)

    def consume() -> dict[str, Any]:
        robot = _calling_robot(ctx, who, f)
        if robot is None:
            return _no_job(NOT_FOUND, "robot not found")
        speaker = _as_robot(who, robot)
        claimed = agents.unstarted_jobs(ctx, speaker) or agents.claim_jobs(ctx, speaker, 1)
        if not claimed:
            return _no_job(NO_JOB, "no new job")
        c = claimed[0]
        job = {"GUID": c.instance.id, "Parameters": json.dumps(c.instance.variables,
                                                               default=str),
               "StopAfter": moment(c.job.stop_after), "AbortAfter": moment(c.job.abort_after)}
        version = {"GUID": c.version.guid, "Name": c.version.label or c.version.file_name,
                   "FileName": c.version.file_name, "SHA256": c.version.sha256}
        return {"ConsumeJobErrorCode": 0, "ErrorText": "", "Job": json.dumps(job),
                "ProcessVersion": json.dumps(version), "Task": "null"}

    with translated():
        return JSONResponse(await run_in_threadpool(consume))


# -- robot groups --------------------------------------------------------------------------


@endpoint("POST", "/api/robotGroup/create")
async def create_group(request: Request, who: Admin) -> JSONResponse:
    f = Fields(await read_body(request))
    cmd = svc.SaveGroup((f.text("Name", required=True) or "").strip(),
                        f.text("Description", limit=DESCRIPTION) or "")
    with translated(Conflict=(422, "duplicate_name")):
        group = await run_in_threadpool(svc.create_group, context(request), who, cmd)
    return JSONResponse({"GUID": group.id})


@endpoint("GET", "/api/robotGroup/read/{group_guid}")
async def read_group(group_guid: str, request: Request, who: Reader) -> JSONResponse:
    guid = path_guid(group_guid)
    with translated():
        group = await run_in_threadpool(svc.get_group, context(request), who, guid)
    return JSONResponse(group_out(group))


@endpoint("GET", "/api/robotGroup/read")
async def list_groups(request: Request, who: Reader) -> JSONResponse:
    with translated():
        groups = await run_in_threadpool(svc.list_groups, context(request), who)
    return JSONResponse([group_out(g) for g in groups])


@endpoint(["PUT", "POST"], "/api/robotGroup/update")
async def update_group(request: Request, who: Admin) -> JSONResponse:
    f = Fields(await read_body(request))
    guid = f.guid("GUID", required=True)
    assert guid is not None
    name = f.text("Name", required=True) if f.has("Name") else None
    description = f.text("Description", limit=DESCRIPTION) if f.has("Description") else None
    cmd = svc.SaveGroup(name.strip() if name is not None else None, description)
    with translated(Conflict=(422, "duplicate_name")):
        await run_in_threadpool(svc.update_group, context(request), who, guid, cmd)
    return JSONResponse([])


def _membership(f: Fields) -> tuple[str, str]:
    group = f.guid("RobotGroupGuid", required=True)
    robot = f.guid("RobotGuid", required=True)
    assert group is not None and robot is not None
    return group, robot


@endpoint(["PUT", "POST"], "/api/robotGroup/addRobot")
async def add_robot(request: Request, who: Admin) -> JSONResponse:
    group, robot = _membership(Fields(await read_body(request)))
    with translated():
        await run_in_threadpool(svc.add_robot, context(request), who, group, robot)
    return JSONResponse([])


@endpoint(["DELETE", "POST"], "/api/robotGroup/removeRobot")
async def remove_robot(request: Request, who: Admin) -> JSONResponse:
    group, robot = _membership(Fields(await read_body(request)))
    with translated():
        await run_in_threadpool(svc.remove_robot, context(request), who, group, robot)
    return JSONResponse([])


@endpoint("DELETE", "/api/robotGroup/delete/{group_guid}")
async def delete_group(group_guid: str, request: Request, who: Admin) -> JSONResponse:
    """With `RobotGuid` in the body, removes that robot from the group (the source documents
    removal on this path); without, deletes the group."""
    guid = path_guid(group_guid)
    f = Fields(await read_body(request))
    robot = f.guid("RobotGuid")
    named = f.guid("RobotGroupGuid")
    ctx = context(request)
    with translated():
        if robot is None:
            await run_in_threadpool(svc.delete_group, ctx, who, guid)
        else:
            if named is not None and named != guid:
                raise invalid("RobotGroupGuid", "differs from the group in the path")
            await run_in_threadpool(svc.remove_robot, ctx, who, guid, robot)
    return JSONResponse([])
