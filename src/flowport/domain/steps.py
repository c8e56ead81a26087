"""Executor steps and the linked cleanup instances that undo them (DESIGN.md §3, seed 004).

A *step* is one call of an executor: a service task's run (kind `run`, one per activation of
the task), or one hook call of a cleanup instance (kind `cancel`, `delete` or `rollback`).
Cleanup instances are instances of their own, linked to the original; each calls the matching
hook of the original's steps one at a time, in the order `next_hook` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from flowport.domain.instances import Status


class StepKind(StrEnum):
    RUN = "run"
    CANCEL = "cancel"
    DELETE = "delete"
    ROLLBACK = "rollback"


class StepStatus(StrEnum):
    QUEUED = "queued"  # waiting for a worker
    INPUT_FAILED = "input_failed"  # its inputs could not be worked out
    STARTING = "starting"  # the executor is running it
    START_FAILED = "start_failed"  # it never reached its executor (not installed, worker lost)
    STARTED = "started"  # the executor parked it: the work goes on elsewhere
    FAILED = "failed"  # the executor failed it (at once, or parked work that came back failed)
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"  # queued, then not wanted any more (instance ended or cancelled)
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    CANCEL_FAILED = "cancel_failed"
    DELETING = "deleting"
    DELETED = "deleted"
    DELETE_FAILED = "delete_failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"


IN_FLIGHT = frozenset({StepStatus.STARTING, StepStatus.STARTED})
RUN_FAILED = frozenset({StepStatus.INPUT_FAILED, StepStatus.START_FAILED, StepStatus.FAILED})
# A failed step a person may run again (debug mode).
RERUNNABLE = RUN_FAILED
# What a hook of each kind moves its target step (and its own call) through.
HOOK_STATUSES: dict[StepKind, tuple[StepStatus, StepStatus, StepStatus]] = {
    StepKind.CANCEL: (StepStatus.CANCELLING, StepStatus.CANCELLED, StepStatus.CANCEL_FAILED),
    StepKind.DELETE: (StepStatus.DELETING, StepStatus.DELETED, StepStatus.DELETE_FAILED),
    StepKind.ROLLBACK: (StepStatus.ROLLING_BACK, StepStatus.ROLLED_BACK,
                        StepStatus.ROLLBACK_FAILED),
}
FINAL_STEP = frozenset({StepStatus.INPUT_FAILED, StepStatus.START_FAILED, StepStatus.FAILED,
                        StepStatus.COMPLETED, StepStatus.WITHDRAWN}) | {
    status for begin, *ends in HOOK_STATUSES.values() for status in ends}


class CleanupKind(StrEnum):
    CANCEL = "cancel"
    DELETE = "delete"
    ROLLBACK = "rollback"


class CleanupState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def cleanup_state(status: Status) -> CleanupState:
    if status is Status.COMPLETED:
        return CleanupState.COMPLETED
    if status.is_final:
        return CleanupState.FAILED
    return CleanupState.RUNNING


@dataclass(frozen=True)
class Step:
    seq: int
    id: str
    account_id: int
    instance_seq: int
    instance_id: str
    uid: str | None  # the element activation of a run step
    element_id: str
    name: str | None
    namespace: str
    executor: str
    kind: StepKind
    target_seq: int | None  # a hook call: the step it cleans up after
    status: StepStatus
    params: dict[str, Any]
    outputs: dict[str, Any] | None
    reason: str | None
    progress: int | None
    detail: dict[str, Any] | None
    attempts: int
    due_at: datetime | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Cleanup:
    """A link from an instance to one of its cleanup instances."""

    kind: CleanupKind
    state: CleanupState
    target_seq: int
    target_id: str
    instance_seq: int
    instance_id: str
    created_at: datetime
    ended_at: datetime | None


def _latest_first(steps: Sequence[Step]) -> list[Step]:
    return sorted(steps, key=lambda s: s.seq, reverse=True)


def _completion_order(steps: Sequence[Step]) -> list[Step]:
    # Reverse completion order: the time a step reached `completed`, then its number.
    return sorted(steps, key=lambda s: (s.completed_at or s.created_at, s.seq), reverse=True)


def next_hook(kind: CleanupKind, steps: Sequence[Step]) -> tuple[Step, StepKind] | None:
    """The next hook a cleanup of `kind` calls, given the original's run steps as they are
    now (each hook call moves its target out of the set it was chosen from), or None when
    there is nothing left to do.

    cancel    the cancel hook of each step in flight, newest first; all are tried
    rollback  first cancel the steps in flight, then roll back the failed step, then every
              completed step in reverse completion order
    delete    the delete hook of each completed step (or one whose delete failed before), in
              reverse completion order
    Rollback and delete stop at the first hook that fails for good (the caller sees to it).
    """
    runs = [s for s in steps if s.kind is StepKind.RUN]
    in_flight = _latest_first([s for s in runs if s.status in IN_FLIGHT])
    if kind is CleanupKind.CANCEL:
        return (in_flight[0], StepKind.CANCEL) if in_flight else None
    if kind is CleanupKind.ROLLBACK:
        if in_flight:
            return in_flight[0], StepKind.CANCEL
        # A failed step may have done half its work; one whose inputs never resolved or that
        # never reached its executor did none: nothing to undo.
        failed = _latest_first([s for s in runs if s.status is StepStatus.FAILED])
        if failed:
            return failed[0], StepKind.ROLLBACK
        done = _completion_order([s for s in runs if s.status is StepStatus.COMPLETED])
        return (done[0], StepKind.ROLLBACK) if done else None
    done = _completion_order([s for s in runs if s.status in (StepStatus.COMPLETED,
                                                              StepStatus.DELETE_FAILED)])
    return (done[0], StepKind.DELETE) if done else None
