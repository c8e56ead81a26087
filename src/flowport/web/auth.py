"""Who is looking at a page: the session cookie of a person who logged in (or a Bearer token, for
scripts). Unsafe requests of a session must carry its CSRF token, in the form field
`csrf_token` (plain form posts) or the X-CSRF-Token header (scripts)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from flowport.api.auth import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    CsrfMismatch,
    Identify,
    context,
    guarded,
    resolve,
)
from flowport.domain.accounts import Permission, Principal
from flowport.errors import Unauthenticated
from flowport.services import auth

CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """No live session: the page answers with a redirect to the login page."""


async def _check_csrf(request: Request, expected: str | None) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else ""
    if not expected or not hmac.compare_digest(sent, expected):
        raise CsrfMismatch("this form is out of date or did not come from this console; "
                           "reload the page and try again")


async def _page_visitor(request: Request) -> Principal:
    ctx = context(request)
    if "authorization" in request.headers:
        who = await run_in_threadpool(resolve, ctx, request)
    else:
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            raise LoginRequired
        try:
            who = await run_in_threadpool(auth.authenticate_session, ctx, session)
        except Unauthenticated:
            raise LoginRequired from None
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, who.csrf_token)
    request.state.principal = who  # for the error page's navigation
    return who


def page_user(permission: Permission | None) -> Identify:
    """Like `api.auth.requires`, for pages: a missing or expired session is a redirect to the
    login page rather than a 401, and the CSRF token may come in the form."""
    return guarded(_page_visitor, permission)


Reader = Annotated[Principal, Depends(page_user(Permission.READ))]
Starter = Annotated[Principal, Depends(page_user(Permission.START))]
Deployer = Annotated[Principal, Depends(page_user(Permission.DEPLOY))]
AnyUser = Annotated[Principal, Depends(page_user(None))]
Admin = Annotated[Principal, Depends(page_user(Permission.ADMIN))]
