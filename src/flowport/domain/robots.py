"""Robots, robot groups and robot work (a package instance's job): the pure rules of dispatch.

A job is the dispatch state of one package instance. Its requirements (runtime version, tags,
a target robot or group) are copied from the process and the start request when it is queued,
so a job keeps the rules it was started under. While a robot holds it, the job has a lease
(renewed by heartbeats) and a fencing token that every report from the robot must carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from flowport.domain.instances import Status
from flowport.errors import BadInput

ROBOT_TOKEN_PREFIX = "fpr_"       # a robot's own credential
ENROLLMENT_TOKEN_PREFIX = "fpe_"  # one-time, exchanged for the credential
MAX_TAGS = 32
MAX_SLOTS = 64
TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_VERSION = re.compile(r"^\s*v?(\d{1,8}(?:\.\d{1,8}){0,5})")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


class RobotStatus(IntEnum):
    DISCONNECTED = 0
    UNLICENSED = 1
    READY = 2
    WORKING = 3


@dataclass(frozen=True)
class Robot:
    seq: int
    id: str
    account_id: int
    name: str
    description: str
    machine: str
    tags: tuple[str, ...]
    runtime_version: str | None
    slots: int
    last_heartbeat_at: datetime | None
    enrolled: bool
    created_at: datetime
    updated_at: datetime
    busy: int = 0  # jobs it holds now
    groups: tuple[int, ...] = ()  # seqs of the groups it belongs to
    ip: str = ""
    mac: str = ""
    reported_status: RobotStatus | None = None  # what the robot last said it is (Sherpa)

    def status(self, now: datetime, disconnect_after: timedelta) -> RobotStatus:
        if not self.connected(now, disconnect_after):
            return RobotStatus.DISCONNECTED
        return RobotStatus.WORKING if self.busy else RobotStatus.READY

    def connected(self, now: datetime, disconnect_after: timedelta) -> bool:
        return self.last_heartbeat_at is not None and now - self.last_heartbeat_at <= \
            disconnect_after


@dataclass(frozen=True)
class RobotGroup:
    seq: int
    id: str
    account_id: int
    name: str
    description: str
    robots: tuple[str, ...]  # public ids of the members
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Job:
    """The dispatch state of one package instance."""

    instance_seq: int
    account_id: int
    fencing: int
    attempts: int
    max_attempts: int
    retry_backoff: int  # seconds before the first retry; doubled for each later one
    min_version: str | None
    tags: tuple[str, ...]
    target_robot: int | None
    target_group: int | None
    robot: int | None  # the robot that holds it (or last held it)
    ready_at: datetime | None  # claimable from then on; set only while pending
    lease_expires_at: datetime | None  # set only while a robot holds it
    escalate_at: datetime | None  # stopping → aborting, aborting → aborted
    stop_after: datetime | None
    abort_after: datetime | None
    log_lines: int = 0
    progress_events: int = 0

    @property
    def held(self) -> bool:
        return self.lease_expires_at is not None


@dataclass(frozen=True)
class Requirements:
    """What a robot needs to claim a job, fixed when it is queued."""

    min_version: str | None = None
    tags: tuple[str, ...] = ()
    target_robot: int | None = None
    target_group: int | None = None


# -- versions and tags ---------------------------------------------------------------------


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """The numeric release of a version string (`1.2`, `v7.0.1`, `7.0rc1` → 7.0), trailing
    zeros dropped so that 1.2 == 1.2.0; None when it holds no number."""
    if not text:
        return None
    match = _VERSION.match(text)
    if match is None:
        return None
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def version_key(text: str | None) -> str | None:
    """A string that sorts like the version, so the claim query compares versions in SQL."""
    parts = parse_version(text)
    return None if parts is None else ".".join(f"{p:08d}" for p in parts)


def check_min_version(value: str | None, name: str = "min_version_to_run") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,8}(\.\d{1,8}){0,5}", value):
        raise BadInput(f"{name} must be a version such as 1.2 or 1.2.3", field=name)
    return value


def check_tags(raw: object, name: str = "tags") -> tuple[str, ...]:
    """Tags as a sorted, duplicate-free tuple."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple) or len(raw) > MAX_TAGS:
        raise BadInput(f"{name} must be a list of at most {MAX_TAGS} tags", field=name)
    for tag in raw:
        if not isinstance(tag, str) or not TAG_PATTERN.match(tag):
            raise BadInput(f"{name}: each tag holds 1 to 64 letters, digits, '_', '.', ':' or "
                           f"'-', starting with a letter or digit", field=name)
    return tuple(sorted(set(raw)))


def check_robot_status(value: object, name: str = "status") -> RobotStatus:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise BadInput(f"{name} must be 0 (disconnected), 1 (unlicensed), 2 (ready) or "
                       f"3 (working)", field=name)
    return RobotStatus(value)


def check_slots(value: object, name: str = "slots") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SLOTS:
        raise BadInput(f"{name} must be a whole number from 1 to {MAX_SLOTS}", field=name)
    return value


def can_run(robot: Robot, needs: Requirements) -> bool:
    """Whether the robot meets the job's requirements (slots aside)."""
    return (_version_ok(robot, needs) and set(needs.tags) <= set(robot.tags)
            and (needs.target_robot is None or needs.target_robot == robot.seq)
            and (needs.target_group is None or needs.target_group in robot.groups))


def _version_ok(robot: Robot, needs: Requirements) -> bool:
    wanted = parse_version(needs.min_version)
    if wanted is None:
        return True
    have = parse_version(robot.runtime_version)
    return have is not None and have >= wanted


# -- time ----------------------------------------------------------------------------------


def retry_delay(job: Job) -> timedelta:
    """Backoff before attempt `job.attempts + 1`: the base, doubled per retry, at most a day."""
    retries_so_far = max(job.attempts - 1, 0)
    return timedelta(seconds=min(job.retry_backoff * 2 ** min(retries_so_far, 20), 86_400))


def next_deadline(status: Status, job: Job, now: datetime) -> datetime | None:
    """The next moment the server itself must act on the job (leases aside): end of a retry
    backoff, stop_after, abort_after, or the end of a stop's or an abort's grace period."""
    due: list[datetime] = []
    if status is Status.PENDING and job.ready_at is not None and job.ready_at > now:
        due.append(job.ready_at)  # wakes the robots waiting to claim
    if status in (Status.PENDING, Status.RUNNING):
        due += [d for d in (job.stop_after, job.abort_after) if d is not None]
    elif status is Status.STOPPING:
        due += [d for d in (job.escalate_at, job.abort_after) if d is not None]
    elif status is Status.ABORTING and job.escalate_at is not None:
        due.append(job.escalate_at)
    return min(due) if due else None


class Due(StrEnum):
    """What the server does when a job's deadline or lease has passed."""

    NOTHING = "nothing"
    WAKE = "wake"                  # a retry backoff ended: tell waiting robots
    LEASE_LOST = "lease_lost"      # the robot stopped renewing its lease
    STOP = "stop"                  # stop_after passed
    ABORT = "abort"                # abort_after passed, or a stop's grace period ended
    GIVE_UP = "give_up"            # an abort's grace period ended: end it aborted


def due_action(status: Status, job: Job, now: datetime) -> Due:
    if job.held and job.lease_expires_at is not None and job.lease_expires_at <= now:
        return Due.LEASE_LOST
    passed = lambda moment: moment is not None and moment <= now  # noqa: E731
    if status is Status.ABORTING:
        return Due.GIVE_UP if passed(job.escalate_at) else Due.NOTHING
    if status is Status.STOPPING:
        return Due.ABORT if passed(job.escalate_at) or passed(job.abort_after) else Due.NOTHING
    if status in (Status.PENDING, Status.RUNNING):
        if passed(job.abort_after):
            return Due.ABORT
        if passed(job.stop_after):
            return Due.STOP
        if status is Status.PENDING and passed(job.ready_at):
            return Due.WAKE
    return Due.NOTHING


# -- why a pending job is not running ------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Queue:
    """What pending_reasons needs to know besides the robots."""

    ahead: int = 0  # claimable jobs of the account queued before this one
    group_name: str | None = None
    robot_name: str | None = None


def pending_reasons(job: Job, robots: list[Robot], now: datetime, disconnect_after: timedelta,
                    queue: Queue) -> list[Reason]:
    """Why a pending job is not running now, computed from the robots as they are."""
    reasons: list[Reason] = []
    if job.ready_at is not None and job.ready_at > now:
        reasons.append(Reason("retry_backoff", f"attempt {job.attempts} was lost; attempt "
                              f"{job.attempts + 1} of {job.max_attempts} may start at "
                              f"{job.ready_at.isoformat()}"))
    needs = Requirements(job.min_version, job.tags, job.target_robot, job.target_group)
    candidates = robots
    if not candidates:
        return [*reasons, Reason("no_robots", "no robot exists in this account: create one "
                                 "(POST /api/v1/robots) and enroll it with `flowport robot`")]
    if needs.target_robot is not None:
        candidates = [r for r in candidates if r.seq == needs.target_robot]
        if not candidates:
            return [*reasons, Reason("robot_gone", f"the job is for robot "
                                     f"{queue.robot_name or needs.target_robot!s}, which was "
                                     f"deleted")]
    if needs.target_group is not None:
        candidates = [r for r in candidates if needs.target_group in r.groups]
        if not candidates:
            return [*reasons, Reason("group_empty", f"the job is for robot group "
                                     f"{queue.group_name or needs.target_group!s}, which has no "
                                     f"robots")]
    enrolled = [r for r in candidates if r.enrolled]
    if not enrolled:
        return [*reasons, Reason("not_enrolled", f"no robot that may run it has enrolled yet "
                                 f"({_names(candidates)}): start `flowport robot --enroll "
                                 f"<token>` on its machine")]
    connected = [r for r in enrolled if r.connected(now, disconnect_after)]
    if not connected:
        seen = ", ".join(f"{r.name} last seen {_ago(r.last_heartbeat_at, now)}"
                         for r in enrolled[:10])
        return [*reasons, Reason("disconnected", f"no robot that may run it is connected "
                                 f"({seen})")]
    versioned = [r for r in connected if _version_ok(r, needs)]
    if not versioned:
        have = ", ".join(f"{r.name} {r.runtime_version or 'unknown'}" for r in connected[:10])
        return [*reasons, Reason("runtime_version", f"no connected robot has runtime version "
                                 f">= {needs.min_version} ({have})")]
    tagged = [r for r in versioned if set(needs.tags) <= set(r.tags)]
    if not tagged:
        lacking = ", ".join(
            f"{r.name} lacks {', '.join(sorted(set(needs.tags) - set(r.tags)))}"
            for r in versioned[:10])
        return [*reasons, Reason("tags", f"no connected robot has the tags "
                                 f"{', '.join(needs.tags)} ({lacking})")]
    free = [r for r in tagged if r.busy < r.slots]
    if not free:
        busy = ", ".join(f"{r.name} {r.busy} of {r.slots}" for r in tagged[:10])
        return [*reasons, Reason("no_free_slot", f"every robot that may run it is busy "
                                 f"(slots in use: {busy})")]
    if reasons:
        return reasons
    ahead = f"; {queue.ahead} job(s) queued before it" if queue.ahead else ""
    return [Reason("queued", f"{_names(free)} can run it and will claim it at its next "
                   f"poll{ahead}")]


def _names(robots: list[Robot]) -> str:
    names = ", ".join(r.name for r in robots[:10])
    return names + (f" and {len(robots) - 10} more" if len(robots) > 10 else "")


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"
