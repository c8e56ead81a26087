"""Job (contracts/sherpa.md §7): a job is a Flowport instance, its status mapped through
DESIGN.md's table. Robots set their own jobs' statuses; an API key may set any status the
instance's state machine allows."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import context
from flowport.api.dialects.sherpa.access import Reader, RobotOrKey, Starter, endpoint
from flowport.api.dialects.sherpa.bodies import (
    PARAMETERS,
    Fields,
    invalid,
    moment,
    path_guid,
    read_body,
)
from flowport.api.dialects.sherpa.faults import SherpaFault, translated
from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance, Status
from flowport.domain.robots import Job
from flowport.errors import InvalidTransition, NotFound
from flowport.services import agents, cleanup, dispatch, jobs, processes, stopping
from flowport.services import instances as run
from flowport.services.auth import require
from flowport.services.context import Context

CODES = {Status.CREATED: 0, Status.PENDING: 1, Status.RUNNING: 8, Status.WAITING: 8,
         Status.STOPPING: 6, Status.ABORTING: 2, Status.COMPLETED: 4, Status.FAILED: 5,
         Status.STOPPED: 7, Status.ABORTED: 3}
# What a robot reports as its run's end, in the words of services.agents.fail_job.
ROBOT_ENDS = {3: "aborted", 5: "failed", 7: "stopped"}
KEY_ENDS = {3: Status.ABORTED, 4: Status.COMPLETED, 5: Status.FAILED, 7: Status.STOPPED}


def code_of(status: Status) -> int:
    return CODES[status]


def _job(ctx: Context, who: Principal, guid: str) -> tuple[Instance, Job | None]:
    """The live instance `guid` names and its robot job (None for a BPMN instance). A robot
    sees only its own jobs."""
    robot = who.robot_id is not None
    with translated():
        if robot:
            view = jobs.get_job(ctx, who, guid, own=True)
            instance, job = view.instance, view.job
        else:
            instance = run.get_instance(ctx, who, guid)
            try:
                job = jobs.get_job(ctx, who, guid).job
            except NotFound:
                job = None
    if instance.deleted_at is not None:
        raise SherpaFault(404, "not_found", f"no job {guid!r}")
    return instance, job


def job_out(instance: Instance, job: Job | None) -> dict[str, Any]:
    robot = None
    if job is not None:
        robot = job.robot if job.robot is not None else job.target_robot
    return {"guid": instance.id, "status": code_of(instance.status),
            "process_version_id": str(instance.version_id), "robot_id": robot,
            "account_id": instance.account_id, "schedule_id": instance.schedule_id,
            "stop_after": moment(job.stop_after) if job else None,
            "abort_after": moment(job.abort_after) if job else None,
            "parameters": json.dumps(instance.inputs if instance.inputs is not None
                                     else instance.variables, default=str),
            "created_at": moment(instance.created_at),
            "updated_at": moment(instance.updated_at)}


def _parameters(f: Fields) -> dict[str, Any]:
    raw = f.raw("Parameters")
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        if len(raw) > PARAMETERS:
            raise SherpaFault(422, "too_long", f"Parameters holds at most {PARAMETERS} "
                              f"characters", "Parameters")
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise invalid("Parameters", "must be a JSON object") from None
    if not isinstance(raw, dict):
        raise invalid("Parameters", "must be a JSON object")
    if len(json.dumps(raw, default=str)) > PARAMETERS:
        raise SherpaFault(422, "too_long", f"Parameters holds at most {PARAMETERS} bytes",
                          "Parameters")
    return raw


@endpoint("POST", "/api/job/create")
async def create_job(request: Request, who: Starter) -> JSONResponse:
    f = Fields(await read_body(request))
    guid = f.guid("Guid", required=True)
    assert guid is not None
    robot_guid = f.guid("RobotGuid")
    stop_after, abort_after = f.time("StopAfter"), f.time("AbortAfter")
    parameters = _parameters(f)
    ctx = context(request)

    def create() -> str:
        with translated("Guid"):
            try:
                process, version = processes.get_version_by_guid(ctx, who, guid)
                number: int | None = version.number
            except NotFound:
                process, number = processes.get_process_by_guid(ctx, who, guid), None
                if process.current_version is None:
                    raise SherpaFault(422, "no_process_version", "the process has no "
                                      "version", "Guid") from None
        options = dispatch.RobotOptions(stop_after=stop_after, abort_after=abort_after,
                                        robot_id=robot_guid)
        cmd = run.StartInstance(str(process.id), parameters, version=number, robot=options)
        with translated(InvalidParameters=(422, "invalid_value")):
            return run.start_instance(ctx, who, cmd).instance.id

    return JSONResponse({"guid": await run_in_threadpool(create)})


@endpoint("GET", "/api/job/read/{job_guid}")
async def read_job(job_guid: str, request: Request, who: RobotOrKey) -> JSONResponse:
    guid = path_guid(job_guid)
    if who.robot_id is None:
        with translated():
            require(who, Permission.READ)
    instance, job = await run_in_threadpool(_job, context(request), who, guid)
    return JSONResponse(job_out(instance, job))


@endpoint("GET", "/api/job/read")
async def list_jobs(request: Request, who: Reader) -> JSONResponse:
    ctx = context(request)

    def read() -> list[dict[str, Any]]:
        page = run.list_instances(ctx, who, run.ListInstances(
            limit=ctx.settings.max_page_size))
        out = []
        for instance in page.items:
            try:
                job: Job | None = jobs.get_job(ctx, who, instance.id).job
            except NotFound:
                job = None
            out.append(job_out(instance, job))
        return out

    with translated():
        return JSONResponse(await run_in_threadpool(read))


def _update(ctx: Context, who: Principal, guid: str, code: int) -> None:
    instance, job = _job(ctx, who, guid)
    current = code_of(instance.status)
    if instance.status.is_final:
        raise InvalidTransition(f"job {guid} has ended (status {current})")
    robot = who.robot_id is not None
    if job is None:
        raise InvalidTransition("this job is a BPMN process instance: its status follows "
                                "the process, not job/update")
    held = robot and job.held and job.robot == who.robot_id
    if code == current:
        if code == 8 and held:  # the robot started what it consumed
            agents.add_progress(ctx, who, agents.ProgressBatch(
                guid, job.fencing, (("started", {}),)))
        return
    if code in (2, 6):
        if robot:
            raise InvalidTransition("a robot reports how its run ended (3, 4, 5, 7); a stop "
                                    "(2, 6) is asked for by people and programs")
        dispatch.stop_robot_work(ctx, who, guid, "asked through job/update", hard=code == 2)
        return
    if robot and code in ROBOT_ENDS and held:
        agents.fail_job(ctx, who, agents.Fail(guid, job.fencing, f"the robot reported "
                                              f"status {code}", ROBOT_ENDS[code]))
        return
    if robot and code == 4 and held:
        agents.complete_job(ctx, who, agents.Complete(guid, job.fencing, {}))
        return
    if not robot and code in KEY_ENDS:
        stopping.end_robot_work(ctx, who, guid, KEY_ENDS[code], f"status {code} set "
                                                                  f"through job/update")
        return
    raise InvalidTransition(f"job {guid} is at status {current}; it cannot move to {code}")


@endpoint(["PUT", "POST"], "/api/job/update")
async def update_job(request: Request, who: RobotOrKey) -> JSONResponse:
    if who.robot_id is None:
        with translated():
            require(who, Permission.START)
    f = Fields(await read_body(request))
    guid = f.guid("Guid", required=True)
    code = f.integer("Status", range(0, 9), required=True)
    assert guid is not None and code is not None
    with translated():
        await run_in_threadpool(_update, context(request), who, guid, code)
    return JSONResponse([])


@endpoint("DELETE", "/api/job/delete/{job_guid}")
async def delete_job(job_guid: str, request: Request, who: Starter) -> JSONResponse:
    guid = path_guid(job_guid)
    ctx = context(request)

    def delete() -> None:
        instance, _ = _job(ctx, who, guid)
        if code_of(instance.status) in (2, 6, 8):
            raise SherpaFault(422, "job_active", f"job {guid} is running: stop it first")
        with translated():
            if not instance.status.is_final:
                run.cancel_instance(ctx, who, guid, "deleted through job/delete")
            cleanup.delete_instance(ctx, who, guid)

    await run_in_threadpool(delete)
    return JSONResponse([])
