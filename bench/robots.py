"""Part (c): dispatch to robots over HTTP, against a real `flowport serve` subprocess.

1. start -> claim latency: a few simulated robots long-poll `POST /api/v1/robot/claim`; a
   client starts package instances at a steady pace and each sample is the time from sending
   the start to a robot receiving that job (target p99 <= 50 ms). The robots complete each job
   at once, so a waiting robot is always there for the next one.
2. drain: many simulated robots claim and complete jobs queued beforehand, concurrently, over
   HTTP. Every job must be handed out exactly once (no duplicate, first attempt) and none lost
   (each started job claimed, and completed on the server); the rate is jobs per second.

The robots are asyncio tasks over httpx, each with its own credential from a real enrollment.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import latency
from bench.report import progress

PACKAGE_KEY = "bench-robot-job"
SCRIPT = b"print('a job')\n"


@dataclass
class LatencyResult:
    samples: list[float] = field(default_factory=list)  # seconds
    missing: int = 0  # started, but no robot received it in time

    def percentile(self, p: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


@dataclass
class DrainResult:
    jobs: int
    robots: int
    seconds: float
    claimed: Counter[str]
    started: set[str]
    completed_on_server: int
    not_first_attempt: int
    enqueue_rate: float
    server_cpu: float | None = None  # seconds of CPU the server spent draining
    retries: int = 0  # network errors retried

    @property
    def per_second(self) -> float:
        return len(self.claimed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def twice(self) -> int:
        return sum(1 for n in self.claimed.values() if n > 1) + self.not_first_attempt

    @property
    def lost(self) -> int:
        return len(self.started - set(self.claimed)) + (len(self.started)
                                                       - self.completed_on_server)


@contextmanager
def robot_server(database_url: str) -> Iterator[latency.Server]:
    """`flowport serve` on `database_url` with an admin token, ready."""
    with tempfile.TemporaryDirectory(prefix="flowport-bench-robots-") as tmp:
        port = latency.free_port()
        token = f"bench-{secrets.token_hex(16)}"
        log = Path(tmp) / "server.log"
        command, label = latency.serve_command(port, database_url)
        env = {**os.environ, "FLOWPORT_BOOTSTRAP_ADMIN_TOKEN": token}
        env.pop("FLOWPORT_DATABASE_URL", None)
        with log.open("wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                       cwd=Path(__file__).parent.parent)
        server = latency.Server(process, port, token, log, label)
        try:
            latency.wait_ready(server, 60.0)
            yield server
        finally:
            latency.stop(process)


def prepare(server: latency.Server, robots: int) -> list[str]:
    """Deploy the package and enroll `robots` robots; their credentials."""
    admin = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=30.0) as api:
        api.post("/api/v1/processes", json={"key": PACKAGE_KEY, "process_type": 1})
        deployed = api.post(f"/api/v1/processes/{PACKAGE_KEY}/versions",
                            files={"file": ("job.py", SCRIPT)})
        if deployed.status_code not in (200, 201):
            raise RuntimeError(f"deploying the package: {deployed.status_code} {deployed.text}")
        tokens = []
        for i in range(robots):
            created = api.post("/api/v1/robots", json={"name": f"bench-{i}"})
            if created.status_code != 201:
                raise RuntimeError(f"creating a robot: {created.status_code} {created.text}")
            enrolled = api.post("/api/v1/robot/enroll", json={
                "enrollment_token": created.json()["enrollment_token"]})
            tokens.append(enrolled.json()["token"])
    return tokens


class Retries:
    """Network errors the simulated robots met and retried, as the real agent does (a
    keep-alive connection the server closed as it was reused, mostly)."""

    count = 0


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    for attempt in range(10):
        try:
            return await client.post(url, **kwargs)
        except httpx.TransportError:
            if attempt == 9:
                raise
            Retries.count += 1
            await asyncio.sleep(0.05 * 2 ** attempt)
    raise AssertionError("unreachable")


async def _robot(client: httpx.AsyncClient, token: str, on_job: Any, stop: asyncio.Event,
                 wait: float, max_jobs: int = 1) -> None:
    """Claim, "run" (nothing), complete; until `stop` is set."""
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        response = await _post(client, "/api/v1/robot/claim", headers=headers,
                               json={"max_jobs": max_jobs, "timeout": wait})
        if response.status_code != 200:
            raise RuntimeError(f"claim: {response.status_code} {response.text}")
        for job in response.json()["jobs"]:
            on_job(job)
            done = await _post(client, f"/api/v1/robot/jobs/{job['id']}/complete",
                               headers=headers, json={
                                   "fencing_token": job["fencing_token"], "outputs": {}})
            if done.status_code != 200:
                raise RuntimeError(f"complete: {done.status_code} {done.text}")


async def _latency(server: latency.Server, tokens: list[str], count: int,
                   interval: float) -> LatencyResult:
    result = LatencyResult()
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=len(tokens) + 4)
    async with httpx.AsyncClient(base_url=server.url, timeout=60.0, limits=limits) as client:

        def on_job(job: dict[str, Any]) -> None:
            received[job["business_key"]] = time.perf_counter()

        robots = [asyncio.create_task(_robot(client, t, on_job, stop, 5.0)) for t in tokens]
        await asyncio.sleep(1.0)  # every robot is waiting
        admin = {"Authorization": f"Bearer {server.token}"}
        for i in range(count):
            key = f"lat-{i}"
            sent[key] = time.perf_counter()
            started = await client.post(f"/api/v1/processes/{PACKAGE_KEY}/instances",
                                        headers=admin, json={"business_key": key})
            if started.status_code != 201:
                raise RuntimeError(f"start: {started.status_code} {started.text}")
            await asyncio.sleep(interval)
        deadline = time.perf_counter() + 10
        while len(received) < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*robots, return_exceptions=True)
    result.samples = [received[k] - sent[k] for k in sent if k in received]
    result.missing = count - len(result.samples)
    return result


async def _drain(server: latency.Server, tokens: list[str], jobs: int,
                 deadline_seconds: float) -> DrainResult:
    admin = {"Authorization": f"Bearer {server.token}"}
    limits = httpx.Limits(max_connections=len(tokens) + 16)
    async with httpx.AsyncClient(base_url=server.url, timeout=60.0, limits=limits) as client:
        started: set[str] = set()
        queue = iter(range(jobs))
        began = time.perf_counter()

        async def starter() -> None:
            for _ in queue:
                response = await client.post(f"/api/v1/processes/{PACKAGE_KEY}/instances",
                                             headers=admin, json={})
                if response.status_code != 201:
                    raise RuntimeError(f"start: {response.status_code} {response.text}")
                started.add(response.json()["id"])

        await asyncio.gather(*(starter() for _ in range(16)))
        enqueue_rate = jobs / (time.perf_counter() - began)
        progress(f"    {jobs} jobs queued ({enqueue_rate:,.0f}/s); {len(tokens)} robots drain")

        claimed: Counter[str] = Counter()
        late = 0
        stop = asyncio.Event()

        def on_job(job: dict[str, Any]) -> None:
            nonlocal late
            claimed[job["id"]] += 1
            late += job["attempt"] != 1
            if len(claimed) >= jobs:
                stop.set()

        began, cpu = time.perf_counter(), server.cpu_seconds()
        Retries.count = 0
        robots = [asyncio.create_task(_robot(client, t, on_job, stop, 0.5)) for t in tokens]
        try:
            await asyncio.wait_for(stop.wait(), deadline_seconds)
        except TimeoutError:
            progress(f"    the drain did not finish in {deadline_seconds:g} s")
        stop.set()
        outcomes = await asyncio.gather(*robots, return_exceptions=True)
        seconds = time.perf_counter() - began
        cpu_now = server.cpu_seconds()
        server_cpu = cpu_now - cpu if cpu is not None and cpu_now is not None else None
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise RuntimeError(f"{len(errors)} robot(s) failed: {errors[0]!r}\n"
                               f"{latency.tail(server.log)}")
        completed = await _count(client, admin, "completed")
    return DrainResult(jobs, len(tokens), seconds, claimed, started, completed, late,
                       enqueue_rate, server_cpu, Retries.count)


async def _count(client: httpx.AsyncClient, headers: dict[str, str], status: str) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"process_key": PACKAGE_KEY, "status": status, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/instances", headers=headers, params=params)).json()
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def measure_latency(database_url: str, count: int, interval: float,
                    robots: int = 4) -> LatencyResult:
    with robot_server(database_url) as server:
        tokens = prepare(server, robots)
        return asyncio.run(_latency(server, tokens, count, interval))


def measure_drain(database_url: str, jobs: int, robots: int,
                  deadline_seconds: float = 900.0) -> DrainResult:
    with robot_server(database_url) as server:
        tokens = prepare(server, robots)
        return asyncio.run(_drain(server, tokens, jobs, deadline_seconds))
