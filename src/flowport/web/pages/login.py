"""Logging in and out with a password: the same cookie session as the API's /auth/login."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Query, Request, Response

from flowport.api.auth import (
    SESSION_COOKIE,
    Ctx,
    clear_session_cookies,
    client_address,
    set_session_cookies,
)
from flowport.api.errors import status_of
from flowport.errors import FlowportError
from flowport.services import auth as svc
from flowport.services.context import Context
from flowport.web.auth import AnyUser
from flowport.web.forms import Posted, text
from flowport.web.render import redirect, render
from flowport.web.routing import page_router, safe_next

router = page_router()
# A login form proves it came from this console with a token also held in this cookie, so no
# other site can log a browser into an account of its choosing.
LOGIN_COOKIE = "flowport_login"


def _form(request: Request, ctx: Context, status: int = 200, message: str | None = None,
          login: str = "", next_path: str = "/") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status=status, message=message,
                      login=login, next_path=safe_next(next_path), login_token=token)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=ctx.settings.secure_cookies, path="/login")
    return response


@router.get("/login")
def login_page(request: Request, ctx: Ctx,
               next: Annotated[str, Query(max_length=2048)] = "/") -> Response:
    return _form(request, ctx, next_path=next)


@router.post("/login")
def log_in(request: Request, ctx: Ctx, form: Posted) -> Response:
    login, password = text(form, "login").strip(), text(form, "password")
    next_path = text(form, "next") or "/"
    sent, expected = text(form, "login_token"), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent, expected):
        return _form(request, ctx, 403, "This login form has expired; please try again.",
                     login, next_path)
    if not login or not password:
        return _form(request, ctx, 400, "Enter your login and your password.", login,
                     next_path)
    try:
        session = svc.login(ctx, svc.Login(login[:255], password[:256],
                                           client_address(request)))
    except FlowportError as exc:
        return _form(request, ctx, status_of(exc), exc.message, login, next_path)
    response = redirect(safe_next(next_path))
    set_session_cookies(response, session, secure=ctx.settings.secure_cookies)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def log_out(request: Request, ctx: Ctx, who: AnyUser) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        svc.logout(ctx, session)
    response = redirect("/login")
    clear_session_cookies(response)
    return response
