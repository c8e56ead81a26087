"""Putting the console on the application: its pages at `/`, its static files, and bpmn-js
when `npm ci` has fetched it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from flowport.config import Settings
from flowport.web.pages import PAGES
from flowport.web.render import Console, NavEntry, PanelSource

HERE = Path(__file__).parent
STATIC = HERE / "static"
# `npm ci --prefix src/flowport/web/vendor` (make run / make test) puts bpmn-js here.
VENDOR_BPMN_JS = HERE / "vendor" / "node_modules" / "bpmn-js" / "dist"
BPMN_JS_BUNDLE = "bpmn-navigated-viewer.production.min.js"


def bpmn_js_dir(settings: Settings) -> Path | None:
    """Where bpmn-js's dist/ is, or None when it was not fetched."""
    folder = settings.bpmn_js_dir or VENDOR_BPMN_JS
    return folder if (folder / BPMN_JS_BUNDLE).is_file() else None


def install(app: FastAPI, settings: Settings) -> None:
    bpmn_js = bpmn_js_dir(settings)
    if bpmn_js is not None:
        # Mounted before /static, so that its longer prefix wins.
        app.mount("/static/vendor/bpmn-js", StaticFiles(directory=bpmn_js), name="bpmn-js")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    nav: list[NavEntry] = []
    panels: list[PanelSource] = []
    for page in PAGES:
        app.include_router(page.router)
        if hasattr(page, "NAV"):
            nav.append(page.NAV)
        if hasattr(page, "panel"):
            panels.append(page.panel)
    app.state.console = Console(nav=tuple(sorted(nav, key=lambda e: e.order)),
                                panels=tuple(panels), bpmn_js=bpmn_js is not None)
