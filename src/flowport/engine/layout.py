"""A drawn layout for BPMN files that have none.

bpmn-js (the console's diagrams) draws only what a file's diagram interchange (BPMNDI) places;
files written by hand or exported by engines often hold none. For those, this lays out the
started process's top-level flow left to right: each element in the column of its longest path
from a start, on the row of its first predecessor when free, boundary events on their
activity's lower edge, loops routed underneath. A file with any BPMNDI shape is left as it is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from lxml import etree

from flowport.engine.bpmn import parse_xml
from flowport.engine.checks import BPMN_NS, local

DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DD_NS = "http://www.omg.org/spec/DD/20100524/DI"
EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent",
                    "intermediateThrowEvent"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway",
                      "eventBasedGateway", "complexGateway"})
ACTIVITIES = frozenset({"task", "userTask", "manualTask", "scriptTask", "serviceTask",
                        "sendTask", "receiveTask", "businessRuleTask", "callActivity",
                        "subProcess", "transaction", "adHocSubProcess"})
COLUMN, ROW, MARGIN = 160, 130, 40
CELL_W, CELL_H = 100, 80


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def _size(kind: str) -> tuple[int, int]:
    if kind in EVENTS or kind == "boundaryEvent":
        return 36, 36
    if kind in GATEWAYS:
        return 50, 50
    return CELL_W, CELL_H


def with_layout(xml: bytes, process_id: str | None) -> bytes:
    """The file as it is when it has a layout, else with one for `process_id` (or its first
    executable process)."""
    root = parse_xml(xml)
    if next(root.iter(f"{{{DI_NS}}}BPMNShape"), None) is not None:
        return xml
    processes = [p for p in root.iterfind(f"{{{BPMN_NS}}}process")
                 if process_id is None or p.get("id") == process_id]
    if not processes:
        return xml
    process = processes[0]
    for stale in root.findall(f"{{{DI_NS}}}BPMNDiagram"):
        root.remove(stale)
    root.append(_diagram(process, {n.get("id") for n in root.iter() if isinstance(n.tag, str)}))
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def _diagram(process: Any, taken: set[str | None]) -> Any:
    kinds: dict[str, str] = {}
    hosts: dict[str, str] = {}  # boundary event -> the activity it is attached to
    flows: list[tuple[str, str, str]] = []
    for child in process:
        if not isinstance(child.tag, str) or not child.get("id"):
            continue
        kind = local(child.tag)
        if kind in EVENTS or kind in GATEWAYS or kind in ACTIVITIES:
            kinds[child.get("id")] = kind
        elif kind == "boundaryEvent":
            hosts[child.get("id")] = child.get("attachedToRef")
        elif kind == "sequenceFlow":
            flows.append((child.get("id"), child.get("sourceRef"), child.get("targetRef")))
    hosts = {b: h for b, h in hosts.items() if h in kinds}
    flows = [f for f in flows if (f[1] in kinds or f[1] in hosts) and f[2] in kinds]
    boxes = _place(kinds, hosts, flows)
    return _write(process.get("id"), kinds, hosts, flows, boxes, taken)


def _place(kinds: dict[str, str], hosts: dict[str, str],
           flows: list[tuple[str, str, str]]) -> dict[str, Box]:
    successors: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for _, source, target in flows:
        # A boundary event's flow leaves from its activity, one row lower.
        successors[hosts.get(source, source)].append((target, source in hosts))
    order, back = _depth_first(kinds, successors)
    rank = dict.fromkeys(kinds, 0)
    desired: dict[str, int] = {}
    for node in order:  # a topological order of the forward edges
        for target, _ in successors[node]:
            if (node, target) in back:
                continue
            rank[target] = max(rank[target], rank[node] + 1)
    rows: dict[int, set[int]] = defaultdict(set)
    row: dict[str, int] = {}
    position = {node: i for i, node in enumerate(order)}
    side = _side_branches(order, successors, back)
    floor = 0  # side branches go below every row of the main path
    for branch in (False, True):
        for node in sorted((n for n in order if (n in side) == branch),
                           key=lambda n: (rank[n], position[n])):
            want = max(desired.get(node, 0), floor if branch else 0)
            taken = rows[rank[node]]
            row[node] = next(r for r in range(want, want + len(kinds) + 1) if r not in taken)
            taken.add(row[node])
            for target, _ in successors[node]:
                desired.setdefault(target, row[node])
        floor = max(row.values(), default=-1) + 1
    boxes = {}
    for node, kind in kinds.items():
        w, h = _size(kind)
        cx = MARGIN + rank[node] * COLUMN + CELL_W / 2
        cy = MARGIN + row[node] * ROW + CELL_H / 2
        boxes[node] = Box(cx - w / 2, cy - h / 2, w, h)
    on_host: dict[str, int] = defaultdict(int)
    for boundary, host in hosts.items():
        box, n = boxes[host], on_host[host]
        on_host[host] += 1
        boxes[boundary] = Box(box.x + box.w - 46 - 40 * n, box.y + box.h - 18, 36, 36)
    return boxes


def _side_branches(order: list[str], successors: dict[str, list[tuple[str, bool]]],
                   back: set[tuple[str, str]]) -> set[str]:
    """Elements reached only through boundary events: laid out below the main path."""
    main: set[str] = set()
    side: set[str] = set()
    for node in order:
        if node not in side:
            main.add(node)
        for target, from_boundary in successors[node]:
            if (node, target) not in back and (from_boundary or node in side) \
                    and target not in main:
                side.add(target)
    return side - main


def _depth_first(kinds: dict[str, str], successors: dict[str, list[tuple[str, bool]]]
                 ) -> tuple[list[str], set[tuple[str, str]]]:
    """Nodes in topological order of the edges that do not close a loop, and those that do."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    finished: list[str] = []
    back: set[tuple[str, str]] = set()
    starts = [n for n, k in kinds.items() if k == "startEvent"]
    for first in starts + list(kinds):
        if first in state:
            continue
        stack = [(first, iter(successors[first]))]
        state[first] = 1
        while stack:
            node, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                stack.pop()
                state[node] = 2
                finished.append(node)
                continue
            target = step[0]
            if state.get(target) == 1:
                back.add((node, target))
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(successors[target])))
    return finished[::-1], back


def _write(process_id: str, kinds: dict[str, str], hosts: dict[str, str],
           flows: list[tuple[str, str, str]], boxes: dict[str, Box],
           taken: set[str | None]) -> Any:
    counter = 0

    def fresh() -> str:
        nonlocal counter
        while True:
            counter += 1
            name = f"FlowportDI_{counter}"
            if name not in taken:
                return name

    nsmap = {"bpmndi": DI_NS, "dc": DC_NS, "di": DD_NS}
    diagram = etree.Element(f"{{{DI_NS}}}BPMNDiagram", nsmap=nsmap, id=fresh())
    plane = etree.SubElement(diagram, f"{{{DI_NS}}}BPMNPlane", id=fresh(),
                             bpmnElement=process_id)
    for node in [*kinds, *hosts]:
        box = boxes[node]
        shape = etree.SubElement(plane, f"{{{DI_NS}}}BPMNShape", id=fresh(), bpmnElement=node)
        kind = kinds.get(node, "boundaryEvent")
        if kind == "exclusiveGateway":
            shape.set("isMarkerVisible", "true")
        if kind in ("subProcess", "transaction", "adHocSubProcess"):
            shape.set("isExpanded", "false")
        etree.SubElement(shape, f"{{{DC_NS}}}Bounds", x=_n(box.x), y=_n(box.y), width=_n(box.w),
                         height=_n(box.h))
    below = max((b.y + b.h for b in boxes.values()), default=0) + 30
    for flow_id, source, target in flows:
        edge = etree.SubElement(plane, f"{{{DI_NS}}}BPMNEdge", id=fresh(), bpmnElement=flow_id)
        points, below = _route(boxes[source], boxes[target], source in hosts, below)
        for x, y in points:
            etree.SubElement(edge, f"{{{DD_NS}}}waypoint", x=_n(x), y=_n(y))
    return diagram


def _route(s: Box, t: Box, from_boundary: bool, below: float
           ) -> tuple[list[tuple[float, float]], float]:
    """Orthogonal waypoints from s to t; a flow back to the left runs under the diagram."""
    if from_boundary:
        return [(s.cx, s.y + s.h), (s.cx, t.cy), (t.x, t.cy)], below
    if t.x <= s.x:
        return [(s.cx, s.y + s.h), (s.cx, below), (t.cx, below), (t.cx, t.y + t.h)], below + 12
    if abs(s.cy - t.cy) < 1:
        return [(s.x + s.w, s.cy), (t.x, t.cy)], below
    # Change rows in the gap before the target's column, where no element stands.
    lane = t.x - (COLUMN - CELL_W) / 2 if t.w == CELL_W else t.x - 20
    return [(s.x + s.w, s.cy), (lane, s.cy), (lane, t.cy), (t.x, t.cy)], below


def _n(value: float) -> str:
    return str(round(value))
