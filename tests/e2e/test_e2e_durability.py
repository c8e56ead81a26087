"""SIGKILL the server while instances run and wait; restart it on the same database; nothing
acknowledged is lost, waiting instances are completable and due timers fire."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from flowport.client import ApiError, Client
from tests.e2e.harness import FIXTURES, Server, deploy_examples, eventually

pytestmark = pytest.mark.e2e


def deploy_all(server: Server) -> None:
    deploy_examples(server)
    run = server.cli("deploy", str(FIXTURES))
    assert run.exit_code == 0, run.output


def status(api: Client, instance_id: str) -> str:
    result: str = api.get_instance(instance_id)["status"]
    return result


def hammer(server: Server, acknowledged: list[str], stop: threading.Event) -> None:
    """Start straight-through instances until the server goes away; keep the ids it answered."""
    with Client(server.url, server.token, timeout=10) as api:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                started = api.start("order-routing", {"order_id": f"H-{n}", "amount": n})
            except (httpx.TransportError, ApiError):
                return
            acknowledged.append(started.instance["id"])


def test_sigkill_and_restart_loses_nothing(server: Server) -> None:
    deploy_all(server)
    with server.client() as api:
        approvals = [api.start("expense-approval", {"employee": f"E{i}", "amount": i}).instance
                     for i in range(3)]
        assert {a["status"] for a in approvals} == {"waiting"}
        timers = [api.start("timer-wait").instance for _ in range(2)]
        assert {t["status"] for t in timers} == {"waiting"}
        due = max(datetime.fromisoformat(t["wake_at"]) for t in timers)

    # Kill it in the middle of a stream of launches.
    acknowledged: list[str] = []
    stop = threading.Event()
    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(hammer, server, acknowledged, stop)
        eventually(lambda: len(acknowledged) >= 20, what="20 acknowledged launches")
        server.kill()
        stop.set()
    assert acknowledged

    # Let the timers fall due while the server is down, then bring it back.
    remaining = (due - datetime.now(UTC)).total_seconds()
    if remaining > 0:
        time.sleep(remaining + 0.1)
    server.start()

    with server.client() as api:
        # Every acknowledged launch is there, and ran to its end in the same commit.
        for instance_id in acknowledged:
            assert status(api, instance_id) == "completed"
        every = list(api.iter_instances(process_key="order-routing"))
        assert {i["status"] for i in every} == {"completed"}

        # The due timers fire after the restart.
        for timer in timers:
            eventually(lambda t=timer: status(api, t["id"]) == "completed",
                       what=f"timer instance {timer['id']} to complete")
            assert api.get_instance(timer["id"])["outputs"] == {"fired": True}

        # The waiting approvals are still waiting, and completable.
        for approval in approvals:
            assert status(api, approval["id"]) == "waiting"
            task = next(e for e in api.list_elements(approval["id"])
                        if e["element_id"] == "Approve")
            assert task["state"] == "waiting"
            done = api.complete_element(approval["id"], task["uid"], {"approved": True})
            assert done["changed"] is True
            assert done["instance"]["status"] == "completed"
            assert done["instance"]["outputs"]["decision"] == "approved"


def test_restart_twice_and_complete_after_each(server: Server) -> None:
    """Work done after a restart survives the next kill too."""
    deploy_all(server)
    with server.client() as api:
        first = api.start("expense-approval", {"employee": "A", "amount": 1}).instance
        second = api.start("expense-approval", {"employee": "B", "amount": 2}).instance
    server.restart()
    with server.client() as api:
        task = next(e for e in api.list_elements(first["id"]) if e["state"] == "waiting")
        api.complete_element(first["id"], task["uid"], {"approved": True})
    server.restart()
    with server.client() as api:
        assert status(api, first["id"]) == "completed"
        assert status(api, second["id"]) == "waiting"
        cancelled = api.cancel(second["id"], "no longer needed")
        assert cancelled["status"] == "stopped"


def test_worker_fires_timers_for_a_server_without_loops(database_url: str,
                                                        server_factory, tmp_path) -> None:
    import secrets
    import signal

    from tests.e2e.harness import worker

    server = server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                            env={"FLOWPORT_RUN_LOOPS": "false"}).start()
    deploy_all(server)
    with server.client() as api:
        instance = api.start("timer-wait").instance
        with worker(database_url, tmp_path / "worker.log",
                    FLOWPORT_TIMER_POLL_SECONDS="0.2") as proc:
            eventually(lambda: status(api, instance["id"]) == "completed",
                       what="the worker to fire the timer")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
    assert "worker stopped" in (tmp_path / "worker.log").read_text()
