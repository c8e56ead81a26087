"""Robots, their credentials, and robot groups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.accounts import Principal, Role
from flowport.domain.robots import Robot, RobotGroup, RobotStatus
from flowport.store import tables as t
from flowport.store.base import Page, Queries, decode_seq_cursor, encode_cursor

_r = t.robots.c
_g = t.robot_groups.c
_m = t.robot_group_members.c
# How many jobs each robot holds now (a lease is set only while a robot holds a job).
_BUSY = (sa.select(sa.func.count()).select_from(t.jobs)
         .where(t.jobs.c.robot_seq == _r.seq, t.jobs.c.lease_expires_at.is_not(None))
         .scalar_subquery().label("busy"))
_ROBOT_COLUMNS = [c for c in t.robots.c if not c.name.endswith("_hash")]
_LIVE_ROBOTS = sa.select(*_ROBOT_COLUMNS, _BUSY,
                         _r.credential_hash.is_not(None).label("enrolled")).where(
    _r.deleted_at.is_(None))
# Built once: claims and heartbeats read the calling robot every time.
_ROBOT_BY_SEQ = _LIVE_ROBOTS.where(_r.account_id == sa.bindparam("account_id"),
                                   _r.seq == sa.bindparam("seq"))
_LOCK_ROBOT = sa.select(_r.seq).where(_r.seq == sa.bindparam("seq")).with_for_update()
_GROUPS_OF = (sa.select(_m.group_seq, _m.robot_seq)
              .join(t.robot_groups, _g.seq == _m.group_seq)
              .where(_m.robot_seq.in_(sa.bindparam("robots", expanding=True)),
                     _g.deleted_at.is_(None)))
_TOUCH = t.robots.update().where(_r.seq == sa.bindparam("row")).values(
    last_heartbeat_at=sa.bindparam("now", type_=t.Moment()),
    updated_at=sa.bindparam("now", type_=t.Moment()))


class RobotQueries(Queries):

    def _robots(self, rows: Sequence[Any]) -> list[Robot]:
        groups: dict[int, list[int]] = defaultdict(list)
        if rows:
            for group_seq, robot_seq in self.conn.execute(
                    _GROUPS_OF, {"robots": [r.seq for r in rows]}).all():
                groups[robot_seq].append(group_seq)
        return [Robot(
            seq=r.seq, id=r.id, account_id=r.account_id, name=r.name,
            description=r.description, machine=r.machine, tags=tuple(r.tags),
            runtime_version=r.runtime_version, slots=r.slots,
            last_heartbeat_at=r.last_heartbeat_at, enrolled=r.enrolled,
            created_at=r.created_at, updated_at=r.updated_at, busy=r.busy,
            groups=tuple(sorted(groups[r.seq])), ip=r.ip, mac=r.mac,
            reported_status=None if r.reported_status is None
            else RobotStatus(r.reported_status),
        ) for r in rows]

    def insert_robot(self, account_id: int, robot_id: str, name: str, description: str,
                     tags: Sequence[str], slots: int, enrollment_hash: str,
                     enrollment_expires_at: datetime, now: datetime) -> int:
        return self.conn.execute(
            t.robots.insert().values(
                id=robot_id, account_id=account_id, name=name, description=description,
                tags=list(tags), slots=slots, enrollment_hash=enrollment_hash,
                enrollment_expires_at=enrollment_expires_at, created_at=now, updated_at=now)
            .returning(_r.seq)
        ).scalar_one()

    def fetch_robot(self, account_id: int, robot_id: str) -> Robot | None:
        rows = self.conn.execute(_LIVE_ROBOTS.where(
            _r.account_id == account_id, _r.id == robot_id)).all()
        return self._robots(rows)[0] if rows else None

    def fetch_robot_by_seq(self, account_id: int, seq: int, *, lock: bool = False
                           ) -> Robot | None:
        if lock:  # serializes one robot's claims, so it never takes more jobs than slots
            self.conn.execute(_LOCK_ROBOT, {"seq": seq})
        rows = self.conn.execute(_ROBOT_BY_SEQ, {"account_id": account_id, "seq": seq}).all()
        return self._robots(rows)[0] if rows else None

    def list_robots(self, account_id: int, cursor: str | None, limit: int) -> Page:
        query = _LIVE_ROBOTS.where(_r.account_id == account_id)
        if cursor:
            query = query.where(_r.seq > decode_seq_cursor(cursor))
        rows = self.conn.execute(query.order_by(_r.seq).limit(limit + 1)).all()
        items = self._robots(rows[:limit])
        return Page(items, encode_cursor(items[-1].seq) if len(rows) > limit else None)

    def all_robots(self, account_id: int, limit: int = 1000) -> list[Robot]:
        rows = self.conn.execute(_LIVE_ROBOTS.where(_r.account_id == account_id)
                                 .order_by(_r.seq).limit(limit)).all()
        return self._robots(rows)

    def robot_name_taken(self, account_id: int, name: str, but: int | None = None) -> bool:
        query = sa.select(_r.seq).where(_r.account_id == account_id, _r.name == name,
                                        _r.deleted_at.is_(None))
        if but is not None:
            query = query.where(_r.seq != but)
        return self.conn.execute(query).first() is not None

    def update_robot(self, seq: int, now: datetime, **fields: Any) -> None:
        if "tags" in fields:
            fields["tags"] = list(fields["tags"])
        self.conn.execute(t.robots.update().where(_r.seq == seq)
                          .values(updated_at=now, **fields))

    def delete_robot(self, seq: int, now: datetime) -> None:
        """Soft delete: the credential and any enrollment token stop working at once."""
        self.conn.execute(t.robot_group_members.delete().where(_m.robot_seq == seq))
        self.update_robot(seq, now, deleted_at=now, credential_hash=None, enrollment_hash=None,
                          enrollment_expires_at=None)

    def enroll_robot(self, enrollment_hash: str, credential_hash: str, now: datetime,
                     **fields: Any) -> tuple[int, int] | None:
        """Exchange a live one-time token for a credential: (account_id, seq), or None when
        the token is unknown, used or expired. One statement, so two racing uses cannot both
        win."""
        row = self.conn.execute(
            t.robots.update()
            .where(_r.enrollment_hash == enrollment_hash, _r.enrollment_expires_at > now,
                   _r.deleted_at.is_(None))
            .values(credential_hash=credential_hash, enrollment_hash=None,
                    enrollment_expires_at=None, last_heartbeat_at=now, updated_at=now,
                    **fields)
            .returning(_r.account_id, _r.seq)
        ).first()
        return (row.account_id, row.seq) if row else None

    def find_robot_principal(self, credential_hash: str) -> Principal | None:
        row = self.conn.execute(
            sa.select(_r.seq, _r.account_id, _r.name)
            .where(_r.credential_hash == credential_hash, _r.deleted_at.is_(None))
        ).first()
        if row is None:
            return None
        return Principal(row.account_id, None, f"robot:{row.name}", frozenset({Role.ROBOT}),
                         robot_id=row.seq)

    def robot_refs(self, seqs: Sequence[int]) -> dict[int, tuple[str, str]]:
        """Public id and name of robots by row number, deleted ones included."""
        rows = self.conn.execute(sa.select(_r.seq, _r.id, _r.name).where(_r.seq.in_(seqs)))
        return {r.seq: (r.id, r.name) for r in rows}

    def group_refs(self, seqs: Sequence[int]) -> dict[int, tuple[str, str]]:
        rows = self.conn.execute(sa.select(_g.seq, _g.id, _g.name).where(_g.seq.in_(seqs)))
        return {r.seq: (r.id, r.name) for r in rows}

    def touch_robot(self, seq: int, now: datetime, **fields: Any) -> None:
        """A sign of life (a heartbeat), with what the robot says about itself."""
        if fields:
            self.update_robot(seq, now, last_heartbeat_at=now, **fields)
        else:
            self.conn.execute(_TOUCH, {"row": seq, "now": now})

    # -- groups ----------------------------------------------------------------------------

    def _groups(self, rows: Sequence[Any]) -> list[RobotGroup]:
        members: dict[int, list[str]] = defaultdict(list)
        if rows:
            for group_seq, robot_id in self.conn.execute(
                sa.select(_m.group_seq, _r.id).join(t.robots, _r.seq == _m.robot_seq)
                .where(_m.group_seq.in_([g.seq for g in rows]), _r.deleted_at.is_(None))
                .order_by(_r.seq)
            ).all():
                members[group_seq].append(robot_id)
        return [RobotGroup(g.seq, g.id, g.account_id, g.name, g.description,
                           tuple(members[g.seq]), g.created_at, g.updated_at) for g in rows]

    def insert_group(self, account_id: int, group_id: str, name: str, description: str,
                     now: datetime) -> int:
        return self.conn.execute(
            t.robot_groups.insert().values(id=group_id, account_id=account_id, name=name,
                                           description=description, created_at=now,
                                           updated_at=now)
            .returning(_g.seq)
        ).scalar_one()

    def fetch_group(self, account_id: int, group_id: str) -> RobotGroup | None:
        rows = self.conn.execute(sa.select(t.robot_groups).where(
            _g.account_id == account_id, _g.id == group_id, _g.deleted_at.is_(None))).all()
        return self._groups(rows)[0] if rows else None

    def fetch_group_by_number(self, account_id: int, seq: int) -> RobotGroup | None:
        """A live group of the account by its number (schedules and Sherpa name it so)."""
        rows = self.conn.execute(sa.select(t.robot_groups).where(
            _g.account_id == account_id, _g.seq == seq, _g.deleted_at.is_(None))).all()
        return self._groups(rows)[0] if rows else None

    def list_groups(self, account_id: int) -> list[RobotGroup]:
        rows = self.conn.execute(sa.select(t.robot_groups).where(
            _g.account_id == account_id, _g.deleted_at.is_(None)).order_by(_g.seq)).all()
        return self._groups(rows)

    def group_name_taken(self, account_id: int, name: str, but: int | None = None) -> bool:
        query = sa.select(_g.seq).where(_g.account_id == account_id, _g.name == name,
                                        _g.deleted_at.is_(None))
        if but is not None:
            query = query.where(_g.seq != but)
        return self.conn.execute(query).first() is not None

    def update_group(self, seq: int, now: datetime, **fields: Any) -> None:
        self.conn.execute(t.robot_groups.update().where(_g.seq == seq)
                          .values(updated_at=now, **fields))

    def delete_group(self, seq: int, now: datetime) -> None:
        self.conn.execute(t.robot_group_members.delete().where(_m.group_seq == seq))
        self.update_group(seq, now, deleted_at=now)

    def add_member(self, group_seq: int, robot_seq: int) -> bool:
        """False when the robot was a member already."""
        exists = self.conn.execute(sa.select(_m.group_seq).where(
            _m.group_seq == group_seq, _m.robot_seq == robot_seq)).first()
        if exists:
            return False
        self.conn.execute(t.robot_group_members.insert().values(group_seq=group_seq,
                                                               robot_seq=robot_seq))
        return True

    def remove_member(self, group_seq: int, robot_seq: int) -> bool:
        return self.conn.execute(t.robot_group_members.delete().where(
            _m.group_seq == group_seq, _m.robot_seq == robot_seq)).rowcount == 1
