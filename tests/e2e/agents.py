"""Driving real `flowport robot` agents against a real `flowport serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flowport.client import Client
from tests.e2e.harness import Server, clean_env, eventually

T = TypeVar("T")

# Fast clocks, so leases, grace periods and disconnections show within seconds.
FAST_ROBOTS = {
    "FLOWPORT_ROBOT_HEARTBEAT_SECONDS": "0.3",
    "FLOWPORT_ROBOT_LEASE_SECONDS": "2",
    "FLOWPORT_ROBOT_STOP_GRACE_SECONDS": "2",
    "FLOWPORT_ROBOT_ABORT_GRACE_SECONDS": "2",
    "FLOWPORT_ROBOT_POLL_SECONDS": "0.1",
    "FLOWPORT_ROBOT_DISCONNECT_SECONDS": "3",
}


class Agent:
    """One `flowport robot` process over one work directory; restartable, killable."""

    def __init__(self, server: Server, workdir: Path, name: str = "r1") -> None:
        self.server, self.workdir, self.name = server, workdir, name
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.enrollment: str | None = None

    @property
    def log(self) -> Path:
        return self.workdir.parent / f"{self.workdir.name}-{self.runs}.log"

    def output(self) -> str:
        return "\n".join(
            (self.workdir.parent / f"{self.workdir.name}-{n}.log").read_text(errors="replace")
            for n in range(1, self.runs + 1)
            if (self.workdir.parent / f"{self.workdir.name}-{n}.log").exists())

    def create(self, api: Client, **fields: object) -> dict[str, object]:
        created = api.create_robot(self.name, **fields)  # type: ignore[arg-type]
        self.enrollment = str(created["enrollment_token"])
        return created

    def start(self, *args: str) -> Agent:
        assert self.proc is None, "already running"
        self.runs += 1
        command = [sys.executable, "-m", "flowport.cli", "robot", "--server", self.server.url,
                   "--workdir", str(self.workdir), *args]
        if self.enrollment and "--token" not in args:
            command += ["--enroll", self.enrollment]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, env=clean_env(), stdout=log,
                                         stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM: a graceful shutdown; its exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.proc = None
        return code


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def awaited(probe: Callable[[], T | None], *, what: str, agent: Agent | None = None,
            timeout: float = 20.0) -> T:
    """`eventually`, with the agent's log (as it is then) when the wait fails."""
    try:
        return eventually(probe, timeout=timeout, what=what)
    except AssertionError as exc:
        log = agent.output() if agent is not None else ""
        raise AssertionError(f"{exc}\n--- agent log ---\n{log}") from None
