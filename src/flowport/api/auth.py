"""Resolving the caller from the request: a Bearer token, or a session cookie whose unsafe
requests carry the CSRF token in a header. Every route declares the permission it needs with
`requires(...)`; a test walks the routes and fails on one that declares none."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from flowport.domain.accounts import Permission, Principal
from flowport.errors import Forbidden, Unauthenticated
from flowport.services import auth
from flowport.services.context import Context

SESSION_COOKIE = "flowport_session"
CSRF_COOKIE = "flowport_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def set_session_cookies(response: Response, session: auth.Session, *, secure: bool) -> None:
    """The cookies of a new session: the secret (hidden from scripts) and its CSRF token
    (readable by the page's scripts, which echo it in the X-CSRF-Token header)."""
    response.set_cookie(SESSION_COOKIE, session.secret, httponly=True, samesite="lax",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, session.csrf_token, httponly=False, samesite="lax",
                        secure=secure, path="/")


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


class CsrfMismatch(Forbidden):
    code = "csrf_token_invalid"


def resolve(ctx: Context, request: Request, *, session_cookie: str = SESSION_COOKIE,
            csrf_header: str = CSRF_HEADER, csrf_on_safe_methods: bool = False) -> Principal:
    """The caller, from `Authorization: Bearer` or from a session cookie whose requests echo
    the session's CSRF token in a header (blocking: call it in the thread pool). Dialects pass
    their own cookie and header names: Creatio's are `.ASPXAUTH` and `BPMCSRF`."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("send 'Authorization: Bearer <token>'")
        return auth.authenticate(ctx, token.strip())
    session = request.cookies.get(session_cookie)
    if not session:
        raise Unauthenticated("send 'Authorization: Bearer <token>' or log in")
    principal = auth.authenticate_session(ctx, session)
    if csrf_on_safe_methods or request.method not in SAFE_METHODS:
        sent = request.headers.get(csrf_header, "")
        if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
            raise CsrfMismatch(f"a session request needs the {csrf_header} header holding "
                               f"the session's CSRF token")
    return principal


Identify = Callable[[Request], Awaitable[Principal]]


def guarded(identify: Identify, permission: Permission | None, *,
            faults: Callable[[], AbstractContextManager[object]] = nullcontext) -> Identify:
    """A route dependency of any front door: the caller as `identify` finds them, checked for
    `permission` (None: any authenticated caller, for routes whose service decides, like
    reading one's own user); `faults` turns domain errors into the front door's own. The
    permission is kept on the dependency for the test that walks the routes."""

    async def dependency(request: Request) -> Principal:
        with faults():
            who = await identify(request)
            if permission is not None:
                auth.require(who, permission)
        return who

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


async def caller(request: Request) -> Principal:
    """A Bearer token's or a session's user (see `resolve`)."""
    return await run_in_threadpool(resolve, context(request), request)


def requires(permission: Permission | None) -> Identify:
    return guarded(caller, permission)


# The callers each route may have, as parameter annotations.
Reader = Annotated[Principal, Depends(requires(Permission.READ))]
Deployer = Annotated[Principal, Depends(requires(Permission.DEPLOY))]
Starter = Annotated[Principal, Depends(requires(Permission.START))]
RecordWriter = Annotated[Principal, Depends(requires(Permission.RECORDS_WRITE))]
Admin = Annotated[Principal, Depends(requires(Permission.ADMIN))]
AnyUser = Annotated[Principal, Depends(requires(None))]


async def _context(request: Request) -> Context:
    # async: FastAPI runs a sync dependency in the thread pool, a hop that costs more than this.
    return context(request)


Ctx = Annotated[Context, Depends(_context)]
