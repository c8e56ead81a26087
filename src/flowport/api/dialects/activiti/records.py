"""Flowport's instances and steps as Activiti's process and task records."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from flowport.api.dialects.activiti.faults import wall_clock
from flowport.domain.instances import Status
from flowport.domain.steps import CleanupKind, CleanupState, Step, StepStatus
from flowport.services.cleanup import InstanceLinks

# processStatus of an instance with a cleanup, by the latest cleanup's kind and state.
CLEANUP_STATUS = {
    CleanupKind.ROLLBACK: {CleanupState.RUNNING: "rolling_back",
                           CleanupState.COMPLETED: "rolled_back",
                           CleanupState.FAILED: "rollback_failed"},
    CleanupKind.CANCEL: {CleanupState.RUNNING: "cancelling", CleanupState.COMPLETED: "cancelled",
                         CleanupState.FAILED: "cancel_failed"},
    CleanupKind.DELETE: {CleanupState.RUNNING: "deleting", CleanupState.COMPLETED: "deleted",
                         CleanupState.FAILED: "delete_failed"},
}
ENDED = {Status.COMPLETED: "completed", Status.FAILED: "failed", Status.STOPPED: "cancelled",
         Status.ABORTED: "cancelled"}
TASK_STATUS = {
    StepStatus.QUEUED: "produce.success", StepStatus.INPUT_FAILED: "produce.failed",
    StepStatus.STARTING: "start.begin", StepStatus.START_FAILED: "start.failed",
    StepStatus.STARTED: "start.success", StepStatus.FAILED: "monitor.failed",
    StepStatus.COMPLETED: "monitor.success", StepStatus.WITHDRAWN: "canceled",
    StepStatus.CANCELLING: "cancel.begin", StepStatus.CANCELLED: "cancel.success",
    StepStatus.CANCEL_FAILED: "cancel.failed", StepStatus.DELETING: "delete.begin",
    StepStatus.DELETED: "delete.success", StepStatus.DELETE_FAILED: "delete.failed",
    StepStatus.ROLLING_BACK: "rollback.begin", StepStatus.ROLLED_BACK: "rollback.success",
    StepStatus.ROLLBACK_FAILED: "rollback.failed",
}


def compact(value: Any) -> str:
    """JSON text as Activiti writes it: no spaces, key order kept, non-ASCII as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def process_status(view: InstanceLinks) -> str:
    instance, latest = view.instance, view.cleanup
    if latest is not None:
        return CLEANUP_STATUS[latest.kind][latest.state]
    if not instance.status.is_final:
        return "debug" if instance.debug else "running"
    return ENDED[instance.status]


def _end(view: InstanceLinks) -> Any:
    """When the run first reached completed, failed, rolled_back, rollback_failed, cancelled
    or cancel_failed: a rollback's or a cancel's end counts, not the failure or stop before."""
    for kind in (CleanupKind.CANCEL, CleanupKind.ROLLBACK):
        link = view.latest(kind)
        if link is not None:
            return link.ended_at
    return view.instance.ended_at if view.instance.status.is_final else None


def process_record(view: InstanceLinks, zone: ZoneInfo) -> dict[str, Any]:
    instance = view.instance
    ended = _end(view)
    if view.cleanup_of is not None:
        content: Any = {"targetProcessInstanceId": str(view.cleanup_of.target_seq)}
    else:
        content = instance.inputs if instance.inputs is not None else instance.variables
    outputs = None
    if instance.status is Status.COMPLETED and view.version.outputs:
        outputs = compact(instance.outputs)

    def linked(kind: CleanupKind) -> str | None:
        link = view.latest(kind)
        return str(link.instance_seq) if link else None

    return {
        "id": instance.id, "processInstanceId": str(instance.seq),
        "modelId": view.process_guid, "modelKey": instance.process_key,
        "processName": instance.name, "processType": None,
        "processStatus": process_status(view), "processContent": compact(content),
        "startTime": wall_clock(instance.started_at or instance.created_at, zone),
        "endTime": wall_clock(ended, zone), "activitiFileId": None, "outputs": outputs,
        "nativeOutputs": compact(instance.variables) if ended else "",
        "rollbackProcessInstanceId": linked(CleanupKind.ROLLBACK),
        "cancelProcessInstanceId": linked(CleanupKind.CANCEL),
        "deleteProcessInstanceId": linked(CleanupKind.DELETE),
    }


def task_record(step: Step, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": step.id, "processInstanceId": str(step.instance_seq), "taskId": str(step.seq),
        "name": step.name or step.element_id, "namespace": step.namespace,
        "stone": step.executor, "createTime": wall_clock(step.created_at, zone),
        "endTime": wall_clock(step.ended_at, zone), "status": TASK_STATUS[step.status],
        "reason": step.reason, "params": compact(step.params),
        "outputs": compact(step.outputs) if step.outputs is not None else None,
        "progress": step.progress,
    }
