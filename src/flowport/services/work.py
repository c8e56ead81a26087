"""After each engine step: executor service tasks the engine parked become queued steps for
the step workers, and a failed instance withdraws what it queued and, when its version
enables rollback, starts its rollback instance. Called inside the step's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from flowport.domain.instances import Instance, Status
from flowport.domain.steps import StepKind, StepStatus
from flowport.engine import StepResult
from flowport.services import children, cleanup
from flowport.services.context import Context
from flowport.store import Tx


def after_step(ctx: Context, tx: Tx, instance: Instance, result: StepResult,
               now: datetime) -> None:
    if result.work:
        known = {s.uid for s in tx.list_steps(instance.seq) if s.uid is not None}
        for work in result.work:
            if work.uid in known:
                continue
            if work.state == "failed":
                status, reason = StepStatus.INPUT_FAILED, result.error
            elif instance.status.is_final:
                # Parked in the same engine step in which another branch failed: never run.
                status, reason = StepStatus.WITHDRAWN, "the instance ended before it ran"
            else:
                status, reason = StepStatus.QUEUED, None
            tx.insert_step(
                id=str(uuid.uuid4()), account_id=instance.account_id,
                instance_seq=instance.seq, uid=work.uid, element_id=work.element_id,
                name=work.name, namespace=work.namespace, executor=work.executor,
                kind=StepKind.RUN, target_seq=None, status=status, params=work.inputs or {},
                now=now, due_at=now if status is StepStatus.QUEUED else None, reason=reason)
            if status is StepStatus.QUEUED:
                cleanup.steps_queued(ctx, tx)
    children.stop_abandoned(ctx, tx, instance, result, now)
    if instance.status is Status.FAILED:
        spec = ctx.versions.get(tx, instance.version_id)[1]
        rollback = spec is not None and ctx.engine.options(spec).rollback
        cleanup.after_failure(ctx, tx, instance, rollback, now)
