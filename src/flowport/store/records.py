"""The record store's documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.store import tables as t
from flowport.store.base import Queries


class RecordQueries(Queries):

    def list_records(self, account_id: int, entity: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            sa.select(t.records.c.id, t.records.c.data)
            .where(t.records.c.account_id == account_id, t.records.c.entity == entity)
            .order_by(t.records.c.seq)
        ).all()
        return [{"id": r.id, **r.data} for r in rows]

    def fetch_record(self, account_id: int, entity: str, record_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            sa.select(t.records.c.data).where(
                t.records.c.account_id == account_id, t.records.c.entity == entity,
                t.records.c.id == record_id)
        ).first()
        return {"id": record_id, **row.data} if row else None

    def insert_record(self, account_id: int, entity: str, record_id: str,
                      data: dict[str, Any], now: datetime) -> None:
        self.conn.execute(t.records.insert().values(
            account_id=account_id, entity=entity, id=record_id, data=data,
            created_at=now, updated_at=now))

    def update_record(self, account_id: int, entity: str, record_id: str,
                      data: dict[str, Any], now: datetime) -> bool:
        result = self.conn.execute(
            t.records.update().where(
                t.records.c.account_id == account_id, t.records.c.entity == entity,
                t.records.c.id == record_id)
            .values(data=data, updated_at=now))
        return result.rowcount == 1

    def delete_record(self, account_id: int, entity: str, record_id: str) -> bool:
        result = self.conn.execute(t.records.delete().where(
            t.records.c.account_id == account_id, t.records.c.entity == entity,
            t.records.c.id == record_id))
        return result.rowcount == 1

