"""Executors: the plug-ins that do the work of BPMN service tasks (base.py says how to write
one). Built in: `record`, `http`, `robot` and `demo.resource`; others come from installed
packages through the entry point group `flowport.executors`."""

from flowport.executors.base import (
    HOOKS,
    BpmnError,
    Children,
    ChildRun,
    Done,
    Executor,
    HookKind,
    Outcome,
    Parked,
    RobotTarget,
    StepCall,
    StepFailed,
    hook_of,
)
from flowport.executors.registry import ExecutorLoadError, Executors

__all__ = ["HOOKS", "BpmnError", "ChildRun", "Children", "Done", "Executor",
           "ExecutorLoadError", "Executors", "HookKind", "Outcome", "Parked", "RobotTarget",
           "StepCall", "StepFailed", "hook_of"]
