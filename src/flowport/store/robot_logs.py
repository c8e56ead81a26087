"""The account's robot log (Sherpa's Log): lines not tied to one run's stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.logs import RobotLog
from flowport.store import tables as t
from flowport.store.base import Queries

_l = t.robot_logs.c


def _log(row: Any) -> RobotLog:
    return RobotLog(seq=row.seq, guid=row.guid, account_id=row.account_id,
                    robot_seq=row.robot_seq, version_id=row.version_id,
                    instance_seq=row.instance_seq, level=row.level, message=row.message,
                    created_at=row.created_at)


class RobotLogQueries(Queries):

    def insert_robot_log(self, account_id: int, guid: str, robot_seq: int | None,
                         version_id: int | None, instance_seq: int | None, level: int,
                         message: str, now: datetime) -> None:
        self.conn.execute(t.robot_logs.insert().values(
            account_id=account_id, guid=guid, robot_seq=robot_seq, version_id=version_id,
            instance_seq=instance_seq, level=level, message=message, created_at=now))

    def fetch_robot_log(self, account_id: int, guid: str) -> RobotLog | None:
        row = self.conn.execute(sa.select(t.robot_logs).where(
            _l.account_id == account_id, _l.guid == guid)).first()
        return _log(row) if row else None

    def list_robot_logs(self, account_id: int, *, robot_seq: int | None,
                        instance_seq: int | None, offset: int, limit: int) -> list[RobotLog]:
        """Newest first."""
        query = sa.select(t.robot_logs).where(_l.account_id == account_id)
        if robot_seq is not None:
            query = query.where(_l.robot_seq == robot_seq)
        if instance_seq is not None:
            query = query.where(_l.instance_seq == instance_seq)
        rows = self.conn.execute(
            query.order_by(_l.created_at.desc(), _l.seq.desc()).offset(offset).limit(limit))
        return [_log(r) for r in rows]

    def purge_robot_logs(self, account_id: int, before: datetime) -> int:
        return self.conn.execute(t.robot_logs.delete().where(
            _l.account_id == account_id, _l.created_at < before)).rowcount
