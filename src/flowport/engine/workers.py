"""The server's side of one script worker process (script_worker.py is the other side): how it
is started (`python -I`, empty environment, `/`, only its pipes: spawned, never forked), the
framed pipe it is spoken to over, with a deadline on every wait, and how it is killed. A worker
that dies, stops answering or garbles the protocol becomes `Broken`, carrying the error its
step reports.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowport.engine.guards import RECORD_METHODS
from flowport.engine.scripts import Records, ScriptFailed
from flowport.engine.wire import HEADER, MAX_FRAME, ProtocolError, decode, encode
from flowport.errors import FlowportError

SPAWN_SECONDS = 30.0  # longest a new worker may take to start and confine itself
RECORD_SECONDS = 60.0  # wall-clock time one script may spend in record calls, on top
SIGXCPU = 24
# `python -I` ignores PYTHONPATH; the worker finds flowport where this server found it.
_BOOT = ("import sys; sys.path.insert(0, sys.argv[2]); "
         "from flowport.engine.script_worker import main; main()")
_HOME = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Limits:
    time_limit: float  # CPU seconds per script
    memory_bytes: int  # address space of a worker

    @property
    def deadline(self) -> float:
        """Wall-clock seconds the server waits for a worker's next word before killing it:
        well past the CPU limit (a loaded machine), and past the kernel's own SIGXCPU."""
        return 2 * self.time_limit + 5.0


class Broken(Exception):
    """The worker can no longer be trusted; `failure` is what the step reports."""

    def __init__(self, failure: ScriptFailed) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.undelivered = False  # the request never reached the worker: safe to try another


class Worker:
    """One worker process and the server's end of its pipes. Used by one thread at a time."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        config = json.dumps({"time_limit": limits.time_limit,
                             "memory_bytes": limits.memory_bytes})
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, config, _HOME],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={}, cwd="/", close_fds=True,
            start_new_session=True)  # a Ctrl-C at the terminal is the server's to handle
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in, self._out = self.process.stdin.fileno(), self.process.stdout.fileno()
        os.set_blocking(self._in, False)
        self._poll_out = select.poll()
        self._poll_out.register(self._out, select.POLLIN)
        self._poll_in = select.poll()
        self._poll_in.register(self._in, select.POLLOUT)
        self._buffer = bytearray()
        self.retiring = False
        self.confinement: dict[str, Any] = {}

    def handshake(self) -> None:
        try:
            message = self._receive(time.monotonic() + SPAWN_SECONDS)
        except Broken as broken:
            raise Broken(ScriptFailed("WorkerError", f"the script worker did not start: "
                                                      f"{broken.failure.detail}")) from None
        if message[0] != "ready" or not isinstance(message[1], dict):
            detail = message[1] if message[0] == "broken" else f"said {message[0]!r}"
            raise Broken(ScriptFailed("WorkerError", f"the script worker did not start: "
                                                      f"{detail}"))
        self.confinement = message[1]

    def run(self, request: bytes, records: Records) -> tuple[list[Any], float]:
        """Send one encoded request and serve its record calls; (final message, worker CPU)."""
        try:
            self._send(request)
        except Broken as broken:
            broken.undelivered = True
            raise
        # Each answer is due within the deadline; all of them, record calls included, within
        # the deadline plus RECORD_SECONDS, so a worker cannot keep a step busy with calls.
        overall = time.monotonic() + self.limits.deadline + RECORD_SECONDS
        while True:
            now = time.monotonic()
            if now >= overall:
                self.kill()
                raise Broken(ScriptFailed(
                    "TimeoutError", f"the script ran for more than "
                                    f"{self.limits.deadline + RECORD_SECONDS:g} s, its record "
                                    f"calls included; its worker was stopped and replaced"))
            message = self._receive(min(now + self.limits.deadline, overall))
            kind = message[0]
            if kind == "call" and len(message) == 3:
                self._send(encode(_record_call(records, message[1], message[2])))
            elif kind in ("done", "fail") and len(message) == (4 if kind == "done" else 6):
                self.retiring = message[-1] is True
                return message, float(message[-2] or 0.0)
            else:
                raise self._garbled(f"unexpected {kind!r} message")

    def _send(self, message: bytes) -> None:
        frame = memoryview(message)
        deadline = time.monotonic() + self.limits.deadline
        while True:
            try:
                frame = frame[os.write(self._in, frame):]
            except BlockingIOError:
                pass
            except OSError:
                raise self._ended() from None
            if not frame:
                return
            # The pipe is full: the worker is not reading (yet). Wait, but not for ever.
            wait = deadline - time.monotonic()
            if wait <= 0 or not self._poll_in.poll(wait * 1000):
                raise self._timed_out()

    def _receive(self, deadline: float) -> list[Any]:
        while True:
            if len(self._buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buffer)
                if size > MAX_FRAME:
                    raise self._garbled(f"a message of {size} bytes")
                end = HEADER.size + size
                if len(self._buffer) >= end:
                    payload = bytes(self._buffer[HEADER.size:end])
                    del self._buffer[:end]
                    try:
                        return decode(payload)
                    except ProtocolError as exc:
                        raise self._garbled(str(exc)) from None
            wait = deadline - time.monotonic()
            if wait <= 0 or not self._poll_out.poll(wait * 1000):
                raise self._timed_out()
            chunk = os.read(self._out, 1 << 20)
            if not chunk:
                raise self._ended()
            self._buffer += chunk

    def _cpu_limit(self) -> Broken:
        return Broken(ScriptFailed(
            "TimeoutError", f"the script used more than its {self.limits.time_limit:g} s of "
                            f"CPU time; its worker was stopped and replaced"))

    def _timed_out(self) -> Broken:
        self.kill()
        return self._cpu_limit()

    def _ended(self) -> Broken:
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            status = self.process.returncode
        if status == -SIGXCPU:
            return self._cpu_limit()
        return Broken(ScriptFailed(
            "WorkerError", f"the script's worker process ended (exit status {status}); "
                           f"it was replaced"))

    def _garbled(self, what: str) -> Broken:
        self.kill()
        return Broken(ScriptFailed(
            "WorkerError", f"the script's worker broke the protocol ({what}); it was replaced"))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """Ask politely (EOF on its stdin ends its loop); kill if it does not listen."""
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()


def _record_call(records: Records, method: Any, args: Any) -> list[Any]:
    if method not in RECORD_METHODS or not isinstance(args, list):
        return ["err", "RuntimeError", f"records.{method} is not available"]
    try:
        return ["ok", getattr(records, method)(*args)]
    except FlowportError as exc:  # Records has remembered an outage; it is re-raised after
        return ["err", type(exc).__name__, exc.message]
    except Exception as exc:
        return ["err", type(exc).__name__, str(exc)]
