"""Part (b): HTTP launch-and-wait round trips against a real `flowport serve` subprocess.

Open loop: request i is due at t0 + i / rate whatever happened to the earlier ones, and its
latency is measured from that scheduled moment, so a slow server cannot hide its queue by
slowing the client down (no coordinated omission). At most `connections` requests are in
flight, each on its own keep-alive connection; a request that finds them all busy waits, and
that wait counts in its latency. The client is a few lines of raw asyncio HTTP/1.1 so that it
costs as little CPU as possible on the box it shares with the server. It only ever connects
to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import diagram
from bench.report import progress

HOST = "127.0.0.1"


# -- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    token: str
    log: Path
    command: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server process has used so far (Linux /proc only)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def serve_command(port: int, database_url: str) -> tuple[list[str], str]:
    """`flowport serve` from this environment (what `uv run flowport serve` runs, without
    uv's start-up), or the fallback uvicorn script when the CLI has no `serve` yet."""
    flowport = Path(sys.executable).with_name("flowport")
    args = ["--port", str(port), "--database-url", database_url, "--log-level", "warning"]
    if flowport.exists():
        probe = subprocess.run([str(flowport), "serve", "--help"], capture_output=True,
                               timeout=30, check=False)
        if probe.returncode == 0:
            return [str(flowport), "serve", "--host", HOST, *args], "flowport serve"
    return ([sys.executable, "-m", "bench.serve_app", *args],
            "uvicorn on flowport.api.app:create_app (bench/serve_app.py)")


@contextmanager
def running_server(startup_timeout: float = 60.0) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="flowport-bench-http-") as tmp:
        port = free_port()
        token = f"bench-{secrets.token_hex(16)}"
        log = Path(tmp) / "server.log"
        command, label = serve_command(port, f"sqlite:///{Path(tmp) / 'bench.db'}")
        env = {**os.environ, "FLOWPORT_BOOTSTRAP_ADMIN_TOKEN": token}
        env.pop("FLOWPORT_DATABASE_URL", None)
        with log.open("wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                       cwd=Path(__file__).parent.parent)
        server = Server(process, port, token, log, label)
        try:
            wait_ready(server, startup_timeout)
            yield server
        finally:
            stop(process)


def wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n"
                               f"{tail(server.log)}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s:\n"
                       f"{tail(server.log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def deploy(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30.0) as api:
        created = api.post("/api/v1/processes", json={
            "key": diagram.PROCESS_KEY, "name": "Bench: straight through"})
        if created.status_code != 201:
            raise RuntimeError(f"creating the process: {created.status_code} {created.text}")
        version = api.post(f"/api/v1/processes/{diagram.PROCESS_KEY}/versions", json={
            "file_name": diagram.DIAGRAM.name, "content": diagram.xml().decode(),
            "parameters": diagram.PARAMETERS, "outputs": diagram.OUTPUTS})
        if version.status_code != 201:
            raise RuntimeError(f"deploying the diagram: {version.status_code} {version.text}")


# -- the client ---------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: write a request, read one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes, bool]:
        """Status, body, and whether the connection may be reused."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            return status, body, False
        return status, body, headers.get("connection", "").lower() != "close"

    async def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


@dataclass
class LoadResult:
    rate: float
    seconds: float
    connections: int
    sent: int = 0
    ok: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    # From the scheduled moment to the client starting the request (its own lateness), and
    # to it holding a connection (includes waiting for one of the `connections` to be free).
    send_lags: list[float] = field(default_factory=list)
    connection_waits: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu: float | None = None  # server CPU seconds used during the measured window
    client_cpu: float = 0.0

    @property
    def achieved_rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float, values: list[float] | None = None) -> float | None:
        data = sorted(self.latencies if values is None else values)
        if not data:
            return None
        return data[min(len(data) - 1, max(0, math.ceil(p / 100 * len(data)) - 1))]  # nearest rank

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


@dataclass(frozen=True)
class Call:
    """What one request of a load run sends, and how its answer is judged."""

    request: Callable[[int], bytes]  # the raw HTTP/1.1 request for request number i
    check: Callable[[int, int, bytes], str | None]  # (i, status, body) -> an error, or None


def launch_and_wait(server: Server, wait_timeout: float = 5.0) -> Call:
    """POST .../instances with wait: 200 and the completed instance with the right label."""

    def request(i: int) -> bytes:
        body = json.dumps({"variables": diagram.variables(i),
                           "wait": {"timeout": wait_timeout}}).encode()
        return (f"POST /api/v1/processes/{diagram.PROCESS_KEY}/instances HTTP/1.1\r\n"
                f"Host: {HOST}:{server.port}\r\n"
                f"Authorization: Bearer {server.token}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def check(i: int, status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}"
        answer = json.loads(body)
        label = answer.get("variables", {}).get("label")
        if answer.get("status") != "completed" or label != diagram.expected_label(i):
            return f"instance {answer.get('status')}"
        return None

    return Call(request, check)


def health(server: Server) -> Call:
    """GET /healthz: the HTTP stack plus one trivial database round trip, the floor under
    every API call."""
    raw = f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n\r\n".encode()
    return Call(lambda _i: raw, lambda _i, status, _body: None if status == 200 else
                f"HTTP {status}")


async def open_loop(server: Server, call: Call, rate: float, seconds: float, connections: int,
                    request_timeout: float = 10.0, grace: float = 15.0,
                    first: int = 0) -> LoadResult:
    """Send rate * seconds requests at fixed intervals; see the module doc."""
    loop = asyncio.get_running_loop()
    result = LoadResult(rate, seconds, connections)
    pool: asyncio.Queue[Connection | None] = asyncio.Queue()
    for _ in range(connections):
        try:
            pool.put_nowait(await Connection.open(server.port))
        except OSError:
            pool.put_nowait(None)

    async def one(i: int, due: float) -> None:
        result.send_lags.append(loop.time() - due)
        conn = await pool.get()
        result.connection_waits.append(loop.time() - due)
        try:
            if conn is None:
                conn = await Connection.open(server.port)
            status, body, reusable = await asyncio.wait_for(conn.send(call.request(i)),
                                                            request_timeout)
            latency = loop.time() - due
            if not reusable:
                conn.close()
                conn = None
            problem = call.check(i, status, body)
            if problem is not None:
                result.error(problem)
                return
            result.ok += 1
            result.latencies.append(latency)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, ValueError) as exc:
            result.error(type(exc).__name__)
            if conn is not None:
                conn.close()
            conn = None
        finally:
            pool.put_nowait(conn)

    total = round(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    t0 = loop.time() + 0.05
    for i in range(total):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(first + i, due)))
    # Bounded in time even when the server stalls: what is unanswered by then is an error.
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, t0 + seconds + grace - loop.time()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for _ in pending:
        result.error(f"unanswered {grace:g} s after the last send")
    result.elapsed = max(loop.time() - t0, seconds)
    result.sent = total
    cpu_after = server.cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu = cpu_after - cpu_before
    result.client_cpu = time.process_time() - client_before
    while not pool.empty():
        conn = pool.get_nowait()
        if conn is not None:
            conn.close()
    return result


@dataclass(frozen=True)
class HttpRun:
    launch: LoadResult
    health: LoadResult | None  # the floor: GET /healthz at the same rate
    command: str  # how the server was started
    log_tail: str  # the end of the server's output


def measure(rate: float, seconds: float, warmup_seconds: float, connections: int,
            health_seconds: float) -> HttpRun:
    """Start a server, deploy the diagram, warm up at the rate, then measure at it; then the
    same for GET /healthz."""
    with running_server() as server:
        progress(f"  server: {server.command} on {server.url}")
        deploy(server)
        launch = launch_and_wait(server)
        if warmup_seconds > 0:
            asyncio.run(open_loop(server, launch, rate, warmup_seconds, connections,
                                  first=10**6))
        result = asyncio.run(open_loop(server, launch, rate, seconds, connections))
        floor = None
        if health_seconds > 0:
            progress(f"  GET /healthz at {rate:g} req/s for {health_seconds:g} s (the floor)")
            floor = asyncio.run(open_loop(server, health(server), rate, health_seconds,
                                          connections))
        return HttpRun(result, floor, server.command, tail(server.log, 10))
