"""Instance status and the one table of allowed transitions (DESIGN.md §1).

Every dialect maps its own status words onto these; none of them may move an instance in a way
this table does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from flowport.errors import InvalidTransition


class Status(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    STOPPING = "stopping"
    ABORTING = "aborting"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self in FINAL


FINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.STOPPED, Status.ABORTED})
_ACTIVE = (Status.PENDING, Status.RUNNING, Status.WAITING)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.PENDING, Status.RUNNING, Status.STOPPED, Status.ABORTED}),
    Status.PENDING: frozenset(
        {Status.RUNNING, Status.WAITING, Status.COMPLETED, Status.FAILED, Status.STOPPING,
         Status.ABORTING, Status.STOPPED, Status.ABORTED}
    ),
    Status.RUNNING: frozenset(
        {Status.WAITING, Status.PENDING, Status.COMPLETED, Status.FAILED, Status.STOPPING,
         Status.ABORTING, Status.STOPPED, Status.ABORTED}
    ),
    Status.WAITING: frozenset(
        {Status.RUNNING, Status.PENDING, Status.COMPLETED, Status.FAILED, Status.STOPPING,
         Status.ABORTING, Status.STOPPED, Status.ABORTED}
    ),
    Status.STOPPING: frozenset(
        {Status.ABORTING, Status.STOPPED, Status.ABORTED, Status.COMPLETED, Status.FAILED}
    ),
    Status.ABORTING: frozenset({Status.ABORTED, Status.COMPLETED, Status.FAILED}),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset(),
    Status.STOPPED: frozenset(),
    Status.ABORTED: frozenset(),
}


def check_transition(current: Status, target: Status) -> None:
    """Raise InvalidTransition unless the table allows current → target (staying put is allowed
    for non-final statuses: a waiting instance that completes one of several user tasks is still
    waiting)."""
    if current == target and not current.is_final:
        return
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"instance is {current.value}; it cannot become {target.value}")


class ElementState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class Element:
    seq: int
    uid: str
    element_id: str
    name: str | None
    type: str
    state: ElementState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Instance:
    seq: int
    id: str
    account_id: int
    process_id: int
    process_key: str
    version_id: int
    version_number: int
    status: Status
    business_key: str | None
    variables: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    revision: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    wake_at: datetime | None = None
    schedule_id: int | None = None
    parent_id: str | None = None
    name: str | None = None  # a label the starter gave this run (Activiti's processName)
    debug: bool = False  # a failed step waits for a re-run or a resume instead of failing it
    inputs: dict[str, Any] | None = None  # the variables it started with, in their order
    deleted_at: datetime | None = None  # set by a finished delete: hidden from lists


@dataclass(frozen=True)
class Event:
    seq: int
    instance_id: str
    at: datetime
    kind: str
    actor: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class WaitingTask:
    """A user or manual task waiting for a person: one line of the account's task inbox."""

    uid: str
    element_id: str
    name: str | None
    type: str
    since: datetime
    instance_id: str
    process_key: str
    business_key: str | None


HUMAN_TASK_TYPES = ("userTask", "manualTask")
