"""Fixtures: a real `flowport serve` in a subprocess over a database of each kind (the
`database_url` fixture: a migrated, empty SQLite file or PostgreSQL database)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowport.client import Client
from tests.e2e.harness import Server
from tests.e2e.proxy import Proxy


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(database_url: str | None, workdir: Path | None = None, **kw: Any) -> Server:
        server = Server(database_url, workdir or tmp_path, **kw)
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill()


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    """A TCP proxy in front of the test PostgreSQL, to cut (PostgreSQL only)."""
    assert database_url.startswith("postgresql"), "a test that cuts the database is postgresql"
    proxy = Proxy.before(database_url)
    yield proxy
    proxy.close()


@pytest.fixture
def server(database_url: str, server_factory: Callable[..., Server]) -> Server:
    """A running server with an admin holding a known token, examples not deployed."""
    return server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24)).start()


@pytest.fixture
def api(server: Server) -> Iterator[Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Any:
    from tests.e2e.browser import Shots

    return Shots(request.node.name.replace("[", "-").rstrip("]"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.e2e.browser import SCREENSHOTS, Shots

    if Shots.taken:
        terminalreporter.write_line(
            f"console screenshots: {len(Shots.taken)} under {SCREENSHOTS}")
