"""Bad requests over real HTTP get a clear 4xx, never a 500, and change nothing."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import EXAMPLES, Server, deploy_examples

pytestmark = pytest.mark.e2e
FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"
ENGINE = "/0/ServiceModel/ProcessEngineService.svc"
NOBODY = "00000000-0000-0000-0000-000000000000"
UPLOAD_LIMIT = 200_000


def bad_requests(done_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    routing = (EXAMPLES / "order-routing.bpmn").read_bytes()
    return [
        ("GET", "/api/v1/processes", {"headers": {"Authorization": "Bearer nope"}}),
        ("GET", "/api/v1/processes", {"headers": {"Authorization": "Basic YTpi"}}),
        ("GET", "/api/v1/processes", {"headers": {"Authorization": ""}}),
        ("POST", "/api/v1/processes", {"content": b"\xff\xfe\x00garbage",
                                       "headers": {"Content-Type": "application/json"}}),
        ("POST", "/api/v1/processes", {"json": {"key": "x" * 10_000}}),
        ("POST", "/api/v1/processes", {"json": {"key": "order-routing"}}),  # exists: 409
        ("POST", "/api/v1/processes", {"json": {"key": None}}),
        ("POST", "/api/v1/processes", {"json": ["key"]}),
        ("GET", "/api/v1/processes", {"params": {"cursor": "%%%"}}),
        ("GET", "/api/v1/processes", {"params": {"limit": "-1"}}),
        ("GET", "/api/v1/processes/%00", {}),
        ("GET", "/api/v1/processes/" + "k" * 5000, {}),
        ("PATCH", "/api/v1/processes/order-routing", {"json": {"name": "  "}}),
        ("PATCH", "/api/v1/processes/order-routing", {"json": {"key": "renamed"}}),
        ("POST", "/api/v1/processes/order-routing/versions",
         {"files": {"file": ("u.bpmn", (FLOWS / "unsupported.bpmn").read_bytes())}}),
        ("POST", "/api/v1/processes/order-routing/versions",
         {"files": {"file": ("u.bpmn", b"<?xml version='1.0'?><a><b></a>")}}),
        ("POST", "/api/v1/processes/order-routing/versions",
         {"files": {"file": ("u.bpmn", b"")}}),
        ("POST", "/api/v1/processes/order-routing/versions",
         {"files": {"file": ("big.bpmn", b"x" * (UPLOAD_LIMIT + 1))}}),
        ("POST", "/api/v1/processes/order-routing/versions",
         {"content": b"--b\r\nbroken", "headers": {
             "Content-Type": "multipart/form-data; boundary=b"}}),
        ("POST", "/api/v1/processes/order-routing/versions",
         {"files": {"file": ("r.bpmn", routing)}, "data": {"outputs": "7"}}),
        ("POST", "/api/v1/processes/order-routing/versions",
         {"files": {"file": ("r.robot", b"*** Tasks ***")}}),
        ("POST", "/api/v1/processes/order-routing/instances",
         {"json": {"variables": {"order_id": "A"}}}),  # amount is required
        ("POST", "/api/v1/processes/order-routing/instances",
         {"json": {"variables": {"order_id": "A", "amount": 1.5}}}),
        ("POST", "/api/v1/processes/order-routing/instances",
         {"json": {"variables": {"order_id": "A" * 65, "amount": 1}}}),
        ("POST", "/api/v1/processes/order-routing/instances",
         {"json": {"variables": {"order_id": "A", "amount": 1, "blob": "x" * 1_100_000}}}),
        ("POST", "/api/v1/processes/order-routing/instances",
         {"json": {"variables": {"order_id": "A", "amount": 1}, "wait": {"timeout": 1e9}}}),
        ("POST", "/api/v1/processes/order-routing/instances",
         {"json": {"variables": {"order_id": "A", "amount": 1}, "version": 2**70}}),
        ("POST", "/api/v1/processes/order-routing/instances",
         {"content": b"variables=1", "headers": {
             "Content-Type": "application/x-www-form-urlencoded"}}),
        ("GET", "/api/v1/instances", {"params": {"status": "x" * 100}}),
        ("GET", f"/api/v1/instances/{NOBODY}/elements", {}),
        ("POST", f"/api/v1/instances/{done_id}/cancel", {"json": {}}),  # completed: 409
        ("POST", f"/api/v1/instances/{done_id}/elements/{NOBODY}/complete", {"json": {}}),
        ("POST", f"/api/v1/instances/{done_id}/messages", {"json": {"name": ""}}),
        ("POST", "/api/v1/records/Contact", {"json": "text"}),
        ("GET", "/api/v1/records/" + "E" * 500, {}),
        ("POST", "/api/v1/tokens", {"json": {"name": ""}}),
        ("POST", "/api/v1/tokens", {"json": {"name": "t", "roles": ["emperor"]}}),
        ("DELETE", "/api/v1/processes", {}),
        ("GET", "/no/such/path", {}),
        ("GET", f"{ENGINE}/NoSuchProcess/Execute", {}),
        ("GET", f"{ENGINE}/order-routing/Execute", {"params": {"amount": "lots"}}),
        ("POST", f"{ENGINE}/order-routing/Execute", {"content": b"x", "headers": {
            "Content-Type": "text/plain"}}),
        ("GET", f"{ENGINE}/ExecProcElByUId/not-a-guid", {}),
        ("POST", "/ServiceModel/AuthService.svc/Login", {"content": b"not json"}),
    ]


def snapshot(http: httpx.Client) -> tuple[Any, ...]:
    return (http.get("/api/v1/processes").json(), http.get("/api/v1/instances").json(),
            http.get("/api/v1/processes/order-routing/versions").json(),
            http.get("/api/v1/records/Contact").json(), http.get("/api/v1/tokens").json())


def test_no_bad_request_gets_a_500(database_url: str, server_factory) -> None:
    server: Server = server_factory(
        database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
        env={"FLOWPORT_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}).start()
    deploy_examples(server)
    with server.client() as api:
        done = api.start("order-routing", {"order_id": "A", "amount": 1}, wait_timeout=10)
    assert done.instance["status"] == "completed"

    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        before = snapshot(http)
        answers = []
        for method, path, kwargs in bad_requests(done.instance["id"]):
            request_headers = {**headers, **kwargs.pop("headers", {})}
            response = http.request(method, path, headers=request_headers, **kwargs)
            answers.append((method, path, response.status_code, response.text[:200]))
        assert snapshot(http) == before
    wrong = [a for a in answers if not 400 <= a[2] < 500]
    assert not wrong, wrong
    assert "Traceback" not in server.output()
