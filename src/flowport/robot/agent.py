"""The agent's main loops: heartbeats (which renew leases and bring stop and abort), claims
(long polls whenever a slot is free), one thread per job. On start it reports the jobs its
previous life lost; on shutdown it interrupts its runs and hands them back."""

from __future__ import annotations

import logging
import platform
import threading
from pathlib import Path
from typing import Any

import httpx

from flowport import __version__
from flowport.client import ApiError, Client
from flowport.robot import runners
from flowport.robot.network import GaveUp, retrying
from flowport.robot.runners import Outcome
from flowport.robot.runs import Run, report
from flowport.robot.workdir import Workdir

CLAIM_WAIT = 20.0  # seconds a claim waits for work (the server may cap it lower)
SHUTDOWN_GRACE = 30.0


class Fatal(Exception):
    """The agent cannot go on (its credential was revoked, say)."""


class Agent:
    def __init__(self, api: Client, workdir: Workdir, *, slots: int | None = None,
                 tags: list[str] | None = None, log: logging.Logger | None = None) -> None:
        """`slots` and `tags`, when given, replace what the server has for this robot; else
        the server's apply."""
        self.api, self.workdir = api, workdir
        self.slots, self.tags = slots, tags
        self.capacity = slots or 1  # jobs at once: the server says, unless --slots did
        self.log = log or logging.getLogger("flowport.robot")
        self.heartbeat_seconds = 5.0
        self.runs: dict[str, Run] = {}
        self.stopping = threading.Event()  # no more claims; runs are being handed back
        self.killed = threading.Event()  # give up retrying: the process is going away
        self.fatal: str | None = None
        self._lock = threading.Lock()
        self._slot_freed = threading.Event()
        self._beat_now = threading.Event()  # ends a heartbeat's wait early (on shutdown)
        self._introduced = False

    @property
    def about(self) -> dict[str, Any]:
        about: dict[str, Any] = {"machine": platform.node()[:255],
                                 "runtime_version": __version__}
        if self.tags is not None:
            about["tags"] = self.tags
        if self.slots is not None:
            about["slots"] = self.slots
        return about

    # -- life -------------------------------------------------------------------------------

    def run(self) -> None:
        """Work until `stopping` is set (or a fatal error); then hand back what runs."""
        try:
            retrying(self.beat, what="the first heartbeat", log=self.log, give_up=self.killed)
        except ApiError as exc:
            raise Fatal(f"the server refuses this robot: {exc.detail}") from None
        self.recover()
        beats = threading.Thread(target=self._heartbeats, name="heartbeats", daemon=True)
        # Claims run apart: a shutdown does not wait for a long poll to end. One still waiting
        # when the process exits is dropped; work it was handed then goes back to the server
        # when its lease runs out.
        claims = threading.Thread(target=self._claims, name="claims", daemon=True)
        beats.start()
        claims.start()
        self.stopping.wait()
        self._hand_back()
        beats.join(5)
        if self.fatal:
            raise Fatal(self.fatal)

    def shutdown(self) -> None:
        """Stop claiming and hand the runs back."""
        self.stopping.set()
        self._slot_freed.set()
        self._beat_now.set()

    def recover(self) -> None:
        """Report the jobs the previous agent in this work directory did not: its result if
        the run had ended, else that the run was lost (the server may retry it)."""
        for entry in self.workdir.journal():
            job_id, token = entry["id"], entry.get("fencing_token")
            if token is None:
                self.workdir.finish(job_id)
                continue
            if entry.get("pgid"):
                runners.kill(int(entry["pgid"]))  # a run that outlived its agent
            result = entry.get("result")
            if isinstance(result, dict) and result.get("status"):
                outcome = Outcome(result["status"], result.get("error"),
                                  result.get("outputs") or {})
                report(self, job_id, token, outcome, retryable=bool(entry.get("lost")))
            else:
                self.log.warning("job %s was running when this robot's agent ended; "
                                 "reporting it lost", job_id)
                report(self, job_id, token, Outcome(
                    "failed", "the robot's agent restarted while running it; the run was "
                              "lost"), retryable=True)
            self.workdir.finish(job_id)

    # -- heartbeats -------------------------------------------------------------------------

    def _heartbeats(self) -> None:
        while not self.killed.is_set() and not (self.stopping.is_set() and not self.runs):
            try:
                self.beat()
            except ApiError as exc:
                if exc.status in (401, 403):
                    self.fatal = f"the server refuses this robot's credential: {exc.detail}"
                    self.shutdown()
                    return
                self.log.error("heartbeat refused: %s", exc)
            except (httpx.TransportError, GaveUp) as exc:
                self.log.warning("heartbeat failed: %s", exc)
            self._beat_now.wait(self.heartbeat_seconds)
            self._beat_now.clear()

    def beat(self) -> None:
        with self._lock:
            held = {run.id: run.token for run in self.runs.values()}
        # What it says about itself (machine, version, tags, slots) goes with its first
        # heartbeat; the server keeps it.
        answer = self.api.heartbeat(held, **({} if self._introduced else self.about))
        self._introduced = True
        self.heartbeat_seconds = float(answer.get("heartbeat_seconds") or 5.0)
        self.capacity = int(answer.get("robot", {}).get("slots") or self.capacity)
        for command in answer.get("commands", []):
            with self._lock:
                run = self.runs.get(command["job_id"])
            if run is not None:
                run.command(command["command"], command.get("reason", ""))

    # -- claims -----------------------------------------------------------------------------

    def _claims(self) -> None:
        try:
            self._claim_until_stopped()
        except Exception:  # a bug: say so and stop rather than idle silently
            self.log.exception("the claim loop failed")
            self.fatal = "the claim loop failed (see the log)"
        finally:
            self.shutdown()

    def _claim_until_stopped(self) -> None:
        delay = 0.5
        while not self.stopping.is_set():
            with self._lock:
                free = self.capacity - len(self.runs)
            if free <= 0:
                self._slot_freed.wait(1.0)
                self._slot_freed.clear()
                continue
            try:
                answer = self.api.claim(free, timeout=CLAIM_WAIT)
                delay = 0.5
            except (httpx.HTTPError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status in (401, 403):
                    self.fatal = f"the server refuses this robot's credential: {exc.detail}"
                    return
                self.log.warning("claim failed (%s); trying again in %.1f s", exc, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.heartbeat_seconds = float(answer.get("heartbeat_seconds") or 5.0)
            for job in answer.get("jobs", []):
                run = Run(self, job)
                with self._lock:
                    stale = self.runs.get(run.id)
                if stale is not None:  # lost (a partition), queued again, claimed again
                    stale.command("drop", "claimed again under a new lease")
                    stale.thread.join(30)
                with self._lock:
                    self.runs[run.id] = run
                if self.stopping.is_set():  # claimed as the agent stops: hand it back
                    self.workdir.record(run.id, fencing_token=run.token)
                    self._give_back(run.id, run.token, "before it started")
                    self.finished(run)
                    continue
                run.start()

    def finished(self, run: Run) -> None:
        with self._lock:
            if self.runs.get(run.id) is run:
                del self.runs[run.id]
        self._slot_freed.set()
        if self.stopping.is_set():
            self._beat_now.set()

    # -- shutdown ---------------------------------------------------------------------------

    def _hand_back(self) -> None:
        """Interrupt the runs, give them a grace period, then kill what is left; each is
        reported lost (retryable), unless it finished on its own first."""
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            run.handing_back = True
            run.command("stop", "the robot is shutting down")
        deadline = threading.Event()
        timer = threading.Timer(SHUTDOWN_GRACE, deadline.set)
        timer.start()
        for run in runs:
            while run.thread.is_alive() and not deadline.is_set():
                run.thread.join(0.2)
            if run.thread.is_alive():
                run.command("abort", "the robot is shutting down")
                run.thread.join(10)
        timer.cancel()

    def _give_back(self, job_id: str, token: int, when: str) -> None:
        report(self, job_id, token, Outcome(
            "failed", f"the robot shut down {when}"), retryable=True)
        self.workdir.finish(job_id)

    # -- packages ---------------------------------------------------------------------------

    def package(self, package: dict[str, Any]) -> Path:
        sha256, name = package["sha256"], package["file_name"]
        return self.workdir.package(sha256, name, lambda: retrying(
            lambda: self.api.download_package(sha256), what=f"downloading package {name}",
            log=self.log, give_up=self.killed))
