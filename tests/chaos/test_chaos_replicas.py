"""Battery 2: three replicas on one PostgreSQL under a bounded launch load; one of them is
SIGKILLed every few seconds and restarted. At the end no acknowledged instance is lost, none
is stuck, no step ran twice (each instance's two record-store effects exist exactly once), and
the launch error rate is reported."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.chaos.support import (
    FAST,
    FIXTURES,
    MIN_KILLS,
    SCALE,
    Launches,
    effects,
    exactly_once,
    launch_load,
)
from tests.e2e.harness import Server, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.postgresql]
STEPS = ("script", "executor")


def instance_tags(database_url: str) -> dict[str, tuple[str, str]]:
    """Every chaos-launch instance in the database: id -> (status, tag)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT i.id, i.status, i.variables FROM instances i "
                "JOIN processes p ON p.id = i.process_id WHERE p.key = 'chaos-launch'")).all()
    finally:
        engine.dispose()
    return {row[0]: (row[1], row[2]["tag"]) for row in rows}


def test_three_replicas_one_killed_again_and_again(
        database_url: str, server_factory: Callable[..., Server], tmp_path: Path) -> None:
    token = "fpt_e2e_" + secrets.token_urlsafe(24)
    replicas = []
    for n in range(3):
        (tmp_path / f"r{n}").mkdir()
        replicas.append(server_factory(database_url, tmp_path / f"r{n}", token=token, env=FAST))
    for replica in replicas:
        replica.start()
    assert replicas[0].cli("deploy", str(FIXTURES / "chaos-launch.bpmn")).exit_code == 0

    launches = Launches()
    stop = threading.Event()
    load = launch_load(replicas, "chaos-launch", launches, stop, SCALE.rate)
    kills, restarts = 0, []
    began = time.monotonic()
    while time.monotonic() - began < SCALE.seconds or kills < MIN_KILLS:
        stop.wait(SCALE.kill_every)
        victim = replicas[kills % len(replicas)]
        victim.kill()
        kills += 1
        down = time.monotonic()
        victim.start(same_port=True)
        restarts.append(time.monotonic() - down)
    stop.set()
    for thread in load:
        thread.join(15)
    elapsed = time.monotonic() - began

    # None lost: every acknowledged launch is there. None stuck: every instance ends.
    def settled() -> dict[str, tuple[str, str]] | None:
        found = instance_tags(database_url)
        return found if all(s == "completed" for s, _ in found.values()) else None

    settle_from = time.monotonic()
    try:
        found = eventually(settled, timeout=60, what="every instance to complete")
    except AssertionError:
        found = instance_tags(database_url)
        stuck = {i: s for i, (s, _) in found.items() if s != "completed"}
        raise AssertionError(f"{len(stuck)} instances did not complete: {stuck}") from None
    settle = time.monotonic() - settle_from
    lost = set(launches.acknowledged) - set(found)
    assert not lost, f"{len(lost)} acknowledged launches lost"
    # A launch cut off with the replica may still have committed: it must run whole, too.
    tags = {tag for _, tag in found.values()}
    assert exactly_once(effects(database_url), tags, STEPS) == []
    assert launches.acknowledged
    print(f"\nbattery 2: {elapsed:.0f} s, 3 replicas, {kills} SIGKILLs (restart "
          f"{min(restarts):.1f}-{max(restarts):.1f} s); {launches.attempts} launches, "
          f"{len(launches.acknowledged)} acknowledged ({len(launches.acknowledged) / elapsed:.1f}"
          f"/s), {launches.retried} sent to another replica ({launches.retry_rate:.1%}), "
          f"{launches.refused} refused by all (error rate {launches.error_rate:.1%}), "
          f"{len(found) - len(launches.acknowledged)} committed unacknowledged; lost 0, "
          f"stuck 0, effects exactly once; settled {settle:.1f} s after the load")
