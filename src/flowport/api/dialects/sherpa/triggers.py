"""Trigger (contracts/sherpa.md §8): Sherpa's schedule, mapped onto Flowport's schedules.
`*Id` fields take the numeric ids of read responses; `*Guid` fields the GUIDs [EXT]."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import context
from flowport.api.dialects.sherpa.access import Reader, Starter, endpoint
from flowport.api.dialects.sherpa.bodies import (
    DESCRIPTION,
    Fields,
    missing,
    moment,
    path_guid,
    read_body,
)
from flowport.api.dialects.sherpa.faults import SherpaFault, from_domain, translated
from flowport.domain.accounts import Principal
from flowport.domain.schedules import Schedule
from flowport.errors import FlowportError
from flowport.services import processes, robots
from flowport.services import schedules as svc
from flowport.services.context import Context

MAX_ID = 2**63 - 1
# Schedule fields as the contract names them, for error bodies.
SHERPA_NAMES = {"cron": "CronTab", "continuous": "ProcessingType", "enabled": "Status",
                "start_at": "StartAt", "end_at": "EndAt", "max_runs": "MaxRuns",
                "max_concurrency": "MaxRunningRobots", "robot_id": "RobotId",
                "robot_group_id": "RobotGroupId", "robot_type": "RobotType",
                "process_key": "ProcessId", "name": "Name", "description": "Description"}


def trigger_out(s: Schedule) -> dict[str, Any]:
    return {"id": str(s.id), "guid": s.guid, "name": s.name,
            "processing_type": 1 if s.continuous else 2, "robot_type": s.robot_type,
            "robot_id": s.robot_id, "process_id": s.process_id, "status": int(s.enabled),
            "crontab": s.cron, "description": s.description,
            "robot_group_id": s.robot_group_id, "start_at": moment(s.timing.start_at),
            "end_at": moment(s.timing.end_at), "max_runs": s.max_runs,
            "max_running_robots": s.max_concurrency,
            "check_missed_trigger": int(s.misfire.value != "skip")}


def _fault(exc: FlowportError) -> SherpaFault:
    fault = from_domain(exc)
    fault.field = SHERPA_NAMES.get(fault.field or "", fault.field)
    return fault


def _ids(ctx: Context, who: Principal, f: Fields) -> dict[str, Any]:
    """Process, robot and group from their numeric ids or GUIDs: each must be the caller's."""
    out: dict[str, Any] = {}
    process_id = f.integer("ProcessId", range(1, MAX_ID)) if f.has("ProcessId") else \
        f.integer("Process", range(1, MAX_ID))
    process_guid = f.guid("ProcessGuid")
    if process_guid is not None:
        process_id = processes.get_process_by_guid(ctx, who, process_guid).id
    if process_id is not None:
        out["process_key"] = str(processes.get_process(ctx, who, process_id).id)
    for guid_name, id_name, key, by_guid, by_seq in (
            ("RobotGuid", "RobotId", "robot_id", robots.get_robot, robots.get_robot_by_seq),
            ("RobotGroupGuid", "RobotGroupId", "robot_group_id", robots.get_group,
             robots.get_group_by_seq)):
        guid = f.guid(guid_name)
        number = f.integer(id_name, range(1, MAX_ID)) if f.has(id_name) else None
        with translated(guid_name if guid is not None else id_name):
            if guid is not None:
                out[key] = by_guid(ctx, who, guid).seq
            elif f.has(id_name):
                out[key] = None if number is None else \
                    by_seq(ctx, who, number).seq
    return out


def _changes(ctx: Context, who: Principal, f: Fields) -> dict[str, Any]:
    """The schedule fields a body sets, in CreateSchedule's names."""
    changes = _ids(ctx, who, f)
    if f.has("Name"):
        changes["name"] = (f.text("Name") or "").strip()
    if f.has("Description"):
        changes["description"] = f.text("Description", limit=DESCRIPTION) or ""
    if f.has("Status"):
        changes["enabled"] = f.integer("Status", range(0, 2), required=True) == 1
    if f.has("ProcessingType"):
        changes["continuous"] = f.integer("ProcessingType", range(1, 3), required=True) == 1
    if f.has("CronTab"):
        changes["cron"] = f.text("CronTab") or None
    if f.has("RobotType"):
        changes["robot_type"] = f.integer("RobotType", range(0, 3))
    for name, key in (("StartAt", "start_at"), ("EndAt", "end_at")):
        if f.has(name):
            changes[key] = f.time(name)
    for name, key in (("MaxRuns", "max_runs"), ("MaxRunningRobots", "max_concurrency")):
        if f.has(name):
            changes[key] = f.integer(name, range(1, 2**31))
    if f.has("CheckMissedTrigger"):
        # A missed fire time is run once when the server is back, else skipped.
        missed = f.integer("CheckMissedTrigger", range(0, 2), required=True)
        changes["misfire"] = "run_once" if missed else "skip"
    return changes


def _cron_needed(changes: dict[str, Any], current: Schedule | None) -> None:
    continuous = changes.get("continuous", current.continuous if current else None)
    cron = changes.get("cron", current.cron if current else None)
    if continuous is False and not cron:
        raise missing("CronTab")


@endpoint("POST", "/api/schedule/create")
async def create_trigger(request: Request, who: Starter) -> JSONResponse:
    f = Fields(await read_body(request))
    f.integer("ProcessingType", range(1, 3), required=True)
    if not (f.has("ProcessId") or f.has("Process") or f.has("ProcessGuid")):
        raise missing("ProcessId")
    ctx = context(request)

    def create() -> str:
        try:
            changes = _changes(ctx, who, f)
            _cron_needed(changes, None)
            return svc.create_schedule(ctx, who, svc.CreateSchedule(**changes)).guid
        except FlowportError as exc:
            raise _fault(exc) from exc

    return JSONResponse({"guid": await run_in_threadpool(create)})


def _by_guid(ctx: Context, who: Principal, guid: str) -> Schedule:
    try:
        return svc.get_schedule_by_guid(ctx, who, guid)
    except FlowportError as exc:
        raise _fault(exc) from exc


@endpoint("GET", "/api/schedule/read/{schedule_guid}")
async def read_trigger(schedule_guid: str, request: Request, who: Reader) -> JSONResponse:
    guid = path_guid(schedule_guid)
    return JSONResponse(trigger_out(await run_in_threadpool(_by_guid, context(request), who,
                                                            guid)))


@endpoint("GET", "/api/schedule/read")
async def list_triggers(request: Request, who: Reader) -> JSONResponse:
    ctx = context(request)

    def read() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = svc.list_schedules(ctx, who, svc.ListSchedules(cursor=cursor, limit=500))
            out += [trigger_out(s) for s in page.items]
            cursor = page.next_cursor
            if cursor is None or len(out) >= 10_000:
                return out

    try:
        return JSONResponse(await run_in_threadpool(read))
    except FlowportError as exc:
        raise _fault(exc) from exc


@endpoint(["PUT", "POST"], "/api/schedule/update")
async def update_trigger(request: Request, who: Starter) -> JSONResponse:
    f = Fields(await read_body(request))
    guid = f.guid("Guid", required=True)
    assert guid is not None
    ctx = context(request)

    def update() -> None:
        current = _by_guid(ctx, who, guid)
        try:
            changes = _changes(ctx, who, f)
            _cron_needed(changes, current)
            if changes:
                svc.update_schedule(ctx, who, current.id, svc.UpdateSchedule(changes))
        except FlowportError as exc:
            raise _fault(exc) from exc

    await run_in_threadpool(update)
    return JSONResponse([])


@endpoint("DELETE", "/api/schedule/delete/{schedule_guid}")
async def delete_trigger(schedule_guid: str, request: Request, who: Starter) -> JSONResponse:
    guid = path_guid(schedule_guid)
    ctx = context(request)

    def delete() -> None:
        schedule = _by_guid(ctx, who, guid)
        try:
            svc.delete_schedule(ctx, who, schedule.id)
        except FlowportError as exc:
            raise _fault(exc) from exc

    await run_in_threadpool(delete)
    return JSONResponse([])
