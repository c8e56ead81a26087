"""The fault battery's tools: its scale (short in `make test`, full with `make chaos`), the
record-store effects read straight from the database, and a launcher that fails over between
replicas and counts what it was refused."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from flowport.client import ApiError, Client
from tests.e2e.harness import Server

FIXTURES = Path(__file__).parent / "fixtures"
FULL = os.environ.get("FLOWPORT_CHAOS", "").lower() == "full"


@dataclass(frozen=True)
class Scale:
    instances: int  # battery 1: instances in flight at the kill
    seconds: float  # battery 2: how long the launch load runs
    rate: float  # battery 2: launches per second the generator aims at
    kill_every: float  # battery 2: seconds between SIGKILLs of a replica


SCALE = Scale(1000, 60.0, 60.0, 4.0) if FULL else Scale(40, 6.0, 25.0, 2.0)
# Battery 2 kills at least this many times, however slow restarts are.
MIN_KILLS = 6 if FULL else 2
# Fast clocks: a step or a lease a killed process held is taken back within seconds.
FAST = {"FLOWPORT_STEP_LEASE_SECONDS": "5", "FLOWPORT_STEP_POLL_SECONDS": "0.5",
        "FLOWPORT_TIMER_POLL_SECONDS": "0.2"}


def effects(database_url: str) -> Counter[tuple[str, str]]:
    """How often each (tag, step) effect was written to the record store."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT data FROM records WHERE entity = 'ChaosEffect'").scalars().all()
    finally:
        engine.dispose()
    found: Counter[tuple[str, str]] = Counter()
    for data in rows:
        value = json.loads(data) if isinstance(data, str) else data
        found[(value["tag"], value["step"])] += 1
    return found


def exactly_once(found: Counter[tuple[str, str]], tags: set[str], steps: tuple[str, ...]
                 ) -> list[str]:
    """What is wrong with `found`: an effect missing, repeated, or of no known tag."""
    wrong = [f"{tag}/{step} x{found[(tag, step)]}" for tag in sorted(tags) for step in steps
             if found[(tag, step)] != 1]
    wrong += [f"{tag}/{step} (unknown tag)" for tag, step in found if tag not in tags]
    return wrong


@dataclass
class Launches:
    acknowledged: dict[str, str] = field(default_factory=dict)  # instance id -> tag
    attempts: int = 0
    retried: int = 0  # launches that needed another replica (the first was down)
    refused: int = 0  # launches no replica took
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def error_rate(self) -> float:
        return self.refused / self.attempts if self.attempts else 0.0

    @property
    def retry_rate(self) -> float:
        return self.retried / self.attempts if self.attempts else 0.0


def launch_load(replicas: list[Server], process: str, launches: Launches,
                stop: threading.Event, rate: float, threads: int = 4) -> list[threading.Thread]:
    """Threads that start `process` at about `rate` per second in all, each on the next
    replica in turn, as a load balancer would. A launch cut off or refused with a 503 is sent
    to the next replica with the same Idempotency-Key, so it is never started twice; one no
    replica takes counts as refused."""

    def run(n: int) -> None:
        clients = [Client(r.url, r.token, timeout=10) for r in replicas]
        interval = threads / rate
        turn = n
        next_at = time.monotonic()
        try:
            while not stop.is_set():
                tag = uuid.uuid4().hex
                with launches.lock:
                    launches.attempts += 1
                for attempt in range(len(clients)):
                    turn += 1
                    try:
                        started = clients[turn % len(clients)].start(
                            process, {"tag": tag}, idempotency_key=tag)
                    except (httpx.TransportError, ApiError) as exc:
                        if isinstance(exc, ApiError) and exc.status != 503:
                            raise
                        continue
                    with launches.lock:
                        launches.acknowledged[started.instance["id"]] = tag
                        launches.retried += attempt > 0
                    break
                else:
                    with launches.lock:
                        launches.refused += 1
                next_at += interval
                stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            for client in clients:
                client.close()

    made = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads)]
    for thread in made:
        thread.start()
    return made
