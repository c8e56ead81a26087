"""The BPMN engine: the only package that imports SpiffWorkflow.

compile_bpmn validates and serializes a process definition once per version; Engine runs its
instances from stored state, with script tasks in a ScriptPool of confined worker processes.
Everything returned is a plain value (model.py).
"""

from flowport.engine.bpmn import check_well_formed, compile_bpmn
from flowport.engine.layout import with_layout
from flowport.engine.model import CompiledProcess, ElementInfo, ElementSnapshot, StepResult
from flowport.engine.runtime import Engine
from flowport.engine.sandbox import ScriptPool
from flowport.engine.workers import Limits

__all__ = [
    "CompiledProcess",
    "ElementInfo",
    "ElementSnapshot",
    "Engine",
    "Limits",
    "ScriptPool",
    "StepResult",
    "check_well_formed",
    "compile_bpmn",
    "with_layout",
]
