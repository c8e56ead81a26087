"""Executors: the plug-ins that do the work of BPMN service tasks (base.py says how to write
one). Built in: `record`, `http` and `demo.resource`; others come from installed packages
through the entry point group `flowport.executors`."""

from flowport.executors.base import (
    HOOKS,
    Done,
    Executor,
    HookKind,
    Outcome,
    Parked,
    StepCall,
    StepFailed,
    hook_of,
)
from flowport.executors.registry import ExecutorLoadError, Executors

__all__ = ["HOOKS", "Done", "Executor", "ExecutorLoadError", "Executors", "HookKind", "Outcome",
           "Parked", "StepCall", "StepFailed", "hook_of"]
