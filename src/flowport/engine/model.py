"""What the engine hands back: plain values, never SpiffWorkflow objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ElementInfo:
    """A flow node of the diagram, known at deploy time."""

    id: str
    name: str | None
    type: str  # the BPMN tag name: "userTask", "scriptTask", "exclusiveGateway", ...


@dataclass(frozen=True)
class ProcessOptions:
    """Set on the bpmn:process with flowport:rollback and flowport:debug."""

    rollback: bool = False  # a failed instance starts a linked rollback instance
    debug: bool = False  # instances start in debug mode unless their start says otherwise


@dataclass(frozen=True)
class ServiceConfig:
    """How a service task is run: flowport:executor, flowport:namespace, flowport:result and
    its flowport:input expressions (name, expression), in document order."""

    executor: str
    namespace: str
    inputs: tuple[tuple[str, str], ...] = ()
    result: str | None = None  # None: the executor's outputs are merged into the variables


@dataclass(frozen=True)
class CompiledProcess:
    process_id: str  # the executable bpmn:process that starts
    name: str | None
    spec: str  # JSON: the serialized spec and its called processes, stored once per version
    elements: tuple[ElementInfo, ...]
    options: ProcessOptions = field(default_factory=ProcessOptions)
    services: tuple[tuple[str, ServiceConfig], ...] = ()  # element id -> config


@dataclass(frozen=True)
class ElementSnapshot:
    """One activation of an element in an instance."""

    uid: str  # stable across save and restore
    element_id: str
    name: str | None
    type: str
    state: str  # "waiting" | "running" | "completed" | "cancelled" | "failed"


@dataclass(frozen=True)
class ServiceWork:
    """A service task with an executor, parked in the engine (state "parked") until its result
    is fed back, or "failed" when its inputs could not be worked out (inputs None)."""

    uid: str
    element_id: str
    name: str | None
    executor: str
    namespace: str
    inputs: dict[str, Any] | None
    state: str  # "parked" | "failed"


@dataclass(frozen=True)
class StepResult:
    state: str  # JSON: the instance's engine state, without the spec
    status: str  # "waiting" | "completed" | "failed"
    variables: dict[str, Any]
    error: str | None
    failed_element_id: str | None
    elements: tuple[ElementSnapshot, ...]
    wake_at: datetime | None  # earliest due time of a waiting timer (UTC)
    work: tuple[ServiceWork, ...] = ()  # every executor service task parked or failed so far
