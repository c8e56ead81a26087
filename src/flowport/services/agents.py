"""What robot agents call: heartbeat, claim work, report progress, logs, artifacts and the
result, download packages. Each report carries the fencing token of the robot's lease; a token
that is no longer current is refused (409 `stale_lease`) and changes nothing.

Lookups come before the robot check, so another account's job is a 404 whoever asks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flowport.domain.accounts import Principal
from flowport.domain.instances import Instance, Status
from flowport.domain.processes import Version, render_outputs
from flowport.domain.robots import LOG_LEVELS, MAX_SLOTS, Job, Robot
from flowport.errors import BadInput, NotFound, StaleLease, TooLarge, Unauthenticated
from flowport.services import dispatch
from flowport.services.context import Context
from flowport.services.robots import robot_fields, robot_of
from flowport.store import Artifact, Tx

MAX_LOG_BATCH = 1000
MAX_LOG_MESSAGE = 32 * 1024
MAX_PROGRESS_BATCH = 200
MAX_PROGRESS_DETAIL = 8 * 1024
MAX_ERROR = 16 * 1024
ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
CONTENT_TYPE = re.compile(r"^[\w.+\-]+/[\w.+\-]+$")
PROGRESS_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
FINAL_REPORTS = {"failed": Status.FAILED, "stopped": Status.STOPPED, "aborted": Status.ABORTED}


@dataclass(frozen=True)
class Heartbeat:
    jobs: tuple[tuple[str, int], ...] = ()  # (instance id, fencing token) of what it runs
    machine: str | None = None
    runtime_version: str | None = None
    tags: tuple[str, ...] | None = None
    slots: int | None = None
    ip: str | None = None
    mac: str | None = None
    status: int | None = None  # the status the robot says it is in (0-3)


@dataclass(frozen=True)
class Command:
    job_id: str
    command: str  # stop (SIGINT, finish gracefully), abort (kill it), drop (kill, report nothing)
    reason: str


@dataclass(frozen=True)
class Beat:
    robot: Robot
    commands: list[Command]
    has_work: bool = False  # a claim by this robot would find a job now


@dataclass(frozen=True)
class Claimed:
    instance: Instance
    job: Job
    version: Version


@dataclass(frozen=True)
class Complete:
    instance_id: str
    fencing_token: int
    outputs: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    instance_id: str
    fencing_token: int
    error: str
    status: str = "failed"  # or stopped, aborted: how the run ended
    retryable: bool = False  # the robot lost the run (not the package failing): maybe retry


@dataclass(frozen=True)
class Reported:
    instance: Instance
    changed: bool  # False: a repeat of a report that was applied already


@dataclass(frozen=True)
class LogBatch:
    instance_id: str
    fencing_token: int
    lines: tuple[tuple[datetime | None, str, str], ...]  # (time, level, message)


@dataclass(frozen=True)
class ProgressBatch:
    instance_id: str
    fencing_token: int
    events: tuple[tuple[str, dict[str, Any]], ...]  # (kind, detail)


@dataclass(frozen=True)
class PutArtifact:
    instance_id: str
    fencing_token: int
    name: str
    content: bytes
    content_type: str = "application/octet-stream"


def _robot(tx: Tx, who: Principal, *, lock: bool = False) -> Robot:
    robot = tx.fetch_robot_by_seq(who.account_id, robot_of(who), lock=lock)
    if robot is None:
        raise Unauthenticated("this robot was deleted")
    return robot


def heartbeat(ctx: Context, who: Principal, cmd: Heartbeat) -> Beat:
    """A sign of life that renews the leases of the jobs the robot still runs, and answers
    with what it must do about them: stop, abort, or drop those it no longer holds."""
    robot_of(who)
    fields = robot_fields(machine=cmd.machine, runtime_version=cmd.runtime_version,
                          tags=cmd.tags, slots=cmd.slots, ip=cmd.ip, mac=cmd.mac,
                          status=cmd.status)
    now = ctx.clock.now()
    expires = now + timedelta(seconds=ctx.settings.robot_lease_seconds)
    commands = []
    with ctx.store.transaction() as tx:
        robot = _robot(tx, who, lock=True)
        tx.touch_robot(robot.seq, now, **fields)
        held = {instance_id: (status, job) for instance_id, status, job
                in tx.held_jobs(robot.seq)}
        for job_id, fencing in cmd.jobs:
            status, job = held.get(job_id, (None, None))
            if job is None or not tx.renew_lease(robot.seq, job.instance_seq, fencing, expires,
                                                 now):
                commands.append(Command(job_id, "drop", "this robot no longer holds the job: "
                                        "its lease ran out, or it ended or moved on"))
            elif status is Status.STOPPING:
                commands.append(Command(job_id, "stop", "a stop was requested"))
            elif status is Status.ABORTING:
                commands.append(Command(job_id, "abort", "an abort was requested"))
        has_work = tx.robot_has_ready_job(robot, now)
    return Beat(replace(robot, last_heartbeat_at=now, **fields), commands, has_work)


def held_jobs(ctx: Context, who: Principal) -> list[Claimed]:
    """The jobs this robot holds now (their leases running), oldest first."""
    robot_of(who)
    with ctx.store.transaction(write=False) as tx:
        held = [job for _, _, job in tx.held_jobs(_robot(tx, who).seq)]
        instances = {i.seq: i for i in tx.fetch_instances_by_seq([j.instance_seq for j in held])}
        return [Claimed(instances[j.instance_seq], j,
                        ctx.versions.get(tx, instances[j.instance_seq].version_id)[0])
                for j in held]


def unstarted_jobs(ctx: Context, who: Principal) -> list[Claimed]:
    """Held jobs the robot has not reported on yet (no progress, no log line): a claim whose
    answer it may have lost, handed back instead of a new one (Sherpa's consumeNextJob
    returns the same job until the robot starts it)."""
    return [c for c in held_jobs(ctx, who) if c.instance.status is Status.RUNNING
            and not c.job.progress_events and not c.job.log_lines]


def claim_jobs(ctx: Context, who: Principal, max_jobs: int) -> list[Claimed]:
    """Up to `max_jobs` jobs this robot may run (runtime version, tags, target, free slots),
    each with a lease and a fresh fencing token; [] when there is none now."""
    robot_of(who)
    if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or not \
            1 <= max_jobs <= MAX_SLOTS:
        raise BadInput(f"max_jobs must be a whole number from 1 to {MAX_SLOTS}",
                       field="max_jobs")
    now = ctx.clock.now()
    with ctx.store.transaction(write=False) as tx:
        # Most polls find nothing: answer those without taking SQLite's write lock.
        if not tx.any_ready_job(who.account_id, now):
            return []
    claimed = []
    with ctx.store.transaction() as tx:
        robot = _robot(tx, who, lock=True)
        wanted = min(max_jobs, robot.slots - robot.busy)
        jobs = {j.instance_seq: j for j in tx.claim_ready_jobs(robot, now, wanted)} \
            if wanted > 0 else {}
        if not jobs:
            return []
        expires = now + timedelta(seconds=ctx.settings.robot_lease_seconds)
        tx.start_instances(list(jobs), now)
        for instance in tx.fetch_instances_by_seq(list(jobs)):
            job = jobs[instance.seq]
            job = dispatch.write_job(
                tx, Status.RUNNING, job, now, robot=robot.seq, fencing=job.fencing + 1,
                attempts=job.attempts + 1, ready_at=None, lease_expires_at=expires,
                escalate_at=None)
            tx.add_events(instance.account_id, instance.seq, [("status", who.login, {
                "from": Status.PENDING.value, "to": Status.RUNNING.value,
                "robot_id": robot.id, "robot": robot.name, "attempt": job.attempts})], now)
            claimed.append(Claimed(instance, job, ctx.versions.get(tx, instance.version_id)[0]))
    for each in claimed:
        ctx.notifier.publish(each.instance.id)
    return claimed


def _reported(tx: Tx, who: Principal, instance_id: str) -> tuple[Instance, Job]:
    locked = tx.lock_robot_work(who.account_id, instance_id)
    if locked is None:
        raise NotFound(f"no robot job {instance_id!r}")
    robot_of(who)
    return locked


def _holds(job: Job, who: Principal, token: int) -> bool:
    return job.robot == who.robot_id and job.fencing == token


def _check_lease(instance: Instance, job: Job, who: Principal, token: int) -> None:
    if not (job.held and _holds(job, who, token)):
        raise StaleLease(f"this robot does not hold job {instance.id} under fencing token "
                         f"{token} (the job is {instance.status.value}): it was lost, ended, "
                         f"or moved to another robot, so this report changes nothing",
                         field="fencing_token")


def _repeat(instance: Instance, job: Job, who: Principal, token: int, status: Status) -> bool:
    """A report repeated after its answer was lost: the same robot and token, and the
    instance ended the way it said."""
    return instance.status is status and not job.held and _holds(job, who, token)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, default=str))


def complete_job(ctx: Context, who: Principal, cmd: Complete) -> Reported:
    """The run succeeded: its outputs become the instance's variables."""
    if not isinstance(cmd.outputs, dict):
        raise BadInput("outputs must be a JSON object", field="outputs")
    limit = ctx.settings.max_variables_bytes
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, job = _reported(tx, who, cmd.instance_id)
        if _repeat(instance, job, who, cmd.fencing_token, Status.COMPLETED):
            return Reported(instance, changed=False)
        _check_lease(instance, job, who, cmd.fencing_token)
        variables = {**instance.variables, **cmd.outputs}
        if _json_size(variables) > limit:
            raise TooLarge(f"the instance's variables with these outputs take "
                           f"{_json_size(variables)} bytes; the limit is {limit} "
                           f"(FLOWPORT_MAX_VARIABLES_BYTES)", field="outputs")
        version = ctx.versions.get(tx, instance.version_id)[0]
        outputs = render_outputs(version.outputs, variables) if version.outputs else cmd.outputs
        instance = dispatch.end(tx, instance, job, Status.COMPLETED, now, who.login, {},
                                variables=variables, outputs=outputs, error=None)
    dispatch.after_commit(ctx, instance)
    return Reported(instance, changed=True)


def fail_job(ctx: Context, who: Principal, cmd: Fail) -> Reported:
    """The run ended otherwise: failed, stopped or aborted; or the robot lost it (retryable),
    which queues it again when the process allows another attempt."""
    target = FINAL_REPORTS.get(cmd.status)
    if target is None:
        raise BadInput(f"status must be one of {', '.join(FINAL_REPORTS)}", field="status")
    if not isinstance(cmd.error, str) or not cmd.error.strip():
        raise BadInput("error must say what went wrong", field="error")
    if len(cmd.error) > MAX_ERROR:
        raise TooLarge(f"error holds {len(cmd.error)} characters; the limit is {MAX_ERROR}: "
                       f"send the rest as log lines", field="error")
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, job = _reported(tx, who, cmd.instance_id)
        if target is Status.STOPPED and instance.status in (Status.ABORTING, Status.ABORTED):
            target = Status.ABORTED  # it stopped, but by then an abort was asked for
        if _repeat(instance, job, who, cmd.fencing_token, target) or (
                cmd.retryable and not job.held and _holds(job, who, cmd.fencing_token + 1)):
            return Reported(instance, changed=False)
        _check_lease(instance, job, who, cmd.fencing_token)
        if cmd.retryable:
            instance = dispatch.lose(tx, instance, job, now, who.login,
                                     f"{who.login} lost the run: {cmd.error}")
        else:
            instance = dispatch.end(tx, instance, job, target, now, who.login,
                                    {"error": cmd.error}, error=cmd.error)
    dispatch.after_commit(ctx, instance)
    return Reported(instance, changed=True)


def add_log_lines(ctx: Context, who: Principal, cmd: LogBatch) -> int:
    if len(cmd.lines) > MAX_LOG_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_LOG_BATCH} log lines; this one holds "
                       f"{len(cmd.lines)}", field="lines")
    now = ctx.clock.now()
    for i, (_, level, message) in enumerate(cmd.lines):
        if level not in LOG_LEVELS:
            raise BadInput(f"level must be one of {', '.join(LOG_LEVELS)}",
                           field=f"lines[{i}].level")
        if len(message) > MAX_LOG_MESSAGE:
            raise TooLarge(f"a log message holds at most {MAX_LOG_MESSAGE} characters; "
                           f"this one holds {len(message)}: split it", field=f"lines[{i}].message")
    with _batch(ctx, who, cmd.instance_id, cmd.fencing_token, len(cmd.lines), "log_lines",
                "log lines", ctx.settings.robot_max_log_lines, "lines") as (tx, instance):
        if cmd.lines:
            tx.add_log_lines(instance.account_id, instance.seq,
                             [(at or now, level, message) for at, level, message in cmd.lines],
                             now)
    return len(cmd.lines)


@contextmanager
def _batch(ctx: Context, who: Principal, instance_id: str, token: int, count: int,
           used: str, what: str, limit: int, field: str) -> Iterator[tuple[Tx, Instance]]:
    """A transaction for a batch of a run's logs or progress: the lease checked, and the
    job's count of `what` (its field `used`) kept within `limit`."""
    with ctx.store.transaction() as tx:
        instance, job = _reported(tx, who, instance_id)
        _check_lease(instance, job, who, token)
        so_far = getattr(job, used)
        if so_far + count > limit:
            setting = f"FLOWPORT_ROBOT_MAX_{used.upper()}"
            raise TooLarge(f"job {instance.id} has {so_far} {what}; {count} more would pass the "
                           f"limit of {limit} ({setting}); nothing of this batch was kept",
                           field=field)
        yield tx, instance


def add_progress(ctx: Context, who: Principal, cmd: ProgressBatch) -> int:
    """Progress of the run (a test started or ended, say) as events of the instance."""
    if len(cmd.events) > MAX_PROGRESS_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_PROGRESS_BATCH} progress events",
                       field="events")
    for i, (kind, detail) in enumerate(cmd.events):
        if not PROGRESS_KIND.match(kind):
            raise BadInput("kind holds 1 to 32 lower-case letters, digits or '_'",
                           field=f"events[{i}].kind")
        if not isinstance(detail, dict):
            raise BadInput("detail must be a JSON object", field=f"events[{i}].detail")
        if _json_size(detail) > MAX_PROGRESS_DETAIL:
            raise TooLarge(f"a progress event's detail holds at most {MAX_PROGRESS_DETAIL} "
                           f"bytes of JSON", field=f"events[{i}].detail")
    now = ctx.clock.now()
    with _batch(ctx, who, cmd.instance_id, cmd.fencing_token, len(cmd.events),
                "progress_events", "progress events", ctx.settings.robot_max_progress_events,
                "events") as (tx, instance):
        if cmd.events:
            tx.add_events(instance.account_id, instance.seq,
                          [(f"robot.{kind}", who.login, detail) for kind, detail in cmd.events],
                          now)
            tx.count_progress_events(instance.seq, len(cmd.events), now)
    return len(cmd.events)


def check_artifact_name(name: str) -> str:
    if len(name) > 255 or not ARTIFACT_NAME.match(name) or ".." in name.split("/"):
        raise BadInput("an artifact name is a relative path of letters, digits, '_', '.' and "
                       "'-' (at most 255 characters)", field="name")
    return name


def put_artifact(ctx: Context, who: Principal, cmd: PutArtifact) -> Artifact:
    """Store a file of the run (output.xml, log.html, a screenshot); a file of the same name
    is replaced, so an upload may be retried."""
    settings = ctx.settings
    content_type = (cmd.content_type or "application/octet-stream").split(";")[0].strip()
    if len(content_type) > 127 or not CONTENT_TYPE.match(content_type):
        content_type = "application/octet-stream"
    size = len(cmd.content)
    if size > settings.robot_max_artifact_bytes:
        raise TooLarge(f"artifact {cmd.name!r} holds {size} bytes; the limit is "
                       f"{settings.robot_max_artifact_bytes} per artifact "
                       f"(FLOWPORT_ROBOT_MAX_ARTIFACT_BYTES)", field="content")
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, job = _reported(tx, who, cmd.instance_id)
        check_artifact_name(cmd.name)
        _check_lease(instance, job, who, cmd.fencing_token)
        count, total = tx.artifact_usage(instance.seq, but=cmd.name)
        if count + 1 > settings.robot_max_artifacts:
            raise TooLarge(f"job {instance.id} has {count} artifacts; the limit is "
                           f"{settings.robot_max_artifacts} (FLOWPORT_ROBOT_MAX_ARTIFACTS)",
                           field="name")
        if total + size > settings.robot_max_artifacts_bytes:
            raise TooLarge(f"job {instance.id}'s artifacts take {total} bytes; {size} more "
                           f"would pass the limit of {settings.robot_max_artifacts_bytes} "
                           f"(FLOWPORT_ROBOT_MAX_ARTIFACTS_BYTES)", field="content")
        sha256 = hashlib.sha256(cmd.content).hexdigest()
        tx.put_artifact(instance.account_id, instance.seq, cmd.name, content_type,
                        cmd.content, sha256, now)
    return Artifact(cmd.name, content_type, size, sha256, now)


def get_package(ctx: Context, who: Principal, sha256: str) -> tuple[str, bytes]:
    """A package version's content by its hash: (file name, content)."""
    found = None
    if SHA256.match(sha256):
        with ctx.store.transaction(write=False) as tx:
            found = tx.fetch_package(who.account_id, sha256)
    if found is None:
        raise NotFound(f"no package with sha256 {sha256!r}")
    robot_of(who)
    return found
