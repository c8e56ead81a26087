"""compile_bpmn: BPMN 2.0 XML in, a validated and serialized engine spec out.

Everything a process version could trip over at run time is refused here, with the element id:
unsupported elements, scripts and expressions that do not compile under the restricted policy,
malformed timers, calls to processes that are not in the file.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

from flowport.engine.checks import BPMN_NS, Checker, local
from flowport.engine.model import CompiledProcess, ElementInfo
from flowport.engine.specs import SPEC_FORMAT, load_spec
from flowport.engine.spiff import REGISTRY, TIMER_CLASSES
from flowport.errors import InvalidDefinition

_validator: BpmnValidator | None = None
_validator_lock = threading.Lock()

# Task spec names SpiffWorkflow uses itself; a BPMN element with one of these ids would collide.
_RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
_RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin")
_REFERENCE_ATTRIBUTES = ("sourceRef", "targetRef", "attachedToRef", "bpmnElement")


def _schema() -> BpmnValidator:
    # Building the XSD validator takes about 9 ms (DESIGN §7): once per process, lazily.
    global _validator
    if _validator is None:
        with _validator_lock:
            if _validator is None:
                _validator = BpmnValidator()
    return _validator


def _read_xml(xml: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             remove_blank_text=False)
    try:
        return etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidDefinition(f"the file is not well-formed XML: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise InvalidDefinition(f"the file cannot be read as XML: {exc}") from None


def check_well_formed(xml: bytes) -> None:
    """Syntax only (a draft is checked this far; a version is compiled): raise
    InvalidDefinition unless `xml` is well-formed XML."""
    _read_xml(xml)


def parse_xml(xml: bytes) -> Any:
    """The root of a BPMN 2.0 file; InvalidDefinition if it is not XML or not BPMN."""
    root = _read_xml(xml)
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise InvalidDefinition(
            f"not a BPMN 2.0 file: the root element is <{local(root.tag)}>, "
            "not <definitions> in the BPMN 2.0 model namespace")
    return root


def _validate_schema(root: Any) -> None:
    schema = _schema().validator
    if schema.validate(root):
        return
    error = schema.error_log[0]
    element_id = None
    for node in root.iter():
        if isinstance(node.tag, str) and node.sourceline == error.line and node.get("id"):
            element_id = node.get("id")
            break
    raise InvalidDefinition(f"not valid BPMN 2.0 (line {error.line}): {error.message}",
                            element_id=element_id)


def _choose(root: Any, process_id: str | None) -> tuple[str, dict[str, Any]]:
    processes = {p.get("id"): p for p in root.iterfind(f"{{{BPMN_NS}}}process")}
    if not processes:
        raise InvalidDefinition("the file holds no process")
    executable = [pid for pid, p in processes.items() if p.get("isExecutable", "true") == "true"]
    if not executable:
        raise InvalidDefinition("the file holds no executable process (isExecutable=\"true\")")
    if process_id is not None:
        if process_id not in executable:
            raise InvalidDefinition(
                f"the file holds no executable process {process_id!r}; "
                f"it holds {', '.join(sorted(executable))}")
        return process_id, processes
    called = {a.get("calledElement") for a in root.iter(f"{{{BPMN_NS}}}callActivity")}
    roots = [pid for pid in executable if pid not in called]
    if len(roots) != 1:
        raise InvalidDefinition(
            "the file holds several executable processes ("
            f"{', '.join(sorted(roots or executable))}); say which one to start")
    return roots[0], processes


def _reserved(element_id: str, process_ids: set[str]) -> bool:
    return element_id in _RESERVED_IDS or element_id.endswith(_RESERVED_SUFFIXES) or any(
        element_id == f"{pid}.EndJoin" for pid in process_ids)


def _rename_reserved(root: Any, flow_node_ids: list[str], process_ids: set[str]) -> dict[str, str]:
    """Give elements whose ids collide with SpiffWorkflow's own task names a fresh id in the
    tree that is parsed; returns fresh id -> original id, to put the originals back."""
    taken = {node.get("id") for node in root.iter() if isinstance(node.tag, str)}
    renamed: dict[str, str] = {}
    for element_id in flow_node_ids:
        if not _reserved(element_id, process_ids):
            continue
        n, fresh = 1, f"{element_id}_{1}"
        while fresh in taken:
            n += 1
            fresh = f"{element_id}_{n}"
        taken.add(fresh)
        renamed[element_id] = fresh
    if not renamed:
        return {}
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        if node.get("id") in renamed:
            node.set("id", renamed[node.get("id")])
        for attribute in _REFERENCE_ATTRIBUTES:
            if node.get(attribute) in renamed:
                node.set(attribute, renamed[node.get(attribute)])
        if local(node.tag) == "flowNodeRef" and (node.text or "").strip() in renamed:
            node.text = renamed[node.text.strip()]
    return {fresh: original for original, fresh in renamed.items()}


def _adapt_specs(specs: list[Any], originals: dict[str, str]) -> None:
    for spec in specs:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id in originals:
                task_spec.bpmn_id = originals[bpmn_id]
            definition = getattr(task_spec, "event_definition", None)
            for event in [definition, *getattr(definition, "event_definitions", [])]:
                replacement = TIMER_CLASSES.get(type(event))
                if replacement is not None:
                    event.__class__ = replacement


def _spiff_specs(root: Any, process_id: str, originals: dict[str, str]) -> tuple[Any, dict]:
    parser = BpmnParser()
    try:
        parser.add_bpmn_xml(root)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        element_id = originals.get(exc.id, exc.id) or None
        where = f"element {element_id!r}: " if element_id else ""
        raise InvalidDefinition(f"{where}{exc}".rstrip(". "), element_id=element_id) from None
    except Exception as exc:  # SpiffWorkflow's parser raises bare exceptions on odd input
        raise InvalidDefinition(f"the process cannot be compiled: {exc}") from None
    return spec, subprocess_specs


def compile_bpmn(xml: bytes, *, process_id: str | None = None,
                 executors: frozenset[str] | None = None) -> CompiledProcess:
    """Parse and validate BPMN 2.0 XML; raise InvalidDefinition with the element id for
    anything Flowport cannot run (a service task naming an executor not in `executors`, too).
    Returns the spec serialized for storing once per version."""
    if isinstance(xml, str):
        xml = xml.encode()
    root = parse_xml(xml)
    _validate_schema(root)
    chosen, processes = _choose(root, process_id)
    checker = Checker(root, processes, executors)
    reachable = checker.check(chosen)
    originals = _rename_reserved(root, [e.id for e in checker.elements],
                                 set(processes) | checker.subprocess_ids)
    spec, subprocess_specs = _spiff_specs(root, chosen, originals)
    _adapt_specs([spec, *subprocess_specs.values()], originals)
    text = json.dumps({
        "format": SPEC_FORMAT,
        "process_id": chosen,
        "processes": reachable,
        "spec": REGISTRY.convert(spec),
        "subprocess_specs": {name: REGISTRY.convert(s) for name, s in subprocess_specs.items()},
        "elements": {e.id: [e.name, e.type] for e in checker.elements},
        "options": {"rollback": checker.options.rollback, "debug": checker.options.debug},
        "services": {element_id: {"executor": c.executor, "namespace": c.namespace,
                                  "inputs": [list(i) for i in c.inputs], "result": c.result}
                     for element_id, c in checker.services.items()},
    }, separators=(",", ":"))
    load_spec(text)  # refuse now what could not be restored later
    return CompiledProcess(
        process_id=chosen, name=processes[chosen].get("name"), spec=text,
        elements=tuple(ElementInfo(e.id, e.name, e.type) for e in checker.elements),
        options=checker.options, services=tuple(checker.services.items()),
    )
