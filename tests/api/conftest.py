from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from flowport.api.app import create_app


@pytest.fixture
def app(ctx):
    return create_app(ctx)


@pytest.fixture
def api(app, admin_token) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a 500 must reach the test as a response, so tests can
    # assert there was none.
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_token}"
        yield client


@pytest.fixture
def intruder(app, other_token) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {other_token}"
        yield client
