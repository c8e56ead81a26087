"""An instance's element activations, read off SpiffWorkflow's task tree.

SpiffWorkflow's tree also holds predictions (tasks that may run later) and its own bookkeeping
tasks; only tasks of BPMN elements that were actually reached are activations.
"""

from __future__ import annotations

import re
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from flowport.engine.model import ElementSnapshot, ServiceWork
from flowport.engine.specs import LoadedSpec
from flowport.engine.spiff import INPUTS

_HUMAN = frozenset({"userTask", "manualTask"})
_GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway",
                       "eventBasedGateway"})
_FRONTIER = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
_WORD = re.compile(r"(?<!^)(?=[A-Z])")


def _kind(task: Task, loaded: LoadedSpec) -> tuple[str | None, str]:
    spec = task.task_spec
    known = loaded.elements.get(spec.bpmn_id)
    if known is not None:
        return known
    return spec.bpmn_name, type(spec).__name__


def element_label(task: Task) -> str:
    spec = task.task_spec
    return repr(getattr(spec, "bpmn_id", None) or spec.name)


def describe(task: Task, loaded: LoadedSpec) -> str:
    """"script task 'Calc'" or "script task 'Calc' (Calculate total)", for error messages."""
    if getattr(task.task_spec, "bpmn_id", None) is None:
        return f"engine step {task.task_spec.name!r}"
    name, kind = _kind(task, loaded)
    words = _WORD.sub(" ", kind).lower()
    label = element_label(task)
    return f"{words} {label}" + (f" ({name})" if name and name != task.task_spec.bpmn_id else "")


def waiting_kind(task: Task, loaded: LoadedSpec) -> str | None:
    """"human" for a user or manual task waiting to be done, "service" for a service task
    waiting for its result from outside, else None."""
    if isinstance(task.task_spec, LoopTask):
        return None
    _, kind = _kind(task, loaded)
    if task.state == TaskState.READY and kind in _HUMAN:
        return "human"
    if task.state == TaskState.STARTED and kind == "serviceTask":
        return "service"
    return None


def _state(task: Task, kind: str) -> str | None:
    state = task.state
    if state == TaskState.COMPLETED:
        return "completed"
    if state == TaskState.ERROR:
        return "failed"
    if kind in _GATEWAYS and not isinstance(task.task_spec, CatchingEvent):
        # A join waits while its other branches run and is then merged away (CANCELLED in
        # SpiffWorkflow): only a gateway that went through is worth reporting.
        return None
    if state == TaskState.CANCELLED:
        # Cancelled predictions were never reached: a task is reached once its parent is done.
        parent = task.parent
        return "cancelled" if parent is None or parent.state == TaskState.COMPLETED else None
    if state == TaskState.READY:
        human = kind in _HUMAN and not isinstance(task.task_spec, LoopTask)
        return "waiting" if human else "running"
    if state == TaskState.STARTED:
        waiting = kind == "serviceTask" and not isinstance(task.task_spec, LoopTask)
        return "waiting" if waiting else "running"
    if state == TaskState.WAITING:
        return "waiting" if isinstance(task.task_spec, CatchingEvent) else "running"
    return None


def _tasks(workflow: BpmnWorkflow) -> list[Task]:
    # Creation order, workflow by workflow: as good an order as the tree's for activations and
    # much cheaper to get than SpiffWorkflow's tree iterator.
    tasks = list(workflow.tasks.values())
    for subprocess in workflow.subprocesses.values():
        tasks.extend(subprocess.tasks.values())
    return tasks


def _work(task: Task, loaded: LoadedSpec) -> ServiceWork | None:
    config = loaded.services.get(getattr(task.task_spec, "bpmn_id", None) or "")
    if config is None or isinstance(task.task_spec, LoopTask):
        return None
    if task.state == TaskState.STARTED:
        state = "parked"
    elif task.state == TaskState.ERROR:
        state = "failed"
    else:
        return None
    return ServiceWork(str(task.id), task.task_spec.bpmn_id, task.task_spec.bpmn_name,
                       config.executor, config.namespace, task.internal_data.get(INPUTS), state)


def snapshots(workflow: BpmnWorkflow, loaded: LoadedSpec
              ) -> tuple[tuple[ElementSnapshot, ...], list[dict[str, Any]],
                         tuple[ServiceWork, ...]]:
    """Every activation so far, the data of every live token (which together make up the
    current variables), and the executor service tasks parked or failed."""
    elements: list[ElementSnapshot] = []
    frontier: list[dict[str, Any]] = []
    work: list[ServiceWork] = []
    for task in _tasks(workflow):
        if task.state & _FRONTIER:
            parent = task.parent
            if parent is not None and isinstance(parent.task_spec, LoopTask):
                # A multi-instance activity collects its instances' results itself; each
                # instance holds a stale copy of that plus its own item.
                pass
            elif task.state == TaskState.WAITING and parent is not None and not isinstance(
                    task.task_spec, CatchingEvent):
                # A join takes its branches' data only when it fires; until then a branch's
                # data sits with the task before it.
                frontier.append(parent.data)
            else:
                frontier.append(task.data)
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id is None:
            continue
        name, kind = _kind(task, loaded)
        state = _state(task, kind)
        if state is not None:
            elements.append(ElementSnapshot(str(task.id), bpmn_id, name, kind, state))
            if kind == "serviceTask" and state in ("waiting", "failed"):
                found = _work(task, loaded)
                if found is not None:
                    work.append(found)
    return tuple(elements), frontier, tuple(work)
