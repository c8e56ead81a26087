"""`robot`: hand a service task's work to a robot, as a child instance of a package process,
and wait for it without holding a worker.

Inputs: `process` (the package process's key), `version` (a version number; default: the
current one), `variables` (the child's input variables), and optionally `robot_id`,
`robot_group_id` and `robot_tags` to say which robots may run it.

run      starts the child (pending, for a robot to claim) and parks the step on it
collect  when the child has ended: its outputs are the step's outputs; a child that failed,
         stopped or was aborted raises the BPMN error `robot.failed`, `robot.stopped` or
         `robot.aborted` with the child's error as its message
cancel   stops the child (aborts it when the parent was aborted)
"""

from __future__ import annotations

from typing import Any

from flowport.config import Settings
from flowport.executors.base import (
    BpmnError,
    Children,
    Done,
    Parked,
    RobotTarget,
    StepCall,
    StepFailed,
)
from flowport.executors.inputs import mapping, text

NAME = "robot"
_INPUTS = frozenset({"process", "version", "variables", "robot_id", "robot_group_id",
                     "robot_tags"})


def _children(call: StepCall) -> Children:
    if call.children is None:
        raise StepFailed("the robot executor needs the server's child instances, which this "
                         "call lacks")
    return call.children


def _optional_text(inputs: dict[str, Any], name: str) -> str | None:
    return None if inputs.get(name) is None else text(inputs, name)


def _target(inputs: dict[str, Any]) -> RobotTarget:
    tags = inputs.get("robot_tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise StepFailed("input 'robot_tags' must be a list of non-empty texts")
    return RobotTarget(robot_id=_optional_text(inputs, "robot_id"),
                       robot_group_id=_optional_text(inputs, "robot_group_id"),
                       tags=tuple(tags))


def _child_id(call: StepCall) -> str | None:
    child = (call.detail or {}).get("instance_id")
    return child if isinstance(child, str) else None


class RobotExecutor:
    transactional = True  # the child is created in the step's own transaction

    def run(self, call: StepCall) -> Parked:
        unknown = sorted(set(call.inputs) - _INPUTS)
        if unknown:
            raise StepFailed(f"the robot executor takes no input {unknown[0]!r} (it takes "
                             f"{', '.join(sorted(_INPUTS))})")
        version = call.inputs.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)
                                    or version < 1):
            raise StepFailed("input 'version' must be a version number (1 or more)")
        child = _children(call).start(text(call.inputs, "process"), version,
                                      mapping(call.inputs, "variables"), _target(call.inputs))
        return Parked({"instance_id": child.id, "process": call.inputs["process"]})

    def collect(self, call: StepCall) -> Done | None:
        child_id = _child_id(call)
        if child_id is None:
            raise StepFailed("the step does not name its child instance")
        child = _children(call).get(child_id)
        if not child.final:
            return None
        if child.status == "completed":
            return Done(dict(child.outputs))
        message = child.error or f"the robot job ended {child.status}"
        raise BpmnError(f"robot job {child.id} {child.status}: {message}",
                        code=f"robot.{child.status}",
                        data={"instance_id": child.id, "status": child.status,
                              "detail": message})

    def cancel(self, call: StepCall) -> str | None:
        child_id = _child_id(call)
        if child_id is None:
            return "no child instance was started"
        child = _children(call).stop(child_id, "its parent instance was cancelled")
        return f"child instance {child.id} is {child.status}"


def factory(_settings: Settings) -> RobotExecutor:
    return RobotExecutor()
