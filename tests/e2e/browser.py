"""Headless Chromium for the console's tests: Debian's `chromium`, driven by Playwright's
Python package (never `playwright install`: no browser is downloaded). Without chromium the
tests skip on a laptop and fail in CI; likewise without bpmn-js (`make test` fetches it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import IN_CI
from tests.e2e.harness import ROOT

CHROMIUM = Path(os.environ.get("FLOWPORT_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Screenshots of each main page, kept as test artifacts (not committed: var/ is ignored).
SCREENSHOTS = Path(os.environ.get("FLOWPORT_SCREENSHOTS", ROOT / "var" / "screenshots"))


def required(what: str) -> None:
    """A missing browser part fails in CI and skips elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: the console's browser tests must run)", pytrace=False)
    pytest.skip(what)


def bpmn_js_fetched() -> bool:
    from flowport.config import Settings
    from flowport.web.site import bpmn_js_dir

    return bpmn_js_dir(Settings()) is not None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        required(f"{CHROMIUM} is missing: apt-get install chromium")
    if not bpmn_js_fetched():
        required("bpmn-js is not fetched: run `make assets` (npm ci)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Saves full-page screenshots under SCREENSHOTS/<test>/."""

    taken: ClassVar[list[Path]] = []

    def __init__(self, name: str) -> None:
        self.folder = SCREENSHOTS / name
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        Shots.taken.append(path)
        return path
