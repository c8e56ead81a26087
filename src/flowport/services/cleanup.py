"""Linked cleanup instances: cancel, delete and rollback (DESIGN.md §3, seed 004).

Each is an instance of its own, linked to the original, whose steps are hook calls: one at a
time, in the order domain.steps.next_hook decides, run by the step workers (services.steps).
The original keeps its own status; the link says how its cleanup went, and a finished delete
marks the original deleted (hidden from lists, still readable by id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance, Status
from flowport.domain.processes import Version
from flowport.domain.steps import (
    HOOK_STATUSES,
    Cleanup,
    CleanupKind,
    CleanupState,
    next_hook,
)
from flowport.errors import Conflict, InvalidTransition, NotFound
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.store import Tx


@dataclass(frozen=True)
class InstanceLinks:
    """An instance with what its readers need beside it: its cleanup links, its version and
    its process's guid."""

    instance: Instance
    cleanups: list[Cleanup]  # the instance's own cleanup instances, oldest first
    cleanup_of: Cleanup | None  # set when the instance is itself a cleanup instance
    version: Version
    process_guid: str

    @property
    def cleanup(self) -> Cleanup | None:
        """The latest cleanup: what the instance's cleanup state is now."""
        return self.cleanups[-1] if self.cleanups else None

    def latest(self, kind: CleanupKind) -> Cleanup | None:
        return next((c for c in reversed(self.cleanups) if c.kind is kind), None)


def steps_queued(ctx: Context, tx: Tx) -> None:
    tx.on_commit(ctx.notifier.steps_queued.set)


def _fresh(tx: Tx, instance: Instance) -> Instance:
    fresh = tx.fetch_instance(instance.account_id, instance.id)
    assert fresh is not None
    return fresh


def start(ctx: Context, tx: Tx, target: Instance, kind: CleanupKind, actor: str | None,
          now: datetime) -> Instance:
    """Start a cleanup instance of `kind` for `target` (locked by the caller); returns it."""
    cleanup_id = str(uuid.uuid4())
    seq = tx.insert_instance(
        id=cleanup_id, account_id=target.account_id, process_id=target.process_id,
        version_id=target.version_id, status=Status.RUNNING,
        variables={"target_instance_id": target.id, "kind": kind.value}, business_key=None,
        idempotency_key=None, now=now, name=f"{target.name or target.process_key}#{kind}",
        inputs={"target_instance_id": target.id})
    tx.insert_cleanup(target.account_id, target.seq, seq, kind, now)
    cleanup = tx.fetch_instance(target.account_id, cleanup_id)
    assert cleanup is not None
    tx.save_instance(cleanup, now, started_at=now)
    tx.add_events(target.account_id, seq, [("created", actor, {
        "cleanup_of": target.id, "kind": kind.value, "status": Status.RUNNING.value})], now)
    tx.add_events(target.account_id, target.seq, [("cleanup", actor, {
        "kind": kind.value, "instance_id": cleanup_id})], now)
    return advance(ctx, tx, _fresh(tx, cleanup), target, kind, now)


def advance(ctx: Context, tx: Tx, cleanup: Instance, target: Instance, kind: CleanupKind,
            now: datetime) -> Instance:
    """Queue the cleanup's next hook call, or end it when there is none left."""
    found = next_hook(kind, tx.list_steps(target.seq))
    if found is None:
        calls = tx.list_steps(cleanup.seq)
        failed = [c for c in calls if c.status is HOOK_STATUSES[c.kind][2]]
        return finish(ctx, tx, cleanup, target, kind, now,
                      error=f"{len(failed)} of {len(calls)} hooks failed" if failed else None)
    step, hook = found
    begin = HOOK_STATUSES[hook][0]
    tx.update_step(step.seq, now, status=begin)
    tx.insert_step(
        id=str(uuid.uuid4()), account_id=cleanup.account_id, instance_seq=cleanup.seq, uid=None,
        element_id=step.element_id, name=step.name, namespace=step.namespace,
        executor=step.executor, kind=hook, target_seq=step.seq, status=begin,
        params=step.params, now=now, due_at=now)
    steps_queued(ctx, tx)
    return cleanup


def finish(ctx: Context, tx: Tx, cleanup: Instance, target: Instance, kind: CleanupKind,
           now: datetime, *, error: str | None) -> Instance:
    status = Status.FAILED if error else Status.COMPLETED
    tx.save_instance(cleanup, now, status=status, ended_at=now, error=error)
    tx.add_events(cleanup.account_id, cleanup.seq, [("status", None, {
        "from": cleanup.status.value, "to": status.value, "error": error})], now)
    if kind is CleanupKind.DELETE and status is Status.COMPLETED:
        tx.mark_instance_deleted(target.seq, now)
        tx.add_events(target.account_id, target.seq, [("deleted", None, {
            "cleanup_instance_id": cleanup.id})], now)
    fresh = _fresh(tx, cleanup)
    tx.on_commit(lambda: ctx.notifier.publish(target.id))
    tx.on_commit(lambda: ctx.notifier.publish(fresh.id))
    return fresh


def refuse_linked(tx: Tx, instance: Instance, what: str) -> None:
    link = tx.fetch_cleanup_link(instance.seq)
    if link is not None:
        raise Conflict(f"instance {instance.id} is the {link.kind} instance of "
                       f"{link.target_id}; it cannot be {what}")


def refuse_recancel(tx: Tx, instance: Instance) -> None:
    """Cancelling a stopped instance again changes nothing, unless its cancel failed or a
    delete has been asked for since: then there is nothing a cancel could mean."""
    links = tx.list_cleanups(instance.seq)
    latest = links[-1] if links else None
    if latest is None or (latest.kind is CleanupKind.CANCEL
                          and latest.state is not CleanupState.FAILED):
        return
    words = "failed" if latest.kind is CleanupKind.CANCEL else f"was followed by a {latest.kind}"
    raise Conflict(f"instance {instance.id} is stopped and its cancel {words}; "
                   "it cannot be cancelled again")


def after_cancel(ctx: Context, tx: Tx, instance: Instance, actor: str | None,
                 now: datetime) -> Instance:
    """An instance was just ended by a cancel: withdraw its queued steps and start the cancel
    instance that calls the cancel hook of each step still in flight."""
    tx.withdraw_queued_steps(instance.seq, now)
    start(ctx, tx, instance, CleanupKind.CANCEL, actor, now)
    return _fresh(tx, instance)


def after_failure(ctx: Context, tx: Tx, instance: Instance, rollback: bool,
                  now: datetime) -> None:
    """An instance just failed: its queued steps will never run; with rollback enabled, a
    rollback instance undoes what its steps did."""
    tx.withdraw_queued_steps(instance.seq, now)
    if rollback:
        start(ctx, tx, instance, CleanupKind.ROLLBACK, None, now)


def _locked(tx: Tx, who: Principal, instance_id: str) -> Instance:
    try:
        uuid.UUID(instance_id)
        return tx.lock_instance(who.account_id, instance_id)[0]
    except (ValueError, LookupError):
        raise NotFound(f"no instance {instance_id!r}") from None


def delete_instance(ctx: Context, who: Principal, instance_id: str) -> Instance:
    """Start a delete instance that calls the delete hook of every completed step, newest
    first; only when all succeed is the instance marked deleted. Deleting one that is being
    or has been deleted changes nothing; one whose delete failed starts a new delete."""
    require(who, Permission.START)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance = _locked(tx, who, instance_id)
        refuse_linked(tx, instance, "deleted")
        if instance.deleted_at is not None:
            return instance
        links = tx.list_cleanups(instance.seq)
        latest = links[-1] if links else None
        if latest is not None and latest.state is CleanupState.RUNNING:
            if latest.kind is CleanupKind.DELETE:
                return instance
            raise Conflict(f"instance {instance.id} is being cleaned up by its {latest.kind} "
                           f"instance {latest.instance_id}; delete it once that has ended")
        if not instance.status.is_final:
            raise InvalidTransition(f"instance {instance.id} is {instance.status.value}; only an "
                           "ended instance can be deleted: cancel it first")
        start(ctx, tx, instance, CleanupKind.DELETE, who.login, now)
        return _fresh(tx, instance)


def links(ctx: Context, who: Principal, instance: Instance) -> InstanceLinks:
    """An instance (read by the caller already) with its cleanup links."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return InstanceLinks(instance, tx.list_cleanups(instance.seq),
                             tx.fetch_cleanup_link(instance.seq),
                             ctx.versions.get(tx, instance.version_id)[0],
                             tx.fetch_process_guid(instance.process_id))

