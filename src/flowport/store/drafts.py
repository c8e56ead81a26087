"""Process drafts: one per process, replaced by each save."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from flowport.domain.processes import Draft, DraftKind
from flowport.store import tables as t
from flowport.store.base import Queries


class DraftQueries(Queries):

    def save_draft(self, account_id: int, process_id: int, kind: DraftKind, content: bytes,
                   sha256: str, saved_by: str | None, now: datetime) -> None:
        """Replace the process's draft. The caller holds the process row locked, so an update
        then an insert cannot race (and needs no database-specific upsert)."""
        values = {"kind": kind.value, "content": content, "sha256": sha256,
                  "saved_by": saved_by, "saved_at": now}
        updated = self.conn.execute(
            t.process_drafts.update().where(t.process_drafts.c.process_id == process_id)
            .values(**values)).rowcount
        if not updated:
            self.conn.execute(t.process_drafts.insert().values(
                process_id=process_id, account_id=account_id, **values))

    def fetch_draft(self, process_id: int) -> Draft | None:
        row = self.conn.execute(
            sa.select(t.process_drafts).where(t.process_drafts.c.process_id == process_id)
        ).first()
        if row is None:
            return None
        return Draft(row.process_id, DraftKind(row.kind), row.content, row.sha256,
                     row.saved_by, row.saved_at)

    def delete_draft(self, process_id: int) -> None:
        self.conn.execute(
            t.process_drafts.delete().where(t.process_drafts.c.process_id == process_id))
