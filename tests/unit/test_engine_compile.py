"""compile_bpmn: what is accepted, and what is refused at deploy time with its element id."""

from __future__ import annotations

import json

import pytest
from test_engine_support import FIXTURES, HEADER, NOW, MemoryRecords, diagram, fixture

from flowport.engine import ElementInfo, Engine, compile_bpmn
from flowport.errors import InvalidDefinition

SUPPORTED = sorted(p.stem for p in FIXTURES.glob("*.bpmn")
                   if p.stem not in ("unsupported", "bad_script"))


@pytest.mark.parametrize("name", SUPPORTED)
def test_every_fixture_compiles_and_its_spec_restores(name):
    compiled = fixture(name)
    assert json.loads(compiled.spec)["process_id"] == compiled.process_id
    assert compiled.elements and all(isinstance(e, ElementInfo) for e in compiled.elements)
    # A fresh engine can run from the stored text alone.
    Engine().start(compiled.spec, {}, records=MemoryRecords(), now=NOW)


def test_compiled_process_describes_the_diagram():
    compiled = fixture("timer_boundary")
    assert compiled.process_id == "timer_boundary" and compiled.name is None
    assert [(e.id, e.type) for e in compiled.elements] == [
        ("Start", "startEvent"), ("Approve", "userTask"), ("TooLate", "boundaryEvent"),
        ("Remind", "boundaryEvent"), ("Done", "endEvent"), ("Escalate", "scriptTask"),
        ("Escalated", "endEvent"), ("Nudge", "scriptTask"), ("Reminded", "endEvent")]
    assert fixture("script_chain").name == "Script chain"
    assert ElementInfo("Approve", "Approve", "userTask") in compiled.elements


def test_elements_include_sub_process_and_called_process_nodes():
    ids = {e.id for e in fixture("subprocess").elements}
    assert {"Inner", "InnerStart", "Compute", "Confirm", "InnerEnd"} <= ids
    called = fixture("call_activity")
    assert called.process_id == "main"  # the process nothing calls
    assert {"CallPricing", "Price", "PricingEnd"} <= {e.id for e in called.elements}


def test_process_id_picks_one_of_several():
    xml = (FIXTURES / "call_activity.bpmn").read_bytes()
    assert compile_bpmn(xml, process_id="pricing").process_id == "pricing"
    with pytest.raises(InvalidDefinition, match="no executable process 'nope'"):
        compile_bpmn(xml, process_id="nope")


def test_several_independent_processes_are_ambiguous():
    xml = diagram('<bpmn:startEvent id="A" />', process_id="one").replace(
        b"</bpmn:definitions>",
        b'<bpmn:process id="two" isExecutable="true"><bpmn:startEvent id="B" /></bpmn:process>'
        b"</bpmn:definitions>")
    with pytest.raises(InvalidDefinition, match="several executable processes"):
        compile_bpmn(xml)
    assert compile_bpmn(xml, process_id="two").process_id == "two"


def test_unsupported_element_is_refused_with_its_id():
    with pytest.raises(InvalidDefinition) as refused:
        compile_bpmn((FIXTURES / "unsupported.bpmn").read_bytes())
    assert refused.value.element_id == "Task_7"
    assert refused.value.message == "element 'Task_7' (bpmn:sendTask) is not supported"


def test_bad_script_is_refused_at_compile_time():
    with pytest.raises(InvalidDefinition) as refused:
        compile_bpmn((FIXTURES / "bad_script.bpmn").read_bytes())
    assert refused.value.element_id == "Broken"
    assert "script that is not allowed" in refused.value.message


START = '<bpmn:startEvent id="S" />'
REFUSED = {
    "receive task": ('<bpmn:receiveTask id="X" />', "X"),
    "business rule task": ('<bpmn:businessRuleTask id="X" />', "X"),
    "complex gateway": ('<bpmn:complexGateway id="X" />', "X"),
    "transaction": ('<bpmn:transaction id="X" />', "X"),
    "ad hoc sub-process": ('<bpmn:adHocSubProcess id="X" />', "X"),
    "event sub-process": ('<bpmn:subProcess id="X" triggeredByEvent="true" />', "X"),
    "data object": ('<bpmn:dataObject id="X" />', "X"),
    "signal catch": ('<bpmn:intermediateCatchEvent id="X"><bpmn:signalEventDefinition />'
                     "</bpmn:intermediateCatchEvent>", "X"),
    "escalation end": ('<bpmn:endEvent id="X"><bpmn:escalationEventDefinition />'
                       "</bpmn:endEvent>", "X"),
    "conditional start": ('<bpmn:startEvent id="X"><bpmn:conditionalEventDefinition>'
                          "<bpmn:condition>True</bpmn:condition>"
                          "</bpmn:conditionalEventDefinition></bpmn:startEvent>", "X"),
    "link event": ('<bpmn:intermediateThrowEvent id="X"><bpmn:linkEventDefinition name="l" />'
                   "</bpmn:intermediateThrowEvent>", "X"),
    "loop task": ('<bpmn:task id="X"><bpmn:standardLoopCharacteristics /></bpmn:task>', "X"),
    "catch event without definition": ('<bpmn:intermediateCatchEvent id="X" />', "X"),
    "repeating intermediate timer": (
        '<bpmn:intermediateCatchEvent id="X"><bpmn:timerEventDefinition>'
        "<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>"
        "</bpmn:intermediateCatchEvent>", "X"),
    "bad duration": ('<bpmn:intermediateCatchEvent id="X"><bpmn:timerEventDefinition>'
                     "<bpmn:timeDuration>PT1Q</bpmn:timeDuration></bpmn:timerEventDefinition>"
                     "</bpmn:intermediateCatchEvent>", "X"),
    "timer expression with an import": (
        '<bpmn:intermediateCatchEvent id="X"><bpmn:timerEventDefinition>'
        "<bpmn:timeDate>__import__('os')</bpmn:timeDate></bpmn:timerEventDefinition>"
        "</bpmn:intermediateCatchEvent>", "X"),
    "message to nowhere": ('<bpmn:intermediateCatchEvent id="X"><bpmn:messageEventDefinition '
                           'messageRef="Nope" /></bpmn:intermediateCatchEvent>', "X"),
    "call to another file": ('<bpmn:callActivity id="X" calledElement="elsewhere" />', "X"),
    "javascript": ('<bpmn:scriptTask id="X" scriptFormat="javascript"><bpmn:script>x = 1'
                   "</bpmn:script></bpmn:scriptTask>", "X"),
    "import in a script": ('<bpmn:scriptTask id="X"><bpmn:script>import os</bpmn:script>'
                           "</bpmn:scriptTask>", "X"),
    "dunder in a script": ('<bpmn:scriptTask id="X"><bpmn:script>c = ().__class__'
                           "</bpmn:script></bpmn:scriptTask>", "X"),
    "io specification": ('<bpmn:userTask id="X"><bpmn:ioSpecification><bpmn:inputSet />'
                         "<bpmn:outputSet /></bpmn:ioSpecification></bpmn:userTask>", "X"),
    "multi-instance sub-process": (
        '<bpmn:subProcess id="X"><bpmn:multiInstanceLoopCharacteristics>'
        "<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"
        "</bpmn:subProcess>", "X"),
    "timer start in a sub-process": (
        '<bpmn:subProcess id="Sub"><bpmn:startEvent id="X"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:startEvent></bpmn:subProcess>", "X"),
    "bad condition": ('<bpmn:exclusiveGateway id="G" /><bpmn:userTask id="U" />'
                      '<bpmn:sequenceFlow id="X" sourceRef="G" targetRef="U">'
                      "<bpmn:conditionExpression>x ==</bpmn:conditionExpression>"
                      "</bpmn:sequenceFlow>", "X"),
    "condition on a task's flow": (
        '<bpmn:userTask id="U" /><bpmn:userTask id="V" /><bpmn:sequenceFlow id="X" '
        'sourceRef="U" targetRef="V"><bpmn:conditionExpression>True</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>", "X"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsupported_constructs_are_refused_with_their_id(case):
    body, element_id = REFUSED[case]
    with pytest.raises(InvalidDefinition) as refused:
        compile_bpmn(diagram(START + body))
    assert refused.value.element_id == element_id, refused.value.message
    assert f"'{element_id}'" in refused.value.message


def test_signal_definitions_are_refused():
    xml = diagram(START, before='<bpmn:signal id="Sig" name="go" />')
    with pytest.raises(InvalidDefinition, match="bpmn:signal") as refused:
        compile_bpmn(xml)
    assert refused.value.element_id == "Sig"


def test_spiffworkflow_structural_errors_carry_the_element():
    # Two flows out of a task: SpiffWorkflow's parser refuses implicit splits.
    xml = diagram(START + """<bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="T" />
        <bpmn:userTask id="T" /><bpmn:endEvent id="E1" /><bpmn:endEvent id="E2" />
        <bpmn:sequenceFlow id="f2" sourceRef="T" targetRef="E1" />
        <bpmn:sequenceFlow id="f3" sourceRef="T" targetRef="E2" />""")
    with pytest.raises(InvalidDefinition) as refused:
        compile_bpmn(xml)
    assert refused.value.element_id == "T"


@pytest.mark.parametrize(("content", "message"), [
    (b"<not-xml", "not well-formed XML"),
    (b"", "not well-formed XML"),
    (b"<html><body/></html>", "not a BPMN 2.0 file"),
    (HEADER.encode() + b"</bpmn:definitions>", "holds no process"),
    (HEADER.encode() + b'<bpmn:process id="p" isExecutable="false"><bpmn:startEvent id="S"/>'
     b"</bpmn:process></bpmn:definitions>", "no executable process"),
])
def test_files_that_are_not_usable_bpmn(content, message):
    with pytest.raises(InvalidDefinition, match=message):
        compile_bpmn(content)


def test_schema_violations_name_the_line_and_element():
    xml = diagram(START + '\n<bpmn:userTask id="U" bogus:x="1" xmlns:bogus="urn:b" />\n'
                  '<bpmn:userTask id="V"><bpmn:notAThing /></bpmn:userTask>')
    with pytest.raises(InvalidDefinition, match=r"not valid BPMN 2\.0") as refused:
        compile_bpmn(xml)
    assert refused.value.element_id == "V"


def test_external_entities_are_not_expanded():
    xml = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           + diagram(START.replace("/>", 'name="&x;" />')).split(b"?>", 1)[1])
    try:
        compiled = compile_bpmn(xml)
    except InvalidDefinition:
        return
    assert "root:" not in compiled.spec


def test_reserved_ids_keep_their_names_in_results():
    compiled = compile_bpmn(diagram("""
        <bpmn:startEvent id="Start" />
        <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Root" />
        <bpmn:userTask id="Root" /><bpmn:sequenceFlow id="f2" sourceRef="Root" targetRef="End" />
        <bpmn:endEvent id="End" />"""))
    step = Engine().start(compiled.spec, {}, records=MemoryRecords(), now=NOW)
    assert [(e.element_id, e.state) for e in step.elements] == [
        ("Start", "completed"), ("Root", "waiting")]


def test_unnamed_message_is_known_by_its_id():
    compiled = compile_bpmn(diagram(START + """
        <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="W" />
        <bpmn:intermediateCatchEvent id="W"><bpmn:messageEventDefinition messageRef="M1" />
        </bpmn:intermediateCatchEvent><bpmn:sequenceFlow id="f2" sourceRef="W" targetRef="E" />
        <bpmn:endEvent id="E" />""", before='<bpmn:message id="M1" />'))
    engine = Engine()
    step = engine.start(compiled.spec, {}, records=MemoryRecords(), now=NOW)
    step = engine.send_message(compiled.spec, step.state, "M1", {"ok": 1},
                               records=MemoryRecords(), now=NOW)
    assert step.status == "completed" and step.variables == {"ok": 1}


def test_empty_script_task_is_a_no_op():
    compiled = compile_bpmn(diagram(START + """
        <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="X" /><bpmn:scriptTask id="X" />
        <bpmn:sequenceFlow id="f2" sourceRef="X" targetRef="E" /><bpmn:endEvent id="E" />"""))
    step = Engine().start(compiled.spec, {"a": 1}, records=MemoryRecords(), now=NOW)
    assert step.status == "completed" and step.variables == {"a": 1}
