"""What an executor is: a named handler for BPMN service tasks, with optional cleanup hooks.

An executor is found through the entry point group `flowport.executors`: the entry point's name
is the executor's name (the value of `flowport:executor` on a service task) and its object is a
factory called once with the server's Settings. The executor it returns has

- `run(call) -> Done | Parked`: do the step's work. Raise StepFailed (or anything) to fail it.
  `Parked` leaves the step in flight until another use case finishes it (a robot reporting, a
  child instance ending: services.steps.finish_parked).
- optionally `cancel(call)`, `delete(call)`, `rollback(call)`: undo or clean up after a step.
  They receive the step's inputs and (when it finished) its outputs, and may return a short
  note (kept as the hook call's reason). Raising fails the hook; failed hooks are retried with
  backoff, so a hook must be safe to call again.
- optionally `collect(call) -> Done | None`: for parked work the server watches itself (a
  child instance): called when the server says the work may have ended; None means not yet.
- `transactional`: True runs `run` and the hooks inside the step's database transaction with
  `call.records` bound to it, so record writes commit with the step's result (keep such work
  short: it holds the database's write lock on SQLite). False runs them outside any
  transaction, without record access: the right thing for network calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from flowport.domain.records import RecordAccess

HookKind = Literal["cancel", "delete", "rollback"]
HOOKS: tuple[HookKind, ...] = ("cancel", "delete", "rollback")
GROUP = "flowport.executors"


class StepFailed(Exception):
    """An executor's way to fail a step or a hook with a message meant for people."""


class BpmnError(StepFailed):
    """Fail a step with a BPMN error: an error boundary event on the task whose error code
    matches `code` (or that names no code) catches it, with `{"error": {code, message,
    **data}}` in its variables; uncaught, it fails the instance like any failure."""

    def __init__(self, message: str, *, code: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = dict(data or {})


@dataclass(frozen=True)
class ChildRun:
    """A child instance as its parent's step sees it."""

    id: str
    status: str  # the instance status word: pending, running, completed, failed, ...
    final: bool
    outputs: dict[str, Any]
    error: str | None


@dataclass(frozen=True)
class RobotTarget:
    """Which robots may run a child package instance, beside what its process asks."""

    robot_id: str | None = None
    robot_group_id: str | None = None
    tags: tuple[str, ...] = ()


class Children(Protocol):
    """Child package instances of the step's instance, inside the step's transaction
    (transactional executors only). The server ends a step whose child ended through the
    executor's `collect`."""

    def start(self, process_key: str, version: int | None, variables: dict[str, Any],
              target: RobotTarget) -> ChildRun: ...

    def get(self, child_id: str) -> ChildRun: ...

    def stop(self, child_id: str, reason: str) -> ChildRun: ...


@dataclass(frozen=True)
class StepCall:
    """One call of an executor's `run` or of one of its hooks."""

    account_id: int
    instance_id: str  # the instance the step belongs to (the original, for a hook)
    step_id: str  # the step's UUID: stable across retries and re-runs
    element_id: str
    name: str | None
    namespace: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None  # the step's result; None for run, or if it never finished
    attempt: int  # 1 for the first call; counts retries of a hook and re-runs of a step
    now: datetime
    records: RecordAccess | None = None  # transactional executors only
    children: Children | None = None  # transactional executors only
    detail: dict[str, Any] | None = None  # what `Parked` left on the step (hooks, collect)


@dataclass(frozen=True)
class Done:
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parked:
    """The work goes on elsewhere; `detail` is kept on the step for whoever finishes it."""

    detail: dict[str, Any] = field(default_factory=dict)


Outcome = Done | Parked
Hook = Callable[[StepCall], Any]


class Executor(Protocol):
    transactional: bool

    def run(self, call: StepCall) -> Outcome: ...


def hook_of(executor: Executor, kind: str) -> Hook | None:
    """The executor's hook of `kind` (cancel, delete or rollback), if it has one."""
    hook = getattr(executor, kind, None)
    return hook if callable(hook) else None
