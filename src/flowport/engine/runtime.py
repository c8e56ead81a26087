"""Engine: start, complete, advance, message and cancel instances, one call per transaction.

Each call restores the instance from its state (against a cached spec), applies one outside
event, runs engine steps until the instance waits or ends, and returns the new state and what
changed as plain values. Nothing SpiffWorkflow-shaped leaves this package.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from flowport.domain.records import RecordAccess
from flowport.engine.elements import describe, element_label, snapshots, waiting_kind
from flowport.engine.model import ElementSnapshot, ProcessOptions, StepResult
from flowport.engine.sandbox import ScriptPool
from flowport.engine.scripts import ScriptRunner, Scripts
from flowport.engine.specs import LoadedSpec, SpecCache
from flowport.engine.spiff import INSTANCES, ElementFailed, FlowportScriptEngine, due_at
from flowport.engine.values import ValueProblem, to_json_variables
from flowport.errors import BadInput, ElementNotWaiting, FlowportError, NotFound

STATE_FORMAT = 1
MAX_STEPS = 10_000  # tasks one call may run before the instance is failed as a runaway
MAX_ENGINE_SECONDS = 30.0  # CPU time one call may spend, scripts included


class _Runaway(Exception):
    pass


def _input(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{what} must be a JSON object", field=what)
    try:
        return to_json_variables(value)
    except ValueProblem as problem:
        raise BadInput(f"{what}: {problem}", field=what) from None


def _json_default(value: Any) -> Any:
    # Task data is JSON already; this only catches SpiffWorkflow internals we did not expect.
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class _Call:
    """One engine call: its clock, its record store, its budgets."""

    def __init__(self, loaded: LoadedSpec, scripts: Scripts, now: datetime) -> None:
        self.loaded = loaded
        self.scripts = scripts
        self.engine = FlowportScriptEngine(scripts, now, loaded.services)
        self.steps = 0
        self.deadline = time.thread_time() + MAX_ENGINE_SECONDS
        self.error_end: Task | None = None

    def new(self) -> BpmnWorkflow:
        return BpmnWorkflow(self.loaded.spec, self.loaded.subprocess_specs,
                            script_engine=self.engine)

    def restore(self, state: str) -> BpmnWorkflow:
        try:
            document = json.loads(state)
            if document.pop("format", None) != STATE_FORMAT:
                raise ValueError("unknown state format")
            return INSTANCES.restore(document, self.loaded.spec, self.loaded.subprocess_specs,
                                     self.engine)
        except Exception as exc:
            raise BadInput(f"the instance's engine state cannot be read: {exc}",
                           field="state") from None

    def _counted(self, task: Task) -> None:
        self.steps += 1
        if isinstance(task.task_spec, EndEvent) and isinstance(
                task.task_spec.event_definition, ErrorEventDefinition):
            self.error_end = task
        if self.steps > MAX_STEPS or (
                self.steps % 64 == 0
                and time.thread_time() + self.scripts.spent > self.deadline):
            raise _Runaway

    def _steps(self, workflow: BpmnWorkflow) -> None:
        # BpmnWorkflow.do_engine_steps, except that a timer found due by its closing refresh
        # is run too (rather than left READY), without walking the task tree again to see.
        while True:
            while workflow._do_engine_steps(did_complete_task=self._counted):
                pass
            timers = list(workflow.event_manager.tasks.values())
            workflow.refresh_timers()
            if not any(task.state == TaskState.READY for task in timers):
                return

    def run(self, workflow: BpmnWorkflow,
            action: Callable[[], None] | None = None) -> StepResult:
        failure: tuple[Task | None, str] | None = None
        try:
            if action is not None:
                action()
            self._steps(workflow)
        except FlowportError:
            raise
        except ElementFailed as exc:
            failure = (exc.task, f"{describe(exc.task, self.loaded)} failed: "
                                 + (exc.cause if exc.what == "script" else str(exc)))
        except _Runaway:
            failure = (None, f"the instance ran more than {MAX_STEPS} steps or "
                             f"{MAX_ENGINE_SECONDS:g} s without waiting; is there an endless loop?")
        except Exception as exc:
            task = getattr(exc, "task", None) or next(
                iter(workflow.get_tasks(state=TaskState.ERROR)), None)
            where = f"{describe(task, self.loaded)} failed" if task is not None else "engine error"
            failure = (task, f"{where}: {type(exc).__name__}: {exc}")
        uncaught = [e for e in workflow.get_events()
                    if isinstance(e.event_definition, ErrorEventDefinition)]
        if failure is None and uncaught:
            code = uncaught[0].event_definition.code
            failure = (self.error_end, "the process ended with an error that nothing caught"
                       + (f" (error code {code!r})" if code else "")
                       + (f" at {element_label(self.error_end)}" if self.error_end else ""))
        return self.result(workflow, failure)

    def result(self, workflow: BpmnWorkflow,
               failure: tuple[Task | None, str] | None) -> StepResult:
        failed_task = failure[0] if failure else None
        if failed_task is not None and failed_task.state != TaskState.ERROR:
            failed_task._set_state(TaskState.ERROR)  # a timer or condition failing outside its run
        if failure is not None:
            status = "failed"
        elif workflow.is_completed():
            status = "completed"
        else:
            status = "waiting"
        elements, frontier, work = snapshots(workflow, self.loaded)
        if status == "completed":
            variables: dict[str, Any] = dict(workflow.data)
        else:
            variables = {}
            for data in frontier:
                variables.update(data)
        try:
            variables = to_json_variables(variables)
        except ValueProblem:
            variables = json.loads(json.dumps(variables, default=_json_default))
        wake_at = None
        if status == "waiting":
            due = [d for d in map(due_at, workflow.event_manager.tasks.values()) if d]
            wake_at = min(due) if due else None
        return StepResult(
            state=_dump(workflow), status=status, variables=variables,
            error=failure[1] if failure else None,
            failed_element_id=getattr(failed_task.task_spec, "bpmn_id", None)
            if failed_task is not None else None,
            elements=elements, wake_at=wake_at, work=work,
        )


def _dump(workflow: BpmnWorkflow) -> str:
    document = INSTANCES.to_dict(workflow)
    document["format"] = STATE_FORMAT
    return json.dumps(document, separators=(",", ":"), default=_json_default)


def _task(workflow: BpmnWorkflow, uid: str) -> Task:
    try:
        task = workflow.get_task_from_id(UUID(str(uid)))
    except Exception:
        task = None
    if task is None or getattr(task.task_spec, "bpmn_id", None) is None:
        raise NotFound(f"the instance has no element {uid!r}")
    return task


class Engine:
    """Runs BPMN instances. Thread-safe: every call works on its own restored workflow; the
    specs and compiled scripts it caches are never mutated while running.

    With a `sandbox`, script tasks run in its worker processes; without one they run in the
    calling thread under the restricted-Python layer alone (tests, and tools that run trusted
    definitions)."""

    def __init__(self, *, script_time_limit: float = 1.0, spec_cache_size: int = 256,
                 sandbox: ScriptPool | None = None) -> None:
        self._time_limit = script_time_limit
        self._specs = SpecCache(spec_cache_size)
        self.sandbox = sandbox

    def _call(self, spec: str, records: RecordAccess | None, now: datetime) -> _Call:
        scripts: Scripts = (self.sandbox.runner(records) if self.sandbox is not None
                            else ScriptRunner(time_limit=self._time_limit, records=records))
        return _Call(self._specs.get(spec), scripts, now)

    def warm(self) -> None:
        """Start the sandbox's workers now rather than on the first script."""
        if self.sandbox is not None:
            self.sandbox.warm()

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()

    def start(self, spec: str, variables: dict[str, Any], *, records: RecordAccess,
              now: datetime) -> StepResult:
        """Start an instance with `variables` on its start task; run it until it waits or
        ends."""
        data = _input(variables, "variables")
        call = self._call(spec, records, now)
        workflow = call.new()
        workflow.task_tree.data.update(data)
        return call.run(workflow)

    def complete_element(self, spec: str, state: str, uid: str, data: dict[str, Any], *,
                         records: RecordAccess, now: datetime) -> StepResult:
        """Complete a waiting user, manual or service task with `data` merged into its data."""
        payload = _input(data, "data")
        call = self._call(spec, records, now)
        workflow = call.restore(state)
        task = _task(workflow, uid)
        kind = waiting_kind(task, call.loaded)
        if kind is None:
            raise ElementNotWaiting(f"element {task.task_spec.bpmn_id!r} is not waiting")

        def complete() -> None:
            task.data.update(payload)
            if kind == "service":
                task.complete()
            else:
                task.run()

        return call.run(workflow, complete)

    def options(self, spec: str) -> ProcessOptions:
        """The version's flowport:rollback and flowport:debug settings."""
        return self._specs.get(spec).options

    def executors(self, spec: str) -> frozenset[str]:
        """The executors the version's service tasks name."""
        return frozenset(c.executor for c in self._specs.get(spec).services.values())

    def _parked_service(self, call: _Call, workflow: BpmnWorkflow, uid: str) -> Task:
        task = _task(workflow, uid)
        if task.task_spec.bpmn_id not in call.loaded.services or task.state != TaskState.STARTED:
            raise ElementNotWaiting(f"element {task.task_spec.bpmn_id!r} is not a service task "
                                    "waiting for its executor")
        return task

    def finish_service(self, spec: str, state: str, uid: str, outputs: dict[str, Any], *,
                       records: RecordAccess, now: datetime) -> StepResult:
        """Feed an executor's outputs back to its parked service task and run on: merged into
        the variables, or kept whole in the variable its flowport:result names."""
        payload = _input(outputs, "outputs")
        call = self._call(spec, records, now)
        workflow = call.restore(state)
        task = self._parked_service(call, workflow, uid)
        result = call.loaded.services[task.task_spec.bpmn_id].result

        def finish() -> None:
            if result is None:
                task.data.update(payload)
            else:
                task.data[result] = payload
            task.complete()

        return call.run(workflow, finish)

    def fail_service(self, spec: str, state: str, uid: str, reason: str, *,
                     now: datetime) -> StepResult:
        """End the instance failed at a parked service task whose executor failed."""
        call = self._call(spec, None, now)
        workflow = call.restore(state)
        task = self._parked_service(call, workflow, uid)
        return call.result(workflow, (task, f"{describe(task, call.loaded)} failed: {reason}"))

    def throw_service_error(self, spec: str, state: str, uid: str, code: str,
                            payload: dict[str, Any], *, records: RecordAccess,
                            now: datetime) -> StepResult | None:
        """Raise the BPMN error `code` at a parked service task, with `payload` merged into
        the variables of the error boundary event that catches it, and run on; None when
        nothing catches it (the caller then fails the task as usual)."""
        data = _input(payload, "payload")
        call = self._call(spec, records, now)
        workflow = call.restore(state)
        task = self._parked_service(call, workflow, uid)
        event = BpmnEvent(ErrorEventDefinition(code, code=code), payload=data,
                          target=task.workflow)
        workflow.catch(event)
        if event in workflow.bpmn_events:
            return None
        return call.run(workflow)

    def advance(self, spec: str, state: str, *, records: RecordAccess,
                now: datetime) -> StepResult:
        """Fire the timers due at `now` and run on."""
        call = self._call(spec, records, now)
        return call.run(call.restore(state))

    def send_message(self, spec: str, state: str, name: str, payload: dict[str, Any], *,
                     records: RecordAccess, now: datetime) -> StepResult:
        """Deliver message `name` to the catch events waiting for it; its payload becomes
        variables. NotFound if nothing waits for it."""
        data = _input(payload, "payload")
        call = self._call(spec, records, now)
        workflow = call.restore(state)

        def deliver() -> None:
            event = BpmnEvent(MessageEventDefinition(str(name)), payload=data)
            if workflow.event_manager.catch(event, internal=False) == 0:
                raise NotFound(f"nothing in the instance waits for message {name!r}")

        return call.run(workflow, deliver)

    def cancel(self, spec: str, state: str) -> tuple[str, tuple[ElementSnapshot, ...]]:
        """Cancel the instance: every element not finished becomes cancelled."""
        call = self._call(spec, None, datetime.now().astimezone())
        workflow = call.restore(state)
        workflow.cancel()
        elements, _, _ = snapshots(workflow, call.loaded)
        return _dump(workflow), elements
