"""Robot work inside the caller's transaction: queue a package instance's job, hand it back,
end it, stop it. Each function takes a transaction that holds the instance's row lock and
writes the instance, its job and an event together; `after_commit` then wakes whoever waits.

This is the seam for starting robot work from elsewhere: a BPMN `robot` service task starts a
child package instance with `start_child` in the parent's own transaction, and every end of
robot work passes through `end`, where the parent can be resumed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flowport.domain.accounts import Principal
from flowport.domain.instances import Instance, Status, check_transition
from flowport.domain.processes import Process, Version, validate_variables
from flowport.domain.robots import Job, Requirements, check_tags, next_deadline, retry_delay
from flowport.domain.steps import StepStatus
from flowport.errors import BadInput, NotFound
from flowport.services.context import Context
from flowport.store import Tx

STOPS = {False: (Status.STOPPING, Status.STOPPED), True: (Status.ABORTING, Status.ABORTED)}


def work_key(account_id: int) -> str:
    """The notifier key robots of an account wait on for new work."""
    return f"robot-work:{account_id}"


@dataclass(frozen=True)
class RobotOptions:
    """How one package instance is dispatched, beside what its process says."""

    stop_after: datetime | None = None    # then it is stopped (stopping → stopped)
    abort_after: datetime | None = None   # then it is aborted
    robot_id: str | None = None           # only this robot may run it
    robot_group_id: str | None = None     # only members of this group may run it
    tags: tuple[str, ...] = ()            # tags the robot needs besides the process's

    @property
    def given(self) -> bool:
        return self != RobotOptions()


def check_options(options: RobotOptions, now: datetime) -> RobotOptions:
    for name in ("stop_after", "abort_after"):
        moment = getattr(options, name)
        if moment is None:
            continue
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise BadInput(f"{name} must be a date-time with a time zone", field=name)
        if moment <= now:
            raise BadInput(f"{name} is in the past", field=name)
    return replace(options, tags=check_tags(options.tags, "robot_tags"))


def enqueue(tx: Tx, process: Process, instance: Instance, options: RobotOptions,
            now: datetime) -> None:
    """Queue a new pending package instance's job, with the process's requirements."""
    target_robot = target_group = None
    if options.robot_id is not None:
        robot = tx.fetch_robot(instance.account_id, options.robot_id)
        if robot is None:
            raise NotFound(f"no robot {options.robot_id!r}", field="robot_id")
        target_robot = robot.seq
    if options.robot_group_id is not None:
        group = tx.fetch_group(instance.account_id, options.robot_group_id)
        if group is None:
            raise NotFound(f"no robot group {options.robot_group_id!r}", field="robot_group_id")
        target_group = group.seq
    needs = Requirements(process.min_version_to_run,
                         tuple(sorted({*process.robot_tags, *options.tags})),
                         target_robot, target_group)
    deadlines = [d for d in (options.stop_after, options.abort_after) if d is not None]
    tx.insert_job(instance, needs, max_attempts=process.max_attempts,
                  retry_backoff=process.retry_backoff, stop_after=options.stop_after,
                  abort_after=options.abort_after,
                  deadline_at=min(deadlines) if deadlines else None, now=now)


def start_child(ctx: Context, tx: Tx, who: Principal, parent: Instance, process: Process,
                version: Version, variables: dict[str, Any], options: RobotOptions,
                now: datetime) -> Instance:
    """Start a package instance as the child of `parent`, in the parent's transaction (for a
    BPMN `robot` service task). Its end passes through `end`, which names the parent."""
    variables = validate_variables(version.parameters, variables)
    child_id = str(uuid.uuid4())
    seq = tx.insert_instance(
        id=child_id, account_id=parent.account_id, process_id=process.id,
        version_id=version.id, status=Status.PENDING, variables=variables, business_key=None,
        idempotency_key=None, now=now, parent_id=parent.id)
    tx.add_events(parent.account_id, seq, [("created", who.login, {
        "process_key": process.key, "version": version.number, "status": "pending",
        "parent_id": parent.id})], now)
    child = tx.fetch_instance(parent.account_id, child_id)
    assert child is not None
    enqueue(tx, process, child, check_options(options, now), now)
    return child


def write_job(tx: Tx, status: Status, job: Job, now: datetime, **changes: Any) -> Job:
    """Change a job and recompute when the server must next look at it."""
    job = replace(job, **changes)
    tx.save_job(job, next_deadline(status, job, now), now)
    return job


def _status(tx: Tx, instance: Instance, target: Status, now: datetime, actor: str | None,
            detail: dict[str, Any], **fields: Any) -> Instance:
    check_transition(instance.status, target)
    if target.is_final:
        fields["ended_at"] = now
    revision = tx.save_instance(instance, now, status=target, **fields)
    if target is not instance.status:
        tx.add_events(instance.account_id, instance.seq, [("status", actor, {
            "from": instance.status.value, "to": target.value, **detail})], now)
    return replace(instance, status=target, revision=revision, updated_at=now, **fields)


def end(tx: Tx, instance: Instance, job: Job, target: Status, now: datetime,
        actor: str | None, detail: dict[str, Any], *, fence: bool = False,
        **fields: Any) -> Instance:
    """End robot work in a final status; the robot's lease (if any) ends with it. `fence`
    moves the fencing token on, so that a robot still running it is refused when it reports
    (the server ended it, not the robot)."""
    check_transition(instance.status, target)
    write_job(tx, target, job, now, ready_at=None, lease_expires_at=None, escalate_at=None,
              fencing=job.fencing + 1 if fence else job.fencing)
    if instance.parent_id is not None:
        _parent_step_due(tx, instance, now)
    return _status(tx, instance, target, now, actor, detail, **fields)


def _parent_step_due(tx: Tx, child: Instance, now: datetime) -> None:
    """Make the parent's step that waits for this child due, so that a step worker collects
    the child's result under the parent's lock (a step row, not the parent's row, is touched
    here: the parent is always locked before its child)."""
    parent = tx.fetch_instance(child.account_id, child.parent_id or "")
    if parent is None:
        return
    for step in tx.list_steps(parent.seq):
        if step.status is StepStatus.STARTED and (step.detail or {}).get(
                "instance_id") == child.id:
            tx.update_step(step.seq, now, due_at=now)


def lose(tx: Tx, instance: Instance, job: Job, now: datetime, actor: str | None,
         why: str) -> Instance:
    """The robot running it is gone (its lease expired, it restarted, it said so): queue it
    again after the backoff if the process allows another attempt, else end it failed. The
    fencing token moves on, so whatever that robot reports later is refused."""
    if instance.status is Status.RUNNING and job.attempts < job.max_attempts:
        ready = now + retry_delay(job)
        write_job(tx, Status.PENDING, job, now, fencing=job.fencing + 1, lease_expires_at=None,
                  ready_at=ready, escalate_at=None)
        return _status(tx, instance, Status.PENDING, now, actor, {
            "reason": f"{why}; attempt {job.attempts + 1} of {job.max_attempts} may start "
                      f"at {ready.isoformat()}"})
    if instance.status is Status.RUNNING:
        error = f"{why} (attempt {job.attempts} of {job.max_attempts})"
        return end(tx, instance, job, Status.FAILED, now, actor, {"error": error}, fence=True,
                   error=error)
    # Lost while stopping or aborting: nobody will confirm it now, so it ends aborted.
    return end(tx, instance, job, Status.ABORTED, now, actor, {"reason": why}, fence=True,
               error=why)


def request_stop(ctx: Context, tx: Tx, instance: Instance, job: Job, *, hard: bool,
                 actor: str | None, reason: str | None, now: datetime) -> Instance:
    """Stop (hard: abort) robot work. Work no robot holds ends at once; held work moves to
    stopping (aborting), which its robot hears at its next heartbeat; each has a grace period
    after which the server moves it on itself."""
    asking, final = STOPS[hard]
    detail = {"reason": reason}
    if instance.status in (final, Status.ABORTING) or (
            instance.status is Status.ABORTED and not hard) or (
            instance.status is Status.STOPPING and not hard):
        return instance  # asked already, or harder
    if not job.held:
        return end(tx, instance, job, final, now, actor, detail)
    check_transition(instance.status, asking)
    grace = ctx.settings.robot_abort_grace_seconds if hard else \
        ctx.settings.robot_stop_grace_seconds
    write_job(tx, asking, job, now, escalate_at=now + timedelta(seconds=grace))
    return _status(tx, instance, asking, now, actor, detail)


def stop_robot_work(ctx: Context, who: Principal, instance_id: str, reason: str | None, *,
                    hard: bool) -> Instance | None:
    """Stop a package instance through its robot; None when the id names no robot work."""
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        locked = tx.lock_robot_work(who.account_id, instance_id)
        if locked is None:
            return None
        instance = request_stop(ctx, tx, *locked, hard=hard, actor=who.login, reason=reason,
                                now=now)
    after_commit(ctx, instance)
    return instance


def after_commit(ctx: Context, instance: Instance) -> None:
    """Wake who waits on this instance, robots waiting for work, and a waiting parent."""
    ctx.notifier.publish(instance.id)
    if instance.status is Status.PENDING:
        ctx.notifier.publish_one(work_key(instance.account_id))
    if instance.status.is_final and instance.parent_id is not None:
        ctx.notifier.publish(instance.parent_id)
        ctx.notifier.steps_queued.set()
