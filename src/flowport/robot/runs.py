"""One claimed job, from its package to its reported result.

The run's output lines, its progress (from the listener) and its log messages are buffered and
sent in batches about once a second. If the server refuses a batch for being over a limit, the
run goes on without sending more of that kind, and says so in a progress event. If the server
answers that the lease is no longer this robot's, the run is killed and nothing is reported:
someone else owns the job now.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from flowport.client import ApiError
from flowport.robot import runners
from flowport.robot.network import GaveUp, retrying, transient
from flowport.robot.runners import Outcome

if TYPE_CHECKING:
    from flowport.robot.agent import Agent

LEVELS = {"TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARN",
          "ERROR": "ERROR", "FAIL": "ERROR", "SKIP": "INFO", "HTML": "INFO"}
MAX_MESSAGE = 30_000  # the server takes 32 KiB a line; longer output is split, not cut
LOG_BATCH, EVENT_BATCH = 1000, 200
FLUSH_SECONDS = 1.0
MAX_BUFFERED = 100_000  # lines kept while the server is out of reach
ORDER = {"stop": 1, "abort": 2, "drop": 3}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Run:
    def __init__(self, agent: Agent, job: dict[str, Any]) -> None:
        self.agent = agent
        self.job = job
        self.id: str = job["id"]
        self.token: int = job["fencing_token"]
        self.wanted: str | None = None  # stop, abort or drop, as the server asked
        self.handing_back = False  # the agent is shutting down: what does not finish is lost
        self.ended = False  # the run is over (its result is being reported)
        self.proc: Any = None
        self.failed_tests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._logs: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._dropped = 0
        self._refused: set[str] = set()  # "logs" and/or "progress", refused for their limit
        self._stderr: deque[str] = deque(maxlen=20)
        self.thread = threading.Thread(target=self._main, name=f"run-{self.id[:8]}",
                                       daemon=True)

    @property
    def log(self) -> Any:
        return self.agent.log

    def start(self) -> None:
        self.agent.workdir.record(self.id, fencing_token=self.token, job=self.job)
        self.thread.start()

    def command(self, what: str, reason: str) -> None:
        """stop: interrupt gracefully (SIGINT); abort: kill; drop: kill and report nothing."""
        with self._lock:
            if self.wanted is not None and ORDER[what] <= ORDER[self.wanted]:
                return
            if self.ended:  # the run is over and being reported; its report will tell
                return
            self.wanted = what
            proc = self.proc
        self.log.info("job %s: %s (%s)", self.id, what, reason)
        if proc is not None and proc.poll() is None:
            (runners.interrupt if what == "stop" else runners.kill)(proc.pid)

    # -- the run ----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            try:
                outcome = self._execute()
            except GaveUp:
                return  # the agent is being killed; the journal keeps the job for next time
            except Exception as exc:  # no package, no disk, no interpreter: say so
                self.log.exception("job %s could not run", self.id)
                outcome = Outcome("failed", f"the robot could not run it: {exc}")
            if self.wanted != "drop":
                self._deliver(outcome)
            self.agent.workdir.finish(self.id)
        except GaveUp:
            pass
        finally:
            self.agent.finished(self)

    def _execute(self) -> Outcome:
        package = self.agent.package(self.job["package"])
        job_dir = self.agent.workdir.job_dir(self.id)
        prepared = runners.prepare(job_dir, package, self.job["package"].get("entry_point"),
                                   self.job.get("variables") or {}, self.id)
        with self._lock:
            if self.wanted is not None:  # asked to end before it began
                status = "stopped" if self.wanted == "stop" else "aborted"
                return Outcome(status, f"{status} before it started")
            self.proc = runners.spawn(prepared)
        self.agent.workdir.record(self.id, pgid=self.proc.pid)
        self.log.info("job %s: running %s %s (attempt %s)", self.id, prepared.kind,
                      self.job["package"]["file_name"], self.job.get("attempt"))
        readers = [threading.Thread(target=self._read, args=(self.proc.stdout, "INFO"),
                                    daemon=True),
                   threading.Thread(target=self._read, args=(self.proc.stderr, "ERROR"),
                                    daemon=True)]
        for reader in readers:
            reader.start()
        progress = _Tail(prepared.progress_file)
        next_flush = time.monotonic() + FLUSH_SECONDS
        while self.proc.poll() is None:
            time.sleep(0.1)
            self._take(progress.lines())
            if time.monotonic() >= next_flush:
                self._flush(patient=False)
                next_flush = time.monotonic() + FLUSH_SECONDS
        for reader in readers:
            reader.join(10)
        self._take(progress.lines())
        progress.close()
        with self._lock:
            self.ended = True
        return runners.outcome(prepared, self.proc.returncode,
                               stop_asked=self.wanted == "stop",
                               abort_asked=self.wanted in ("abort", "drop"),
                               failed_tests=self.failed_tests, stderr_tail=list(self._stderr))

    def _read(self, stream: IO[bytes], level: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if level == "ERROR":
                self._stderr.append(line)
            self._log_line(level, line, _now())

    def _log_line(self, level: str, message: str, at: str | None) -> None:
        with self._lock:
            for start in range(0, max(len(message), 1), MAX_MESSAGE):
                if len(self._logs) >= MAX_BUFFERED:
                    self._logs.pop(0)
                    self._dropped += 1
                self._logs.append({"level": level, "message": message[start:start + MAX_MESSAGE],
                                   "time": at})

    def _event(self, kind: str, detail: dict[str, Any]) -> None:
        with self._lock:
            self._events.append({"kind": kind, "detail": detail})

    def _take(self, records: Iterator[dict[str, Any]]) -> None:
        """Records of the listener: progress events and log messages."""
        for record in records:
            if record.get("type") == "log":
                self._log_line(LEVELS.get(str(record.get("level")), "INFO"),
                               str(record.get("message", "")), record.get("time"))
            elif record.get("type") == "progress" and isinstance(record.get("detail"), dict):
                detail = record["detail"]
                if record.get("kind") == "test_ended" and detail.get("status") == "FAIL":
                    self.failed_tests.append((str(detail.get("name")),
                                              str(detail.get("message", ""))))
                self._event(str(record.get("kind")), detail)

    # -- talking to the server --------------------------------------------------------------

    def _flush(self, *, patient: bool) -> None:
        """Send what is buffered. Patient: retry network errors (after the run); else keep the
        buffer for the next flush."""
        with self._lock:
            if self._dropped:
                self._logs.insert(0, {"level": "WARN", "time": _now(), "message": (
                    f"{self._dropped} earlier line(s) were dropped: the robot could not reach "
                    f"the server and holds at most {MAX_BUFFERED}")})
                self._dropped = 0
        self._send("logs", self._logs, LOG_BATCH, self.agent.api.add_logs, patient)
        self._send("progress", self._events, EVENT_BATCH, self.agent.api.add_progress, patient)

    def _send(self, kind: str, buffer: list[dict[str, Any]], size: int,
              post: Callable[[str, int, list[dict[str, Any]]], Any], patient: bool) -> None:
        while True:
            with self._lock:
                if kind in self._refused:
                    buffer.clear()
                if kind == "logs":  # output and listener lines interleave: in time order
                    buffer.sort(key=lambda line: line.get("time") or "")
                batch = buffer[:size]
            if not batch:
                return
            try:
                if patient:
                    retrying(lambda b=batch: post(self.id, self.token, b),  # type: ignore[misc]
                             what=f"sending {kind} of job {self.id}", log=self.log,
                             give_up=self.agent.killed)
                else:
                    post(self.id, self.token, batch)
            except (httpx.TransportError, ApiError) as exc:
                if transient(exc):
                    return  # kept for the next flush
                assert isinstance(exc, ApiError)
                self._refusal(kind, exc)
                if exc.status != 413:
                    return
                continue
            with self._lock:
                del buffer[:len(batch)]

    def _refusal(self, kind: str, exc: ApiError) -> None:
        if exc.status == 409:
            self.command("drop", f"the server says this robot no longer holds it: {exc.detail}")
            with self._lock:
                self._refused.update(("logs", "progress"))
        elif exc.status == 413:
            self.log.warning("job %s: the server refuses more %s: %s", self.id, kind,
                             exc.detail)
            with self._lock:
                self._refused.add(kind)
            if kind == "logs":
                self._event("logs_refused", {"message": exc.detail})
        else:
            self.log.error("job %s: the server refused %s: %s", self.id, kind, exc)
            with self._lock:
                (self._logs if kind == "logs" else self._events).clear()

    def _deliver(self, outcome: Outcome) -> None:
        lost = self.handing_back and outcome.status != "completed"
        if lost:
            outcome = Outcome("failed", "the robot shut down while running it")
        self.agent.workdir.record(self.id, result=asdict(outcome), lost=lost)
        self._flush(patient=True)
        self._upload_artifacts()
        self._flush(patient=True)
        report(self.agent, self.id, self.token, outcome, retryable=lost)

    def _upload_artifacts(self) -> None:
        folder = self.agent.workdir.job_dir(self.id) / "artifacts"
        if not folder.is_dir():
            return
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            try:
                content = path.read_bytes()
                retrying(lambda n=name, c=content: self.agent.api.put_artifact(  # type: ignore[misc]
                    self.id, self.token, n, c, _content_type(n)),
                    what=f"uploading {name} of job {self.id}", log=self.log,
                    give_up=self.agent.killed)
            except ApiError as exc:
                if exc.status == 409:
                    return
                self.log.warning("job %s: artifact %s refused: %s", self.id, name, exc.detail)
                self._event("artifact_refused", {"name": name, "message": exc.detail})
            except OSError as exc:
                self._event("artifact_refused", {"name": name, "message": str(exc)})


def report(agent: Agent, job_id: str, token: int, outcome: Outcome, *,
           retryable: bool = False) -> None:
    """Report a run's result, retrying through network errors and server restarts."""
    api, log = agent.api, agent.log

    def send() -> Any:
        if outcome.status == "completed":
            return api.complete_job(job_id, token, outcome.outputs)
        return api.fail_job(job_id, token, outcome.error or outcome.status, outcome.status,
                            retryable)

    try:
        retrying(send, what=f"reporting job {job_id}", log=log, give_up=agent.killed)
    except ApiError as exc:
        if exc.status == 413 and outcome.status == "completed":  # outputs over the limit
            report(agent, job_id, token, Outcome("failed", f"outputs refused: {exc.detail}"))
            return
        log.error("job %s: the server refused the result (%s): %s", job_id, outcome.status,
                  exc.detail)
        return
    log.info("job %s: reported %s%s", job_id, outcome.status,
             f": {outcome.error}" if outcome.error else "")


class _Tail:
    """The new complete lines of a file as it grows: the listener's JSON records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._partial = ""

    def lines(self) -> Iterator[dict[str, Any]]:
        if self._file is None:
            if not self.path.exists():
                return
            self._file = self.path.open(encoding="utf-8", errors="replace")
        chunk = self._partial + self._file.read()
        *complete, self._partial = chunk.split("\n")
        for line in complete:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    yield record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _content_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"
