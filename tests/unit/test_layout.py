"""Layouts for BPMN files without diagram interchange."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
from lxml import etree

from flowport.engine import with_layout

ROOT = Path(__file__).parent.parent
FILES = sorted([*(ROOT / "fixtures" / "bpmn").glob("*.bpmn"),
                *(ROOT / "fixtures" / "flows").glob("*.bpmn"),
                *(ROOT.parent / "examples").rglob("*.bpmn")])
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
LOOP = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
                  targetNamespace="t">
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="t"/>
    <bpmn:task id="t"/><bpmn:sequenceFlow id="b" sourceRef="t" targetRef="g"/>
    <bpmn:exclusiveGateway id="g"/>
    <bpmn:sequenceFlow id="again" sourceRef="g" targetRef="t"/>
    <bpmn:sequenceFlow id="done" sourceRef="g" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def boxes(xml: bytes) -> dict[str, tuple[float, float, float, float]]:
    root = etree.fromstring(xml)
    out = {}
    for shape in root.iter(f"{DI}BPMNShape"):
        b = shape.find(f"{DC}Bounds")
        out[shape.get("bpmnElement")] = tuple(float(b.get(k)) for k in ("x", "y", "width",
                                                                        "height"))
    return out


def overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_top_level_element_gets_a_place_of_its_own(path):
    xml = path.read_bytes()
    laid = with_layout(xml, None)
    root = etree.fromstring(xml)
    process = root.find(f"{BPMN}process")
    placed = boxes(laid)
    nodes = [c.get("id") for c in process if isinstance(c.tag, str)
             and etree.QName(c).localname.endswith(("Event", "Task", "task", "Gateway",
                                                    "Activity", "subProcess"))
             and etree.QName(c).localname != "boundaryEvent"]
    assert nodes
    assert set(nodes) <= set(placed), set(nodes) - set(placed)
    for a, b in combinations(nodes, 2):
        assert not overlap(placed[a], placed[b]), (a, b)
    flows = {c.get("id") for c in process if etree.QName(c).localname == "sequenceFlow"}
    edges = {e.get("bpmnElement") for e in etree.fromstring(laid).iter(f"{DI}BPMNEdge")}
    assert flows == edges


def test_a_loop_runs_back_under_the_diagram():
    laid = with_layout(LOOP, "loop")
    placed = boxes(laid)
    assert placed["s"][0] < placed["t"][0] < placed["g"][0] < placed["e"][0]
    edge = next(e for e in etree.fromstring(laid).iter(f"{DI}BPMNEdge")
                if e.get("bpmnElement") == "again")
    ys = [float(p.get("y")) for p in edge]
    assert max(ys) > max(y + h for _, y, _, h in placed.values())


def test_a_file_with_a_layout_is_left_as_it_is():
    laid = with_layout(LOOP, "loop")
    assert with_layout(laid, "loop") == laid
