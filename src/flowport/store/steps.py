"""Executor steps, their workers' claims, and the links to cleanup instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.instances import Instance, Status
from flowport.domain.steps import (
    Cleanup,
    CleanupKind,
    Step,
    StepKind,
    StepStatus,
    cleanup_state,
)
from flowport.store import tables as t
from flowport.store.base import Queries
from flowport.store.instances import _INSTANCE_COLUMNS, _INSTANCE_FROM, _instance

_STEP_COLUMNS = (*t.steps.c, t.instances.c.id.label("instance_id"))
_STEP_FROM = t.steps.join(t.instances, t.instances.c.seq == t.steps.c.instance_seq)


def _step(row: Any) -> Step:
    m = row._mapping
    return Step(
        seq=m["seq"], id=m["id"], account_id=m["account_id"], instance_seq=m["instance_seq"],
        instance_id=m["instance_id"], uid=m["uid"], element_id=m["element_id"], name=m["name"],
        namespace=m["namespace"], executor=m["executor"], kind=StepKind(m["kind"]),
        target_seq=m["target_seq"], status=StepStatus(m["status"]), params=m["params"],
        outputs=m["outputs"], reason=m["reason"], progress=m["progress"], detail=m["detail"],
        attempts=m["attempts"], due_at=m["due_at"], lease_until=m["lease_until"],
        created_at=m["created_at"], updated_at=m["updated_at"],
        completed_at=m["completed_at"], ended_at=m["ended_at"],
    )


_linked = t.instances.alias("linked")
_target = t.instances.alias("target")
_CLEANUP_QUERY = (
    sa.select(t.cleanups.c.kind, t.cleanups.c.target_seq, t.cleanups.c.instance_seq,
              t.cleanups.c.created_at, _linked.c.id.label("instance_id"),
              _linked.c.status, _linked.c.ended_at, _target.c.id.label("target_id"))
    .select_from(t.cleanups.join(_linked, _linked.c.seq == t.cleanups.c.instance_seq)
                 .join(_target, _target.c.seq == t.cleanups.c.target_seq))
)


def _cleanup(row: Any) -> Cleanup:
    return Cleanup(kind=CleanupKind(row.kind), state=cleanup_state(Status(row.status)),
                   target_seq=row.target_seq, target_id=row.target_id,
                   instance_seq=row.instance_seq, instance_id=row.instance_id,
                   created_at=row.created_at, ended_at=row.ended_at)


class StepQueries(Queries):

    def insert_step(
        self, *, id: str, account_id: int, instance_seq: int, uid: str | None,
        element_id: str, name: str | None, namespace: str, executor: str, kind: StepKind,
        target_seq: int | None, status: StepStatus, params: dict[str, Any], now: datetime,
        due_at: datetime | None, reason: str | None = None,
    ) -> int:
        final = status in (StepStatus.INPUT_FAILED, StepStatus.WITHDRAWN)
        return self.conn.execute(
            t.steps.insert()
            .values(id=id, account_id=account_id, instance_seq=instance_seq, uid=uid,
                    element_id=element_id, name=name, namespace=namespace, executor=executor,
                    kind=kind.value, target_seq=target_seq, status=status.value, params=params,
                    reason=reason, due_at=due_at, attempts=0, created_at=now, updated_at=now,
                    ended_at=now if final else None)
            .returning(t.steps.c.seq)
        ).scalar_one()

    def fetch_step(self, account_id: int, *, step_id: str | None = None,
                   seq: int | None = None, lock: bool = False) -> Step | None:
        query = sa.select(*_STEP_COLUMNS).select_from(_STEP_FROM).where(
            t.steps.c.account_id == account_id)
        if step_id is not None:
            query = query.where(t.steps.c.id == step_id)
        if seq is not None:
            query = query.where(t.steps.c.seq == seq)
        if lock:
            query = query.with_for_update(of=t.steps)
        row = self.conn.execute(query).first()
        return _step(row) if row else None

    def fetch_run_step(self, instance_seq: int, uid: str) -> Step | None:
        """The executor step of element activation `uid`, if an executor runs it."""
        row = self.conn.execute(
            sa.select(*_STEP_COLUMNS).select_from(_STEP_FROM)
            .where(t.steps.c.instance_seq == instance_seq, t.steps.c.uid == uid)
        ).first()
        return _step(row) if row else None

    def list_steps(self, instance_seq: int) -> list[Step]:
        rows = self.conn.execute(
            sa.select(*_STEP_COLUMNS).select_from(_STEP_FROM)
            .where(t.steps.c.instance_seq == instance_seq)
            .order_by(t.steps.c.created_at, t.steps.c.seq)
        ).all()
        return [_step(r) for r in rows]

    def update_step(self, seq: int, now: datetime, **fields: Any) -> None:
        if isinstance(fields.get("status"), StepStatus):
            fields["status"] = fields["status"].value
        self.conn.execute(t.steps.update().where(t.steps.c.seq == seq)
                          .values(updated_at=now, **fields))

    def claim_step(self, now: datetime, lease_until: datetime) -> tuple[Step, bool] | None:
        """One step that is due, or whose worker's lease ran out (then `lost` is True),
        claimed until `lease_until`; replicas skip each other's claims."""
        for column, lost in ((t.steps.c.due_at, False), (t.steps.c.lease_until, True)):
            seq = self.conn.execute(
                sa.select(t.steps.c.seq).where(column.is_not(None), column <= now)
                .order_by(column, t.steps.c.seq).limit(1).with_for_update(skip_locked=True)
            ).scalar()
            if seq is not None:
                self.conn.execute(t.steps.update().where(t.steps.c.seq == seq)
                                  .values(due_at=None, lease_until=lease_until))
                row = self.conn.execute(sa.select(*_STEP_COLUMNS).select_from(_STEP_FROM)
                                        .where(t.steps.c.seq == seq)).one()
                return _step(row), lost
        return None

    def next_step_due(self) -> datetime | None:
        due = self.conn.execute(sa.select(sa.func.min(t.steps.c.due_at))).scalar_one()
        lease = self.conn.execute(sa.select(sa.func.min(t.steps.c.lease_until))).scalar_one()
        return min((d for d in (due, lease) if d is not None), default=None)

    def withdraw_queued_steps(self, instance_seq: int, now: datetime) -> int:
        return self.conn.execute(
            t.steps.update()
            .where(t.steps.c.instance_seq == instance_seq,
                   t.steps.c.status == StepStatus.QUEUED.value)
            .values(status=StepStatus.WITHDRAWN.value, due_at=None, lease_until=None,
                    updated_at=now, ended_at=now)
        ).rowcount

    # -- cleanup links ---------------------------------------------------------------------

    def insert_cleanup(self, account_id: int, target_seq: int, instance_seq: int,
                       kind: CleanupKind, now: datetime) -> None:
        self.conn.execute(t.cleanups.insert().values(
            account_id=account_id, target_seq=target_seq, instance_seq=instance_seq,
            kind=kind.value, created_at=now))

    def list_cleanups(self, target_seq: int) -> list[Cleanup]:
        """The instance's cleanup links, oldest first."""
        rows = self.conn.execute(_CLEANUP_QUERY.where(t.cleanups.c.target_seq == target_seq)
                                 .order_by(t.cleanups.c.seq)).all()
        return [_cleanup(r) for r in rows]

    def fetch_cleanup_link(self, instance_seq: int) -> Cleanup | None:
        """The link that makes `instance_seq` a cleanup instance, if it is one."""
        row = self.conn.execute(
            _CLEANUP_QUERY.where(t.cleanups.c.instance_seq == instance_seq)).first()
        return _cleanup(row) if row else None

    def fetch_instance_by_seq(self, account_id: int, seq: int) -> Instance | None:
        row = self.conn.execute(
            sa.select(*_INSTANCE_COLUMNS).select_from(_INSTANCE_FROM)
            .where(t.instances.c.account_id == account_id, t.instances.c.seq == seq)
        ).first()
        return _instance(row) if row else None

    def mark_instance_deleted(self, instance_seq: int, now: datetime) -> None:
        self.conn.execute(t.instances.update().where(t.instances.c.seq == instance_seq)
                          .values(deleted_at=now, updated_at=now))
