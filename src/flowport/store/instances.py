"""Instances, their elements and their event history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.instances import Element, ElementState, Event, Instance, Status
from flowport.errors import RevisionConflict
from flowport.store import tables as t
from flowport.store.base import Page, Queries, decode_seq_cursor, encode_cursor


@dataclass(frozen=True)
class ElementChange:
    uid: str
    element_id: str
    name: str | None
    type: str
    state: str


_INSTANCE_COLUMNS = (
    t.instances.c.seq, t.instances.c.id, t.instances.c.account_id, t.instances.c.process_id,
    t.processes.c.key.label("process_key"), t.instances.c.version_id,
    t.process_versions.c.number.label("version_number"), t.instances.c.status,
    t.instances.c.business_key, t.instances.c.variables, t.instances.c.outputs,
    t.instances.c.error, t.instances.c.revision, t.instances.c.created_at,
    t.instances.c.updated_at, t.instances.c.started_at, t.instances.c.ended_at,
    t.instances.c.wake_at, t.instances.c.schedule_id, t.instances.c.parent_id,
    t.instances.c.name, t.instances.c.debug, t.instances.c.inputs, t.instances.c.deleted_at,
)
_INSTANCE_FROM = t.instances.join(t.processes, t.processes.c.id == t.instances.c.process_id).join(
    t.process_versions, t.process_versions.c.id == t.instances.c.version_id
)


# Built once: constructing a statement costs more than running a cached one on SQLite.
_INSERT_INSTANCE = t.instances.insert().returning(t.instances.c.seq)
_INSERT_ELEMENTS = t.elements.insert()
_INSERT_EVENTS = t.events.insert()


def _instance(row: Any) -> Instance:
    m = row._mapping
    return Instance(
        seq=m["seq"], id=m["id"], account_id=m["account_id"], process_id=m["process_id"],
        process_key=m["process_key"], version_id=m["version_id"],
        version_number=m["version_number"], status=Status(m["status"]),
        business_key=m["business_key"], variables=m["variables"], outputs=m["outputs"],
        error=m["error"], revision=m["revision"], created_at=m["created_at"],
        updated_at=m["updated_at"], started_at=m["started_at"], ended_at=m["ended_at"],
        wake_at=m["wake_at"], schedule_id=m["schedule_id"], parent_id=m["parent_id"],
        name=m["name"], debug=m["debug"], inputs=m["inputs"], deleted_at=m["deleted_at"],
    )


class InstanceQueries(Queries):

    def insert_instance(
        self, *, id: str, account_id: int, process_id: int, version_id: int, status: Status,
        variables: dict[str, Any], business_key: str | None, idempotency_key: str | None,
        now: datetime, parent_id: str | None = None, schedule_id: int | None = None,
        outputs: dict[str, Any] | None = None, state: str | None = None,
        error: str | None = None, wake_at: datetime | None = None,
        started_at: datetime | None = None, ended_at: datetime | None = None,
        name: str | None = None, debug: bool = False, inputs: dict[str, Any] | None = None,
    ) -> int:
        """A new instance, possibly already advanced by the engine; returns its seq."""
        return self.conn.execute(_INSERT_INSTANCE, {
            "id": id, "account_id": account_id, "process_id": process_id,
            "version_id": version_id, "status": Status(status).value, "variables": variables,
            "outputs": outputs or {}, "state": state, "error": error, "wake_at": wake_at,
            "business_key": business_key, "idempotency_key": idempotency_key,
            "parent_id": parent_id, "schedule_id": schedule_id, "revision": 0,
            "created_at": now, "updated_at": now, "started_at": started_at,
            "ended_at": ended_at, "name": name, "debug": debug, "inputs": inputs,
        }).scalar_one()

    def fetch_instance(self, account_id: int, instance_id: str) -> Instance | None:
        row = self.conn.execute(
            sa.select(*_INSTANCE_COLUMNS).select_from(_INSTANCE_FROM)
            .where(t.instances.c.account_id == account_id, t.instances.c.id == instance_id)
        ).first()
        return _instance(row) if row else None

    def fetch_instance_by_idempotency_key(self, account_id: int, key: str) -> Instance | None:
        row = self.conn.execute(
            sa.select(*_INSTANCE_COLUMNS).select_from(_INSTANCE_FROM)
            .where(t.instances.c.account_id == account_id,
                   t.instances.c.idempotency_key == key)
        ).first()
        return _instance(row) if row else None

    def find_instance_id(self, account_id: int, seq: int) -> str | None:
        """The id of the account's instance numbered `seq` (Studio's job_id)."""
        return self.conn.execute(
            sa.select(t.instances.c.id)
            .where(t.instances.c.account_id == account_id, t.instances.c.seq == seq)
        ).scalar()

    def lock_instance(self, account_id: int, instance_id: str) -> tuple[Instance, str | None]:
        """The instance and its engine state, locked until commit (a row lock on PostgreSQL,
        the database write lock on SQLite). Raises LookupError when there is none."""
        row = self.conn.execute(
            sa.select(*_INSTANCE_COLUMNS, t.instances.c.state).select_from(_INSTANCE_FROM)
            .where(t.instances.c.account_id == account_id, t.instances.c.id == instance_id)
            .with_for_update(of=t.instances)
        ).first()
        if row is None:
            raise LookupError(instance_id)
        return _instance(row), row.state

    def claim_due_instance(self, now: datetime) -> tuple[int, str] | None:
        """One instance whose timer is due, locked; replicas skip each other's claims."""
        row = self.conn.execute(
            sa.select(t.instances.c.account_id, t.instances.c.id)
            .where(t.instances.c.wake_at.is_not(None), t.instances.c.wake_at <= now)
            .order_by(t.instances.c.wake_at).limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        return (row.account_id, row.id) if row else None

    def next_wake_at(self) -> datetime | None:
        return self.conn.execute(
            sa.select(sa.func.min(t.instances.c.wake_at)).where(t.instances.c.wake_at.is_not(None))
        ).scalar_one()

    def save_instance(self, instance: Instance, now: datetime, **fields: Any) -> int:
        """Write new fields if nobody else has since `instance` was read; returns the new
        revision. A lost race raises RevisionConflict in the caller's transaction."""
        if "status" in fields:
            fields["status"] = Status(fields["status"]).value
        result = self.conn.execute(
            t.instances.update()
            .where(t.instances.c.seq == instance.seq,
                   t.instances.c.revision == instance.revision)
            .values(revision=instance.revision + 1, updated_at=now, **fields)
        )
        if result.rowcount != 1:
            raise RevisionConflict("the instance was changed by someone else; try again")
        return instance.revision + 1

    def list_instances(
        self, account_id: int, *, process_id: int | None, status: Status | None,
        business_key: str | None, cursor: str | None, limit: int,
        schedule_id: int | None = None,
        include_cleanups: bool = False,
    ) -> Page:
        c = t.instances.c
        query = (sa.select(*_INSTANCE_COLUMNS).select_from(_INSTANCE_FROM)
                 .where(c.account_id == account_id, c.deleted_at.is_(None)))
        if not include_cleanups:
            # Cancel, delete and rollback instances are read through their original.
            query = query.where(~sa.exists().where(t.cleanups.c.instance_seq == c.seq))
        if process_id is not None:
            query = query.where(c.process_id == process_id)
        if status is not None:
            query = query.where(c.status == status.value)
        if business_key is not None:
            query = query.where(c.business_key == business_key)
        if schedule_id is not None:
            query = query.where(c.schedule_id == schedule_id)
        if cursor:
            query = query.where(c.seq < decode_seq_cursor(cursor))
        rows = self.conn.execute(query.order_by(c.seq.desc()).limit(limit + 1)).all()
        items = [_instance(r) for r in rows[:limit]]
        next_cursor = encode_cursor(items[-1].seq) if len(rows) > limit else None
        return Page(items, next_cursor)

    # -- elements --------------------------------------------------------------------------

    def sync_elements(
        self, account_id: int, instance_seq: int, current: Sequence[ElementChange],
        now: datetime,
    ) -> None:
        """Bring the instance's element rows in line with the engine's view: insert new
        activations, update changed states, keep each row's seq and created_at."""
        existing = dict(self.conn.execute(
            sa.select(t.elements.c.uid, t.elements.c.state)
            .where(t.elements.c.instance_seq == instance_seq)
        ).all())
        self.insert_elements(account_id, instance_seq,
                             [e for e in current if e.uid not in existing], now)
        changed = [e for e in current if e.uid in existing and existing[e.uid] != e.state]
        for e in changed:
            self.conn.execute(
                t.elements.update()
                .where(t.elements.c.instance_seq == instance_seq, t.elements.c.uid == e.uid)
                .values(state=e.state, updated_at=now)
            )

    def insert_elements(self, account_id: int, instance_seq: int,
                        new: Sequence[ElementChange], now: datetime) -> None:
        if new:
            self.conn.execute(_INSERT_ELEMENTS, [
                {"account_id": account_id, "instance_seq": instance_seq, "uid": e.uid,
                 "element_id": e.element_id, "name": e.name, "type": e.type, "state": e.state,
                 "created_at": now, "updated_at": now} for e in new
            ])

    def list_elements(self, instance_seq: int) -> list[Element]:
        rows = self.conn.execute(
            sa.select(t.elements).where(t.elements.c.instance_seq == instance_seq)
            .order_by(t.elements.c.seq)
        ).all()
        return [Element(r.seq, r.uid, r.element_id, r.name, r.type, ElementState(r.state),
                        r.created_at, r.updated_at) for r in rows]

    def find_element_instance(self, account_id: int, uid: str) -> str | None:
        """The id of the account's instance that holds element activation `uid`."""
        return self.conn.execute(
            sa.select(t.instances.c.id)
            .join(t.elements, t.elements.c.instance_seq == t.instances.c.seq)
            .where(t.elements.c.account_id == account_id, t.elements.c.uid == uid)
        ).scalar()

    def fetch_element(self, instance_seq: int, uid: str) -> Element | None:
        row = self.conn.execute(
            sa.select(t.elements).where(t.elements.c.instance_seq == instance_seq,
                                        t.elements.c.uid == uid)
        ).first()
        if row is None:
            return None
        return Element(row.seq, row.uid, row.element_id, row.name, row.type,
                       ElementState(row.state), row.created_at, row.updated_at)

    # -- events ----------------------------------------------------------------------------

    def add_events(self, account_id: int, instance_seq: int | None,
                   events: Sequence[tuple[str, str | None, dict[str, Any]]],
                   now: datetime) -> None:
        if events:
            self.conn.execute(_INSERT_EVENTS, [
                {"account_id": account_id, "instance_seq": instance_seq, "at": now,
                 "kind": kind, "actor": actor, "detail": detail}
                for kind, actor, detail in events
            ])

    def list_events(self, instance: Instance, *, skip: int = 0) -> list[Event]:
        """The instance's events in order, after the first `skip`."""
        rows = self.conn.execute(
            sa.select(t.events).where(t.events.c.instance_seq == instance.seq)
            .order_by(t.events.c.seq).offset(skip)
        ).all()
        return [Event(r.seq, instance.id, r.at, r.kind, r.actor, r.detail) for r in rows]

