"""Sherpa's router and callers: an account's API key (`Bearer <key>`, `Bearer base64(key)`,
`Basic base64(key)`) or a robot's own credential (`Basic base64(credential)`), which only the
robot endpoints take (contracts/sherpa.md §2)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from flowport.api.auth import Identify, context, guarded
from flowport.api.dialects.sherpa.faults import AUTHENTICATE, SherpaFault, translated
from flowport.domain.accounts import Permission, Principal
from flowport.errors import Unauthenticated
from flowport.services import auth as auth_svc
from flowport.services.context import Context

router = APIRouter(tags=["sherpa"], include_in_schema=False)
F = TypeVar("F", bound=Callable[..., Any])


def endpoint(methods: str | list[str], path: str) -> Callable[[F], F]:
    """Register a route at `path` and at `path/` (G1)."""

    def register(func: F) -> F:
        for url in (path, path + "/"):
            router.add_api_route(url, func, methods=[methods] if isinstance(methods, str)
                                 else methods)
        return func

    return register


def _unauthorized(message: str) -> SherpaFault:
    return SherpaFault(401, "unauthorized", message, headers=AUTHENTICATE)


def _secrets(header: str) -> list[str]:
    """The secrets an Authorization header may carry, most likely first."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value or scheme.lower() not in ("bearer", "basic"):
        raise _unauthorized("send 'Authorization: Bearer <API key>'")
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8").strip()
    except (binascii.Error, ValueError):
        decoded = ""
    if scheme.lower() == "basic":
        if not decoded:
            raise _unauthorized("the Basic credential is not base64")
        return [decoded]
    return [value, decoded] if decoded else [value]


def _authenticate(ctx: Context, header: str) -> Principal:
    for secret in _secrets(header):
        try:
            return auth_svc.authenticate(ctx, secret)
        except Unauthenticated:
            continue
    raise _unauthorized("the API key or robot credential is unknown, revoked or deleted")


async def _key_or_robot(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("send 'Authorization: Bearer <API key>'")
    return await run_in_threadpool(_authenticate, context(request), header)


async def _key_holder(request: Request) -> Principal:
    who = await _key_or_robot(request)
    if who.robot_id is not None:
        raise SherpaFault(403, "forbidden", "a robot credential is not valid here")
    return who


def caller(permission: Permission | None, *, robots: bool = False) -> Identify:
    """An API key holding `permission` (None: the service decides); `robots` also lets a
    robot's credential through (the robot endpoints, whose services check it)."""
    return guarded(_key_or_robot if robots else _key_holder, permission, faults=translated)


Reader = Annotated[Principal, Depends(caller(Permission.READ))]
Deployer = Annotated[Principal, Depends(caller(Permission.DEPLOY))]
Starter = Annotated[Principal, Depends(caller(Permission.START))]
Admin = Annotated[Principal, Depends(caller(Permission.ADMIN))]
# Robot endpoints: a robot's credential, or an API key; each service checks what it needs.
RobotOrKey = Annotated[Principal, Depends(caller(None, robots=True))]
