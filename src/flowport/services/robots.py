"""Robots and robot groups: create, read, change, delete; enrollment, where a robot trades
its one-time token for its own credential."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowport.domain.accounts import Permission, Principal, Role
from flowport.domain.instances import Instance
from flowport.domain.processes import MAX_DESCRIPTION, MAX_NAME
from flowport.domain.robots import (
    ENROLLMENT_TOKEN_PREFIX,
    ROBOT_TOKEN_PREFIX,
    Robot,
    RobotGroup,
    RobotStatus,
    check_robot_status,
    check_slots,
    check_tags,
)
from flowport.errors import BadInput, Conflict, Forbidden, NotFound, Unauthenticated
from flowport.services.auth import hash_token, new_token, require
from flowport.services.context import Context
from flowport.store import Duplicate, Page, Tx

MAX_MACHINE = 255
MAX_RUNTIME_VERSION = 64
MAX_ADDRESS = 64


@dataclass(frozen=True)
class CreateRobot:
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    slots: int = 1


@dataclass(frozen=True)
class UpdateRobot:
    name: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    slots: int | None = None
    status: int | None = None  # the status the robot is said to be in (0-3)


@dataclass(frozen=True)
class NewEnrollment:
    robot: Robot
    token: str  # shown once
    expires_at: datetime


@dataclass(frozen=True)
class Enroll:
    enrollment_token: str
    machine: str = ""
    runtime_version: str | None = None
    tags: tuple[str, ...] | None = None
    slots: int | None = None


@dataclass(frozen=True)
class Enrolled:
    robot: Robot
    credential: str  # shown once


@dataclass(frozen=True)
class SaveGroup:
    name: str | None = None
    description: str | None = None


def _name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME or not value.strip():
        raise BadInput(f"name must be text of 1 to {MAX_NAME} characters", field="name")
    return value.strip()


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise BadInput(f"{name} must be text of at most {limit} characters", field=name)
    return value


def robot_of(who: Principal) -> int:
    """The calling robot's row number: robot endpoints take a robot's own credential."""
    require(who, Permission.ROBOT)
    if who.robot_id is None:
        raise Forbidden("this needs a robot's own credential: create the robot "
                        "(POST /api/v1/robots) and enroll it with `flowport robot --enroll`")
    return who.robot_id


def robot_fields(*, machine: Any = None, runtime_version: Any = None, tags: Any = None,
                 slots: Any = None, ip: Any = None, mac: Any = None,
                 status: Any = None) -> dict[str, Any]:
    """What an agent reports about itself (enrollment, heartbeats), checked; None: unchanged."""
    fields: dict[str, Any] = {}
    if ip is not None:
        fields["ip"] = _text(ip, "ip", MAX_ADDRESS)
    if mac is not None:
        fields["mac"] = _text(mac, "mac", MAX_ADDRESS)
    if status is not None:
        fields["reported_status"] = int(check_robot_status(status))
    if machine is not None:
        fields["machine"] = _text(machine, "machine", MAX_MACHINE)
    if runtime_version is not None:
        fields["runtime_version"] = _text(runtime_version, "runtime_version",
                                          MAX_RUNTIME_VERSION) or None
    if tags is not None:
        fields["tags"] = check_tags(tags)
    if slots is not None:
        fields["slots"] = check_slots(slots)
    return fields


def _found(robot: Robot | None, robot_id: str) -> Robot:
    if robot is None:
        raise NotFound(f"no robot {robot_id!r}")
    return robot


def _enrollment(ctx: Context) -> tuple[str, datetime]:
    return (new_token(ENROLLMENT_TOKEN_PREFIX),
            ctx.clock.now() + timedelta(hours=ctx.settings.robot_enrollment_hours))


def create_robot(ctx: Context, who: Principal, cmd: CreateRobot) -> NewEnrollment:
    require(who, Permission.ADMIN)
    name = _name(cmd.name)
    description = _text(cmd.description, "description", MAX_DESCRIPTION)
    tags, slots = check_tags(cmd.tags), check_slots(cmd.slots)
    token, expires = _enrollment(ctx)
    now = ctx.clock.now()
    taken = Conflict(f"a robot named {name!r} exists already", field="name")
    try:
        with ctx.store.transaction() as tx:
            if tx.robot_name_taken(who.account_id, name):
                raise taken
            robot_id = str(uuid.uuid4())
            tx.insert_robot(who.account_id, robot_id, name, description, tags, slots,
                            hash_token(token), expires, now)
            tx.audit(who.account_id, "robot.created", who.login,
                     {"robot_id": robot_id, "name": name}, now)
            robot = _found(tx.fetch_robot(who.account_id, robot_id), robot_id)
    except Duplicate:
        raise taken from None
    return NewEnrollment(robot, token, expires)


def new_enrollment(ctx: Context, who: Principal, robot_id: str) -> NewEnrollment:
    """A fresh one-time token for a robot (a rebuilt machine, a lost work directory). Its
    current credential keeps working until the token is exchanged."""
    require(who, Permission.ADMIN)
    token, expires = _enrollment(ctx)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        robot = _found(tx.fetch_robot(who.account_id, robot_id), robot_id)
        tx.update_robot(robot.seq, now, enrollment_hash=hash_token(token),
                        enrollment_expires_at=expires)
        tx.audit(who.account_id, "robot.enrollment_issued", who.login,
                 {"robot_id": robot.id}, now)
    return NewEnrollment(robot, token, expires)


def enroll(ctx: Context, cmd: Enroll) -> Enrolled:
    """Trade a one-time enrollment token for the robot's own credential (shown once)."""
    if not isinstance(cmd.enrollment_token, str) or not cmd.enrollment_token.startswith(
            ENROLLMENT_TOKEN_PREFIX):
        raise Unauthenticated("that is not an enrollment token (they start with "
                              f"{ENROLLMENT_TOKEN_PREFIX!r})")
    fields = robot_fields(machine=cmd.machine, runtime_version=cmd.runtime_version,
                          tags=cmd.tags, slots=cmd.slots)
    credential = new_token(ROBOT_TOKEN_PREFIX)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        enrolled = tx.enroll_robot(hash_token(cmd.enrollment_token), hash_token(credential),
                                   now, **fields)
        if enrolled is None:
            raise Unauthenticated("the enrollment token is unknown, used already or expired; "
                                  "ask an administrator for a new one")
        account_id, seq = enrolled
        robot = tx.fetch_robot_by_seq(account_id, seq)
        assert robot is not None
        tx.audit(account_id, "robot.enrolled", f"robot:{robot.name}",
                 {"robot_id": robot.id, "machine": robot.machine}, now)
    return Enrolled(robot, credential)


def own_robot(ctx: Context, who: Principal) -> Robot:
    """The calling robot itself."""
    seq = robot_of(who)
    with ctx.store.transaction(write=False) as tx:
        robot = tx.fetch_robot_by_seq(who.account_id, seq)
    if robot is None:
        raise Unauthenticated("this robot was deleted")
    return robot


def robot_principal(who: Principal, robot: Robot) -> Principal:
    """An administrator's key speaking for one of the account's robots (Sherpa's robot
    endpoints take an API key with the robot's GUID): it acts with that robot's rights."""
    require(who, Permission.ADMIN)
    if robot.account_id != who.account_id:
        raise NotFound(f"no robot {robot.id!r}")
    return Principal(who.account_id, None, f"{who.login} as robot:{robot.name}",
                     frozenset({Role.ROBOT}), robot_id=robot.seq)


def get_robot(ctx: Context, who: Principal, robot_id: str) -> Robot:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return _found(tx.fetch_robot(who.account_id, robot_id), robot_id)


def get_robot_by_seq(ctx: Context, who: Principal, seq: int) -> Robot:
    """A robot by its number (Sherpa's numeric robot id)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return _found(tx.fetch_robot_by_seq(who.account_id, seq), str(seq))


def list_robots(ctx: Context, who: Principal, cursor: str | None, limit: int) -> Page:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_robots(who.account_id, cursor, limit)


def update_robot(ctx: Context, who: Principal, robot_id: str, cmd: UpdateRobot) -> Robot:
    require(who, Permission.ADMIN)
    fields = robot_fields(tags=cmd.tags, slots=cmd.slots, status=cmd.status)
    if cmd.name is not None:
        fields["name"] = _name(cmd.name)
    if cmd.description is not None:
        fields["description"] = _text(cmd.description, "description", MAX_DESCRIPTION)
    try:
        with ctx.store.transaction() as tx:
            robot = _found(tx.fetch_robot(who.account_id, robot_id), robot_id)
            if "name" in fields and tx.robot_name_taken(who.account_id, fields["name"],
                                                        but=robot.seq):
                raise Conflict(f"a robot named {fields['name']!r} exists already",
                               field="name")
            if fields:
                tx.update_robot(robot.seq, ctx.clock.now(), **fields)
            return _found(tx.fetch_robot(who.account_id, robot_id), robot_id)
    except Duplicate:
        raise Conflict(f"a robot named {fields.get('name')!r} exists already",
                       field="name") from None


def delete_robot(ctx: Context, who: Principal, robot_id: str) -> None:
    """Soft delete; its credential stops working at once. Jobs it holds are lost when their
    leases run out (then failed or retried, as their process says)."""
    require(who, Permission.ADMIN)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        robot = _found(tx.fetch_robot(who.account_id, robot_id), robot_id)
        tx.delete_robot(robot.seq, now)
        tx.audit(who.account_id, "robot.deleted", who.login,
                 {"robot_id": robot.id, "name": robot.name}, now)


# -- groups -------------------------------------------------------------------------------


def _group(tx: Tx, who: Principal, group_id: str) -> RobotGroup:
    group = tx.fetch_group(who.account_id, group_id)
    if group is None:
        raise NotFound(f"no robot group {group_id!r}")
    return group


def create_group(ctx: Context, who: Principal, cmd: SaveGroup) -> RobotGroup:
    require(who, Permission.ADMIN)
    name = _name(cmd.name)
    description = _text(cmd.description or "", "description", MAX_DESCRIPTION)
    taken = Conflict(f"a robot group named {name!r} exists already", field="name")
    try:
        with ctx.store.transaction() as tx:
            if tx.group_name_taken(who.account_id, name):
                raise taken
            group_id = str(uuid.uuid4())
            tx.insert_group(who.account_id, group_id, name, description, ctx.clock.now())
            return _group(tx, who, group_id)
    except Duplicate:
        raise taken from None


def list_groups(ctx: Context, who: Principal) -> list[RobotGroup]:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_groups(who.account_id)


def get_group(ctx: Context, who: Principal, group_id: str) -> RobotGroup:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return _group(tx, who, group_id)


def get_group_by_seq(ctx: Context, who: Principal, seq: int) -> RobotGroup:
    """A live group by its number (Sherpa's numeric group id)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        group = tx.fetch_group_by_number(who.account_id, seq)
    if group is None:
        raise NotFound(f"no robot group {seq}")
    return group


def update_group(ctx: Context, who: Principal, group_id: str, cmd: SaveGroup) -> RobotGroup:
    require(who, Permission.ADMIN)
    fields: dict[str, Any] = {}
    if cmd.name is not None:
        fields["name"] = _name(cmd.name)
    if cmd.description is not None:
        fields["description"] = _text(cmd.description, "description", MAX_DESCRIPTION)
    taken = Conflict(f"a robot group named {fields.get('name')!r} exists already", field="name")
    try:
        with ctx.store.transaction() as tx:
            group = _group(tx, who, group_id)
            if "name" in fields and tx.group_name_taken(who.account_id, fields["name"],
                                                        but=group.seq):
                raise taken
            if fields:
                tx.update_group(group.seq, ctx.clock.now(), **fields)
            return _group(tx, who, group_id)
    except Duplicate:
        raise taken from None


def delete_group(ctx: Context, who: Principal, group_id: str) -> None:
    require(who, Permission.ADMIN)
    with ctx.store.transaction() as tx:
        tx.delete_group(_group(tx, who, group_id).seq, ctx.clock.now())


def add_robot(ctx: Context, who: Principal, group_id: str, robot_id: str) -> RobotGroup:
    """Idempotent: adding a member again changes nothing."""
    require(who, Permission.ADMIN)
    with ctx.store.transaction() as tx:
        group = _group(tx, who, group_id)
        robot = _found(tx.fetch_robot(who.account_id, robot_id), robot_id)
        if tx.add_member(group.seq, robot.seq):
            tx.update_group(group.seq, ctx.clock.now())
        return _group(tx, who, group_id)


def remove_robot(ctx: Context, who: Principal, group_id: str, robot_id: str) -> RobotGroup:
    require(who, Permission.ADMIN)
    with ctx.store.transaction() as tx:
        group = _group(tx, who, group_id)
        robot = _found(tx.fetch_robot(who.account_id, robot_id), robot_id)
        if not tx.remove_member(group.seq, robot.seq):
            raise NotFound(f"robot {robot_id!r} is not a member of group {group_id!r}")
        tx.update_group(group.seq, ctx.clock.now())
        return _group(tx, who, group_id)


# -- robots at work, as the console shows them ----------------------------------------------


@dataclass(frozen=True)
class RobotAtWork:
    robot: Robot
    status: RobotStatus
    jobs: tuple[Instance, ...]  # the package instances it holds now


def _at_work(ctx: Context, tx: Tx, who: Principal, robots: list[Robot]) -> list[RobotAtWork]:
    held: dict[int, list[Instance]] = {r.seq: [] for r in robots}
    for seq, instance in tx.work_of_robots(who.account_id, list(held)):
        held[seq].append(instance)
    now, after = ctx.clock.now(), timedelta(seconds=ctx.settings.robot_disconnect_seconds)
    return [RobotAtWork(r, r.status(now, after), tuple(held[r.seq])) for r in robots]


def robots_at_work(ctx: Context, who: Principal, cursor: str | None,
                   limit: int) -> tuple[list[RobotAtWork], str | None]:
    """A page of robots with their derived status and the jobs each holds now."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        page = tx.list_robots(who.account_id, cursor, limit)
        return _at_work(ctx, tx, who, page.items), page.next_cursor


def robot_at_work(ctx: Context, who: Principal, robot_id: str) -> RobotAtWork:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return _at_work(ctx, tx, who, [_found(tx.fetch_robot(who.account_id, robot_id),
                                               robot_id)])[0]


def count_by_status(ctx: Context, who: Principal) -> dict[RobotStatus, int]:
    """How many of the account's robots are in each status (robots online: ready + working)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        robots = tx.all_robots(who.account_id)
    now, after = ctx.clock.now(), timedelta(seconds=ctx.settings.robot_disconnect_seconds)
    counts = dict.fromkeys(RobotStatus, 0)
    for robot in robots:
        counts[robot.status(now, after)] += 1
    return counts
