"""How Flowport bends SpiffWorkflow: its clock, its scripts, and what its serializer knows.

- Timers read the engine call's `now` (not the wall clock), so `advance(now=...)` decides which
  timers are due and tests can move time. A timer text that is an ISO 8601 literal (`PT1H`) is
  taken as is; anything else is a restricted expression (`"PT1H"`, `due_date`).
- Scripts and expressions run through a Scripts runner: restricted Python with a CPU budget,
  in a sandboxed worker process (sandbox.py) or, without a sandbox, in the calling thread.
- The serializer knows service tasks, the timer classes above, and writes an instance without
  its spec (the spec is stored once per process version and cached here after one restore).
"""

from __future__ import annotations

import re
from copy import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    TaskConverter,
)
from SpiffWorkflow.bpmn.specs.defaults import NoneTask, ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from flowport.engine.model import ServiceConfig
from flowport.engine.scripts import ScriptFailed, Scripts
from flowport.engine.values import ValueProblem, to_json_variables

MAX_INSTANCES = 10_000  # most instances one multi-instance activity may create

# What is meant as an ISO 8601 literal (then it must parse) rather than an expression: a
# duration or repeating interval in upper case (PT1H, R3/PT10M) or a date (2030-01-31...).
_ISO_LITERAL = re.compile(r"^(R\d*/)?(P[\dA-Z.,:+\-/]*|\d{4}-\d{2}-\d{2}[\dA-Z:.+\-/ ]*)$")


def is_iso_literal(text: str) -> bool:
    return bool(_ISO_LITERAL.match(text.strip()))


class ElementFailed(Exception):
    """A script, expression or timer failed inside an element. Carries what the instance's
    error should say."""

    def __init__(self, task: Task, what: str, cause: str) -> None:
        self.task, self.what, self.cause = task, what, cause
        super().__init__(f"{what}: {cause}")


def parse_instant(value: Any) -> datetime:
    """An ISO 8601 date-time (or datetime); naive means UTC, not the server's zone."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_duration(value: Any, start: datetime) -> timedelta:
    if isinstance(value, timedelta):
        return value
    parsed = TimerEventDefinition.parse_iso_duration(str(value).strip())
    return TimerEventDefinition.get_timedelta_from_start(parsed, start)


def parse_cycle(value: str, now: datetime) -> tuple[int, datetime, timedelta]:
    """R[n]/start/duration, R[n]/duration/end or R[n]/duration (first due one period from now)."""
    parts = value.strip().upper().split("/")
    if len(parts) < 2 or not parts[0].startswith("R"):
        raise ValueError(f"{value!r} is not an ISO 8601 repeating interval")
    cycles = int(parts[0][1:]) if parts[0][1:] else -1
    if len(parts) == 2:
        duration = parse_duration(parts[1], now)
        return cycles, now + duration, duration
    if parts[1].startswith("P"):
        end = parse_instant(parts[2])
        duration = parse_duration(parts[1], end)
        return cycles, end - duration, duration
    start = parse_instant(parts[1])
    return cycles, start, parse_duration(parts[2], start)


def clock(task: Task) -> datetime:
    now = getattr(task.workflow.script_engine, "now", None)
    return now if isinstance(now, datetime) else datetime.now(UTC)


def _timer_value(task: Task, expression: str) -> Any:
    text = (expression or "").strip()
    if is_iso_literal(text):
        return text
    return task.workflow.script_engine.evaluate(task, text)


def _bad_timer(task: Task, value: Any, kind: str) -> ElementFailed:
    return ElementFailed(task, "timer", f"{value!r} is not an ISO 8601 {kind}")


class FlowportDurationTimer(DurationTimerEventDefinition):
    def has_fired(self, my_task: Task) -> bool:
        now = clock(my_task)
        due = my_task._get_internal_data("event_value")
        if due is None:
            value = _timer_value(my_task, self.expression)
            try:
                due = (now + parse_duration(value, now)).isoformat()
            except Exception:
                raise _bad_timer(my_task, value, "duration") from None
            my_task._set_internal_data(event_value=due)
        if datetime.fromisoformat(due) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class FlowportDateTimer(TimeDateEventDefinition):
    def has_fired(self, my_task: Task) -> bool:
        now = clock(my_task)
        due = my_task._get_internal_data("event_value")
        if due is None:
            value = _timer_value(my_task, self.expression)
            try:
                due = parse_instant(value).isoformat()
            except Exception:
                raise _bad_timer(my_task, value, "date-time") from None
            my_task._set_internal_data(event_value=due)
        if datetime.fromisoformat(due) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class FlowportCycleTimer(CycleTimerEventDefinition):
    def cycle_complete(self, my_task: Task) -> bool:
        now = clock(my_task)
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            value = _timer_value(my_task, self.expression)
            try:
                cycles, start, duration = parse_cycle(str(value), now)
            except Exception:
                raise _bad_timer(my_task, value, "repeating interval") from None
            event_value = {"cycles": cycles, "next": start.isoformat(),
                           "duration": duration.total_seconds()}
        ready = False
        if event_value["cycles"] != 0:
            due = datetime.fromisoformat(event_value["next"])
            if due <= now:
                event_value["next"] = (due + timedelta(seconds=event_value["duration"])).isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=event_value)
        return ready


TIMER_CLASSES: dict[type, type] = {
    DurationTimerEventDefinition: FlowportDurationTimer,
    TimeDateEventDefinition: FlowportDateTimer,
    CycleTimerEventDefinition: FlowportCycleTimer,
}


def due_at(task: Task) -> datetime | None:
    """When a waiting timer task is due, once its timer has computed its due time. An
    event-based gateway holds its branches' event definitions itself."""
    definition = getattr(task.task_spec, "event_definition", None)
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    for timer in [definition, *getattr(definition, "event_definitions", [])]:
        if isinstance(timer, CycleTimerEventDefinition):
            if not isinstance(value, dict) or value.get("cycles") == 0:
                return None
            value = value.get("next")
        if isinstance(timer, TimerEventDefinition):
            try:
                return parse_instant(value)
            except (TypeError, ValueError):
                return None
    return None


class _Environment:
    """What SpiffWorkflow calls directly on `script_engine.environment` (correlations only,
    which compile_bpmn refuses; kept so such a call fails cleanly rather than unrestricted)."""

    def __init__(self, runner: Scripts) -> None:
        self._runner = runner

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        return self._runner.evaluate(expression, context)


class FlowportScriptEngine(PythonScriptEngine):
    """One per engine call: its clock is the call's `now`, its scripts see the call's records,
    and it knows the version's executor settings (for FlowportServiceTask)."""

    def __init__(self, runner: Scripts, now: datetime,
                 services: dict[str, ServiceConfig] | None = None) -> None:
        super().__init__(environment=_Environment(runner))
        self.runner, self.now = runner, now
        self.services = services or {}

    def evaluate(self, task: Task, expression: str,
                 external_context: dict[str, Any] | None = None) -> Any:
        try:
            value = self.runner.evaluate(expression, task.data)
        except ScriptFailed as failed:
            raise ElementFailed(task, f"expression {expression.strip()!r}", str(failed)) from None
        spec = task.task_spec
        if (isinstance(spec, MultiInstanceTask) and expression == spec.cardinality
                and isinstance(value, int) and value > MAX_INSTANCES):
            raise ElementFailed(task, "multi-instance",
                                f"{value} instances requested; the limit is {MAX_INSTANCES}")
        return value

    def execute(self, task: Task, script: str,
                external_context: dict[str, Any] | None = None) -> bool:
        try:
            task.data = self.runner.execute(script, task.data)
        except ScriptFailed as failed:
            raise ElementFailed(task, "script", str(failed)) from None
        return True


INPUTS = "flowport_inputs"  # a parked service task's resolved inputs, in its internal data


class FlowportServiceTask(ServiceTask):
    """A service task parks (stays STARTED: its run returns None) until its result is fed
    back from outside. One with an executor first works out its inputs, once, from the
    flowport:input expressions, so that re-runs and hooks all see the same inputs."""

    def _run_hook(self, task: Task) -> None:
        engine = task.workflow.script_engine
        config = getattr(engine, "services", {}).get(self.bpmn_id)
        if config is not None and INPUTS not in task.internal_data:
            inputs = {name: engine.evaluate(task, expression)
                      for name, expression in config.inputs}
            try:
                inputs = to_json_variables(inputs)
            except ValueProblem as problem:
                raise ElementFailed(task, "inputs", str(problem)) from None
            task._set_internal_data(**{INPUTS: inputs})
        return None


class _Ids(dict[UUID, str]):
    """str(UUID) is slow and every id is written up to four times (id, parent, children,
    mapping key): format each once per save."""

    def __missing__(self, key: UUID) -> str:
        text = self[key] = str(key)
        return text


def _task_dict(task: Task, ids: _Ids, registry: Any) -> dict[str, Any]:
    parent_id = task._parent
    parent = task.workflow.tasks.get(parent_id) if parent_id is not None else None
    data = task.data
    if parent is None:
        delta: dict[str, Any] = {}
    else:
        before = parent.data
        delta = {
            "updates": {k: v for k, v in data.items() if k not in before or before[k] != v},
            "deletions": [k for k in before if k not in data],
        }
        data = {}
    internal = task.internal_data
    return {
        "id": ids[task.id],
        "parent": ids[parent_id] if parent is not None else None,
        "children": [ids[child] for child in task._children],
        "last_state_change": task.last_state_change,
        "state": task.state,
        "task_spec": task.task_spec.name,
        "triggered": task.triggered,
        "internal_data": registry.convert(internal) if internal else {},
        "data": data,
        "delta": delta,
        "typename": "Task",
    }


def _workflow_dict(workflow: Any, ids: _Ids, registry: Any) -> dict[str, Any]:
    # WorkflowConverter.to_dict without the registry's walk over data that is JSON already.
    last = workflow.last_task
    return {
        "data": {k: v for k, v in workflow.data.items() if not callable(v)},
        "correlations": workflow.correlations,
        "last_task": ids[last.id] if last is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": {ids[key]: _task_dict(task, ids, registry)
                  for key, task in workflow.tasks.items()},
        "root": ids[workflow.task_tree.id],
    }


class _PlainDataTaskConverter(TaskConverter):
    """Task data is plain JSON here (values.py sees to it), so it is saved and restored as is:
    the stock converter walks it looking for `typename` keys, which breaks on a user's own
    `{"typename": ...}` and costs time on every step. Like the stock converter, a task stores
    only how its data differs from its parent's."""

    def to_dict(self, task: Task) -> dict[str, Any]:
        return _task_dict(task, _Ids(), self.registry)

    def from_dict(self, dct: dict[str, Any], workflow: Any) -> Task:
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = self.target_class(workflow, task_spec, state=dct["state"], id=UUID(dct["id"]))
        task._parent = UUID(dct["parent"]) if dct["parent"] is not None else None
        task._children = [UUID(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = self.registry.restore(dct["internal_data"])
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            task.workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        if delta and task.parent is not None:
            # The same one-level copy SpiffWorkflow makes when a task inherits its parent's data.
            data = {k: copy(v) if isinstance(v, (dict, list)) else v
                    for k, v in task.parent.data.items()}
            data.update(delta.get("updates", {}))
            for key in delta.get("deletions", ()):
                data.pop(key, None)
        else:
            data = dct["data"]
        task.data = data
        return task


class InstanceConverter(BpmnWorkflowConverter):
    """A top-level workflow without its spec: restored against a cached spec instead."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        ids = _Ids()
        dct = _workflow_dict(workflow, ids, self.registry)
        subprocesses = {}
        for key, subprocess in workflow.subprocesses.items():
            sub = _workflow_dict(subprocess, ids, self.registry)
            sub.update(parent_task_id=ids[subprocess.parent_task_id],
                       spec=subprocess.spec.name, typename="BpmnSubWorkflow")
            subprocesses[ids[key]] = sub
        dct["subprocesses"] = subprocesses
        return dct

    def restore(self, dct: dict[str, Any], spec: Any, subprocess_specs: dict[str, Any],
                script_engine: PythonScriptEngine) -> BpmnWorkflow:
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine,
                                deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        return workflow


def _registry() -> Any:
    config = dict(DEFAULT_CONFIG)
    config[ServiceTask] = BpmnTaskSpecConverter
    config[Task] = _PlainDataTaskConverter
    for timer in TIMER_CLASSES.values():
        config[timer] = TimerConditionalEventDefinitionConverter
    return BpmnWorkflowSerializer.configure(config)


REGISTRY = _registry()
INSTANCES = InstanceConverter(BpmnWorkflow, REGISTRY)


def prepare_shared_spec(specs: list[Any]) -> None:
    """Finish restored specs before any instance runs on them.

    - Service tasks become FlowportServiceTask (the stored spec still says ServiceTask).
    - A plain bpmn:task passes straight through, as in Camunda; SpiffWorkflow makes it wait
      like a user task (and its constructor resets the flag, so this is done on every load).
    - SpiffWorkflow connects a multi-instance child's completion handler lazily, on first use,
      which would mutate a spec other threads are running: connect them all up front.
    """
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if type(task_spec) is ServiceTask:
                task_spec.__class__ = FlowportServiceTask  # behaviour only: nothing to store
            if isinstance(task_spec, NoneTask):
                task_spec.manual = False
            if isinstance(task_spec, MultiInstanceTask):
                child = spec.task_specs[task_spec.task_spec]
                if not child.completed_event.is_connected(task_spec.merge_child):
                    child.completed_event.connect(task_spec.merge_child)
