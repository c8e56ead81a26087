"""Log (contracts/sherpa.md §9): the account's robot log. Levels are integers 0-4 in and
out; their names are accepted in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import context
from flowport.api.dialects.sherpa.access import Reader, RobotOrKey, Starter, endpoint
from flowport.api.dialects.sherpa.bodies import (
    DIGITS,
    MESSAGE,
    Fields,
    invalid,
    missing,
    moment,
    path_guid,
    read_body,
)
from flowport.api.dialects.sherpa.faults import SherpaFault, translated
from flowport.domain.logs import ROBOT_LOG_LEVELS
from flowport.services import robot_logs as svc


def log_out(v: svc.LogView) -> dict[str, Any]:
    return {"id": str(v.log.seq), "guid": v.log.guid,
            "robot_id": str(v.robot.seq) if v.robot else None,
            "process_version_id": str(v.version.id) if v.version else None,
            "job_id": str(v.instance.seq) if v.instance else None,
            "Level": v.log.level, "Message": v.log.message,
            "created_at": moment(v.log.created_at), "updated_at": moment(v.log.created_at)}


def _level(f: Fields) -> int:
    raw = f.raw("Level")
    if isinstance(raw, str) and raw.strip() and not DIGITS.match(raw):
        name = raw.strip().lower()
        if name not in ROBOT_LOG_LEVELS:
            raise invalid("Level", f"is one of {', '.join(ROBOT_LOG_LEVELS)} or 0-4")
        return ROBOT_LOG_LEVELS.index(name)
    level = f.integer("Level", range(0, len(ROBOT_LOG_LEVELS)))
    return 1 if level is None else level


@endpoint("POST", "/api/log/create")
async def create_log(request: Request, who: RobotOrKey) -> JSONResponse:
    f = Fields(await read_body(request))
    robot, version, job = f.guid("RobotGUID"), f.guid("ProcessVersionGUID"), f.guid("JobGUID")
    level = _level(f)
    message = f.text("Message", limit=MESSAGE, required=True)
    assert message is not None
    cmd = svc.WriteLog(message, level, robot, version, job)
    with translated():
        await run_in_threadpool(svc.write_log, context(request), who, cmd)
    return JSONResponse([])


@endpoint("GET", "/api/log/read/{log_guid}")
async def read_log(log_guid: str, request: Request, who: Reader) -> JSONResponse:
    guid = path_guid(log_guid)
    with translated():
        view = await run_in_threadpool(svc.get_log, context(request), who, guid)
    return JSONResponse(log_out(view))


@endpoint("POST", "/api/log/list")
async def list_logs(request: Request, who: Reader) -> JSONResponse:
    f = Fields(await read_body(request))
    query = svc.ListLogs(f.guid("RobotGUID"), f.guid("JobGUID"),
                         f.integer("Offset", range(0, 10**9)) or 0,
                         f.integer("Limit", range(1, svc.MAX_LIST + 1)) or 100)
    with translated():
        views = await run_in_threadpool(svc.list_logs, context(request), who, query)
    return JSONResponse([log_out(v) for v in views])


@endpoint(["DELETE", "POST"], "/api/log/purge")
async def purge_logs(request: Request, who: Starter) -> JSONResponse:
    f = Fields(await read_body(request))
    if not f.has("Time") and "time" in {k.lower() for k in request.query_params}:
        f = Fields({"time": next(v for k, v in request.query_params.items()
                                 if k.lower() == "time")})
    seconds = f.integer("Time", range(0, 10**11))
    if seconds is None:
        raise missing("Time")
    try:
        before = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise SherpaFault(422, "invalid_value", "Time is out of range", "Time") from None
    with translated():
        await run_in_threadpool(svc.purge_logs, context(request), who, before)
    return JSONResponse([])
