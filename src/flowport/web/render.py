"""Turning a template and its data into a page: the Jinja2 environment, the navigation, the
headers every page carries, and the error page."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from flowport import __version__
from flowport.domain.accounts import Permission, Principal
from flowport.services.context import Context

# Scripts and styles come only from this server; bpmn-js draws its watermark from a data: URI.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class NavEntry:
    """One link of the navigation bar, shown to those holding `permission`."""

    label: str
    path: str
    permission: Permission = Permission.READ
    order: int = 50


@dataclass(frozen=True)
class Panel:
    """A box on the dashboard: `template` (under panels/) rendered with `data`."""

    title: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)
    order: int = 50


PanelSource = Callable[[Context, Principal], Panel | None]


@dataclass(frozen=True)
class Console:
    """What the pages need to know about the console as a whole (app.state.console)."""

    nav: tuple[NavEntry, ...]
    panels: tuple[PanelSource, ...]
    bpmn_js: bool  # bpmn-js was fetched: diagrams can be drawn


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "—"
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(seconds) >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


environment = Environment(
    loader=PackageLoader("flowport.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)
environment.filters.update(when=when, ago=ago, pretty=pretty)


def console(request: Request) -> Console:
    state: Console = request.app.state.console
    return state


def render(request: Request, template: str, who: Principal | None, status: int = 200,
           **data: Any) -> HTMLResponse:
    state = console(request)
    nav = [e for e in state.nav if who is not None and who.can(e.permission)]

    def can(permission: str) -> bool:
        return who is not None and who.can(Permission(permission))

    html = environment.get_template(template).render(
        request=request, who=who, nav=nav, can=can, path=request.url.path,
        csrf_token=who.csrf_token if who else None, bpmn_js=state.bpmn_js,
        flowport_version=__version__, **data)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, status: int, message: str,
               code: str | None = None) -> HTMLResponse:
    """`code`: the API's machine-readable error code, shown small for support and scripts."""
    who = getattr(request.state, "principal", None)
    return render(request, "error.html", who, status=status, status_code=status,
                  message=message, code=code)


def redirect(url: str) -> RedirectResponse:
    """After a successful form post: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
