"""Read-only views across an account's instances: counts, recent failures, the task inbox."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from flowport.domain.instances import HUMAN_TASK_TYPES, Instance, Status, WaitingTask
from flowport.store import tables as t
from flowport.store.base import Page, Queries, decode_seq_cursor, encode_cursor
from flowport.store.instances import _INSTANCE_COLUMNS, _INSTANCE_FROM, _instance

_i, _e = t.instances.c, t.elements.c
_ACTIVE = (Status.PENDING.value, Status.RUNNING.value, Status.WAITING.value)
_TASKS_FROM = t.elements.join(t.instances, _i.seq == _e.instance_seq)


def _waiting_tasks(account_id: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (_e.account_id == account_id, _e.state == "waiting", _e.type.in_(HUMAN_TASK_TYPES),
            _i.status.in_(_ACTIVE), _i.deleted_at.is_(None))


class OverviewQueries(Queries):

    def count_instances_by_status(self, account_id: int) -> dict[Status, int]:
        rows = self.conn.execute(
            sa.select(_i.status, sa.func.count())
            .where(_i.account_id == account_id, _i.deleted_at.is_(None))
            .group_by(_i.status)
        ).all()
        return {Status(status): count for status, count in rows}

    def list_failures_since(self, account_id: int, since: datetime,
                            limit: int) -> list[Instance]:
        rows = self.conn.execute(
            sa.select(*_INSTANCE_COLUMNS).select_from(_INSTANCE_FROM)
            .where(_i.account_id == account_id, _i.deleted_at.is_(None),
                   _i.status == Status.FAILED.value, _i.ended_at >= since)
            .order_by(_i.seq.desc()).limit(limit)
        ).all()
        return [_instance(r) for r in rows]

    def list_waiting_tasks(self, account_id: int, *, process_id: int | None,
                           cursor: str | None, limit: int) -> Page:
        """Waiting user and manual tasks of the account's live instances, oldest first."""
        query = (
            sa.select(_e.seq, _e.uid, _e.element_id, _e.name, _e.type, _e.created_at,
                      _i.id.label("instance_id"), _i.business_key,
                      t.processes.c.key.label("process_key"))
            .select_from(_TASKS_FROM.join(t.processes, t.processes.c.id == _i.process_id))
            .where(*_waiting_tasks(account_id))
        )
        if process_id is not None:
            query = query.where(_i.process_id == process_id)
        if cursor:
            query = query.where(_e.seq > decode_seq_cursor(cursor))
        rows = self.conn.execute(query.order_by(_e.seq).limit(limit + 1)).all()
        items = [WaitingTask(r.uid, r.element_id, r.name, r.type, r.created_at, r.instance_id,
                             r.process_key, r.business_key) for r in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
        return Page(items, next_cursor)

    def count_waiting_tasks(self, account_id: int) -> int:
        return int(self.conn.execute(
            sa.select(sa.func.count()).select_from(_TASKS_FROM)
            .where(*_waiting_tasks(account_id))
        ).scalar_one())
