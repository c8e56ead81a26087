"""A script worker: the separate, confined process in which script tasks run (see sandbox.py).

The server starts it with `python -I` in an empty environment, in `/`, holding nothing but its
pipes, so none of the server's memory, variables, credentials or connections reaches it. Before
its first request it confines itself, so that code which got past the restricted-Python layer
(scripts.py, guards.py) still meets the kernel:

- started as root, it becomes `nobody`, so file permissions and the process limit apply to it;
- it enters new user and network namespaces when the kernel permits: no network interface at
  all, and no capability over the rest of the system;
- RLIMIT_NOFILE is cut to the descriptors it holds: no new file, socket or pipe, whether or not
  the namespaces were allowed (the network guard that needs no kernel permission and no seccomp);
- RLIMIT_NPROC 0: no fork, no thread; RLIMIT_AS caps its memory; no file writes, no core dumps;
- before each script, RLIMIT_CPU's soft limit is set a second past the script's CPU budget, so a
  script that outruns the tracer inside one long C call dies of SIGXCPU.

The record store stays in the server: the worker forwards `records.*` calls over the pipe and
the server runs them in the step's transaction. The worker never touches the database.
"""

from __future__ import annotations

# Imported before the descriptor fence, after which no module file can be opened:
# datetime.strptime imports _strptime on first use.
import _strptime  # noqa: F401
import ctypes
import errno
import json
import math
import os
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from flowport.engine.scripts import ScriptFailed, ScriptRunner
from flowport.engine.wire import HEADER, MAX_FRAME, FrameTooLarge, decode, encode, pack_value
from flowport.errors import BadInput, FlowportError, NotFound, TooLarge, Unavailable

NOBODY = 65534
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
RETIRE_AT = 0.75  # a worker whose address space once passed this share of its limit retires
_ERRORS: dict[str, type[Exception]] = {
    "BadInput": BadInput, "NotFound": NotFound, "TooLarge": TooLarge,
    "TypeError": TypeError, "ValueError": ValueError,
}


class Peak:
    """The process's peak address space (VmPeak), read from a /proc file opened before the
    descriptor fence. (ru_maxrss will not do: Linux carries it over from the server across
    exec.)"""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/self/status", os.O_RDONLY)
        except OSError:  # no /proc (not Linux): only a MemoryError retires a worker
            self._fd = None

    def bytes(self) -> int:
        if self._fd is None:
            return 0
        status = os.pread(self._fd, 4096, 0)
        start = status.find(b"VmPeak:")
        if start < 0:
            return 0
        return int(status[start + 7:status.index(b"kB", start)]) * 1024


def confine(memory_bytes: int) -> dict[str, Any]:
    """Confine this process for good; returns what was achieved (the server logs it)."""
    report: dict[str, Any] = {"pid": os.getpid()}
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    report["uid"] = os.getuid()
    unshare = getattr(ctypes.CDLL(None, use_errno=True), "unshare", None)  # Linux only
    if unshare is not None and unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        report["network"] = "namespace"
    else:
        report["network"] = "descriptor limit only"
        code = ctypes.get_errno() if unshare is not None else errno.ENOSYS
        report["unshare"] = errno.errorcode.get(code, str(code))
    # Every descriptor below the fence must be taken, or the first new one would slip in.
    fence = 3
    for fd in range(3, 256):
        try:
            os.fstat(fd)
            fence = fd + 1
        except OSError:
            pass
    for fd in range(fence):
        try:
            os.fstat(fd)
        except OSError:
            os.dup2(os.open(os.devnull, os.O_RDWR), fd)
    missing = []
    for name, value in (("NPROC", 0), ("FSIZE", 0), ("CORE", 0), ("AS", memory_bytes),
                        ("NOFILE", fence)):
        try:
            limit = getattr(resource, f"RLIMIT_{name}")
            resource.setrlimit(limit, (value, value))
        except (AttributeError, ValueError, OSError):
            if name == "NOFILE":
                raise OSError(f"cannot limit the worker's descriptors to {fence}") from None
            missing.append(name)  # a platform without it: the other walls still stand
    report["memory_bytes"] = memory_bytes
    if missing:
        report["limits not applied"] = missing
    return report


def cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_budget(seconds: float) -> float:
    """Let the kernel kill this process if it uses more than `seconds` more CPU (plus the one
    second of slack that RLIMIT_CPU's whole seconds need); returns the CPU used so far."""
    used = cpu_used()
    soft = math.ceil(used + seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
    return used


class Pipe:
    """The worker's end of the protocol: blocking reads and writes on stdin and stdout."""

    def __init__(self, reader: BinaryIO, writer: BinaryIO) -> None:
        self._reader, self._writer = reader, writer

    def send(self, message: list[Any]) -> None:
        self._writer.write(encode(message))
        self._writer.flush()

    def receive(self) -> list[Any] | None:
        header = self._reader.read(HEADER.size)
        if len(header) < HEADER.size:
            return None  # the server closed the pipe: time to go
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise FrameTooLarge(f"a request of {size} bytes")
        payload = self._reader.read(size)
        if len(payload) < size:
            return None
        return decode(payload)


class RemoteRecords:
    """RecordAccess over the pipe: each call runs in the server, in the step's transaction,
    which also owns the script's unit of work (so `scope` is nothing here)."""

    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe

    def _call(self, method: str, *args: Any) -> Any:
        self._pipe.send(["call", method, list(args)])
        reply = self._pipe.receive()
        if reply is None:
            raise Unavailable("the server went away")
        if reply[0] == "ok":
            return reply[1]
        kind, message = str(reply[1]), str(reply[2])
        error = _ERRORS.get(kind)
        if error is not None:
            raise error(message)
        if kind == "Unavailable":
            raise Unavailable(message)
        raise RuntimeError(message)

    def list(self, entity: str) -> list[dict[str, Any]]:
        return list(self._call("list", entity))

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        found = self._call("get", entity, record_id)
        return dict(found) if found is not None else None

    def add(self, entity: str, data: dict[str, Any]) -> str:
        return str(self._call("add", entity, data))

    def put(self, entity: str, record_id: str, data: dict[str, Any]) -> None:
        self._call("put", entity, record_id, data)

    def delete(self, entity: str, record_id: str) -> bool:
        return bool(self._call("delete", entity, record_id))

    @contextmanager
    def scope(self) -> Iterator[None]:
        yield


def run_one(runner: ScriptRunner, request: list[Any], time_limit: float) -> list[Any]:
    mode, source, data = request[0], str(request[1]), request[2]
    if mode not in ("exec", "eval") or not isinstance(data, dict):
        raise ValueError(f"unknown request {mode!r}")
    started = cpu_budget(time_limit)
    try:
        if mode == "exec":
            reply: list[Any] = ["done", runner.execute(source, data)]
        else:
            value = runner.evaluate(source, data)
            try:
                reply = ["done", pack_value(value)]
            except TypeError as exc:
                raise ScriptFailed("TypeError", str(exc)) from None
    except ScriptFailed as failed:
        reply = ["fail", failed.kind, failed.detail, failed.line]
    except FlowportError as exc:  # the record store failed in the server, which knows why
        reply = ["fail", type(exc).__name__, exc.message, None]
    return [*reply, cpu_used() - started]


def serve(pipe: Pipe, time_limit: float, memory_bytes: int, peak: Peak) -> None:
    runner = ScriptRunner(time_limit=time_limit, records=RemoteRecords(pipe))
    while True:
        request = pipe.receive()
        if request is None:
            return
        # A worker that ran out of memory, or came near its limit, finishes the request and
        # says it retires: the server then starts a fresh one in its place.
        try:
            reply = run_one(runner, request, time_limit)
            retire = reply[1] == "MemoryError" or peak.bytes() > RETIRE_AT * memory_bytes
            pipe.send([*reply, retire])
        except (MemoryError, FrameTooLarge) as exc:
            what = ("the script ran out of memory" if isinstance(exc, MemoryError)
                    else f"the script left too much data ({exc})")
            retire = True
            pipe.send(["fail", "MemoryError", what, None, 0.0, retire])
        if retire:
            return


def main() -> None:
    config = json.loads(sys.argv[1])
    time_limit, memory_bytes = float(config["time_limit"]), int(config["memory_bytes"])
    pipe = Pipe(sys.stdin.buffer, sys.stdout.buffer)
    try:
        peak = Peak()
        report = confine(memory_bytes)
    except OSError as exc:
        pipe.send(["broken", f"cannot confine the script worker: {exc}"])
        return
    pipe.send(["ready", report])
    serve(pipe, time_limit, memory_bytes, peak)


if __name__ == "__main__":
    main()
