"""Driving a real `flowport serve` subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from click.testing import CliRunner, Result

from flowport.cli import main
from flowport.client import Client

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).parent / "fixtures"
START_DEADLINE = 60.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def eventually(probe: Callable[[], T | None], *, timeout: float = 20.0, what: str = "") -> T:
    """Poll `probe` until it returns something truthy, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}: {last!r}")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWPORT_")}
    env.update(extra)
    return env


class Server:
    """One `flowport serve` process at a time over one database; restartable."""

    def __init__(self, database_url: str | None, workdir: Path, token: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.token = token
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"serve-{self.runs}.log"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, *args: str, same_port: bool = False) -> Server:
        """Start; `same_port` keeps the last port (for clients that must find it again)."""
        assert self.proc is None, "already running"
        self.runs += 1
        if not (same_port and self.port):
            self.port = free_port()
        env = clean_env(**{"FLOWPORT_TIMER_POLL_SECONDS": "0.2", **self.extra_env})
        if self.database_url:
            env["FLOWPORT_DATABASE_URL"] = self.database_url
        if self.token:
            env["FLOWPORT_BOOTSTRAP_ADMIN_TOKEN"] = self.token
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flowport.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning", *args],
                cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._await_ready()
        return self

    def _await_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"flowport serve exited {self.proc.returncode}:\n"
                                     f"{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"flowport serve was not ready in {START_DEADLINE} s:\n"
                             f"{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> int:
        """SIGTERM, and the exit status of a graceful shutdown."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
        return code

    def restart(self, *args: str) -> Server:
        self.kill()
        return self.start(*args)

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, token or self.token, timeout=30.0)

    def cli(self, *args: str, token: str | None = None, stdin: str | None = None) -> Result:
        """The CLI in this process, against the live server."""
        runner = CliRunner()
        return runner.invoke(main, ["--server", self.url, "--token", token or self.token or "",
                                    *args], input=stdin, catch_exceptions=False)


def deploy_examples(server: Server) -> list[dict[str, Any]]:
    import json

    result = server.cli("deploy", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    deployed: list[dict[str, Any]] = json.loads(result.stdout)
    return deployed


@contextmanager
def worker(database_url: str, log_path: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`flowport worker` over `database_url` while the block runs; the block may stop it with
    SIGTERM itself (to check its exit status), else it is killed on the way out."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowport.cli", "worker", "--log-level", "warning"],
            env=clean_env(FLOWPORT_DATABASE_URL=database_url, **env),
            stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
