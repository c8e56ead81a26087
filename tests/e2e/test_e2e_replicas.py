"""Two `flowport serve` replicas on one PostgreSQL: a change on one wakes who waits on the
other through LISTEN/NOTIFY, within milliseconds, not at the next poll (set to 5 s here)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from flowport.client import Client
from tests.e2e.harness import FIXTURES, Server

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]
POLL = 5.0
SLOW_POLLS = {"FLOWPORT_ROBOT_POLL_SECONDS": str(POLL), "FLOWPORT_WAIT_POLL_SECONDS": str(POLL),
              "FLOWPORT_TIMER_POLL_SECONDS": str(POLL)}


@pytest.fixture
def replicas(database_url: str, server_factory: Callable[..., Server], tmp_path: Any
             ) -> tuple[Server, Server]:
    token = "fpt_e2e_" + secrets.token_urlsafe(24)
    a = server_factory(database_url, tmp_path / "a", token=token, env=SLOW_POLLS)
    b = server_factory(database_url, tmp_path / "b", token=token, env=SLOW_POLLS)
    for server in (a, b):
        server.workdir.mkdir()
        server.start()
    return a, b


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `call` in a thread; the dict gets its `result` (or `error`) and the `at` time."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except Exception as exc:  # the test asserts on it
            out["error"] = exc
        out["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_start_on_b_wakes_a_robot_long_polling_a_and_a_launch_waiting_on_a(
        replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    with a.client() as api_a, b.client() as api_b:
        api_a.create_process("sleepy", process_type=1)
        api_a.deploy_version("sleepy", FIXTURES / "robots" / "sleepy.py")
        robot = api_a.create_robot("r1")
        credential = Client(a.url).enroll(str(robot["enrollment_token"]), machine="m1")
        with Client(a.url, credential["token"], timeout=30) as robot_a, \
                Client(b.url, credential["token"], timeout=30) as robot_b:
            # The robot long-polls replica A; the launch goes to replica B.
            polling, claimed = in_background(lambda: robot_a.claim(timeout=20))
            time.sleep(1.0)  # let the claim reach its wait
            assert "at" not in claimed, claimed
            started = api_b.start("sleepy", {"seconds": 1})
            launched_at = time.monotonic()
            polling.join(25)
            assert "error" not in claimed, claimed
            jobs = claimed["result"]["jobs"]
            assert [j["id"] for j in jobs] == [started.instance["id"]]
            robot_wake = claimed["at"] - launched_at
            robot_a.complete_job(jobs[0]["id"], jobs[0]["fencing_token"], {"slept": 1})

            # A launch waits on A; the robot claims it through B and reports the end to B.
            waiting, waited = in_background(lambda: api_a.start(
                "sleepy", {"seconds": 1}, wait_timeout=20))
            third = robot_b.claim(timeout=10)["jobs"][0]
            assert "at" not in waited, waited
            robot_b.complete_job(third["id"], third["fencing_token"], {"slept": 1})
            completed_at = time.monotonic()
            waiting.join(25)
            assert "error" not in waited, waited
            assert waited["result"].instance["status"] == "completed"
            assert waited["result"].instance["id"] == third["id"]
            launch_wake = waited["at"] - completed_at
    print(f"\ncross-replica wake-up: robot long-poll {robot_wake * 1000:.0f} ms, "
          f"launch-and-wait {launch_wake * 1000:.0f} ms (poll interval {POLL:g} s)")
    assert robot_wake < 0.5, robot_wake
    assert launch_wake < 0.5, launch_wake
