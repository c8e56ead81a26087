"""The script sandbox: a pool of long-lived, confined worker processes that run script tasks.

Scripts are tenants' code, so they do not run in the server. Each worker (script_worker.py) is
started fresh with `python -I` in an empty environment (spawned, never forked: nothing of the
server's memory or credentials is in it), confines itself (no network, no new files, no forks,
capped memory and CPU) and then serves one script at a time over a pipe. The restricted-Python
layer still runs inside it as a second wall.

A request carries the source and the variables (JSON); the worker's `records.*` calls come back
over the pipe and run here, in the calling thread, inside the step's transaction. A worker that
breaks a limit (killed by SIGXCPU, out of memory, silent past its deadline, garbled) is killed
and replaced, and the step fails with a clear error; the server itself is never at risk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flowport.domain.records import RecordAccess
from flowport.engine.scripts import (
    Records,
    ScriptFailed,
    ScriptRunner,
    is_bounded_expression,
    is_bounded_script,
)
from flowport.engine.values import ValueProblem, to_json_variables
from flowport.engine.wire import FrameTooLarge, encode, unpack_value
from flowport.engine.workers import Broken, Limits, Worker
from flowport.errors import Unavailable

log = logging.getLogger("flowport.sandbox")


class ScriptPool:
    """Up to `size` workers, started on demand (or by `warm`) and kept for the next script."""

    def __init__(self, *, size: int, limits: Limits, queue_seconds: float = 10.0) -> None:
        if size < 1:
            raise ValueError("a script pool needs at least one worker")
        self.size, self.limits, self._queue_seconds = size, limits, queue_seconds
        self._idle: list[Worker] = []
        self._live = 0
        self._closed = False
        self._ready = threading.Condition()
        self.confinement: dict[str, Any] = {}

    def runner(self, records: RecordAccess | None) -> PoolRunner:
        return PoolRunner(self, records)

    def warm(self) -> None:
        """Start every worker now rather than on first use."""
        with self._ready:
            missing = self.size - self._live
            self._live += missing
        started = []
        try:
            for _ in range(missing):
                started.append(Worker(self.limits))
            for worker in started:
                worker.handshake()
                self._note(worker)
        except (Broken, OSError) as exc:
            for worker in started:
                worker.kill()
            with self._ready:
                self._live -= missing
                self._ready.notify_all()
            raise Unavailable(f"script workers cannot start: {exc}") from None
        for worker in started:
            self._release(worker)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._ready.notify_all()
        for worker in idle:
            worker.close()

    def run(self, mode: str, source: str, data: dict[str, Any],
            records: Records) -> tuple[list[Any], float]:
        try:
            request = encode([mode, source, data])
        except FrameTooLarge:
            raise
        except (TypeError, ValueError):  # not plain JSON after all: normalize, as scripts do
            request = encode([mode, source, _plain(data)])
        for attempt in (1, 2):
            worker = self._acquire()
            try:
                result = worker.run(request, records)
            except Broken as broken:
                self._discard(worker)
                if broken.undelivered and attempt == 1:
                    continue  # it died idle (the OOM killer, an operator): nothing ran yet
                raise broken.failure from None
            except BaseException:
                self._discard(worker)
                raise
            if worker.retiring:
                self._discard(worker)
            else:
                self._release(worker)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def pids(self) -> list[int]:
        """The idle workers' process ids (for operators and tests)."""
        with self._ready:
            return [worker.process.pid for worker in self._idle]

    def _acquire(self) -> Worker:
        deadline = time.monotonic() + self._queue_seconds
        while True:
            worker = self._take(deadline)
            if worker is None:
                return self._start()
            if worker.process.poll() is None:
                return worker
            self._discard(worker)

    def _take(self, deadline: float) -> Worker | None:
        """An idle worker, or None with a slot reserved for a new one."""
        with self._ready:
            while True:
                if self._closed:
                    raise Unavailable("the script sandbox is shut down")
                if self._idle:
                    return self._idle.pop()
                if self._live < self.size:
                    self._live += 1
                    return None
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise Unavailable(f"no script worker was free within "
                                      f"{self._queue_seconds:g} s; try again")
                self._ready.wait(wait)

    def _start(self) -> Worker:
        """A new worker for a slot already counted in `_live`."""
        worker: Worker | None = None
        try:
            worker = Worker(self.limits)
            worker.handshake()
        except (Broken, OSError) as exc:
            if worker is not None:
                worker.kill()
            with self._ready:
                self._live -= 1
                self._ready.notify()
            raise Unavailable(f"a script worker cannot start: {exc}") from None
        self._note(worker)
        return worker

    def _note(self, worker: Worker) -> None:
        if not self.confinement:
            self.confinement = worker.confinement
            log.info("script workers confined: %s", worker.confinement)

    def _release(self, worker: Worker) -> None:
        with self._ready:
            if not self._closed:
                self._idle.append(worker)
                self._ready.notify()
                return
            self._live -= 1
        worker.close()

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        with self._ready:
            self._live -= 1
            replace = not self._closed
            if replace:
                self._live += 1
        if replace:
            # Replaced at once, off the caller's thread, so the pool stays at strength.
            threading.Thread(target=self._replace, name="flowport-sandbox-respawn",
                             daemon=True).start()

    def _replace(self) -> None:
        try:
            self._release(self._start())
        except Unavailable as exc:
            log.error("%s", exc)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return to_json_variables(data)
    except ValueProblem as problem:
        raise ScriptFailed("ValueError", str(problem)) from None


class PoolRunner:
    """ScriptRunner's interface for one engine call, running scripts in the pool. Expressions
    and scripts that cannot loop, define or call more than a few pure builtins (most conditions,
    scripts that compute a few variables) stay in the server: a round trip would cost more than
    they do, and the restricted layer with its size guards bounds what they can do. `spent`
    is the CPU its scripts used in workers, for the engine's budget."""

    def __init__(self, pool: ScriptPool, records: RecordAccess | None) -> None:
        self._pool, self._access = pool, records
        self._local = ScriptRunner(time_limit=pool.limits.time_limit, records=records)
        self.spent = 0.0

    def execute(self, source: str, data: dict[str, Any]) -> dict[str, Any]:
        if is_bounded_script(source):
            return self._local.execute(source, data)
        value = self._run("exec", source, data, writable=True)
        if not isinstance(value, dict):
            raise ScriptFailed("WorkerError", "the script's worker answered nonsense")
        return value

    def evaluate(self, source: str, data: dict[str, Any]) -> Any:
        if is_bounded_expression(source):
            return self._local.evaluate(source, data)
        return unpack_value(self._run("eval", source, data, writable=False))

    def _run(self, mode: str, source: str, data: dict[str, Any], *, writable: bool) -> Any:
        records = Records(self._access, writable=writable)
        scope: Callable[[], Any] | None = self._access.scope if (
            writable and self._access is not None) else None
        if scope is None:
            message = self._ask(mode, source, data, records)
        else:
            with scope():
                message = self._ask(mode, source, data, records)
        return message[1]

    def _ask(self, mode: str, source: str, data: dict[str, Any],
             records: Records) -> list[Any]:
        try:
            message, cpu = self._pool.run(mode, source, data, records)
        except FrameTooLarge as exc:  # the variables, or a record call's answer
            raise ScriptFailed("ValueError", f"too much data to pass to the script: "
                                             f"{exc}") from None
        self.spent += max(cpu, 0.0)
        if records.outage is not None:
            raise records.outage
        if message[0] == "fail":
            kind, detail, line = str(message[1]), str(message[2]), message[3]
            if kind == "MemoryError":
                detail = (f"the script needed more than its "
                          f"{self._pool.limits.memory_bytes // 2**20} MiB of memory; "
                          f"its worker was replaced")
            raise ScriptFailed(kind, detail, line if isinstance(line, int) else None)
        return message
