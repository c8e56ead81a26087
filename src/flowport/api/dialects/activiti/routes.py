"""Activiti-style routes: /process (start, read, cancel, delete) and /task (read, debug)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from flowport.api.auth import Identify, caller, context, guarded
from flowport.api.dialects.activiti.faults import ActivitiFault, handle, translated
from flowport.api.dialects.activiti.records import process_record, task_record
from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance
from flowport.errors import Conflict
from flowport.services import cleanup, steps
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services.context import Context

router = APIRouter(tags=["activiti"], include_in_schema=False)
IDS = ("modelId", "deploymentId", "key")


def install(app: FastAPI) -> None:
    ZoneInfo(app.state.ctx.settings.display_time_zone)  # a wrong zone fails at start-up
    app.add_exception_handler(ActivitiFault, handle)
    app.include_router(router)


def activiti_user(permission: Permission) -> Identify:
    """Like `api.auth.requires`, with Spring's error body."""
    return guarded(caller, permission, faults=translated)


Reader = Annotated[Principal, Depends(activiti_user(Permission.READ))]
Starter = Annotated[Principal, Depends(activiti_user(Permission.START))]


def _zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(ctx.settings.display_time_zone)


def _record(ctx: Context, who: Principal, instance: Instance) -> dict[str, Any]:
    return process_record(cleanup.links(ctx, who, instance), _zone(ctx))


def _instance(ctx: Context, who: Principal, ref: str) -> Instance:
    """`processInstanceId` is the instance's number; its `id` UUID works too."""
    if ref.isdecimal() and len(ref) < 19:
        return run.get_instance_by_seq(ctx, who, int(ref))
    return run.get_instance(ctx, who, ref)


def _operate(operate: str, allowed: tuple[str, ...]) -> str:
    for word in allowed:
        if operate.lower() == word.lower():
            return word
    raise ActivitiFault(400, f"operate must be one of {', '.join(allowed)}, not {operate!r}")


async def _json_body(request: Request) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ActivitiFault(415, "send the body as application/json")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ActivitiFault(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ActivitiFault(400, "the body must be a JSON object")
    return body


def _start_command(ctx: Context, who: Principal, body: dict[str, Any]) -> run.StartInstance:
    chosen = {name: body[name] for name in IDS if body.get(name) not in (None, "")}
    if len(chosen) != 1:
        raise ActivitiFault(400, "give exactly one of modelId, deploymentId and key"
                            + (f" (got {', '.join(chosen)})" if chosen else ""))
    (field, value), = chosen.items()
    name, variables, debug = body.get("processName"), body.get("variables"), body.get("debug")
    if not isinstance(name, str) or not name.strip():
        raise ActivitiFault(400, "processName is required: a non-empty string")
    if not isinstance(variables, dict):
        raise ActivitiFault(400, "variables is required: a JSON object")
    if debug is not None and not isinstance(debug, bool):
        raise ActivitiFault(400, "debug must be true or false")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ActivitiFault(400, f"{field} must be a string")
    with translated():
        if field == "deploymentId":
            number = str(value)
            if not number.isdecimal() or len(number) > 18:
                raise ActivitiFault(404, f"no deployment {value!r}")
            process, version = deploy.get_version_by_id(ctx, who, int(number))
            return run.StartInstance(process.key, variables, version=version.number,
                                     name=name, debug=debug)
        if field == "modelId":
            try:
                guid = str(uuid.UUID(str(value)))
            except ValueError:
                raise ActivitiFault(404, f"no model {value!r}") from None
            process = deploy.get_process_by_guid(ctx, who, guid)
        else:
            process = deploy.get_process(ctx, who, str(value))
        if process.current_version is None:
            raise Conflict(f"model {value!r} has no published version")
        return run.StartInstance(process.key, variables, version=process.current_version,
                                 name=name, debug=debug)


@router.post("/process")
async def start_process(request: Request, who: Starter) -> dict[str, Any]:
    ctx = context(request)
    body = await _json_body(request)

    def start() -> dict[str, Any]:
        cmd = _start_command(ctx, who, body)
        with translated():
            return _record(ctx, who, run.start_instance(ctx, who, cmd).instance)

    return await run_in_threadpool(start)


@router.get("/process/{processInstanceId}")
def get_process(processInstanceId: str, request: Request, who: Reader) -> dict[str, Any]:
    ctx = context(request)
    with translated():
        return _record(ctx, who, _instance(ctx, who, processInstanceId))


@router.put("/process/{processInstanceId}/{operate}")
def operate_process(processInstanceId: str, operate: str, request: Request,
                    who: Starter) -> dict[str, Any]:
    ctx = context(request)
    with translated():
        instance = _instance(ctx, who, processInstanceId)
        if _operate(operate, ("cancel", "delete")) == "cancel":
            instance = run.cancel_instance(ctx, who, instance.id)
        else:
            instance = cleanup.delete_instance(ctx, who, instance.id)
        return _record(ctx, who, instance)


@router.get("/task")
def list_tasks(request: Request, who: Reader) -> list[dict[str, Any]]:
    ctx = context(request)
    ref = request.query_params.get("processInstanceId")
    if not ref:
        raise ActivitiFault(400, "processInstanceId is required")
    with translated():
        instance = _instance(ctx, who, ref)
        return [task_record(s, _zone(ctx)) for s in steps.list_steps(ctx, who, instance)]


@router.get("/task/{taskId}")
def get_task(taskId: str, request: Request, who: Reader) -> dict[str, Any]:
    ctx = context(request)
    with translated():
        return task_record(steps.get_step(ctx, who, taskId), _zone(ctx))


@router.put("/task/{taskId}/{operate}")
def operate_task(taskId: str, operate: str, request: Request,
                 who: Starter) -> dict[str, Any]:
    ctx = context(request)
    with translated():
        step = steps.get_step(ctx, who, taskId)
        if _operate(operate, ("reRun", "resume")) == "reRun":
            step = steps.rerun_step(ctx, who, step.id)
        else:
            step = steps.resume_step(ctx, who, step.id)
        return task_record(step, _zone(ctx))
