"""Battery 1: instances with a timer and a user task in flight; SIGKILL the server while the
timers fire, restart it, complete the user tasks (the full battery SIGKILLs it once more
meanwhile): every instance completes and each script's record-store effect exists exactly
once."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from flowport.client import ApiError, Client
from tests.chaos.support import FAST, FIXTURES, FULL, SCALE, effects, exactly_once
from tests.e2e.harness import Server, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
STEPS = ("before", "timer", "task")


def retried(server: Server, call: Callable[[Client], object], attempts: int = 60) -> object:
    """`call` against the server, again while it is down or coming back."""
    for _ in range(attempts):
        try:
            with server.client() as api:
                return call(api)
        except httpx.TransportError:
            time.sleep(0.25)
        except ApiError as exc:
            if exc.status != 503:
                raise
            time.sleep(0.25)
    raise AssertionError("the server never answered")


def test_sigkill_with_timers_and_user_tasks_in_flight(
        database_url: str, server_factory: Callable[..., Server]) -> None:
    server = server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                            env=FAST).start()
    assert server.cli("deploy", str(FIXTURES / "chaos-approval.bpmn")).exit_code == 0
    tags = {f"t{n}" for n in range(SCALE.instances)}

    def launch(tag: str) -> str:
        # Timers of 1 to 4 s: some fire before the kill, some while it is down, some after.
        delay = f"PT{1 + int(tag[1:]) % 4}S"
        with server.client() as api:
            started = api.start("chaos-approval", {"tag": tag, "delay": delay})
        assert started.instance["status"] == "waiting"
        return str(started.instance["id"])

    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ids = dict(zip(pool.map(launch, sorted(tags)), sorted(tags), strict=True))
    launched = time.monotonic() - began
    time.sleep(1.5)
    server.kill()
    server.start(same_port=True)

    def at_task(instance_id: str) -> str | None:
        for element in retried(server, lambda api: api.list_elements(instance_id)):
            if element["element_id"] == "Approve" and element["state"] == "waiting":
                return str(element["uid"])
        return None

    uids = {i: eventually(lambda i=i: at_task(i), timeout=30, what=f"{i} at its user task")
            for i in ids}

    def complete(instance_id: str) -> None:
        def call(api: Client) -> object:
            try:
                return api.complete_element(instance_id, uids[instance_id], {"ok": True})
            except ApiError as exc:  # done before the kill, its answer lost: fine
                if exc.status != 409:
                    raise
                return None

        retried(server, call)

    # The full battery kills it once more while the tasks are being completed.
    killer = threading.Timer(0.3, lambda: (server.kill(), server.start(same_port=True)))
    if FULL:
        killer.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(complete, ids))
    if FULL:
        killer.join()

    with server.client() as api:
        states = {i: api.get_instance(i)["status"] for i in ids}
    assert set(states.values()) == {"completed"}, {s for s in states.values()}
    assert exactly_once(effects(database_url), tags, STEPS) == []
    print(f"\nbattery 1: {len(ids)} instances launched in {launched:.1f} s, "
          f"{2 if FULL else 1} SIGKILL(s), "
          f"all completed, {3 * len(ids)} effects exactly once")
