"""The record store's use cases, and the view of it that script tasks get."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flowport.domain.accounts import Permission, Principal
from flowport.errors import BadInput, NotFound
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.store import Savepoint, Tx

ENTITY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


def check_entity(entity: str) -> str:
    if not ENTITY_PATTERN.match(entity):
        raise BadInput("entity must be a name of letters, digits and '_'", field="entity")
    return entity


def check_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInput("a record is a JSON object", field="data")
    return {k: v for k, v in data.items() if k != "id"}


class TxRecords:
    """RecordAccess bound to one account and one open transaction: a script's writes commit or
    roll back with the step that made them."""

    def __init__(self, tx: Tx, account_id: int, now: datetime) -> None:
        self._tx, self._account_id, self._now = tx, account_id, now
        self._in_scope = False
        self._savepoint: Savepoint | None = None

    @contextmanager
    def scope(self) -> Iterator[None]:
        # The savepoint opens at the scope's first write: most scripts write nothing, and on
        # PostgreSQL each SAVEPOINT is a round trip.
        self._in_scope, self._savepoint = True, None
        try:
            yield
        except BaseException:
            if self._savepoint is not None:
                self._savepoint.rollback()
            raise
        else:
            if self._savepoint is not None:
                self._savepoint.commit()
        finally:
            self._in_scope, self._savepoint = False, None

    def _writing(self) -> None:
        if self._in_scope and self._savepoint is None:
            self._savepoint = self._tx.savepoint()

    def list(self, entity: str) -> list[dict[str, Any]]:
        return self._tx.list_records(self._account_id, check_entity(entity))

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        return self._tx.fetch_record(self._account_id, check_entity(entity), str(record_id))

    def add(self, entity: str, data: dict[str, Any]) -> str:
        record_id = str(uuid.uuid4())
        self._writing()
        self._tx.insert_record(self._account_id, check_entity(entity), record_id,
                               check_data(data), self._now)
        return record_id

    def replace(self, entity: str, record_id: str, data: dict[str, Any]) -> bool:
        self._writing()
        return self._tx.update_record(self._account_id, check_entity(entity), str(record_id),
                                      check_data(data), self._now)

    def put(self, entity: str, record_id: str, data: dict[str, Any]) -> None:
        if not self.replace(entity, record_id, data):
            self._tx.insert_record(self._account_id, check_entity(entity), str(record_id),
                                   check_data(data), self._now)

    def delete(self, entity: str, record_id: str) -> bool:
        self._writing()
        return self._tx.delete_record(self._account_id, check_entity(entity), str(record_id))


def list_records(ctx: Context, who: Principal, entity: str) -> list[dict[str, Any]]:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return TxRecords(tx, who.account_id, ctx.clock.now()).list(entity)


def get_record(ctx: Context, who: Principal, entity: str, record_id: str) -> dict[str, Any]:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        record = TxRecords(tx, who.account_id, ctx.clock.now()).get(entity, record_id)
    if record is None:
        raise NotFound(f"no record {record_id!r} in {entity!r}")
    return record


def add_record(ctx: Context, who: Principal, entity: str, data: Any) -> dict[str, Any]:
    require(who, Permission.RECORDS_WRITE)
    with ctx.store.transaction() as tx:
        records = TxRecords(tx, who.account_id, ctx.clock.now())
        record_id = records.add(entity, check_data(data))
        return {"id": record_id, **check_data(data)}


def put_record(ctx: Context, who: Principal, entity: str, record_id: str,
               data: Any) -> dict[str, Any]:
    """Replace a record. Ids are the server's (POST makes them), so an unknown id is a 404:
    a PUT never creates, and cannot probe or claim another account's ids."""
    require(who, Permission.RECORDS_WRITE)
    try:
        record_id = str(uuid.UUID(record_id))
    except ValueError:
        raise BadInput("a record id is a UUID", field="id") from None
    with ctx.store.transaction() as tx:
        if not TxRecords(tx, who.account_id, ctx.clock.now()).replace(entity, record_id, data):
            raise NotFound(f"no record {record_id!r} in {entity!r}")
    return {"id": record_id, **check_data(data)}


def delete_record(ctx: Context, who: Principal, entity: str, record_id: str) -> None:
    require(who, Permission.RECORDS_WRITE)
    with ctx.store.transaction() as tx:
        if not TxRecords(tx, who.account_id, ctx.clock.now()).delete(entity, record_id):
            raise NotFound(f"no record {record_id!r} in {entity!r}")
