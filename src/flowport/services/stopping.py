"""Stop and abort: what a user asks for, and what the server does on its own when a deadline
passes (stop_after, abort_after, a grace period, a lease), so that nothing hangs.

A package instance stops through its robot: stop → `stopping` → the robot interrupts the run
(SIGINT) → `stopped`; not done within the stop grace → `aborting`; abort → the robot kills the
run → `aborted`; not confirmed within the abort grace → the server ends it `aborted` itself.
A BPMN instance has no run to interrupt: stop cancels it (`stopped`), abort likewise ends it
`aborted`. `cancel_instance` stays the one entry point for both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance, Status, check_transition
from flowport.domain.robots import Due, Job, due_action
from flowport.errors import BadInput, NotFound
from flowport.services import dispatch, instances
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.store import Tx

DUE_BATCH = 100


@dataclass(frozen=True)
class StopInstance:
    instance_id: str
    reason: str | None = None


def stop_instance(ctx: Context, who: Principal, cmd: StopInstance) -> Instance:
    """Stop gracefully (`/cancel` means the same)."""
    return instances.cancel_instance(ctx, who, cmd.instance_id, cmd.reason)


def abort_instance(ctx: Context, who: Principal, cmd: StopInstance) -> Instance:
    """Stop hard: a robot kills the run."""
    return instances.cancel_instance(ctx, who, cmd.instance_id, cmd.reason,
                                     final=Status.ABORTED)


def end_robot_work(ctx: Context, who: Principal, instance_id: str, target: Status,
                   reason: str) -> Instance:
    """End a package instance in a final status on someone's word rather than its robot's
    (Sherpa lets a program set a job's final status). A robot still running it is refused
    when it reports, as after any end the server decides."""
    require(who, Permission.START)
    if not target.is_final:
        raise BadInput("the status must be a final one", field="status")
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        locked = tx.lock_robot_work(who.account_id, instance_id)
        if locked is None:
            raise NotFound(f"no robot job {instance_id!r}")
        instance, job = locked
        check_transition(instance.status, target)
        error = None if target is Status.COMPLETED else reason
        instance = dispatch.end(tx, instance, job, target, now, who.login, {"reason": reason},
                                fence=True, error=error)
    dispatch.after_commit(ctx, instance)
    return instance


def run_due_jobs(ctx: Context, *, limit: int = DUE_BATCH) -> int:
    """Act on jobs whose lease expired or whose deadline passed, one transaction each; rows
    another replica holds are skipped. Returns how many were handled."""
    done = 0
    while done < limit:
        now = ctx.clock.now()
        with ctx.store.transaction() as tx:
            claimed = tx.claim_due_job(now)
            if claimed is None:
                return done
            locked = tx.lock_robot_work(*claimed)
            assert locked is not None
            instance = _act(ctx, tx, *locked, now)
        dispatch.after_commit(ctx, instance)
        done += 1
    return done


def next_due(ctx: Context) -> datetime | None:
    with ctx.store.transaction(write=False) as tx:
        return tx.next_job_due()


def _act(ctx: Context, tx: Tx, instance: Instance, job: Job, now: datetime) -> Instance:
    settings = ctx.settings
    action = due_action(instance.status, job, now)
    if action is Due.LEASE_LOST:
        assert job.robot is not None and job.lease_expires_at is not None
        robot = tx.robot_refs([job.robot])[job.robot][1]
        return dispatch.lose(tx, instance, job, now, None,
                             f"robot {robot!r} stopped answering: its lease expired at "
                             f"{job.lease_expires_at.isoformat()}")
    if action is Due.STOP:
        return dispatch.request_stop(ctx, tx, instance, job, hard=False, actor=None,
                                     reason="stop_after passed", now=now)
    if action is Due.ABORT:
        passed = job.abort_after is not None and job.abort_after <= now
        reason = "abort_after passed" if passed else (
            f"the robot did not stop it within {settings.robot_stop_grace_seconds:g} s")
        return dispatch.request_stop(ctx, tx, instance, job, hard=True, actor=None,
                                     reason=reason, now=now)
    if action is Due.GIVE_UP:
        why = (f"the robot did not confirm the abort within "
               f"{settings.robot_abort_grace_seconds:g} s; the server ended it")
        return dispatch.end(tx, instance, job, Status.ABORTED, now, None, {"reason": why},
                            fence=True, error=why)
    # A backoff ended (the robots waiting for work are woken after commit), or nothing is
    # due any more: either way the next deadline moves on.
    dispatch.write_job(tx, instance.status, job, now)
    return instance
