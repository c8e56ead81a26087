"""What Flowport runs of BPMN 2.0, checked element by element before SpiffWorkflow sees it.

An allow-list: an element, event definition or child element not named here is refused with
its id, so nothing unsupported can reach run time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flowport.engine.model import ElementInfo, ProcessOptions, ServiceConfig
from flowport.engine.scripts import expression_problem, script_problem
from flowport.engine.spiff import is_iso_literal, parse_cycle, parse_duration, parse_instant
from flowport.errors import InvalidDefinition

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_B = f"{{{BPMN_NS}}}"
# Flowport's own BPMN extension (docs/executors.md): executors on service tasks, rollback
# and debug settings on the process.
FLOWPORT_NS = "https://flowport.dev/bpmn"
_F = f"{{{FLOWPORT_NS}}}"
_SERVICE_ATTRIBUTES = frozenset({"executor", "namespace", "result"})
_PROCESS_ATTRIBUTES = frozenset({"rollback", "debug"})

TASKS = frozenset({"task", "userTask", "manualTask", "scriptTask", "serviceTask"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway",
                      "eventBasedGateway"})
EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent",
                    "intermediateThrowEvent", "boundaryEvent"})
ACTIVITIES = TASKS | {"subProcess", "callActivity"}
FLOW_NODES = ACTIVITIES | GATEWAYS | EVENTS

# Diagram decoration that carries no behaviour.
_ARTIFACTS = frozenset({"laneSet", "textAnnotation", "association", "group", "documentation",
                        "extensionElements"})
_NODE_CHILDREN = frozenset({"incoming", "outgoing", "documentation", "extensionElements"})
_ROOT_CHILDREN = frozenset({"process", "message", "error", "itemDefinition", "collaboration",
                            "category", "documentation", "extensionElements"})
_MI_CHILDREN = frozenset({"loopCardinality", "loopDataInputRef", "loopDataOutputRef",
                          "inputDataItem", "outputDataItem", "completionCondition"})
# Which event definitions each kind of event may carry (top-level process / embedded).
_DEFINITIONS = {
    "startEvent": frozenset({"messageEventDefinition", "timerEventDefinition"}),
    "endEvent": frozenset({"errorEventDefinition", "terminateEventDefinition",
                           "messageEventDefinition"}),
    "intermediateCatchEvent": frozenset({"messageEventDefinition", "timerEventDefinition"}),
    "intermediateThrowEvent": frozenset({"messageEventDefinition"}),
    "boundaryEvent": frozenset({"messageEventDefinition", "timerEventDefinition",
                                "errorEventDefinition"}),
}
_NEEDS_DEFINITION = frozenset({"intermediateCatchEvent", "boundaryEvent"})
_PYTHON = frozenset({"python", "py", "python3", "text/python", "text/x-python",
                     "application/x-python"})
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _is_bpmn(node: Any) -> bool:
    return isinstance(node.tag, str) and node.tag.startswith(_B)


def _text(node: Any) -> str:
    return (node.text or "").strip() if node is not None else ""


def _flowport_attributes(node: Any) -> dict[str, str]:
    return {k[len(_F):]: v for k, v in node.attrib.items() if k.startswith(_F)}


def _flowport_children(node: Any) -> list[Any]:
    return [child for extensions in node.iterfind(f"{_B}extensionElements")
            for child in extensions if isinstance(child.tag, str) and child.tag.startswith(_F)]


class Checker:
    """Walks the process to start and every process it calls; collects the flow nodes."""

    def __init__(self, root: Any, processes: dict[str, Any],
                 executors: frozenset[str] | None = None) -> None:
        self.root, self.processes = root, processes
        self.executors = executors  # None: any executor name is taken on trust
        self.elements: list[ElementInfo] = []
        self.services: dict[str, ServiceConfig] = {}
        self.options = ProcessOptions()
        self.subprocess_ids: set[str] = set()
        self.messages = {m.get("id"): m for m in root.iterfind(f"{_B}message")}
        self.errors = {e.get("id") for e in root.iterfind(f"{_B}error")}
        self.kinds = {n.get("id"): local(n.tag) for n in root.iter() if _is_bpmn(n)}
        self._called: list[str] = []

    def check(self, process_id: str) -> list[str]:
        """Check everything reachable from `process_id`; returns those process ids."""
        for child in self.root:
            if _is_bpmn(child) and local(child.tag) not in _ROOT_CHILDREN:
                self._refuse(child)
        for message in self.messages.values():
            if not message.get("name"):
                # SpiffWorkflow matches messages by name; an unnamed message is known by its id.
                message.set("name", message.get("id"))
        done: list[str] = []
        queue = [process_id]
        while queue:
            current = queue.pop(0)
            if current in done:
                continue
            done.append(current)
            options = self._options(self.processes[current])
            if current == process_id:
                self.options = options
            self._called = []
            self._body(self.processes[current], top=True)
            queue.extend(self._called)
        return done

    @staticmethod
    def _refuse(node: Any, detail: str = "is not supported") -> None:
        element_id = node.get("id")
        name = f"element {element_id!r}" if element_id else "an element"
        raise InvalidDefinition(f"{name} (bpmn:{local(node.tag)}) {detail}",
                                element_id=element_id)

    def _body(self, container: Any, *, top: bool) -> None:
        for child in container:
            if not _is_bpmn(child):
                continue
            kind = local(child.tag)
            if kind == "sequenceFlow":
                self._flow(child)
            elif kind in FLOW_NODES:
                self._node(child, kind, top)
            elif kind in _NODE_CHILDREN or kind in _ARTIFACTS:
                continue
            elif child.get("id") or local(container.tag) == "process":
                self._refuse(child)
            else:
                self._refuse(container, f"has <bpmn:{kind}>, which is not supported")

    def _flow(self, flow: Any) -> None:
        for child in flow:
            if not _is_bpmn(child) or local(child.tag) in ("documentation", "extensionElements"):
                continue
            if local(child.tag) != "conditionExpression":
                self._refuse(child)
            source = self.kinds.get(flow.get("sourceRef"))
            if source not in ("exclusiveGateway", "inclusiveGateway"):
                self._refuse(flow, "has a condition but does not leave an exclusive or "
                             "inclusive gateway; conditions are supported only there")
            self._expression(flow, _text(child), "condition")

    def _options(self, process: Any) -> ProcessOptions:
        attributes = _flowport_attributes(process)
        for name, value in attributes.items():
            if name not in _PROCESS_ATTRIBUTES:
                self._refuse(process, f"has flowport:{name}; a process takes only "
                             "flowport:rollback and flowport:debug")
            if value not in ("true", "false"):
                self._refuse(process, f"has flowport:{name}={value!r}; say true or false")
        if _flowport_children(process):
            self._refuse(process, "has flowport extension elements, which a process does not take")
        return ProcessOptions(rollback=attributes.get("rollback") == "true",
                              debug=attributes.get("debug") == "true")

    def _service(self, node: Any, kind: str) -> None:
        """A service task's executor settings; other elements may have none."""
        attributes, children = _flowport_attributes(node), _flowport_children(node)
        if kind != "serviceTask":
            if attributes or children:
                self._refuse(node, "has flowport executor settings, which only a service task "
                             "takes")
            return
        for name in attributes:
            if name not in _SERVICE_ATTRIBUTES:
                self._refuse(node, f"has flowport:{name}; a service task takes "
                             "flowport:executor, flowport:namespace and flowport:result")
        executor = attributes.get("executor")
        if executor is None:
            if attributes or children:
                self._refuse(node, "has flowport settings but no flowport:executor")
            return  # completed from outside, like a user task for programs
        if self.executors is not None and executor not in self.executors:
            known = ", ".join(sorted(self.executors)) or "none"
            self._refuse(node, f"names executor {executor!r}, which this server does not have "
                         f"(it has: {known})")
        result = attributes.get("result")
        if result is not None and not _IDENTIFIER.match(result):
            self._refuse(node, f"has flowport:result={result!r}, which is not a variable name")
        inputs: list[tuple[str, str]] = []
        for child in children:
            name = child.get("name") or ""
            if local(child.tag) != "input":
                self._refuse(node, f"has <flowport:{local(child.tag)}>; a service task takes "
                             "only <flowport:input name=\"...\">expression</flowport:input>")
            if not name or any(name == seen for seen, _ in inputs):
                self._refuse(node, "has a flowport:input without a name, or two with one name")
            self._expression(node, _text(child), f"input {name!r}")
            inputs.append((name, _text(child)))
        namespace = attributes.get("namespace") or node.get("name") or node.get("id")
        self.services[node.get("id")] = ServiceConfig(executor, namespace, tuple(inputs), result)

    def _expression(self, node: Any, source: str, what: str) -> None:
        if not source:
            self._refuse(node, f"has an empty {what}")
        problem = expression_problem(source)
        if problem:
            self._refuse(node, f"has a {what} that is not allowed: {problem}")

    def _node(self, node: Any, kind: str, top: bool) -> None:
        self.elements.append(ElementInfo(node.get("id"), node.get("name"), kind))
        self._service(node, kind)
        extra: set[str] = set()
        if kind in EVENTS:
            extra = self._event(node, kind, top)
        elif kind in TASKS:
            extra = {"multiInstanceLoopCharacteristics"}
            if kind == "scriptTask":
                extra.add("script")
                self._script(node)
        elif kind == "eventBasedGateway":
            self._event_gateway(node)
        elif kind == "subProcess":
            if node.get("triggeredByEvent") == "true":
                self._refuse(node, "is an event sub-process, which is not supported")
            extra = {"sequenceFlow", *FLOW_NODES, *_ARTIFACTS}
            self.subprocess_ids.add(node.get("id"))
            self._body(node, top=False)
        elif kind == "callActivity":
            self._call(node)
        for child in node:
            if not _is_bpmn(child):
                continue
            tag = local(child.tag)
            if tag == "standardLoopCharacteristics":
                self._refuse(node, "is a loop activity, which is not supported")
            if tag not in _NODE_CHILDREN and tag not in extra:
                self._refuse(node, f"has <bpmn:{tag}>, which is not supported")
            if tag == "multiInstanceLoopCharacteristics":
                self._multi_instance(node, child)

    def _event(self, node: Any, kind: str, top: bool) -> set[str]:
        definitions = [c for c in node if _is_bpmn(c) and local(c.tag).endswith("Definition")]
        allowed = _DEFINITIONS[kind] if top or kind != "startEvent" else frozenset()
        for definition in definitions:
            if local(definition.tag) not in allowed:
                where = "" if top or kind != "startEvent" else " inside a sub-process"
                self._refuse(node, f"with a {local(definition.tag)}{where} is not supported")
        if len(definitions) > 1:
            self._refuse(node, "has several event definitions, which is not supported")
        if kind in _NEEDS_DEFINITION and not definitions:
            self._refuse(node, "needs an event definition")
        if kind == "boundaryEvent" and self.kinds.get(node.get("attachedToRef")) not in ACTIVITIES:
            self._refuse(node, "must be attached to a task, sub-process or call activity")
        for definition in definitions:
            tag = local(definition.tag)
            if tag == "timerEventDefinition":
                self._timer(node, definition, kind)
            elif tag == "messageEventDefinition":
                ref = definition.get("messageRef")
                if ref is None and not node.get("name"):
                    self._refuse(node, "needs a messageRef (or a name) to know its message")
                if ref is not None and ref not in self.messages:
                    self._refuse(node, f"refers to message {ref!r}, which the file does not define")
            elif tag == "errorEventDefinition":
                ref = definition.get("errorRef")
                if ref is not None and ref not in self.errors:
                    self._refuse(node, f"refers to error {ref!r}, which the file does not define")
        return {local(d.tag) for d in definitions}

    def _timer(self, node: Any, definition: Any, kind: str) -> None:
        parts = [c for c in definition if _is_bpmn(c)]
        if len(parts) != 1 or local(parts[0].tag) not in ("timeDate", "timeDuration", "timeCycle"):
            self._refuse(node, "needs exactly one of timeDate, timeDuration or timeCycle")
        part, text = local(parts[0].tag), _text(parts[0])
        if part == "timeCycle" and kind != "boundaryEvent":
            self._refuse(node, "has a timeCycle; repeating timers are supported only on "
                         "boundary events")
        if not is_iso_literal(text):
            self._expression(node, text, "timer expression")
            return
        now = datetime.now(UTC)
        try:
            if part == "timeDuration":
                parse_duration(text, now)
            elif part == "timeDate":
                parse_instant(text)
            elif parse_cycle(text, now)[2].total_seconds() <= 0:
                raise ValueError("a repeating timer needs a period above zero")
        except Exception:
            self._refuse(node, f"has a {part} {text!r} that is not valid ISO 8601")

    def _script(self, node: Any) -> None:
        script_format = (node.get("scriptFormat") or "python").strip().lower()
        if script_format not in _PYTHON:
            self._refuse(node, f"has a {script_format!r} script; only Python is supported")
        script = node.find(f"{_B}script")
        if script is None:
            # An empty script task is a no-op; SpiffWorkflow would try to run `None`.
            script = node.makeelement(f"{_B}script", {})
            node.append(script)
        if not _text(script):
            script.text = "pass"
        problem = script_problem(script.text)
        if problem:
            self._refuse(node, f"has a script that is not allowed: {problem}")

    def _event_gateway(self, node: Any) -> None:
        if node.get("instantiate") == "true" or node.get("eventGatewayType") == "Parallel":
            self._refuse(node, "is an instantiating or parallel event-based gateway, "
                         "which is not supported")
        for flow in self.root.iter(f"{_B}sequenceFlow"):
            if flow.get("sourceRef") == node.get("id") and (
                    self.kinds.get(flow.get("targetRef")) != "intermediateCatchEvent"):
                self._refuse(node, "must lead only to intermediate catch events "
                             "(timer or message)")

    def _call(self, node: Any) -> None:
        called = node.get("calledElement")
        target = self.processes.get(called)
        if target is None:
            self._refuse(node, f"calls {called!r}, which is not a process in this file")
            return
        if target.get("isExecutable", "true") != "true":
            self._refuse(node, f"calls {called!r}, which is not executable")
        self._called.append(called)

    def _multi_instance(self, node: Any, loop: Any) -> None:
        for child in loop:
            if not _is_bpmn(child):
                continue
            tag = local(child.tag)
            if tag not in _MI_CHILDREN:
                self._refuse(node, f"has <bpmn:{tag}> in its multi-instance settings, "
                             "which is not supported")
            if tag in ("loopCardinality", "completionCondition"):
                self._expression(node, _text(child), tag)
            elif tag in ("loopDataInputRef", "loopDataOutputRef"):
                if not _IDENTIFIER.match(_text(child)):
                    self._refuse(node, f"has a {tag} that is not a variable name")
            elif not _IDENTIFIER.match(child.get("id") or ""):
                self._refuse(node, f"has an {tag} whose id is not a variable name")
