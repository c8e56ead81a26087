"""Jobs (the dispatch state of package instances), their logs and their artifacts.

Lock order, so that no two transactions wait on each other in a cycle: the robot row, then
instance and job rows together. Claims and the dispatch loop take instance and job rows with
SKIP LOCKED (never waiting); stops and reports lock the instance row, then change the job;
heartbeats lock the robot row, then renew leases with conditional updates and lock nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.instances import Instance, Status
from flowport.domain.robots import Job, Requirements, Robot, version_key
from flowport.store import tables as t
from flowport.store.base import Page, Queries, decode_seq_cursor, encode_cursor
from flowport.store.instances import _INSTANCE_COLUMNS, _INSTANCE_FROM, _instance

_j = t.jobs.c
_i = t.instances.c
# Built once: on the hot paths (claim, heartbeat, report) building a statement costs more
# than running it.
_JOB_COLUMNS = [c.label(f"job_{c.name}") for c in t.jobs.c]
_LOCK_WORK = (
    sa.select(*_INSTANCE_COLUMNS, *_JOB_COLUMNS)
    .select_from(_INSTANCE_FROM.join(t.jobs, _j.instance_seq == _i.seq))
    .where(_i.account_id == sa.bindparam("account_id"), _i.id == sa.bindparam("instance_id"))
    .with_for_update(of=t.instances)
)
_FETCH_JOB = sa.select(*_JOB_COLUMNS).where(_j.instance_seq == sa.bindparam("seq"))
# Claimable by a robot: ready, its runtime version high enough ('' sorts before every
# version), targeted at it, one of its groups or no one, and no tag it lacks.
_CLAIMABLE = (
    sa.select(*_JOB_COLUMNS)
    .select_from(t.jobs.join(t.instances, _i.seq == _j.instance_seq))
    .where(_j.account_id == sa.bindparam("account_id"), _j.ready_at.is_not(None),
           _j.ready_at <= sa.bindparam("now", type_=t.Moment()),
           _i.status == Status.PENDING.value,
           sa.or_(_j.version_key.is_(None), _j.version_key <= sa.bindparam("version")),
           sa.or_(_j.target_robot_seq.is_(None), _j.target_robot_seq == sa.bindparam("robot")),
           sa.or_(_j.target_group_seq.is_(None),
                  _j.target_group_seq.in_(sa.bindparam("groups", expanding=True))),
           ~sa.exists().where(
               t.job_tags.c.instance_seq == _j.instance_seq,
               t.job_tags.c.tag.not_in(sa.bindparam("tags", expanding=True))))
    .order_by(_j.ready_at, _j.instance_seq).limit(sa.bindparam("limit"))
)
_CLAIM = _CLAIMABLE.with_for_update(skip_locked=True)
_ANY_READY = (sa.select(_j.instance_seq)
              .where(_j.account_id == sa.bindparam("account_id"), _j.ready_at.is_not(None),
                     _j.ready_at <= sa.bindparam("now", type_=t.Moment())).limit(1))
_START = (t.instances.update().where(_i.seq.in_(sa.bindparam("seqs", expanding=True)))
          .values(status=Status.RUNNING.value, revision=_i.revision + 1,
                  updated_at=sa.bindparam("now", type_=t.Moment()),
                  started_at=sa.func.coalesce(_i.started_at,
                                              sa.bindparam("now", type_=t.Moment()))))
_BY_SEQ = (sa.select(*_INSTANCE_COLUMNS).select_from(_INSTANCE_FROM)
           .where(_i.seq.in_(sa.bindparam("seqs", expanding=True))).order_by(_i.seq))
# A job's changing state, written whole.
_SAVE_JOB = t.jobs.update().where(_j.instance_seq == sa.bindparam("seq")).values(
    robot_seq=sa.bindparam("robot"), fencing=sa.bindparam("token"),
    attempts=sa.bindparam("tries"), ready_at=sa.bindparam("ready", type_=t.Moment()),
    lease_expires_at=sa.bindparam("lease", type_=t.Moment()),
    escalate_at=sa.bindparam("escalate", type_=t.Moment()),
    deadline_at=sa.bindparam("deadline", type_=t.Moment()),
    updated_at=sa.bindparam("now", type_=t.Moment()))
_HELD = (sa.select(*_JOB_COLUMNS, _i.id.label("instance_id"), _i.status.label("status"))
         .join(t.instances, _i.seq == _j.instance_seq)
         .where(_j.robot_seq == sa.bindparam("robot"), _j.lease_expires_at.is_not(None))
         .order_by(_j.instance_seq))
_RENEW = (t.jobs.update().where(
    _j.instance_seq == sa.bindparam("seq"), _j.robot_seq == sa.bindparam("robot"),
    _j.fencing == sa.bindparam("token"), _j.lease_expires_at.is_not(None))
    .values(lease_expires_at=sa.bindparam("expires", type_=t.Moment()),
            updated_at=sa.bindparam("now", type_=t.Moment())))


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: datetime
    level: str
    message: str


@dataclass(frozen=True)
class Artifact:
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


def _job(row: Any) -> Job:
    """A job from a row of _JOB_COLUMNS (labelled job_<column>)."""
    m = row._mapping
    return Job(
        instance_seq=m["job_instance_seq"], account_id=m["job_account_id"],
        fencing=m["job_fencing"], attempts=m["job_attempts"],
        max_attempts=m["job_max_attempts"], retry_backoff=m["job_retry_backoff"],
        min_version=m["job_min_version"], tags=tuple(m["job_tags"]),
        target_robot=m["job_target_robot_seq"], target_group=m["job_target_group_seq"],
        robot=m["job_robot_seq"], ready_at=m["job_ready_at"],
        lease_expires_at=m["job_lease_expires_at"], escalate_at=m["job_escalate_at"],
        stop_after=m["job_stop_after"], abort_after=m["job_abort_after"],
        log_lines=m["job_log_lines"], progress_events=m["job_progress_events"],
    )


class JobQueries(Queries):

    def insert_job(self, instance: Instance, needs: Requirements, *, max_attempts: int,
                   retry_backoff: int, stop_after: datetime | None,
                   abort_after: datetime | None, deadline_at: datetime | None,
                   now: datetime) -> None:
        self.conn.execute(t.jobs.insert().values(
            instance_seq=instance.seq, account_id=instance.account_id,
            max_attempts=max_attempts, retry_backoff=retry_backoff,
            min_version=needs.min_version, version_key=version_key(needs.min_version),
            tags=list(needs.tags), target_robot_seq=needs.target_robot,
            target_group_seq=needs.target_group, ready_at=now, deadline_at=deadline_at,
            stop_after=stop_after, abort_after=abort_after, created_at=now, updated_at=now))
        if needs.tags:
            self.conn.execute(t.job_tags.insert(), [
                {"instance_seq": instance.seq, "tag": tag} for tag in needs.tags])

    def fetch_job(self, instance_seq: int) -> Job | None:
        row = self.conn.execute(_FETCH_JOB, {"seq": instance_seq}).first()
        return _job(row) if row else None

    def save_job(self, job: Job, deadline_at: datetime | None, now: datetime) -> None:
        """Write a job's changing state: holder, token, attempts, lease and deadlines."""
        self.conn.execute(_SAVE_JOB, {
            "seq": job.instance_seq, "robot": job.robot, "token": job.fencing,
            "tries": job.attempts, "ready": job.ready_at,
            "lease": job.lease_expires_at, "escalate": job.escalate_at,
            "deadline": deadline_at, "now": now})

    def lock_robot_work(self, account_id: int, instance_id: str
                        ) -> tuple[Instance, Job] | None:
        """A package instance and its job, locked; None when there is no such instance or it
        is not robot work."""
        row = self.conn.execute(_LOCK_WORK, {"account_id": account_id,
                                             "instance_id": instance_id}).first()
        return (_instance(row), _job(row)) if row else None

    def fetch_instances_by_seq(self, seqs: Sequence[int]) -> list[Instance]:
        rows = self.conn.execute(_BY_SEQ, {"seqs": list(seqs)}).all()
        return [_instance(r) for r in rows]

    # -- claiming --------------------------------------------------------------------------

    def any_ready_job(self, account_id: int, now: datetime) -> bool:
        """A cheap read before a claim takes the write lock."""
        return self.conn.execute(_ANY_READY, {"account_id": account_id,
                                              "now": now}).first() is not None

    def claim_ready_jobs(self, robot: Robot, now: datetime, limit: int) -> list[Job]:
        """Up to `limit` claimable jobs this robot may run, oldest first, with their instance
        rows locked; rows another transaction holds are skipped, so replicas never wait on
        each other nor hand one job out twice."""
        rows = self.conn.execute(_CLAIM, self._claim_params(robot, now, limit)).all()
        return [_job(r) for r in rows]

    def robot_has_ready_job(self, robot: Robot, now: datetime) -> bool:
        """Whether a claim by this robot would find a job now (slots aside); locks nothing."""
        return self.conn.execute(_CLAIMABLE, self._claim_params(robot, now, 1)).first() \
            is not None

    @staticmethod
    def _claim_params(robot: Robot, now: datetime, limit: int) -> dict[str, Any]:
        return {"account_id": robot.account_id, "now": now,
                "version": version_key(robot.runtime_version) or "", "robot": robot.seq,
                "groups": list(robot.groups), "tags": list(robot.tags), "limit": limit}

    def start_instances(self, seqs: Sequence[int], now: datetime) -> None:
        """Claimed instances become running (their rows are locked by the claim)."""
        self.conn.execute(_START, {"seqs": list(seqs), "now": now})

    def held_jobs(self, robot_seq: int) -> list[tuple[str, Status, Job]]:
        """The jobs a robot holds: instance id, status, job."""
        rows = self.conn.execute(_HELD, {"robot": robot_seq}).all()
        return [(r.instance_id, Status(r.status), _job(r)) for r in rows]

    def work_of_robots(self, account_id: int, robot_seqs: Sequence[int]
                       ) -> list[tuple[int, Instance]]:
        """The instances the given robots hold now, as (robot seq, instance), oldest first."""
        if not robot_seqs:
            return []
        rows = self.conn.execute(
            sa.select(*_INSTANCE_COLUMNS, _j.robot_seq.label("holder"))
            .select_from(_INSTANCE_FROM.join(t.jobs, _j.instance_seq == _i.seq))
            .where(_i.account_id == account_id, _j.robot_seq.in_(list(robot_seqs)),
                   _j.lease_expires_at.is_not(None))
            .order_by(_i.seq)).all()
        return [(r.holder, _instance(r)) for r in rows]

    def renew_lease(self, robot_seq: int, instance_seq: int, fencing: int,
                    expires_at: datetime, now: datetime) -> bool:
        """Extend a lease the robot still holds under this fencing token."""
        return self.conn.execute(_RENEW, {
            "seq": instance_seq, "robot": robot_seq, "token": fencing,
            "expires": expires_at, "now": now}).rowcount == 1

    def ready_jobs_before(self, account_id: int, ready_at: datetime, instance_seq: int) -> int:
        return self.conn.execute(
            sa.select(sa.func.count()).select_from(t.jobs).where(
                _j.account_id == account_id, _j.ready_at.is_not(None),
                sa.or_(_j.ready_at < ready_at,
                       sa.and_(_j.ready_at == ready_at, _j.instance_seq < instance_seq)))
        ).scalar_one()

    # -- the dispatch loop -----------------------------------------------------------------

    def claim_due_job(self, now: datetime) -> tuple[int, str] | None:
        """One job whose lease expired or whose deadline passed, with its instance row
        locked: (account_id, instance_id). Replicas skip each other's claims."""
        for column in (_j.lease_expires_at, _j.deadline_at):
            row = self.conn.execute(
                sa.select(_i.account_id, _i.id)
                .select_from(t.jobs.join(t.instances, _i.seq == _j.instance_seq))
                .where(column.is_not(None), column <= now)
                .order_by(column).limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is not None:
                return row.account_id, row.id
        return None

    def next_job_due(self) -> datetime | None:
        leases, deadlines = self.conn.execute(sa.select(
            sa.select(sa.func.min(_j.lease_expires_at)).scalar_subquery(),
            sa.select(sa.func.min(_j.deadline_at)).scalar_subquery())).one()
        due = [d for d in (leases, deadlines) if d is not None]
        return min(due) if due else None

    # -- logs ------------------------------------------------------------------------------

    def add_log_lines(self, account_id: int, instance_seq: int,
                      lines: Sequence[tuple[datetime, str, str]], now: datetime) -> None:
        self.conn.execute(t.job_logs.insert(), [
            {"account_id": account_id, "instance_seq": instance_seq, "at": at, "level": level,
             "message": message} for at, level, message in lines])
        self.conn.execute(t.jobs.update().where(_j.instance_seq == instance_seq).values(
            log_lines=_j.log_lines + len(lines), updated_at=now))

    def count_progress_events(self, instance_seq: int, count: int, now: datetime) -> None:
        self.conn.execute(t.jobs.update().where(_j.instance_seq == instance_seq).values(
            progress_events=_j.progress_events + count, updated_at=now))

    def list_log_lines(self, instance_seq: int, cursor: str | None, limit: int) -> Page:
        query = sa.select(t.job_logs).where(t.job_logs.c.instance_seq == instance_seq)
        if cursor:
            query = query.where(t.job_logs.c.seq > decode_seq_cursor(cursor))
        rows = self.conn.execute(query.order_by(t.job_logs.c.seq).limit(limit + 1)).all()
        items = [LogLine(r.seq, r.at, r.level, r.message) for r in rows[:limit]]
        return Page(items, encode_cursor(items[-1].seq) if len(rows) > limit else None)

    # -- artifacts -------------------------------------------------------------------------

    def artifact_usage(self, instance_seq: int, but: str) -> tuple[int, int]:
        """(count, bytes) of a job's artifacts other than `but` (which an upload replaces)."""
        count, size = self.conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(t.job_artifacts.c.size), 0))
            .where(t.job_artifacts.c.instance_seq == instance_seq,
                   t.job_artifacts.c.name != but)
        ).one()
        return count, size

    def put_artifact(self, account_id: int, instance_seq: int, name: str, content_type: str,
                     content: bytes, sha256: str, now: datetime) -> None:
        self.conn.execute(t.job_artifacts.delete().where(
            t.job_artifacts.c.instance_seq == instance_seq, t.job_artifacts.c.name == name))
        self.conn.execute(t.job_artifacts.insert().values(
            account_id=account_id, instance_seq=instance_seq, name=name,
            content_type=content_type, size=len(content), sha256=sha256, content=content,
            created_at=now))

    def list_artifacts(self, instance_seq: int) -> list[Artifact]:
        a = t.job_artifacts.c
        rows = self.conn.execute(
            sa.select(a.name, a.content_type, a.size, a.sha256, a.created_at)
            .where(a.instance_seq == instance_seq).order_by(a.name)).all()
        return [Artifact(r.name, r.content_type, r.size, r.sha256, r.created_at) for r in rows]

    def fetch_artifact(self, instance_seq: int, name: str) -> tuple[Artifact, bytes] | None:
        a = t.job_artifacts.c
        row = self.conn.execute(
            sa.select(a.name, a.content_type, a.size, a.sha256, a.created_at, a.content)
            .where(a.instance_seq == instance_seq, a.name == name)).first()
        if row is None:
            return None
        return Artifact(row.name, row.content_type, row.size, row.sha256,
                        row.created_at), row.content

    # -- packages --------------------------------------------------------------------------

    def fetch_package(self, account_id: int, sha256: str) -> tuple[str, bytes] | None:
        """(file name, content) of a package version of the account with this hash."""
        v = t.process_versions.c
        row = self.conn.execute(
            sa.select(v.file_name, v.content)
            .where(v.account_id == account_id, v.sha256 == sha256, v.kind != "bpmn")
            .limit(1)).first()
        return (row.file_name, row.content) if row else None
