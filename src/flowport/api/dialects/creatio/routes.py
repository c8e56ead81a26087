"""Creatio routes. Every ServiceModel path is served with and without the `/0` prefix."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import Identify, client_address, context, guarded, resolve
from flowport.api.dialects.creatio.faults import CreatioFault, handle, translated
from flowport.api.dialects.creatio.values import result_response, text_of, to_input
from flowport.api.waiting import wait_until_settled
from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance, Status
from flowport.domain.processes import Version
from flowport.errors import Conflict, FlowportError
from flowport.services import auth as auth_svc
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services.context import Context

SESSION_COOKIE, CSRF_COOKIE = ".ASPXAUTH", "BPMCSRF"
RESERVED = {"resultparametername"}
ENGINE = "/ServiceModel/ProcessEngineService.svc"
AUTH = "/ServiceModel/AuthService.svc"
# Creatio's processStatus numbers (RunProcess).
PROCESS_STATUS = {Status.CREATED: 0, Status.PENDING: 1, Status.RUNNING: 1, Status.WAITING: 1,
                  Status.STOPPING: 5, Status.ABORTING: 5, Status.COMPLETED: 2,
                  Status.FAILED: 3, Status.STOPPED: 4, Status.ABORTED: 4}

router = APIRouter(tags=["creatio"], include_in_schema=False)


def install(app: FastAPI) -> None:
    app.add_exception_handler(CreatioFault, handle)
    for prefix in ("", "/0"):
        app.include_router(router, prefix=prefix)


async def _creatio_caller(request: Request) -> Principal:
    return await run_in_threadpool(resolve, context(request), request,
                                   session_cookie=SESSION_COOKIE, csrf_header=CSRF_COOKIE,
                                   csrf_on_safe_methods=True)


def creatio_user(permission: Permission) -> Identify:
    """Like `api.auth.requires`, with Creatio's cookie and CSRF header, checked on every
    method, and Creatio's error envelope."""
    return guarded(_creatio_caller, permission, faults=translated)


Starter = Annotated[Principal, Depends(creatio_user(Permission.START))]


async def read_body(request: Request) -> dict[str, Any]:
    """Query string first, then the body (JSON object or form), the body winning."""
    values: dict[str, Any] = dict(parse_qsl(request.url.query, keep_blank_values=True))
    raw = await request.body() if request.method == "POST" else b""
    if not raw.strip():
        return values
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            raise CreatioFault(400, "InvalidRequest", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise CreatioFault(400, "InvalidRequest", "the body must be a JSON object")
        values.update(body)
    elif kind == "application/x-www-form-urlencoded":
        values.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        raise CreatioFault(415, "UnsupportedMediaType",
                           "send application/json or application/x-www-form-urlencoded")
    return values


# -- AuthService ---------------------------------------------------------------------------

def _login_reply(code: int, message: str = "", status: int = 200) -> JSONResponse:
    return JSONResponse({"Code": code, "Message": message, "Exception": None,
                         "PasswordChangeUrl": None, "RedirectUrl": None}, status_code=status)


@router.post(AUTH + "/Login")
async def login(request: Request) -> Response:
    ctx = context(request)
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _login_reply(1, "the body must be JSON", 400)
    if not isinstance(body, dict) or not isinstance(body.get("UserName"), str) \
            or not isinstance(body.get("UserPassword"), str):
        return _login_reply(1, "UserName and UserPassword are required", 400)
    try:
        session = await run_in_threadpool(auth_svc.login, ctx, auth_svc.Login(
            body["UserName"], body["UserPassword"], client_address(request)))
    except FlowportError as exc:
        return _login_reply(1, exc.message)
    response = _login_reply(0)
    secure = ctx.settings.secure_cookies
    response.set_cookie(SESSION_COOKIE, session.secret, httponly=True, secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, session.csrf_token, httponly=False, secure=secure,
                        path="/")
    response.set_cookie("BPMLOADER", secrets.token_urlsafe(16), httponly=True, secure=secure,
                        path="/")
    response.set_cookie("UserName", "|".join(str(ord(c)) for c in session.principal.login),
                        httponly=True, secure=secure, path="/")
    return response


@router.post(AUTH + "/Logout")
async def logout(request: Request) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await run_in_threadpool(auth_svc.logout, context(request), session)
    response = Response(status_code=200)
    for name in (SESSION_COOKIE, CSRF_COOKIE, "BPMLOADER", "UserName"):
        response.delete_cookie(name, path="/")
    return response


# -- ProcessEngineService ------------------------------------------------------------------

def published_version(ctx: Context, who: Principal, schema: str) -> Version:
    with translated(NotFound="ProcessSchemaNotFound", Conflict="ProcessNotPublished"):
        process = deploy.get_process(ctx, who, schema)
        if process.current_version is None:
            raise Conflict(f"process {schema!r} has no published version")
        return deploy.get_version(ctx, who, schema, process.current_version)


def split_inputs(version: Version, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The declared inputs, translated; and the keys Creatio ignores (undeclared, or output
    only)."""
    declared = {p.name: p for p in version.parameters}
    inputs, ignored = {}, []
    for key, value in values.items():
        if key.lower() in RESERVED:
            continue
        param = declared.get(key)
        if param is None or not param.is_input:
            ignored.append(key)
            continue
        with translated():
            inputs[key] = to_input(param, value)
    return inputs, ignored


def result_of(version: Version, instance: Instance, name: str) -> str | None:
    if any(o.name == name for o in version.outputs):
        return text_of(instance.outputs.get(name))
    if any(p.name == name for p in version.parameters):
        return text_of(instance.variables.get(name))
    return None


async def start_and_maybe_wait(ctx: Context, who: Principal, schema: str,
                               values: dict[str, Any],
                               wait_for: list[str]) -> tuple[Version, Instance, list[str]]:
    version = await run_in_threadpool(published_version, ctx, who, schema)
    inputs, ignored = split_inputs(version, values)
    with translated(NotFound="ProcessSchemaNotFound", Conflict="ProcessNotPublished"):
        started = await run_in_threadpool(run.start_instance, ctx, who, run.StartInstance(
            schema, inputs, version=version.number))
    instance = started.instance
    if wait_for:
        instance = await wait_until_settled(ctx, who, instance,
                                            ctx.settings.creatio_wait_seconds, None)
    return version, instance, ignored


def instance_headers(instance: Instance, ignored: list[str]) -> dict[str, str]:
    headers = {"X-Flowport-Instance-Id": instance.id}
    if ignored:
        headers["X-Flowport-Ignored-Parameters"] = ",".join(ignored)
    return headers


@router.api_route(ENGINE + "/{schema}/Execute", methods=["GET", "POST"])
async def execute(schema: str, request: Request, who: Starter) -> Response:
    ctx = context(request)
    values = await read_body(request)
    result = next((str(v) for k, v in values.items() if k.lower() in RESERVED), None)
    version, instance, ignored = await start_and_maybe_wait(
        ctx, who, schema, values, [result] if result else [])
    headers = instance_headers(instance, ignored)
    if result is None:
        return Response(status_code=200, headers=headers)
    if not instance.status.is_final:
        raise CreatioFault(504, "ExecutionTimeout",
                           f"the process did not finish within {ctx.settings.creatio_wait_seconds}"
                           f" s; it is still running as {instance.id}")
    if instance.status is Status.FAILED:
        raise CreatioFault(500, "ProcessFailed", instance.error or "the process failed")
    if instance.status is not Status.COMPLETED:
        raise CreatioFault(500, "ProcessCancelled", f"the process was {instance.status.value}")
    return result_response(request, result_of(version, instance, result), headers)


@router.api_route(ENGINE + "/ExecProcElByUId/{uid}", methods=["GET", "POST"])
async def exec_element(uid: str, request: Request, who: Starter) -> Response:
    return await _exec_element(uid, request, who)


@router.api_route(ENGINE + "/ExecProcElByUId", methods=["GET", "POST"])
async def exec_element_by_query(request: Request, who: Starter) -> Response:
    uid = request.query_params.get("ProcessElementUID", "")
    return await _exec_element(uid, request, who)


async def _exec_element(uid: str, request: Request, who: Principal) -> Response:
    ctx = context(request)
    try:
        uid = str(uuid.UUID(uid))
    except ValueError:
        raise CreatioFault(400, "InvalidElementUid", f"{uid!r} is not a GUID") from None
    values = await read_body(request)
    data = {k: v for k, v in values.items() if k != "ProcessElementUID"}
    with translated(NotFound="ElementNotFound", Conflict="ProcessNotRunning"):
        done = await run_in_threadpool(run.complete_element, ctx, who,
                                       run.CompleteElement(None, uid, data))
    return Response(status_code=200, headers={"X-Flowport-Instance-Id": done.instance.id})


@router.post(ENGINE + "/RunProcess")
async def run_process(request: Request, who: Starter) -> Response:
    ctx = context(request)
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise CreatioFault(400, "InvalidRequest", "the body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("schemaName"), str):
        raise CreatioFault(400, "InvalidRequest", "schemaName is required")
    pairs = body.get("parameterValues") or []
    wanted = body.get("resultParameterNames") or []
    if not isinstance(pairs, list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) for p in pairs):
        raise CreatioFault(400, "InvalidRequest", "parameterValues is a list of {name, value}")
    if not isinstance(wanted, list) or not all(isinstance(n, str) for n in wanted):
        raise CreatioFault(400, "InvalidRequest", "resultParameterNames is a list of names")
    values = {p["name"]: p.get("value") for p in pairs}
    version, instance, ignored = await start_and_maybe_wait(
        ctx, who, body["schemaName"], values, wanted)
    failed = instance.status in (Status.FAILED, Status.STOPPED, Status.ABORTED)
    reply = {
        "processId": instance.id, "processStatus": PROCESS_STATUS[instance.status],
        "resultParameterValues": {n: result_of(version, instance, n) for n in wanted}
        if instance.status is Status.COMPLETED else {},
        "success": not failed,
        "errorInfo": {"errorCode": "ProcessFailed", "message": instance.error or
                      f"the process was {instance.status.value}"} if failed else None,
    }
    return JSONResponse(reply, headers=instance_headers(instance, ignored))



