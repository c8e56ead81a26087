"""Process and process version (contracts/sherpa.md §5, §6): every value a string."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import context
from flowport.api.dialects.sherpa.access import Deployer, Reader, endpoint
from flowport.api.dialects.sherpa.bodies import (
    DESCRIPTION,
    Fields,
    invalid,
    missing,
    moment,
    path_guid,
    read_body,
)
from flowport.api.dialects.sherpa.faults import SherpaFault, translated
from flowport.domain.accounts import Principal
from flowport.domain.processes import Process, ProcessType, Version
from flowport.errors import NotFound
from flowport.services import processes as svc
from flowport.services.context import Context

MIN_VERSION = r"^\d+(\.\d+)?$"


def empty() -> JSONResponse:
    return JSONResponse([])


def _current(ctx: Context, who: Principal, p: Process) -> Version | None:
    if p.current_version is None:
        return None
    try:
        return svc.get_version(ctx, who, str(p.id), p.current_version)
    except NotFound:
        return None


def process_out(ctx: Context, who: Principal, p: Process) -> dict[str, Any]:
    current = _current(ctx, who, p)
    return {"id": str(p.id), "guid": p.guid, "name": p.name, "description": p.description,
            "process_version_id": str(current.id) if current else None,
            "min_version_to_run": p.min_version_to_run, "created": moment(p.created_at),
            "updated": moment(p.updated_at), "is_deleted": "0",
            "account_id": str(p.account_id), "process_type": str(int(p.process_type)),
            "process_version_guid": current.guid if current else None}


def version_out(v: Version, account_id: int) -> dict[str, Any]:
    return {"id": str(v.id), "guid": v.guid, "process_id": str(v.process_id), "name": v.label,
            "description": v.description, "process_file_name": v.file_name,
            "created": moment(v.created_at), "updated": moment(v.updated_at or v.created_at),
            "is_deleted": "0", "account_id": str(account_id)}


def _min_version(f: Fields) -> str | None:
    value = f.text("MinVersionToRun", limit=64)
    if value is None:
        return None
    if not re.fullmatch(MIN_VERSION, value.strip()):
        raise invalid("MinVersionToRun", "must be a number such as 1.05")
    return value.strip()


def _process_type(f: Fields) -> int | None:
    return f.integer("ProcessType", range(0, 2))


def by_guid(ctx: Context, who: Principal, guid: str) -> Process:
    with translated():
        return svc.get_process_by_guid(ctx, who, guid)


@endpoint("POST", "/api/process/create")
async def create_process(request: Request, who: Deployer) -> JSONResponse:
    f = Fields(await read_body(request))
    name = f.text("Name", required=True)
    description = f.text("Description", limit=DESCRIPTION) or ""
    min_version, kind = _min_version(f), _process_type(f)
    cmd = svc.CreateProcess(key=None, name=(name or "").strip(), description=description,
                            process_type=ProcessType(kind or 0), min_version_to_run=min_version)
    with translated():
        process = await run_in_threadpool(svc.create_process, context(request), who, cmd)
    return JSONResponse({"guid": process.guid})


@endpoint("GET", "/api/process/read/{process_guid}")
async def read_process(process_guid: str, request: Request, who: Reader) -> JSONResponse:
    guid = path_guid(process_guid)
    ctx = context(request)

    def read() -> dict[str, Any]:
        return process_out(ctx, who, by_guid(ctx, who, guid))

    return JSONResponse(await run_in_threadpool(read))


@endpoint("GET", "/api/process/read")
async def list_processes(request: Request, who: Reader) -> JSONResponse:
    ctx = context(request)

    def read() -> list[dict[str, Any]]:
        found = svc.find_processes(ctx, who, svc.FindProcesses(
            sort=("id",), limit=ctx.settings.max_page_size))
        return [process_out(ctx, who, p) for p in found.items]

    return JSONResponse(await run_in_threadpool(read))


@endpoint(["PUT", "POST"], "/api/process/update")
async def update_process(request: Request, who: Deployer) -> JSONResponse:
    f = Fields(await read_body(request))
    guid = f.guid("Guid", required=True)
    assert guid is not None
    fields: dict[str, Any] = {}
    if f.has("Name"):
        fields["name"] = f.text("Name", required=True)
    if f.has("Description"):
        fields["description"] = f.text("Description", limit=DESCRIPTION) or ""
    if f.has("MinVersionToRun"):
        fields["min_version_to_run"] = _min_version(f)
    kind = _process_type(f)
    ctx = context(request)

    def update() -> None:
        process = by_guid(ctx, who, guid)
        if kind is not None and kind != int(process.process_type):
            raise invalid("ProcessType", "a process keeps its type")
        with translated():
            svc.update_process(ctx, who, process.id, svc.UpdateProcess(
                **fields, sent=frozenset(fields)))

    await run_in_threadpool(update)
    return empty()


@endpoint("DELETE", "/api/process/delete/{process_guid}")
async def delete_process(process_guid: str, request: Request, who: Deployer) -> JSONResponse:
    guid = path_guid(process_guid)
    ctx = context(request)

    def delete() -> None:
        process = by_guid(ctx, who, guid)
        with translated(UnknownIds=(404, "not_found")):
            svc.delete_process(ctx, who, process.id)

    await run_in_threadpool(delete)
    return empty()


# -- versions ------------------------------------------------------------------------------


def _version(ctx: Context, who: Principal, guid: str) -> tuple[Process, Version]:
    with translated():
        return svc.get_version_by_guid(ctx, who, guid)


@endpoint("POST", "/api/processVersion/create")
async def create_version(request: Request, who: Deployer) -> JSONResponse:
    f = Fields(await read_body(request))
    name = f.text("Name", required=True)
    description = f.text("Description", limit=DESCRIPTION) or ""
    process_guid = f.guid("ProcessGuid", required=True)
    assert process_guid is not None
    upload = f.file("ProcessFile")
    if upload is None:
        raise missing("ProcessFile")
    ctx = context(request)
    if len(upload.content) > ctx.settings.max_upload_bytes:
        raise SherpaFault(422, "file_too_large", "ProcessFile is too large", "ProcessFile")
    if not upload.content:
        raise invalid("ProcessFile", "the file is empty")

    def deploy() -> str | None:
        process = by_guid(ctx, who, process_guid)
        cmd = svc.DeployVersion(upload.name, upload.content, label=(name or "").strip(),
                                description=description)
        with translated("ProcessFile"):
            deployed = svc.deploy_version(ctx, who, str(process.id), cmd, adopt_type=True)
        return deployed.version.guid

    return JSONResponse({"guid": await run_in_threadpool(deploy)})


@endpoint("GET", "/api/processVersion/read/{version_guid}")
async def read_version(version_guid: str, request: Request, who: Reader) -> JSONResponse:
    guid = path_guid(version_guid)
    _, version = await run_in_threadpool(_version, context(request), who, guid)
    return JSONResponse(version_out(version, who.account_id))


@endpoint("GET", "/api/processVersion/read")
async def list_versions(request: Request, who: Reader) -> JSONResponse:
    with translated():
        versions = await run_in_threadpool(svc.list_all_versions, context(request), who)
    return JSONResponse([version_out(v, who.account_id) for v in versions])


@endpoint(["PUT", "POST"], "/api/processVersion/update")
async def update_version(request: Request, who: Deployer) -> JSONResponse:
    f = Fields(await read_body(request))
    guid = f.guid("Guid", required=True)
    assert guid is not None
    label = f.text("Name", required=True) if f.has("Name") else None
    description = f.text("Description", limit=DESCRIPTION) if f.has("Description") else None
    process_guid = f.guid("ProcessGuid")
    if f.file("ProcessFile") is not None:
        raise invalid("ProcessFile", "a version's content never changes: create a new "
                                     "version instead")
    ctx = context(request)

    def update() -> None:
        process, _ = _version(ctx, who, guid)
        if process_guid is not None and by_guid(ctx, who, process_guid).id != process.id:
            raise invalid("ProcessGuid", "a version stays with its process")
        with translated():
            svc.update_version(ctx, who, guid, svc.UpdateVersion(
                label.strip() if label is not None else None, description))

    await run_in_threadpool(update)
    return empty()


@endpoint("DELETE", "/api/processVersion/delete/{version_guid}")
async def delete_version(version_guid: str, request: Request, who: Deployer) -> JSONResponse:
    guid = path_guid(version_guid)
    with translated():
        await run_in_threadpool(svc.delete_version, context(request), who, guid)
    return empty()
