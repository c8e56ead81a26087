"""Schedules: create, read, change, delete, and look ahead and back. Firing them is in
`flowport.services.scheduler`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from flowport.domain.accounts import Permission, Principal
from flowport.domain.processes import (
    MAX_DESCRIPTION,
    MAX_NAME,
    Process,
    new_guid,
    validate_variables,
)
from flowport.domain.schedules import (
    MAX_UPCOMING,
    Schedule,
    Timing,
    check_count,
    check_misfire,
    check_targeting,
    first_due,
)
from flowport.errors import InvalidSchedule, NotFound, TooLarge
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.services.processes import live_process
from flowport.store import Page, Tx

# Ten years: the longest stop_after / abort_after.
MAX_DURATION = 10 * 366 * 24 * 3600


@dataclass(frozen=True)
class CreateSchedule:
    """Everything a user sets on a schedule; see docs/decisions.md for what each means."""

    process_key: str
    cron: str | None = None
    timezone: str = "UTC"
    continuous: bool = False
    version: int | None = None
    name: str = ""
    description: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    start_at: datetime | None = None
    end_at: datetime | None = None
    window: dict[str, str] | None = None
    calendar: list[str] | None = None
    max_runs: int | None = None
    max_concurrency: int | None = None
    misfire: str = "skip"
    catch_up_limit: int | None = None
    stop_after: int | None = None
    abort_after: int | None = None
    robot_id: int | None = None
    robot_group_id: int | None = None
    robot_type: int | None = None


FIELDS = frozenset(f.name for f in fields(CreateSchedule))
# Changing one of these re-arms the schedule from now; other changes keep its next fire time.
_TIMING = frozenset({"cron", "timezone", "continuous", "enabled", "start_at", "end_at",
                     "window", "calendar", "max_runs"})


@dataclass(frozen=True)
class UpdateSchedule:
    """The fields to change, named as in CreateSchedule. A field not named keeps its value;
    a None clears an optional one."""

    changes: Mapping[str, Any]


@dataclass(frozen=True)
class ListSchedules:
    process_key: str | None = None
    enabled: bool | None = None
    cursor: str | None = None
    limit: int = 50


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidSchedule(f"{name} must be text of at most {limit} characters", field=name)
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidSchedule(f"{name} must be true or false", field=name)
    return value


def _variables(ctx: Context, tx: Tx, process: Process, version: int | None,
               variables: Any) -> dict[str, Any]:
    if not isinstance(variables, dict):
        raise InvalidSchedule("variables must be a JSON object", field="variables")
    size = len(json.dumps(variables, default=str))
    if size > ctx.settings.max_variables_bytes:
        raise TooLarge(f"variables take {size} bytes; the limit is "
                       f"{ctx.settings.max_variables_bytes}", field="variables")
    number = version if version is not None else process.current_version
    found = None if number is None else tx.fetch_version(process.id, number)
    if found is not None:
        # Checked now so a typo fails here, and again at each fire (the current version may
        # change in between).
        validate_variables(ctx.versions.get(tx, found.id)[0].parameters, variables)
    return variables


def _columns(ctx: Context, tx: Tx, who: Principal,
             spec: CreateSchedule) -> tuple[Timing, dict[str, Any]]:
    """Check every field; the table columns of a valid schedule. Nothing is written."""
    if not isinstance(spec.process_key, str) or not spec.process_key:
        raise InvalidSchedule("process_key must name a process", field="process_key")
    process = live_process(tx, who, spec.process_key)
    version = check_count(spec.version, "version")
    if version is not None and tx.fetch_version(process.id, version) is None:
        raise NotFound(f"process {process.key!r} has no version {version}", field="version")
    timing = Timing.build(cron=spec.cron, timezone=spec.timezone,
                          continuous=_flag(spec.continuous, "continuous"),
                          start_at=spec.start_at, end_at=spec.end_at, window=spec.window,
                          calendar=spec.calendar)
    misfire, catch_up_limit = check_misfire(spec.misfire, spec.catch_up_limit)
    check_targeting(spec.robot_id, spec.robot_group_id, spec.robot_type)
    return timing, {
        "process_id": process.id, "version": version,
        "name": _text(spec.name, "name", MAX_NAME),
        "description": _text(spec.description, "description", MAX_DESCRIPTION),
        "variables": _variables(ctx, tx, process, version, spec.variables),
        "enabled": _flag(spec.enabled, "enabled"), "continuous": timing.continuous,
        "cron": timing.cron.text if timing.cron else None, "timezone": timing.tz.key,
        "start_at": timing.start_at, "end_at": timing.end_at,
        "time_window": timing.window.to_dict() if timing.window else None,
        "calendar": sorted(day.isoformat() for day in timing.calendar),
        "max_runs": check_count(spec.max_runs, "max_runs"),
        "max_concurrency": check_count(spec.max_concurrency, "max_concurrency"),
        "misfire": misfire.value, "catch_up_limit": catch_up_limit,
        "stop_after": check_count(spec.stop_after, "stop_after", maximum=MAX_DURATION),
        "abort_after": check_count(spec.abort_after, "abort_after", maximum=MAX_DURATION),
        "robot_id": spec.robot_id, "robot_group_id": spec.robot_group_id,
        "robot_type": spec.robot_type,
    }


def _spec(schedule: Schedule) -> CreateSchedule:
    """A stored schedule as the fields a user would send to make it again."""
    timing = schedule.timing
    return CreateSchedule(
        process_key=schedule.process_key, cron=schedule.cron, timezone=schedule.timezone,
        continuous=schedule.continuous, version=schedule.version, name=schedule.name,
        description=schedule.description, variables=schedule.variables,
        enabled=schedule.enabled, start_at=timing.start_at, end_at=timing.end_at,
        window=timing.window.to_dict() if timing.window else None,
        calendar=sorted(day.isoformat() for day in timing.calendar),
        max_runs=schedule.max_runs, max_concurrency=schedule.max_concurrency,
        misfire=schedule.misfire.value, catch_up_limit=schedule.catch_up_limit,
        stop_after=schedule.stop_after, abort_after=schedule.abort_after,
        robot_id=schedule.robot_id, robot_group_id=schedule.robot_group_id,
        robot_type=schedule.robot_type,
    )


def _found(tx: Tx, who: Principal, schedule_id: int, *, lock: bool = False) -> Schedule:
    schedule = tx.fetch_schedule(who.account_id, schedule_id, lock=lock)
    if schedule is None:
        raise NotFound(f"no schedule {schedule_id}")
    return schedule


def create_schedule(ctx: Context, who: Principal, cmd: CreateSchedule) -> Schedule:
    require(who, Permission.START)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        timing, columns = _columns(ctx, tx, who, cmd)
        due = first_due(timing, enabled=columns["enabled"], runs=0,
                        max_runs=columns["max_runs"], after=now)
        schedule_id = tx.insert_schedule(
            account_id=who.account_id, guid=new_guid(), now=now, runs=0, next_fire_at=due,
            covered_until=now, created_by=who.login, **columns)
        schedule = _found(tx, who, schedule_id)
    ctx.notifier.schedules_changed.set()
    return schedule


def get_schedule_by_guid(ctx: Context, who: Principal, guid: str) -> Schedule:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        schedule = tx.fetch_schedule_by_guid(who.account_id, guid)
    if schedule is None:
        raise NotFound(f"no schedule {guid!r}")
    return schedule


def get_schedule(ctx: Context, who: Principal, schedule_id: int) -> Schedule:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return _found(tx, who, schedule_id)


def list_schedules(ctx: Context, who: Principal, query: ListSchedules) -> Page:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_schedules(who.account_id, process_key=query.process_key,
                                 enabled=query.enabled, cursor=query.cursor, limit=query.limit)


def update_schedule(ctx: Context, who: Principal, schedule_id: int,
                    cmd: UpdateSchedule) -> Schedule:
    """Change some fields. A change to when it fires (cron, zone, period, window, calendar,
    enabled, max_runs) re-arms it from now: fire times that passed meanwhile are not run."""
    require(who, Permission.START)
    unknown = sorted(set(cmd.changes) - FIELDS)
    if unknown:
        raise InvalidSchedule(f"schedules have no field {unknown[0]!r}", field=unknown[0])
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        current = _found(tx, who, schedule_id, lock=True)
        timing, columns = _columns(ctx, tx, who, replace(_spec(current), **cmd.changes))
        if _TIMING & set(cmd.changes):
            covered = max(now, current.covered_until)
            columns["covered_until"] = covered
            columns["next_fire_at"] = first_due(
                timing, enabled=columns["enabled"], runs=current.runs,
                max_runs=columns["max_runs"], after=covered)
        tx.update_schedule(current.id, now, **columns)
        schedule = _found(tx, who, schedule_id)
    ctx.notifier.schedules_changed.set()
    return schedule


def delete_schedule(ctx: Context, who: Principal, schedule_id: int) -> None:
    """Soft delete: it stops firing and disappears; its instances and history stay."""
    require(who, Permission.START)
    with ctx.store.transaction() as tx:
        tx.delete_schedule(_found(tx, who, schedule_id, lock=True).id, ctx.clock.now())


def upcoming(ctx: Context, who: Principal, schedule_id: int, count: int) -> list[datetime]:
    """Its next `count` fire times (none for a continuous or disabled schedule)."""
    check_count(count, "count", maximum=MAX_UPCOMING)
    return get_schedule(ctx, who, schedule_id).upcoming(count)


def list_runs(ctx: Context, who: Principal, schedule_id: int, cursor: str | None = None,
              limit: int = 50) -> Page:
    """Its history, newest fire time first: runs started, fire times skipped and why, starts
    that failed."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_schedule_runs(_found(tx, who, schedule_id).id, cursor=cursor,
                                     limit=limit)


def next_fires(ctx: Context, who: Principal, limit: int = 5) -> list[Schedule]:
    """The account's schedules that fire next, soonest first (the dashboard's list)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.next_fires(who.account_id, limit)
