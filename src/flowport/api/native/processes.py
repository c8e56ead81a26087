"""/api/v1/processes: processes and their versions."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from flowport.api.auth import Ctx, Deployer, Reader
from flowport.api.native.schemas import (
    DraftIn,
    ProcessIn,
    ProcessPatch,
    RowId,
    VersionIn,
    VersionPatch,
    draft_out,
    process_out,
    version_out,
)
from flowport.domain.processes import ProcessType
from flowport.errors import BadInput, NotFound, TooLarge
from flowport.services import drafts
from flowport.services import processes as svc

# `{key}` also takes a process's numeric `id` (keys never start with a digit).
router = APIRouter(prefix="/api/v1/processes", tags=["processes"])


@router.post("", status_code=201)
def create_process(body: ProcessIn, ctx: Ctx, who: Deployer) -> dict[str, Any]:
    process = svc.create_process(ctx, who, svc.CreateProcess(
        key=body.key, name=body.name, description=body.description,
        process_type=ProcessType(body.process_type),
        min_version_to_run=body.min_version_to_run, project=body.project,
        robot_tags=tuple(body.robot_tags), max_attempts=body.max_attempts,
        retry_backoff=body.retry_backoff))
    return process_out(process)


@router.get("")
def list_processes(
    ctx: Ctx, who: Reader, search: Annotated[str | None, Query(max_length=255)] = None,
    order: str = "key", cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    page = svc.list_processes(ctx, who, svc.ListProcesses(search, order, cursor, limit))
    return {"items": [process_out(p) for p in page.items], "next_cursor": page.next_cursor}


@router.get("/{key}")
def get_process(key: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return process_out(svc.get_process(ctx, who, key))


@router.patch("/{key}")
def update_process(key: str, body: ProcessPatch, ctx: Ctx, who: Deployer) -> dict[str, Any]:
    cmd = svc.UpdateProcess(name=body.name, description=body.description,
                            min_version_to_run=body.min_version_to_run, project=body.project,
                            robot_tags=tuple(body.robot_tags), max_attempts=body.max_attempts,
                            retry_backoff=body.retry_backoff,
                            sent=frozenset(body.model_fields_set))
    return process_out(svc.update_process(ctx, who, key, cmd))


@router.delete("/{key}", status_code=204)
def delete_process(key: str, ctx: Ctx, who: Deployer) -> Response:
    svc.delete_process(ctx, who, key)
    return Response(status_code=204)


def _json_field(raw: Any, name: str) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be JSON", field=name) from None


async def _read_upload(request: Request, limit: int) -> svc.DeployVersion:
    length = request.headers.get("content-length")
    if length and length.isdecimal() and int(length) > limit + 64 * 1024:
        raise TooLarge(f"the upload is larger than {limit} bytes", field="file")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadInput("send the process file as the multipart field 'file'", field="file")
        content = await upload.read()
        return svc.DeployVersion(
            file_name=str(form.get("file_name") or upload.filename or ""), content=content,
            parameters=_json_field(form.get("parameters"), "parameters"),
            outputs=_json_field(form.get("outputs"), "outputs"),
            bpmn_process_id=str(form.get("bpmn_process_id") or "") or None)
    if content_type == "application/json":
        try:
            body = VersionIn.model_validate_json(await request.body())
        except ValueError as exc:
            raise BadInput(f"invalid JSON body: {exc}".splitlines()[0], field="body") from None
        if body.encoding == "base64":
            try:
                data = base64.b64decode(body.content, validate=True)
            except (binascii.Error, ValueError):
                raise BadInput("content is not valid base64", field="content") from None
        else:
            data = body.content.encode()
        return svc.DeployVersion(body.file_name, data, body.parameters, body.outputs,
                                 body.bpmn_process_id)
    raise BadInput("send multipart/form-data with a 'file' field, or application/json",
                   field="content-type")


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"},
                               "parameters": {"type": "string"},
                               "outputs": {"type": "string"},
                               "bpmn_process_id": {"type": "string"}}}},
            "application/json": {"schema": VersionIn.model_json_schema()},
        },
    }
}


@router.post("/{key}/versions", status_code=201, openapi_extra=UPLOAD_BODY)
async def deploy_version(key: str, request: Request, response: Response, ctx: Ctx,
                         who: Deployer) -> dict[str, Any]:
    cmd = await _read_upload(request, ctx.settings.max_upload_bytes)
    deployed = await run_in_threadpool(svc.deploy_version, ctx, who, key, cmd)
    if not deployed.created:
        response.status_code = 200
    return version_out(key, deployed.version)


@router.get("/{key}/versions")
def list_versions(key: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return {"items": [version_out(key, v) for v in svc.list_versions(ctx, who, key)]}


@router.get("/{key}/versions/{number}")
def get_version(key: str, number: RowId, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return version_out(key, svc.get_version(ctx, who, key, number))


@router.patch("/{key}/versions/{number}")
def update_version(key: str, number: RowId, body: VersionPatch, ctx: Ctx,
                   who: Deployer) -> dict[str, Any]:
    """A version's own label and description (its content never changes)."""
    version = svc.get_version(ctx, who, key, number)
    if version.deleted_at is not None or version.guid is None:
        raise NotFound(f"version {number} of {key!r} was deleted")
    return version_out(key, svc.update_version(
        ctx, who, version.guid, svc.UpdateVersion(body.label, body.description)))


@router.delete("/{key}/versions/{number}", status_code=204)
def delete_version(key: str, number: RowId, ctx: Ctx, who: Deployer) -> Response:
    """Soft delete: it starts nothing new and is never current again; its instances stay."""
    version = svc.get_version(ctx, who, key, number)
    if version.deleted_at is not None or version.guid is None:
        raise NotFound(f"version {number} of {key!r} was deleted")
    svc.delete_version(ctx, who, version.guid)
    return Response(status_code=204)


@router.get("/{key}/versions/{number}/content")
def get_version_content(key: str, number: RowId, ctx: Ctx, who: Reader) -> Response:
    return Response(svc.get_version_content(ctx, who, key, number),
                    media_type="application/octet-stream")


@router.get("/{key}/draft")
def get_draft(key: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return draft_out(key, drafts.get_draft(ctx, who, key))


@router.put("/{key}/draft")
def save_draft(key: str, body: DraftIn, ctx: Ctx, who: Deployer) -> dict[str, Any]:
    """Store unpublished content, checking its syntax only; publishing validates it."""
    return draft_out(key, drafts.save_draft(ctx, who, key, drafts.SaveDraft(body.content)))


@router.post("/{key}/draft/publish", status_code=201)
def publish_draft(key: str, response: Response, ctx: Ctx, who: Deployer) -> dict[str, Any]:
    """The draft as a new current version (201), or the identical version made current (200)."""
    deployed = drafts.publish_draft(ctx, who, key)
    if not deployed.created:
        response.status_code = 200
    return version_out(deployed.process.key, deployed.version)


@router.get("/{key}/versions/{number}/diagram", responses={200: {"content": {
    "application/xml": {}}, "description": "BPMN 2.0 XML with diagram interchange"}})
def get_version_diagram(key: str, number: RowId, ctx: Ctx, who: Reader) -> Response:
    """The version's BPMN file with a layout to draw it by: the file's own, or one Flowport
    lays out when the file has none."""
    return Response(svc.get_version_diagram(ctx, who, key, number),
                    media_type="application/xml")
