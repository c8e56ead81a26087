"""Robot work as people see it: an instance's job, why it is still pending, its logs and its
artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance, Status
from flowport.domain.robots import Job, Queue, Reason, pending_reasons
from flowport.errors import Forbidden, NotFound
from flowport.services.agents import check_artifact_name
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.services.robots import robot_of
from flowport.store import Artifact, Page, Tx


@dataclass(frozen=True)
class Ref:
    id: str
    name: str


@dataclass(frozen=True)
class JobView:
    instance: Instance
    job: Job
    robot: Ref | None  # who holds it, or last held it
    target_robot: Ref | None
    target_group: Ref | None


def _job(tx: Tx, who: Principal, instance_id: str, *, own: bool = False
         ) -> tuple[Instance, Job]:
    if not own:
        require(who, Permission.READ)
    instance = tx.fetch_instance(who.account_id, instance_id)
    job = tx.fetch_job(instance.seq) if instance is not None else None
    if instance is None or job is None:
        raise NotFound(f"no robot job {instance_id!r}: the instance is unknown, or it is not "
                       f"a package instance")
    return instance, job


def _view(tx: Tx, instance: Instance, job: Job) -> JobView:
    robots = tx.robot_refs([s for s in (job.robot, job.target_robot) if s is not None])
    groups = tx.group_refs([job.target_group] if job.target_group is not None else [])

    def ref(seq: int | None, table: dict[int, tuple[str, str]]) -> Ref | None:
        return Ref(*table[seq]) if seq is not None and seq in table else None

    return JobView(instance, job, ref(job.robot, robots), ref(job.target_robot, robots),
                   ref(job.target_group, groups))


def get_job(ctx: Context, who: Principal, instance_id: str, *, own: bool = False) -> JobView:
    """`own`: a robot reads a job it holds, held, or that targets it (after the lookup, so
    another account's job is a 404 to it too)."""
    with ctx.store.transaction(write=False) as tx:
        instance, job = _job(tx, who, instance_id, own=own)
        if own and robot_of(who) not in (job.robot, job.target_robot):
            raise Forbidden("a robot reads its own jobs only")
        return _view(tx, instance, job)


def _reasons(ctx: Context, tx: Tx, who: Principal, instance: Instance,
             job: Job) -> list[Reason]:
    if instance.status is not Status.PENDING:
        return []
    robots = tx.all_robots(who.account_id)
    names = tx.robot_refs([job.target_robot] if job.target_robot else [])
    groups = tx.group_refs([job.target_group] if job.target_group else [])
    ahead = tx.ready_jobs_before(who.account_id, job.ready_at, job.instance_seq) \
        if job.ready_at is not None else 0
    queue = Queue(ahead=ahead,
                  robot_name=names.get(job.target_robot or 0, ("", None))[1],
                  group_name=groups.get(job.target_group or 0, ("", None))[1])
    disconnect = timedelta(seconds=ctx.settings.robot_disconnect_seconds)
    return pending_reasons(job, robots, ctx.clock.now(), disconnect, queue)


def get_pending_reasons(ctx: Context, who: Principal, instance_id: str
                        ) -> tuple[Instance, list[Reason]]:
    """Why a pending job is not running now, from the robots as they are; [] otherwise."""
    with ctx.store.transaction(write=False) as tx:
        instance, job = _job(tx, who, instance_id)
        return instance, _reasons(ctx, tx, who, instance, job)


def list_logs(ctx: Context, who: Principal, instance_id: str, cursor: str | None,
              limit: int) -> Page:
    """The job's log lines, oldest first."""
    with ctx.store.transaction(write=False) as tx:
        instance, _ = _job(tx, who, instance_id)
        return tx.list_log_lines(instance.seq, cursor, limit)


def list_artifacts(ctx: Context, who: Principal, instance_id: str) -> list[Artifact]:
    with ctx.store.transaction(write=False) as tx:
        instance, _ = _job(tx, who, instance_id)
        return tx.list_artifacts(instance.seq)


def get_artifact(ctx: Context, who: Principal, instance_id: str, name: str
                 ) -> tuple[Artifact, bytes]:
    with ctx.store.transaction(write=False) as tx:
        instance, _ = _job(tx, who, instance_id)
        check_artifact_name(name)
        found = tx.fetch_artifact(instance.seq, name)
    if found is None:
        raise NotFound(f"job {instance_id!r} has no artifact {name!r}")
    return found


@dataclass(frozen=True)
class WorkView:
    """Everything about a package instance's robot work that its page shows."""

    job: JobView
    reasons: list[Reason]  # why it is still pending; [] otherwise
    logs: Page  # the first `log_limit` log lines, oldest first
    artifacts: list[Artifact]


def work_view(ctx: Context, who: Principal, instance_id: str, log_limit: int
              ) -> WorkView | None:
    """The robot work of an instance; None when it is not a package instance."""
    with ctx.store.transaction(write=False) as tx:
        try:
            instance, job = _job(tx, who, instance_id)
        except NotFound:
            return None
        return WorkView(_view(tx, instance, job), _reasons(ctx, tx, who, instance, job),
                        tx.list_log_lines(instance.seq, None, log_limit),
                        tx.list_artifacts(instance.seq))
