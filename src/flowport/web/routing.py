"""Pages answer errors with pages: the route class every console router uses. Status codes are
the API's (api.errors.status_of), so the console and the API agree on what each error is."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from flowport.api.errors import status_of
from flowport.errors import FlowportError
from flowport.web.auth import LoginRequired
from flowport.web.render import error_page, redirect


def safe_next(target: str | None) -> str:
    """A local path to return to after logging in; anything else (another site) is `/`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET" or target == "/":
        return redirect("/login")
    return redirect("/login?next=" + quote(target, safe="/"))


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except FlowportError as exc:
                return error_page(request, status_of(exc), exc.message, exc.code)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
                return error_page(request, 422, f"{where}: {first.get('msg', 'invalid')}")
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return handle


def page_router() -> APIRouter:
    return APIRouter(route_class=PageRoute, include_in_schema=False,
                     default_response_class=HTMLResponse)
