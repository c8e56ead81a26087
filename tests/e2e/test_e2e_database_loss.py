"""The database goes away under a running server (a TCP proxy in front of PostgreSQL is cut:
the shared server itself keeps running for the other tests) and comes back: meanwhile requests
get a 503 problem, afterwards everything works again without a restart, the timers that fell
due in between fire, and nothing refused was written."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from flowport.client import ApiError
from tests.e2e.harness import FIXTURES, Server, eventually
from tests.e2e.proxy import Proxy

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]


@pytest.fixture
def server(database_url: str, proxy: Proxy, server_factory: Callable[..., Server]) -> Server:
    token = "fpt_e2e_" + secrets.token_urlsafe(24)
    return server_factory(proxy.url(database_url), token=token).start()


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def test_requests_get_503_while_the_database_is_gone_and_work_again_after(
        server: Server, proxy: Proxy) -> None:
    run = server.cli("deploy", str(FIXTURES / "timer-wait.bpmn"))
    assert run.exit_code == 0, run.output
    headers = {"Authorization": f"Bearer {server.token}"}
    with server.client() as api:
        timer = api.start("timer-wait").instance
        due = datetime.fromisoformat(timer["wake_at"])
        before = len(list(api.iter_instances()))

        proxy.cut()
        lost_at = time.monotonic()
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            for method, path, body in (
                    ("GET", "/healthz", None),
                    ("GET", "/api/v1/instances", None),
                    ("GET", f"/api/v1/instances/{timer['id']}", None),
                    ("POST", "/api/v1/processes/timer-wait/instances", {"variables": {}}),
                    ("POST", "/api/v1/processes/timer-wait/instances",
                     {"variables": {}, "wait": {"timeout": 5}})):
                started = time.monotonic()
                response = http.request(method, path, json=body)
                assert response.status_code == 503, (path, response.text)
                body_out = problem(response)
                assert body_out["status"] == 503 and body_out["code"] == "unavailable"
                assert "database" in body_out["detail"]
                assert response.headers["retry-after"] == "1"
                assert time.monotonic() - started < 6, "a request hung on the lost database"
            # The console says so in a page of its own.
            page = http.get("/instances", headers={"Accept": "text/html"})
            assert page.status_code == 503 and page.headers["content-type"].startswith(
                "text/html")
            # The API stays refused while it lasts; let the timer fall due meanwhile.
            remaining = (due - datetime.now(UTC)).total_seconds()
            time.sleep(max(0.0, remaining) + 0.5)
            assert http.get("/api/v1/instances").status_code == 503

        proxy.restore()
        restored_at = time.monotonic()

        def answers() -> bool:
            try:
                return len(api.list_instances()) >= 0
            except ApiError as exc:
                assert exc.status == 503
                return False

        eventually(answers, timeout=10, what="the API to answer again")
        recovered = time.monotonic() - restored_at
        # The background loops came back by themselves: the timer that fell due fires.
        eventually(lambda: api.get_instance(timer["id"])["status"] == "completed", timeout=15,
                   what="the timer to fire after the database came back")
        timer_recovered = time.monotonic() - restored_at
        # The refused starts wrote nothing.
        assert len(list(api.iter_instances())) == before
        assert api.start("timer-wait").instance["status"] == "waiting"
    print(f"\ndatabase lost for {restored_at - lost_at:.1f} s; API back {recovered * 1000:.0f} ms "
          f"and the due timer fired {timer_recovered * 1000:.0f} ms after it returned")
    assert server.proc is not None and server.proc.poll() is None
