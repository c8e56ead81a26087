"""Schedules and their run history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.cron import parse_cron, zone
from flowport.domain.schedules import (
    Misfire,
    Outcome,
    Schedule,
    ScheduleRun,
    Timing,
    Window,
    parse_calendar,
)
from flowport.errors import BadInput
from flowport.store import tables as t
from flowport.store.base import Page, Queries, decode_cursor, decode_seq_cursor, encode_cursor

_S = t.schedules
_COLUMNS = (*_S.c, t.processes.c.key.label("process_key"))
_FROM = _S.join(t.processes, t.processes.c.id == _S.c.process_id)


def _schedule(row: Any) -> Schedule:
    m = row._mapping
    timing = Timing(
        cron=parse_cron(m["cron"]) if m["cron"] is not None else None,
        tz=zone(m["timezone"]), start_at=m["start_at"], end_at=m["end_at"],
        window=Window.parse(m["time_window"]) if m["time_window"] is not None else None,
        calendar=parse_calendar(m["calendar"]),
    )
    return Schedule(
        id=m["id"], guid=m["guid"], account_id=m["account_id"], process_id=m["process_id"],
        process_key=m["process_key"], version=m["version"], name=m["name"],
        description=m["description"], enabled=m["enabled"], cron=m["cron"],
        timezone=m["timezone"], timing=timing, variables=m["variables"],
        max_runs=m["max_runs"], max_concurrency=m["max_concurrency"],
        misfire=Misfire(m["misfire"]), catch_up_limit=m["catch_up_limit"],
        stop_after=m["stop_after"], abort_after=m["abort_after"], robot_id=m["robot_id"],
        robot_group_id=m["robot_group_id"], robot_type=m["robot_type"], runs=m["runs"],
        next_fire_at=m["next_fire_at"], covered_until=m["covered_until"],
        created_by=m["created_by"], created_at=m["created_at"], updated_at=m["updated_at"],
    )


def _unfinished_instances() -> sa.ScalarSelect[int]:
    """How many instances the outer query's schedule has that have not ended."""
    return (sa.select(sa.func.count()).select_from(t.instances)
            .where(t.instances.c.schedule_id == _S.c.id, sa.text(t.UNFINISHED))
            .scalar_subquery())


def _claimable(due_by: datetime) -> list[sa.ColumnElement[bool]]:
    """Due, and for a continuous schedule with room for another unfinished instance."""
    return [
        _S.c.next_fire_at.is_not(None), _S.c.next_fire_at <= due_by,
        sa.or_(_S.c.continuous == sa.false(),
               _unfinished_instances() < sa.func.coalesce(_S.c.max_concurrency, 1)),
    ]


def _time_cursor(cursor: str) -> datetime:
    (last,) = decode_cursor(cursor, 1)
    try:
        moment = datetime.fromisoformat(last)
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadInput("cursor is not one this server gave out", field="cursor")
    return moment


class ScheduleQueries(Queries):

    def insert_schedule(self, *, account_id: int, guid: str, now: datetime,
                        **values: Any) -> int:
        return self.conn.execute(
            _S.insert().values(account_id=account_id, guid=guid, created_at=now,
                               updated_at=now, **values)
            .returning(_S.c.id)
        ).scalar_one()

    def fetch_schedule(self, account_id: int, schedule_id: int, *,
                       lock: bool = False) -> Schedule | None:
        query = (sa.select(*_COLUMNS).select_from(_FROM)
                 .where(_S.c.account_id == account_id, _S.c.id == schedule_id,
                        _S.c.deleted_at.is_(None)))
        if lock:
            query = query.with_for_update(of=_S)
        row = self.conn.execute(query).first()
        return _schedule(row) if row else None

    def fetch_schedule_by_guid(self, account_id: int, guid: str) -> Schedule | None:
        row = self.conn.execute(
            sa.select(*_COLUMNS).select_from(_FROM)
            .where(_S.c.account_id == account_id, _S.c.guid == guid, _S.c.deleted_at.is_(None))
        ).first()
        return _schedule(row) if row else None

    def list_schedules(self, account_id: int, *, process_key: str | None,
                       enabled: bool | None, cursor: str | None, limit: int) -> Page:
        query = (sa.select(*_COLUMNS).select_from(_FROM)
                 .where(_S.c.account_id == account_id, _S.c.deleted_at.is_(None)))
        if process_key is not None:  # the live process of that key
            query = query.where(t.processes.c.key == process_key,
                                t.processes.c.deleted_at.is_(None))
        if enabled is not None:
            query = query.where(_S.c.enabled == enabled)
        if cursor:
            query = query.where(_S.c.id < decode_seq_cursor(cursor))
        rows = self.conn.execute(query.order_by(_S.c.id.desc()).limit(limit + 1)).all()
        items = [_schedule(r) for r in rows[:limit]]
        return Page(items, encode_cursor(items[-1].id) if len(rows) > limit else None)

    def next_fires(self, account_id: int, limit: int) -> list[Schedule]:
        """The account's enabled schedules that will fire, soonest first."""
        rows = self.conn.execute(
            sa.select(*_COLUMNS).select_from(_FROM)
            .where(_S.c.account_id == account_id, _S.c.deleted_at.is_(None),
                   _S.c.enabled.is_(True), _S.c.next_fire_at.is_not(None))
            .order_by(_S.c.next_fire_at, _S.c.id).limit(limit)).all()
        return [_schedule(r) for r in rows]

    def update_schedule(self, schedule_id: int, now: datetime, **values: Any) -> None:
        """Change what a user set (and so `updated_at`)."""
        self.conn.execute(_S.update().where(_S.c.id == schedule_id)
                          .values(updated_at=now, **values))

    def advance_schedule(self, schedule_id: int, *, runs: int, next_fire_at: datetime | None,
                         covered_until: datetime) -> None:
        """Record the loop's progress: what a user set stays as it was."""
        self.conn.execute(_S.update().where(_S.c.id == schedule_id)
                          .values(runs=runs, next_fire_at=next_fire_at,
                                  covered_until=covered_until))

    def delete_schedule(self, schedule_id: int, now: datetime) -> None:
        self.update_schedule(schedule_id, now, deleted_at=now, next_fire_at=None)

    def claim_due_schedule(self, due_by: datetime) -> Schedule | None:
        """The schedule whose fire time is due first, locked; replicas skip each other's
        claims (SKIP LOCKED on PostgreSQL; SQLite's write lock serializes them)."""
        row = self.conn.execute(
            sa.select(*_COLUMNS).select_from(_FROM).where(*_claimable(due_by))
            .order_by(_S.c.next_fire_at).limit(1)
            .with_for_update(of=_S, skip_locked=True)
        ).first()
        return _schedule(row) if row else None

    def next_schedule_fire_at(self, due_by: datetime) -> datetime | None:
        """When the loop next has work: the earliest fire time, leaving out continuous
        schedules that are due but have no room (they wait for an instance to end)."""
        waiting = sa.select(sa.func.min(_S.c.next_fire_at)).where(
            _S.c.next_fire_at.is_not(None), _S.c.next_fire_at > due_by)
        claimable = sa.select(sa.func.min(_S.c.next_fire_at)).where(*_claimable(due_by))
        found = [self.conn.execute(q).scalar_one() for q in (claimable, waiting)]
        return min((f for f in found if f is not None), default=None)

    def count_unfinished_instances(self, schedule_id: int) -> int:
        return self.conn.execute(
            sa.select(sa.func.count()).select_from(t.instances)
            .where(t.instances.c.schedule_id == schedule_id, sa.text(t.UNFINISHED))
        ).scalar_one()

    # -- run history ------------------------------------------------------------------------

    def add_schedule_run(self, schedule: Schedule, fire_time: datetime, now: datetime,
                         outcome: Outcome, *, reason: str | None = None,
                         instance_id: str | None = None,
                         detail: dict[str, Any] | None = None) -> None:
        self.conn.execute(t.schedule_runs.insert().values(
            account_id=schedule.account_id, schedule_id=schedule.id, fire_time=fire_time,
            at=now, outcome=outcome.value, reason=reason, instance_id=instance_id,
            detail=detail or {}))

    def list_schedule_runs(self, schedule_id: int, *, cursor: str | None,
                           limit: int) -> Page:
        """Newest fire time first."""
        r = t.schedule_runs.c
        query = sa.select(t.schedule_runs).where(r.schedule_id == schedule_id)
        if cursor:
            query = query.where(r.fire_time < _time_cursor(cursor))
        rows = self.conn.execute(query.order_by(r.fire_time.desc()).limit(limit + 1)).all()
        items = [ScheduleRun(row.seq, row.schedule_id, row.fire_time, row.at,
                             Outcome(row.outcome), row.reason, row.instance_id, row.detail)
                 for row in rows[:limit]]
        next_cursor = encode_cursor(items[-1].fire_time.isoformat()) \
            if len(rows) > limit else None
        return Page(items, next_cursor)
