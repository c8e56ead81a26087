"""Battery 4: the database lost under load. Restarting the machine's PostgreSQL would pull it
from under every other test using it, so a TCP proxy in front of it is cut instead: to the
server it looks the same (every connection drops, new ones are refused). The server recovers
by itself: same process, every acknowledged launch completes, effects exactly once."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

import pytest

from tests.chaos.support import FAST, FIXTURES, FULL, Launches, effects, exactly_once, launch_load
from tests.chaos.test_chaos_replicas import STEPS, instance_tags
from tests.e2e.harness import Server, eventually
from tests.e2e.proxy import Proxy

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.postgresql]
OUTAGE = 5.0 if FULL else 2.0


def test_the_database_lost_under_load(database_url: str, proxy: Proxy,
                                      server_factory: Callable[..., Server]) -> None:
    server = server_factory(proxy.url(database_url),
                            token="fpt_e2e_" + secrets.token_urlsafe(24), env=FAST).start()
    pid = server.proc.pid if server.proc else None
    assert server.cli("deploy", str(FIXTURES / "chaos-launch.bpmn")).exit_code == 0
    launches = Launches()
    stop = threading.Event()
    load = launch_load([server], "chaos-launch", launches, stop, rate=20)
    eventually(lambda: len(launches.acknowledged) >= 20, timeout=30, what="20 launches")

    before = len(launches.acknowledged)
    proxy.cut()
    time.sleep(OUTAGE)
    during = len(launches.acknowledged) - before
    proxy.restore()
    restored = time.monotonic()
    eventually(lambda: len(launches.acknowledged) > before + during, timeout=30,
               what="a launch to succeed again")
    recovery = time.monotonic() - restored
    time.sleep(2)
    stop.set()
    for thread in load:
        thread.join(15)

    def settled() -> dict[str, tuple[str, str]] | None:
        found = instance_tags(database_url)
        return found if all(s == "completed" for s, _ in found.values()) else None

    found = eventually(settled, timeout=60, what="every instance to complete")
    assert set(launches.acknowledged) <= set(found)
    assert exactly_once(effects(database_url), {t for _, t in found.values()}, STEPS) == []
    assert server.proc is not None and server.proc.pid == pid and server.proc.poll() is None
    print(f"\nbattery 4: database cut for {OUTAGE:g} s under load; {during} launches "
          f"acknowledged meanwhile, {launches.refused} of {launches.attempts} refused "
          f"(503 while it was down); launches succeed again {recovery * 1000:.0f} ms after it "
          f"returned; all {len(found)} instances completed, effects exactly once, no restart")
