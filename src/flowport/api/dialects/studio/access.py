"""Studio's router, its paths (each served with and without the trailing slash, no redirect),
and its callers: `Authorization: Token <token>` (DRF) or `Bearer <token>`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from flowport.api.auth import Identify, context, guarded
from flowport.api.dialects.studio.faults import (
    AUTHENTICATE,
    NO_CREDENTIALS,
    StudioError,
    translated,
)
from flowport.domain.accounts import Permission, Principal
from flowport.services import auth as auth_svc

router = APIRouter(tags=["studio"], include_in_schema=False)
F = TypeVar("F", bound=Callable[..., Any])


def endpoint(method: str, path: str) -> Callable[[F], F]:
    """Register a route at `path` and at `path/`."""

    def register(func: F) -> F:
        for url in (path, path + "/"):
            router.add_api_route(url, func, methods=[method])
        return func

    return register


async def _token_holder(request: Request) -> Principal:
    """DRF's `Authorization: Token <token>` (or Bearer), refused in DRF's words."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() not in ("token", "bearer"):
        raise StudioError(401, NO_CREDENTIALS, headers=AUTHENTICATE)
    token = token.strip()
    if not token:
        raise StudioError(401, "Invalid token header. No credentials provided.",
                          headers=AUTHENTICATE)
    if " " in token:
        raise StudioError(401, "Invalid token header. Token string should not contain "
                               "spaces.", headers=AUTHENTICATE)
    return await run_in_threadpool(auth_svc.authenticate, context(request), token)


def studio_user(permission: Permission) -> Identify:
    """Like `api.auth.requires`, reading DRF's token header and answering in DRF's words."""
    return guarded(_token_holder, permission, faults=translated)


Reader = Annotated[Principal, Depends(studio_user(Permission.READ))]
Deployer = Annotated[Principal, Depends(studio_user(Permission.DEPLOY))]
Starter = Annotated[Principal, Depends(studio_user(Permission.START))]
