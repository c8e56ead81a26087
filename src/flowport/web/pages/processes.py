"""Processes: the list with search, creating one, a process with its versions, uploading a
version, and the start form generated from the current version's declared parameters."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from flowport.api.auth import Ctx
from flowport.api.errors import status_of
from flowport.api.waiting import wait_until_settled
from flowport.domain.accounts import Principal
from flowport.domain.processes import ProcessType
from flowport.errors import BadInput, FlowportError
from flowport.services import instances as run
from flowport.services import processes as svc
from flowport.services.context import Context
from flowport.web.auth import Deployer, Reader, Starter
from flowport.web.forms import Posted, json_text, read_start_form, start_fields, text, upload
from flowport.web.render import NavEntry, redirect, render
from flowport.web.routing import page_router

router = page_router()
NAV = NavEntry("Processes", "/processes", order=10)
PAGE_SIZE = 50
Cursor = Annotated[str | None, Query(max_length=1024)]


def process_url(key: str) -> str:
    return "/processes/" + quote(key, safe="")


def _list(request: Request, ctx: Context, who: Principal, search: str | None,
          cursor: str | None, status: int = 200, create_error: FlowportError | None = None,
          posted: FormData | None = None) -> Response:
    page = svc.list_processes(ctx, who, svc.ListProcesses(search or None, "key", cursor,
                                                          PAGE_SIZE))
    return render(request, "processes.html", who, status=status, page=page,
                  search=search or "", cursor=cursor, create_error=create_error, posted=posted)


@router.get("/processes")
def processes_page(request: Request, ctx: Ctx, who: Reader,
                   search: Annotated[str | None, Query(max_length=255)] = None,
                   cursor: Cursor = None) -> Response:
    return _list(request, ctx, who, search, cursor)


@router.post("/processes")
def create_process(request: Request, ctx: Ctx, who: Deployer, form: Posted) -> Response:
    try:
        kind = text(form, "process_type") or "0"
        if kind not in ("0", "1"):
            raise BadInput("the type is 0 (BPMN) or 1 (robot package)", field="process_type")
        process = svc.create_process(ctx, who, svc.CreateProcess(
            key=text(form, "key").strip(), name=text(form, "name").strip() or None,
            description=text(form, "description"), process_type=ProcessType(int(kind))))
    except FlowportError as exc:
        return _list(request, ctx, who, None, None, status_of(exc),
                     create_error=exc, posted=form)
    return redirect(process_url(process.key))


def _detail(request: Request, ctx: Context, who: Principal, key: str, *, status: int = 200,
            start_form: FormData | None = None, start_error: FlowportError | None = None,
            upload_error: FlowportError | None = None, upload_form: FormData | None = None,
            deployed: int | None = None) -> Response:
    process = svc.get_process(ctx, who, key)
    versions = sorted(svc.list_versions(ctx, who, key), key=lambda v: -v.number)
    current = next((v for v in versions if v.number == process.current_version), None)
    fields = start_fields(current.parameters, start_form) if current else []
    recent = run.list_instances(ctx, who, run.ListInstances(process_key=key, limit=10)).items
    return render(request, "process.html", who, status=status, process=process,
                  versions=versions, current=current, fields=fields, recent=recent,
                  start_form=start_form, start_error=start_error, upload_error=upload_error,
                  upload_form=upload_form, deployed=deployed,
                  max_wait=int(ctx.settings.max_wait_seconds), process_url=process_url(key))


@router.get("/processes/{key}")
def process_page(request: Request, key: str, ctx: Ctx, who: Reader,
                 deployed: Annotated[int | None, Query(ge=1, le=2**31)] = None) -> Response:
    return _detail(request, ctx, who, key, deployed=deployed)


@router.post("/processes/{key}/versions")
def deploy_version(request: Request, key: str, ctx: Ctx, who: Deployer,
                   form: Posted) -> Response:
    try:
        file = upload(form, "file")
        if file is None:
            raise BadInput("choose a .bpmn file or a robot package to upload", field="file")
        cmd = svc.DeployVersion(file_name=file.filename or "", content=file.file.read(),
                                parameters=json_text(form, "parameters"),
                                outputs=json_text(form, "outputs"))
        deployed = svc.deploy_version(ctx, who, key, cmd)
    except FlowportError as exc:
        return _detail(request, ctx, who, key, status=status_of(exc), upload_error=exc,
                       upload_form=form)
    return redirect(f"{process_url(key)}?deployed={deployed.version.number}")


def _start_command(ctx: Context, who: Principal, key: str, form: FormData) -> run.StartInstance:
    version_text = text(form, "version")
    if not version_text.isdecimal():
        raise BadInput("the form names no version; reload the page", field="version")
    version = svc.get_version(ctx, who, key, int(version_text))
    business_key = text(form, "business_key").strip() or None
    return run.StartInstance(process_key=key, variables=read_start_form(version.parameters, form),
                             version=version.number, business_key=business_key)


@router.post("/processes/{key}/start")
async def start_instance(request: Request, key: str, ctx: Ctx, who: Starter,
                         form: Posted) -> Response:
    try:
        wait = 0.0
        if text(form, "wait"):
            try:
                wait = float(text(form, "wait_seconds") or "10")
            except ValueError:
                raise BadInput("wait seconds must be a number", field="wait_seconds") from None
            if not 0 < wait <= ctx.settings.max_wait_seconds:
                raise BadInput(f"wait 1 to {ctx.settings.max_wait_seconds:g} seconds",
                               field="wait_seconds")
        cmd = await run_in_threadpool(_start_command, ctx, who, key, form)
        started = await run_in_threadpool(run.start_instance, ctx, who, cmd)
    except FlowportError as exc:
        failed = exc
    else:
        if wait:
            await wait_until_settled(ctx, who, started.instance, wait, None)
        return redirect(f"/instances/{started.instance.id}?started=1")
    return await run_in_threadpool(partial(
        _detail, request, ctx, who, key, status=status_of(failed), start_form=form,
        start_error=failed))
