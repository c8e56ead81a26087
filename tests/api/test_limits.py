"""Limits: request bodies, page sizes and variables get a clear 413/4xx and change nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flowport.api.app import create_app
from flowport.config import Settings
from flowport.services import auth
from flowport.services.context import Context

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"
BODY_LIMIT = 100_000
VARIABLES_LIMIT = 20_000


@pytest.fixture
def api(database_url, clock, sandbox) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, run_loops=False, max_page_size=3,
                        max_body_bytes=BODY_LIMIT, max_variables_bytes=VARIABLES_LIMIT)
    ctx = Context.build(settings, clock=clock, sandbox=sandbox)
    _, token = auth.create_account_with_admin(ctx, "acme", "alice")
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
    ctx.close()


def test_a_json_body_over_the_limit_is_413_and_creates_nothing(api):
    response = api.post("/api/v1/processes", json={"key": "big", "description": "x" * BODY_LIMIT})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert str(BODY_LIMIT) in response.json()["detail"]
    assert api.get("/api/v1/processes/big").status_code == 404
    # A body that claims a small length but streams more is cut off all the same.
    streamed = api.post("/api/v1/records/Contact", content=iter([b'{"a": "', b"x" * BODY_LIMIT,
                                                                 b'"}']),
                        headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert api.get("/api/v1/records/Contact").json()["items"] == []


def test_uploads_have_their_own_larger_limit(api):
    """A process file may be larger than any JSON body: multipart, or base64 in JSON."""
    api.post("/api/v1/processes", json={"key": "straight"})
    padding = "<!--" + "p" * BODY_LIMIT + "-->"
    xml = (FLOWS / "straight.bpmn").read_text().replace("<bpmn:process", padding +
                                                         "<bpmn:process", 1)
    multipart = api.post("/api/v1/processes/straight/versions",
                         files={"file": ("straight.bpmn", xml.encode())})
    assert multipart.status_code == 201, multipart.text
    as_json = api.post("/api/v1/processes/straight/versions", json={
        "file_name": "straight.bpmn", "encoding": "base64",
        "content": base64.b64encode((xml + " ").encode()).decode()})
    assert as_json.status_code == 201, as_json.text


def test_page_size_is_bounded_by_the_setting(api):
    for key in "abcd":
        assert api.post("/api/v1/processes", json={"key": key}).status_code == 201
    page = api.get("/api/v1/processes", params={"limit": 100}).json()
    assert [p["key"] for p in page["items"]] == ["a", "b", "c"]  # FLOWPORT_MAX_PAGE_SIZE=3
    rest = api.get("/api/v1/processes", params={"cursor": page["next_cursor"]}).json()
    assert [p["key"] for p in rest["items"]] == ["d"] and rest["next_cursor"] is None
    for path in ("/api/v1/processes", "/api/v1/instances", "/api/v1/audit"):
        for limit in (0, 501, "many"):
            refused = api.get(path, params={"limit": limit})
            assert refused.status_code == 422, (path, limit, refused.text)
            assert refused.json()["field"] == "query.limit"
        assert len(api.get(path).json()["items"]) <= 3


def test_variables_over_the_limit_are_413(api):
    api.post("/api/v1/processes", json={"key": "approval"})
    api.post("/api/v1/processes/approval/versions", files={
        "file": ("approval.bpmn", (FLOWS / "approval.bpmn").read_bytes())})
    big = {"blob": "x" * VARIABLES_LIMIT}
    started = api.post("/api/v1/processes/approval/instances", json={"variables": big})
    assert started.status_code == 413 and started.json()["field"] == "variables"
    assert api.get("/api/v1/instances").json()["items"] == []
    instance = api.post("/api/v1/processes/approval/instances").json()
    uid = api.get(f"/api/v1/instances/{instance['id']}/elements").json()["items"][-1]["uid"]
    completed = api.post(f"/api/v1/instances/{instance['id']}/elements/{uid}/complete",
                         json={"data": big})
    assert completed.status_code == 413 and completed.json()["field"] == "data"
    assert api.get(f"/api/v1/instances/{instance['id']}").json()["status"] == "waiting"
