"""/api/v1/processes/{key}/instances and /api/v1/instances: start, watch, act."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import Ctx, Reader, Starter
from flowport.api.native.schemas import (
    MAX_ID,
    CancelIn,
    CompleteIn,
    MessageIn,
    StartIn,
    aware,
    element_out,
    event_out,
    instance_detail_out,
    instance_out,
    step_out,
)
from flowport.api.waiting import wait_until_settled
from flowport.services import cleanup, logs, steps
from flowport.services import instances as svc
from flowport.services.dispatch import RobotOptions

# `{instance_id}` also takes an instance's number, `seq` (Studio's job_id).
router = APIRouter(tags=["instances"])


@router.post("/api/v1/processes/{key}/instances", status_code=201)
async def start_instance(
    key: str, ctx: Ctx, who: Starter, body: StartIn | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    body = body or StartIn()
    robot = RobotOptions(aware(body.stop_after), aware(body.abort_after), body.robot_id,
                         body.robot_group_id, tuple(body.robot_tags))
    cmd = svc.StartInstance(process_key=key, variables=body.variables, version=body.version,
                            business_key=body.business_key, idempotency_key=idempotency_key,
                            name=body.name, debug=body.debug, robot=robot)
    started = await run_in_threadpool(svc.start_instance, ctx, who, cmd)
    instance = started.instance
    location = {"Location": f"/api/v1/instances/{instance.id}"}
    if body.wait is None:
        return JSONResponse(instance_out(instance), status_code=201 if started.created else 200,
                            headers=location)
    instance = await wait_until_settled(ctx, who, instance, body.wait.timeout,
                                        body.wait.variable)
    settled = svc.is_settled(instance, body.wait.variable)
    return JSONResponse(instance_out(instance), status_code=200 if settled else 202,
                        headers=location)


@router.get("/api/v1/instances")
def list_instances(
    ctx: Ctx, who: Reader, process_key: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    business_key: Annotated[str | None, Query(max_length=255)] = None,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    schedule_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    cleanups: Annotated[bool, Query(description="also list cancel, delete and rollback "
                                                "instances")] = False,
) -> dict[str, Any]:
    page = svc.list_instances(ctx, who, svc.ListInstances(
        process_key, status, business_key, cursor, limit, schedule_id=schedule_id,
        include_cleanups=cleanups))
    return {"items": [instance_out(i) for i in page.items], "next_cursor": page.next_cursor}


@router.get("/api/v1/instances/{instance_id}")
def get_instance(instance_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    """The instance with its cleanup links (`cleanup`: the latest cancel, delete or rollback
    instance and its state)."""
    instance = svc.get_instance(ctx, who, instance_id)
    return instance_detail_out(cleanup.links(ctx, who, instance))


@router.get("/api/v1/instances/{instance_id}/steps")
def list_steps(instance_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    """Executor steps: the runs of an instance's service tasks, or a cleanup instance's hook
    calls."""
    instance = svc.get_instance(ctx, who, instance_id)
    return {"items": [step_out(s) for s in steps.list_steps(ctx, who, instance)]}


@router.get("/api/v1/instances/{instance_id}/events")
def list_events(instance_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return {"items": [event_out(e) for e in svc.list_events(ctx, who, instance_id)]}


@router.get("/api/v1/instances/{instance_id}/log")
def read_log(instance_id: str, ctx: Ctx, who: Reader,
             start: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> dict[str, Any]:
    """The instance's history as lines of text, from line `start` (0-based) on."""
    lines = logs.read_log(ctx, who, instance_id, start)
    return {"lines": lines, "next_start": start + len(lines)}


@router.get("/api/v1/instances/{instance_id}/elements")
def list_elements(instance_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return {"items": [element_out(e) for e in svc.list_elements(ctx, who, instance_id)]}


@router.post("/api/v1/instances/{instance_id}/elements/{uid}/complete")
def complete_element(instance_id: str, uid: str, ctx: Ctx, who: Starter,
                     body: CompleteIn | None = None) -> dict[str, Any]:
    data = body.data if body else {}
    done = svc.complete_element(ctx, who, svc.CompleteElement(instance_id, uid, data))
    return completed_out(done)


def completed_out(done: svc.Completed) -> dict[str, Any]:
    return {"changed": done.changed,
            "detail": "element completed" if done.changed else "element was completed already",
            "instance": instance_out(done.instance)}


@router.post("/api/v1/elements/{uid}/complete")
def complete_element_by_uid(uid: str, ctx: Ctx, who: Starter,
                            body: CompleteIn | None = None) -> dict[str, Any]:
    """The same as above for a client that knows only the element's uid (Creatio's
    ExecProcElByUId)."""
    data = body.data if body else {}
    done = svc.complete_element(ctx, who, svc.CompleteElement(None, uid, data))
    return completed_out(done)


@router.post("/api/v1/instances/{instance_id}/messages")
def send_message(instance_id: str, body: MessageIn, ctx: Ctx, who: Starter) -> dict[str, Any]:
    return instance_out(svc.send_message(ctx, who, svc.SendMessage(instance_id, body.name,
                                                                   body.data)))


@router.post("/api/v1/instances/{instance_id}/cancel")
def cancel_instance(instance_id: str, ctx: Ctx, who: Starter,
                    body: CancelIn | None = None) -> dict[str, Any]:
    reason = body.reason if body else None
    instance = svc.cancel_instance(ctx, who, instance_id, reason)
    return instance_detail_out(cleanup.links(ctx, who, instance))


@router.post("/api/v1/instances/{instance_id}/delete")
def delete_instance(instance_id: str, ctx: Ctx, who: Starter) -> dict[str, Any]:
    """Start a delete instance that calls the delete hook of each completed executor step;
    when all succeed the instance is marked deleted (hidden from lists, readable by id). Only
    an ended instance can be deleted."""
    instance = cleanup.delete_instance(ctx, who, instance_id)
    return instance_detail_out(cleanup.links(ctx, who, instance))
