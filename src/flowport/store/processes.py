"""Processes and their immutable versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.processes import (
    ContentKind,
    Process,
    ProcessType,
    Version,
    parse_outputs,
    parse_parameters,
)
from flowport.store import tables as t
from flowport.store.base import Page, Queries, decode_cursor, encode_cursor


def _process(row: Any) -> Process:
    m = row._mapping
    return Process(
        id=m["id"], account_id=m["account_id"], key=m["key"], guid=m["guid"], name=m["name"],
        description=m["description"], process_type=ProcessType(m["process_type"]),
        min_version_to_run=m["min_version_to_run"], current_version=m["current_version"],
        created_at=m["created_at"], updated_at=m["updated_at"], project=m["project"],
        created_by=m["created_by"], creator=m["creator"],
        robot_tags=tuple(m["robot_tags"] or ()), max_attempts=m["max_attempts"],
        retry_backoff=m["retry_backoff"],
    )


# A process row with its creator's display name: the name, or the login when there is none.
_PROCESS_COLUMNS = (*t.processes.c, sa.func.coalesce(
    sa.func.nullif(t.users.c.name, ""), t.users.c.login).label("creator"))
_PROCESS_FROM = t.processes.outerjoin(t.users, t.users.c.id == t.processes.c.created_by)
# The columns a process list may be ordered by.
PROCESS_ORDER_COLUMNS = {c: t.processes.c[c] for c in (
    "id", "key", "name", "created_at", "updated_at", "created_by")}


def _live_processes(account_id: int) -> sa.Select[Any]:
    return sa.select(*_PROCESS_COLUMNS).select_from(_PROCESS_FROM).where(
        t.processes.c.account_id == account_id, t.processes.c.deleted_at.is_(None))


_VERSION_COLUMNS = [c for c in t.process_versions.c if c.name not in ("content", "spec")]


def _startable(by: sa.ColumnElement[bool]) -> sa.Select[Any]:
    v = t.process_versions.c
    number = sa.func.coalesce(sa.bindparam("number", type_=sa.BigInteger),
                              t.processes.c.current_version)
    return (sa.select(*_PROCESS_COLUMNS, v.id.label("version_id"))
            .select_from(_PROCESS_FROM.outerjoin(
                t.process_versions, (v.process_id == t.processes.c.id) & (v.number == number)
                & v.deleted_at.is_(None)))
            .where(t.processes.c.account_id == sa.bindparam("account_id"), by,
                   t.processes.c.deleted_at.is_(None)))


# Built once (the hot path of every start): building a statement costs more than running it.
_STARTABLE_BY_KEY = _startable(t.processes.c.key == sa.bindparam("ref", type_=sa.String))
_STARTABLE_BY_ID = _startable(t.processes.c.id == sa.bindparam("ref", type_=sa.BigInteger))


def _version(row: Any) -> Version:
    m = row._mapping
    return Version(
        id=m["id"], process_id=m["process_id"], number=m["number"], sha256=m["sha256"],
        file_name=m["file_name"], kind=ContentKind(m["kind"]),
        parameters=parse_parameters(m["parameters"]), outputs=parse_outputs(m["outputs"]),
        created_at=m["created_at"], entry_point=m["entry_point"],
        bpmn_process_id=m["bpmn_process_id"], size=m["size"], guid=m["guid"],
        label=m["label"], description=m["description"], deleted_at=m["deleted_at"],
    )


class ProcessQueries(Queries):

    def insert_process(
        self, account_id: int, key: str, guid: str, name: str, description: str,
        process_type: ProcessType, min_version_to_run: str | None, now: datetime,
        project: str = "", created_by: int | None = None, **robot_policy: Any,
    ) -> Process:
        process_id = self.conn.execute(
            t.processes.insert()
            .values(account_id=account_id, key=key, guid=guid, name=name,
                    description=description, process_type=int(process_type),
                    min_version_to_run=min_version_to_run, project=project,
                    created_by=created_by, created_at=now, updated_at=now, **robot_policy)
            .returning(t.processes.c.id)
        ).scalar_one()
        process = self.fetch_process_by_id(account_id, process_id)
        assert process is not None
        return process

    def fetch_process(self, account_id: int, key: str, *, lock: bool = False) -> Process | None:
        return self._one_process(
            _live_processes(account_id).where(t.processes.c.key == key), lock)

    def fetch_process_by_id(self, account_id: int, process_id: int, *,
                            lock: bool = False) -> Process | None:
        """A live process by its row id (schedules, Studio and Sherpa refer to it by number)."""
        return self._one_process(
            _live_processes(account_id).where(t.processes.c.id == process_id), lock)

    def _one_process(self, query: sa.Select[Any], lock: bool) -> Process | None:
        if lock:
            query = query.with_for_update(of=t.processes)
        row = self.conn.execute(query).first()
        return _process(row) if row else None


    def list_processes(
        self, account_id: int, *, search: str | None, order: str, cursor: str | None,
        limit: int,
    ) -> Page:
        c = t.processes.c
        column = {"key": c.key, "name": c.name, "created_at": c.created_at}[order.lstrip("-")]
        descending = order.startswith("-")
        query = _live_processes(account_id)
        if search:
            wanted = search.lower()
            query = query.where(sa.or_(sa.func.lower(c.key).contains(wanted, autoescape=True),
                                       sa.func.lower(c.name).contains(wanted, autoescape=True)))
        if cursor:
            last_value, last_id = decode_cursor(cursor, 2)
            if column is c.created_at:
                last_value = datetime.fromisoformat(last_value)
            after = (sa.tuple_(column, c.id) < sa.tuple_(sa.literal(last_value), last_id)
                     if descending else
                     sa.tuple_(column, c.id) > sa.tuple_(sa.literal(last_value), last_id))
            query = query.where(after)
        ordering = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id.asc())
        rows = self.conn.execute(query.order_by(*ordering).limit(limit + 1)).all()
        items = [_process(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            value = getattr(last, column.name)
            next_cursor = encode_cursor(
                value.isoformat() if isinstance(value, datetime) else value, last.id)
        return Page(items, next_cursor)

    def find_processes(
        self, account_id: int, *, name_contains: str | None,
        order: Sequence[tuple[str, bool]], offset: int, limit: int,
    ) -> tuple[int, list[Process]]:
        """A page by position: the number of matches and `limit` of them from `offset`, sorted
        by `order` (column name, descending?) pairs. Nulls sort first, as the smallest value,
        on both databases."""
        c = t.processes.c
        match = [c.account_id == account_id, c.deleted_at.is_(None)]
        if name_contains:
            match.append(sa.func.lower(c.name).contains(name_contains.lower(), autoescape=True))
        total = self.conn.execute(
            sa.select(sa.func.count()).select_from(t.processes).where(*match)).scalar_one()
        ordering = [PROCESS_ORDER_COLUMNS[name].desc().nulls_last() if descending
                    else PROCESS_ORDER_COLUMNS[name].asc().nulls_first()
                    for name, descending in order]
        rows = self.conn.execute(
            sa.select(*_PROCESS_COLUMNS).select_from(_PROCESS_FROM).where(*match)
            .order_by(*ordering).offset(offset).limit(limit)
        ).all()
        return total, [_process(r) for r in rows]

    def update_process(self, process_id: int, now: datetime, **fields: Any) -> None:
        self.conn.execute(
            t.processes.update().where(t.processes.c.id == process_id)
            .values(updated_at=now, **fields)
        )

    def delete_process(self, process_id: int, now: datetime) -> None:
        self.update_process(process_id, now, deleted_at=now)

    # -- versions --------------------------------------------------------------------------

    def insert_version(
        self, account_id: int, process_id: int, number: int, sha256: str, file_name: str,
        kind: ContentKind, content: bytes, spec: str | None, bpmn_process_id: str | None,
        entry_point: str | None, parameters: list[dict[str, Any]],
        outputs: list[dict[str, Any]], now: datetime, label: str = "", description: str = "",
    ) -> Version:
        row = self.conn.execute(
            t.process_versions.insert()
            .values(account_id=account_id, process_id=process_id, number=number, sha256=sha256,
                    file_name=file_name, kind=kind.value, content=content, size=len(content),
                    spec=spec, bpmn_process_id=bpmn_process_id, entry_point=entry_point,
                    parameters=parameters, outputs=outputs, created_at=now,
                    guid=str(uuid.uuid4()), label=label, description=description)
            .returning(*_VERSION_COLUMNS)
        ).one()
        return _version(row)

    def fetch_startable(self, account_id: int, ref: str | int,
                        number: int | None) -> tuple[Process, int | None] | None:
        """A live process (by key, or by row id when `ref` is an int) and the id of its version
        `number` (else its current one), in one read: the hot path of every start.
        (process, None) when there is no such version."""
        query = _STARTABLE_BY_ID if isinstance(ref, int) else _STARTABLE_BY_KEY
        row = self.conn.execute(query, {"account_id": account_id, "ref": ref,
                                        "number": number}).first()
        return (_process(row), row.version_id) if row else None

    def fetch_version(self, process_id: int, number: int) -> Version | None:
        row = self.conn.execute(
            sa.select(*_VERSION_COLUMNS).where(t.process_versions.c.process_id == process_id,
                                               t.process_versions.c.number == number)
        ).first()
        return _version(row) if row else None

    def fetch_version_by_hash(self, process_id: int, sha256: str) -> Version | None:
        row = self.conn.execute(
            sa.select(*_VERSION_COLUMNS).where(t.process_versions.c.process_id == process_id,
                                               t.process_versions.c.sha256 == sha256)
        ).first()
        return _version(row) if row else None

    def fetch_version_by_id(self, version_id: int) -> Version:
        row = self.conn.execute(
            sa.select(*_VERSION_COLUMNS).where(t.process_versions.c.id == version_id)
        ).one()
        return _version(row)

    def fetch_spec(self, version_id: int) -> str:
        return self.conn.execute(
            sa.select(t.process_versions.c.spec).where(t.process_versions.c.id == version_id)
        ).scalar_one()

    def fetch_content(self, version_id: int) -> bytes:
        return self.conn.execute(
            sa.select(t.process_versions.c.content).where(t.process_versions.c.id == version_id)
        ).scalar_one()

    def last_version_number(self, process_id: int) -> int:
        return self.conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(t.process_versions.c.number), 0))
            .where(t.process_versions.c.process_id == process_id)
        ).scalar_one()

    def list_versions(self, process_id: int) -> list[Version]:
        rows = self.conn.execute(
            sa.select(*_VERSION_COLUMNS).where(t.process_versions.c.process_id == process_id)
            .order_by(t.process_versions.c.number)
        ).all()
        return [_version(r) for r in rows]

    def fetch_process_by_guid(self, account_id: int, guid: str) -> Process | None:
        return self._one_process(
            _live_processes(account_id).where(t.processes.c.guid == guid), False)

    def fetch_process_guid(self, process_id: int) -> str:
        """A process's guid, deleted or not (its instances stay readable)."""
        return self.conn.execute(sa.select(t.processes.c.guid)
                                 .where(t.processes.c.id == process_id)).scalar_one()

    def fetch_account_version(self, account_id: int, version_id: int) -> Version | None:
        row = self.conn.execute(
            sa.select(*_VERSION_COLUMNS).where(t.process_versions.c.account_id == account_id,
                                               t.process_versions.c.id == version_id)
        ).first()
        return _version(row) if row else None

    # -- versions by guid (Sherpa) ---------------------------------------------------------

    def fetch_version_by_guid(self, account_id: int, guid: str) -> Version | None:
        """A live version of a live process by its guid."""
        v, p = t.process_versions.c, t.processes.c
        row = self.conn.execute(
            sa.select(*_VERSION_COLUMNS).join(t.processes, p.id == v.process_id)
            .where(v.account_id == account_id, v.guid == guid, v.deleted_at.is_(None),
                   p.deleted_at.is_(None))
        ).first()
        return _version(row) if row else None

    def update_version(self, version_id: int, **fields: Any) -> None:
        self.conn.execute(t.process_versions.update()
                          .where(t.process_versions.c.id == version_id).values(**fields))

    def newest_live_version(self, process_id: int) -> int | None:
        """The number of the process's newest undeleted version, if any."""
        v = t.process_versions.c
        return self.conn.execute(
            sa.select(sa.func.max(v.number))
            .where(v.process_id == process_id, v.deleted_at.is_(None))
        ).scalar_one()

    def list_account_versions(self, account_id: int, limit: int = 1000) -> list[Version]:
        v, p = t.process_versions.c, t.processes.c
        rows = self.conn.execute(
            sa.select(*_VERSION_COLUMNS).join(t.processes, p.id == v.process_id)
            .where(v.account_id == account_id, v.deleted_at.is_(None), p.deleted_at.is_(None))
            .order_by(v.id).limit(limit)
        ).all()
        return [_version(r) for r in rows]
