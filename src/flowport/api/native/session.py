"""/api/v1/auth: cookie sessions for people (the console, Creatio-style clients)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from flowport.api.auth import (
    SESSION_COOKIE,
    AnyUser,
    Ctx,
    clear_session_cookies,
    client_address,
    set_session_cookies,
)
from flowport.api.native.schemas import Body, principal_out
from flowport.api.native.tokens import token_out
from flowport.services import auth as svc

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(Body):
    login: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=256)


@router.post("/login")
async def login(body: LoginIn, request: Request, response: Response, ctx: Ctx) -> dict[str, Any]:
    session = await run_in_threadpool(
        svc.login, ctx, svc.Login(body.login, body.password, client_address(request)))
    set_session_cookies(response, session, secure=ctx.settings.secure_cookies)
    return {**principal_out(session.principal), "csrf_token": session.csrf_token}


@router.post("/token", status_code=201)
def token_login(body: LoginIn, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Exchange a login and password for a new API token (shown once), for programs that
    cannot keep a cookie; revoke it with DELETE /api/v1/tokens/{id}."""
    issued = svc.login_for_token(ctx, svc.TokenLogin(body.login, body.password,
                                                     client_address(request)))
    return {**token_out(issued.token), "token": issued.secret}


@router.post("/logout", status_code=204)
def logout(request: Request, ctx: Ctx, who: AnyUser) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        svc.logout(ctx, session)
    response = Response(status_code=204)
    clear_session_cookies(response)
    return response


@router.get("/me")
def me(who: AnyUser) -> dict[str, Any]:
    return principal_out(who)
