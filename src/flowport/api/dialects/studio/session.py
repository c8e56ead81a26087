"""POST /api/login/ and /api/logout/: a password for a token, and the token revoked."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import client_address, context
from flowport.api.dialects.studio.access import endpoint
from flowport.api.dialects.studio.bodies import read_data
from flowport.api.dialects.studio.faults import StudioError, translated
from flowport.errors import Unauthenticated
from flowport.services import auth as auth_svc

WRONG = "The username or password is not correct"


@endpoint("POST", "/api/login")
async def login(request: Request) -> JSONResponse:
    data = await read_data(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) \
            or not username or not password:
        raise StudioError(400, "username and password are required")
    if "\x00" in username + password or len(username) > 255 or len(password) > 256:
        raise StudioError(400, WRONG)  # no account holds such credentials
    cmd = auth_svc.TokenLogin(username, password, client_address(request), name="studio")
    with translated():
        try:
            issued = await run_in_threadpool(auth_svc.login_for_token, context(request), cmd)
        except Unauthenticated:
            raise StudioError(400, WRONG) from None
    return JSONResponse({"token": issued.secret})


@endpoint("POST", "/api/logout")
async def logout(request: Request) -> JSONResponse:
    token = (await read_data(request)).get("token")
    if not isinstance(token, str) or not token.strip():
        raise StudioError(400, "token is required")
    with translated():  # an unknown or revoked token: 401 "Invalid token."
        await run_in_threadpool(auth_svc.logout_token, context(request), token.strip())
    return JSONResponse({})
