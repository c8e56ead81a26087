"""Studio's actions: save a draft, upload (publish) it, execute a job, stop it, read its log.
A job is a Flowport instance; its `job_id` is the instance's number (`seq`)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import context
from flowport.api.dialects.studio.access import Deployer, Reader, Starter, endpoint
from flowport.api.dialects.studio.bodies import integer, read_data
from flowport.api.dialects.studio.faults import StudioError, translated
from flowport.api.dialects.studio.processes import path_id
from flowport.services import drafts, logs
from flowport.services import instances as run

OK = {"success": True}


def body_id(data: dict[str, Any], name: str = "id") -> int:
    if data.get(name) in (None, ""):
        raise StudioError(400, f"{name} is required")
    number = integer(data[name])
    if number is None:
        raise StudioError(400, f"{name} must be an integer")
    return number


def variables_of(data: dict[str, Any]) -> dict[str, Any]:
    """`variables`: a JSON object, or (from a form) its JSON text; absent or blank is {}."""
    value = data.get("variables")
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            value = None
    if not isinstance(value, dict):
        raise StudioError(400, "variables must be a JSON object")
    return value


@endpoint("POST", "/api/process/save")
async def save(request: Request, who: Deployer) -> JSONResponse:
    data = await read_data(request)
    number = body_id(data)
    with translated():
        await run_in_threadpool(drafts.save_draft, context(request), who, number,
                                drafts.SaveDraft(data.get("content")))
    return JSONResponse(OK)


@endpoint("POST", "/api/process/upload")
async def upload(request: Request, who: Deployer) -> JSONResponse:
    number = body_id(await read_data(request))
    with translated():
        await run_in_threadpool(drafts.publish_draft, context(request), who, number)
    return JSONResponse(OK)


@endpoint("POST", "/api/process/execute")
async def execute(request: Request, who: Starter) -> JSONResponse:
    data = await read_data(request)
    number = body_id(data)
    cmd = run.StartInstance(str(number), variables_of(data))
    with translated(Conflict=f"process {number} has no published version"):
        started = await run_in_threadpool(run.start_instance, context(request), who, cmd)
    return JSONResponse({"success": True, "job_id": started.instance.seq})


@endpoint("POST", "/api/process/stop/{job_id}")
async def stop(job_id: str, request: Request, who: Starter) -> JSONResponse:
    """Stop = the core's cancel for now: the job ends `stopped` at once."""
    number = path_id(job_id)
    data = await read_data(request)
    if data.get("job_id") not in (None, "") and integer(data["job_id"]) != number:
        raise StudioError(400, "job_id in the body must equal the job_id in the path")
    with translated(InvalidTransition=f"job {number} is not running"):
        await run_in_threadpool(run.cancel_instance, context(request), who, str(number))
    return JSONResponse(OK)


@endpoint("GET", "/api/process/logfile")
async def logfile(request: Request, who: Reader) -> JSONResponse:
    query = request.query_params
    job = body_id(dict(query), "jobId")
    raw_row = query.get("row", "").strip()
    row = integer(raw_row) if raw_row else 0
    if row is None or row < 0:
        raise StudioError(400, "row must be an integer of 0 or more")
    with translated():
        lines = await run_in_threadpool(logs.read_log, context(request), who, str(job), row)
    return JSONResponse({"logcontent": "\n".join(lines)})
