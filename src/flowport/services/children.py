"""Child package instances of a BPMN instance, for the `robot` executor (executors/robot.py):
started, read and stopped inside the transaction of the parent's step, which holds the
parent's lock. The parent is always locked before its child, never the other way round; a
child's end only marks the parent's step due (dispatch.end), and a step worker then collects
it under the parent's lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowport.domain.accounts import Principal, Role
from flowport.domain.instances import Instance, Status
from flowport.domain.processes import ProcessType
from flowport.domain.steps import StepKind, StepStatus
from flowport.engine import StepResult
from flowport.errors import NotFound
from flowport.executors import ChildRun, RobotTarget, StepFailed
from flowport.executors.robot import NAME
from flowport.services import dispatch
from flowport.services.context import Context
from flowport.store import Tx


def _run(instance: Instance) -> ChildRun:
    return ChildRun(id=instance.id, status=instance.status.value,
                    final=instance.status.is_final, outputs=dict(instance.outputs),
                    error=instance.error)


class TxChildren:
    """The children of one parent instance, in one open transaction."""

    def __init__(self, ctx: Context, tx: Tx, parent: Instance, now: datetime) -> None:
        self._ctx, self._tx, self._parent, self._now = ctx, tx, parent, now

    def start(self, process_key: str, version: int | None, variables: dict[str, Any],
              target: RobotTarget) -> ChildRun:
        tx, parent = self._tx, self._parent
        process = tx.fetch_process(parent.account_id, process_key)
        if process is None:
            raise StepFailed(f"no process {process_key!r}")
        if process.process_type is not ProcessType.PACKAGE:
            raise StepFailed(f"process {process_key!r} is not a package process; the robot "
                             "executor runs packages on robots")
        number = version if version is not None else process.current_version
        found = tx.fetch_version(process.id, number) if number is not None else None
        if found is None:
            raise StepFailed(f"process {process_key!r} has no version "
                             f"{number if number is not None else 'to start yet'}")
        who = Principal(parent.account_id, None, f"instance:{parent.id}",
                        frozenset({Role.OPERATOR}))
        options = dispatch.RobotOptions(robot_id=target.robot_id,
                                        robot_group_id=target.robot_group_id,
                                        tags=target.tags)
        savepoint = tx.savepoint()  # a refused start leaves no half-made child behind
        try:
            child = dispatch.start_child(self._ctx, tx, who, parent, process, found,
                                         variables, options, self._now)
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        tx.on_commit(lambda: dispatch.after_commit(self._ctx, child))
        return _run(child)

    def get(self, child_id: str) -> ChildRun:
        child = self._tx.fetch_instance(self._parent.account_id, child_id)
        if child is None or child.parent_id != self._parent.id:
            raise NotFound(f"no child instance {child_id!r}")
        return _run(child)

    def stop(self, child_id: str, reason: str) -> ChildRun:
        """Stop the child; abort it when its parent was aborted."""
        locked = self._tx.lock_robot_work(self._parent.account_id, child_id)
        if locked is None or locked[0].parent_id != self._parent.id:
            raise NotFound(f"no child instance {child_id!r}")
        child, job = locked
        if child.status.is_final:
            return _run(child)
        parent = self._tx.fetch_instance(self._parent.account_id, self._parent.id)
        hard = parent is not None and parent.status is Status.ABORTED
        child = dispatch.request_stop(self._ctx, self._tx, child, job, hard=hard,
                                      actor=f"instance:{self._parent.id}", reason=reason,
                                      now=self._now)
        self._tx.on_commit(lambda: dispatch.after_commit(self._ctx, child))
        return _run(child)


def stop_abandoned(ctx: Context, tx: Tx, instance: Instance, result: StepResult,
                   now: datetime) -> None:
    """After an engine step of a parent whose version has robot tasks: a robot task whose
    element is no longer waiting (an interrupting boundary event took it away, a terminate end
    event, the instance failed elsewhere) has its child stopped and its step cancelled, rather
    than leave a robot working for nobody."""
    spec = ctx.versions.get(tx, instance.version_id)[1]
    if spec is None or NAME not in ctx.engine.executors(spec):
        return
    live = set() if instance.status.is_final else {
        e.uid for e in result.elements if e.state == "waiting"}
    children = TxChildren(ctx, tx, instance, now)
    for step in tx.list_steps(instance.seq):
        if step.kind is not StepKind.RUN or step.status is not StepStatus.STARTED or \
                step.executor != NAME or step.uid in live:
            continue
        why = ("its instance failed" if instance.status is Status.FAILED
               else "its task was interrupted")
        child_id = (step.detail or {}).get("instance_id")
        note = why
        if isinstance(child_id, str):
            note = f"{why}; child instance {child_id} is {children.stop(child_id, why).status}"
        tx.update_step(step.seq, now, status=StepStatus.CANCELLED, reason=note, ended_at=now,
                       due_at=None, lease_until=None)
