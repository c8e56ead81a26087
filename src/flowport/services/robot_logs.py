"""The account's robot log (Sherpa's Log): write a line about a robot, a version and a run;
read one, list them newest first, purge the old ones."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance
from flowport.domain.logs import ROBOT_LOG_LEVELS, RobotLog
from flowport.domain.processes import Version
from flowport.domain.robots import Robot
from flowport.errors import BadInput, Forbidden, NotFound, TooLarge
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.store import Tx

MAX_MESSAGE = 32 * 1024
MAX_LIST = 1000


@dataclass(frozen=True)
class WriteLog:
    message: str
    level: int = 1
    robot_id: str | None = None  # None from a robot's credential: the robot itself
    version_guid: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True)
class LogView:
    log: RobotLog
    robot: Robot | None
    version: Version | None
    instance: Instance | None


@dataclass(frozen=True)
class ListLogs:
    robot_id: str | None = None
    instance_id: str | None = None
    offset: int = 0
    limit: int = 100


def _writer(who: Principal) -> None:
    """Robots write with their own credential; people and programs need START."""
    require(who, Permission.ROBOT if who.robot_id is not None else Permission.START)


def _robot(tx: Tx, who: Principal, robot_id: str) -> Robot:
    robot = tx.fetch_robot(who.account_id, robot_id)
    if robot is None:
        raise NotFound(f"no robot {robot_id!r}", field="robot_id")
    return robot


def _instance(tx: Tx, who: Principal, instance_id: str) -> Instance:
    instance = tx.fetch_instance(who.account_id, instance_id)
    if instance is None:
        raise NotFound(f"no instance {instance_id!r}", field="instance_id")
    return instance


def write_log(ctx: Context, who: Principal, cmd: WriteLog) -> str:
    """The new line's guid."""
    _writer(who)
    if not isinstance(cmd.message, str) or not cmd.message.strip():
        raise BadInput("message must not be blank", field="message")
    if len(cmd.message) > MAX_MESSAGE:
        raise TooLarge(f"message holds at most {MAX_MESSAGE} characters", field="message")
    if isinstance(cmd.level, bool) or cmd.level not in range(len(ROBOT_LOG_LEVELS)):
        raise BadInput(f"level is 0 to {len(ROBOT_LOG_LEVELS) - 1}", field="level")
    guid = str(uuid.uuid4())
    with ctx.store.transaction() as tx:
        robot_seq = who.robot_id
        if cmd.robot_id is not None:
            robot_seq = _robot(tx, who, cmd.robot_id).seq
        version_id = None
        if cmd.version_guid is not None:
            version = tx.fetch_version_by_guid(who.account_id, cmd.version_guid)
            if version is None:
                raise NotFound(f"no process version {cmd.version_guid!r}", field="version")
            version_id = version.id
        instance_seq = None
        if cmd.instance_id is not None:
            instance_seq = _instance(tx, who, cmd.instance_id).seq
        if who.robot_id is not None and robot_seq != who.robot_id:
            raise Forbidden("a robot writes log lines about itself only", field="robot_id")
        tx.insert_robot_log(who.account_id, guid, robot_seq, version_id, instance_seq,
                            cmd.level, cmd.message, ctx.clock.now())
    return guid


def _view(tx: Tx, who: Principal, log: RobotLog) -> LogView:
    robot = tx.fetch_robot_by_seq(who.account_id, log.robot_seq) \
        if log.robot_seq is not None else None
    version = tx.fetch_account_version(who.account_id, log.version_id) \
        if log.version_id is not None else None
    instance = tx.fetch_instances_by_seq([log.instance_seq])[0] \
        if log.instance_seq is not None else None
    return LogView(log, robot, version, instance)


def get_log(ctx: Context, who: Principal, guid: str) -> LogView:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        log = tx.fetch_robot_log(who.account_id, guid)
        if log is None:
            raise NotFound(f"no log {guid!r}")
        return _view(tx, who, log)


def list_logs(ctx: Context, who: Principal, query: ListLogs) -> list[LogView]:
    require(who, Permission.READ)
    if not 1 <= query.limit <= MAX_LIST:
        raise BadInput(f"limit is 1 to {MAX_LIST}", field="limit")
    if query.offset < 0:
        raise BadInput("offset must not be negative", field="offset")
    with ctx.store.transaction(write=False) as tx:
        robot_seq = _robot(tx, who, query.robot_id).seq if query.robot_id else None
        instance_seq = _instance(tx, who, query.instance_id).seq if query.instance_id else None
        logs = tx.list_robot_logs(who.account_id, robot_seq=robot_seq,
                                  instance_seq=instance_seq, offset=query.offset,
                                  limit=query.limit)
        return [_view(tx, who, log) for log in logs]


def purge_logs(ctx: Context, who: Principal, before: datetime) -> int:
    """Delete the account's lines written before `before`; how many went."""
    require(who, Permission.START)
    with ctx.store.transaction() as tx:
        return tx.purge_robot_logs(who.account_id, before)
