"""Service tasks run by executors, at the engine's edge: what compile_bpmn accepts and refuses,
and how a parked service task gives its work out and takes its result back. Every step goes
through the serialized state and a fresh Engine (test_engine_support.Run)."""

from __future__ import annotations

import itertools

import pytest
from test_engine_support import HEADER, Run

from flowport.engine import compile_bpmn
from flowport.errors import ElementNotWaiting, InvalidDefinition

FP = 'xmlns:flowport="https://flowport.dev/bpmn"'
KNOWN = frozenset({"demo.resource", "http"})


def process(body: str, *, attributes: str = "") -> bytes:
    head = HEADER.replace("<bpmn:definitions ", f"<bpmn:definitions {FP} ")
    return (f'{head}<bpmn:process id="p" isExecutable="true" {attributes}>\n{body}\n'
            "</bpmn:process>\n</bpmn:definitions>\n").encode()


def service(element_id: str, *, executor: str = "demo.resource", extra: str = "",
            inputs: str = "", name: str | None = None) -> str:
    named = f' name="{name}"' if name else ""
    return (f'<bpmn:serviceTask id="{element_id}"{named} flowport:executor="{executor}" {extra}>'
            f"<bpmn:extensionElements>{inputs}</bpmn:extensionElements></bpmn:serviceTask>")


def chain(*tasks: str) -> bytes:
    """Start -> each task in turn -> end; a task is given as its XML."""
    ids = ["S"] + [t.split('id="')[1].split('"')[0] for t in tasks] + ["E"]
    flows = "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />'
                    for i, (a, b) in enumerate(itertools.pairwise(ids)))
    return process('<bpmn:startEvent id="S" />' + "".join(tasks) + flows
                   + '<bpmn:endEvent id="E" />')


def refused(xml: bytes) -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as caught:
        compile_bpmn(xml, executors=KNOWN)
    return caught.value


def test_compile_reads_executor_settings_and_process_options():
    compiled = compile_bpmn(process(
        '<bpmn:startEvent id="S" />'
        + service("Machine", name="machine", extra='flowport:namespace="vm" '
                  'flowport:result="machine"',
                  inputs='<flowport:input name="region">region</flowport:input>'
                         '<flowport:input name="size">"m2." + size</flowport:input>')
        + '<bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Machine" />',
        attributes='flowport:rollback="true" flowport:debug="false"'), executors=KNOWN)
    assert compiled.options.rollback is True and compiled.options.debug is False
    ((element_id, config),) = compiled.services
    assert element_id == "Machine"
    assert (config.executor, config.namespace, config.result) == ("demo.resource", "vm",
                                                                  "machine")
    assert config.inputs == (("region", "region"), ("size", '"m2." + size'))


def test_namespace_defaults_to_the_name_then_the_id():
    compiled = compile_bpmn(chain(service("A", name="alpha"), service("B")), executors=KNOWN)
    assert {k: c.namespace for k, c in compiled.services} == {"A": "alpha", "B": "B"}
    assert compiled.options.rollback is False and compiled.options.debug is False


@pytest.mark.parametrize(("xml", "element_id", "words"), [
    (chain(service("Pay", executor="stripe")), "Pay", "executor 'stripe'"),
    (chain(service("Pay", extra='flowport:retries="3"')), "Pay", "flowport:retries"),
    (chain(service("Pay", extra='flowport:result="not a name"')), "Pay", "not a variable"),
    (chain(service("Pay", inputs='<flowport:input name="a">import os</flowport:input>')),
     "Pay", "input 'a'"),
    (chain(service("Pay", inputs='<flowport:input name="a"></flowport:input>')),
     "Pay", "empty input 'a'"),
    (chain(service("Pay", inputs='<flowport:input>1</flowport:input>')), "Pay", "without a name"),
    (chain(service("Pay", inputs='<flowport:input name="a">1</flowport:input>'
                                 '<flowport:input name="a">2</flowport:input>')), "Pay", "two"),
    (chain(service("Pay", inputs='<flowport:output name="a">1</flowport:output>')),
     "Pay", "flowport:output"),
    (chain('<bpmn:scriptTask id="Calc" flowport:executor="http"><bpmn:script>x = 1'
           "</bpmn:script></bpmn:scriptTask>"), "Calc", "only a service task"),
    (chain('<bpmn:serviceTask id="Ext" flowport:namespace="x" />'), "Ext", "no flowport:executor"),
    (process('<bpmn:startEvent id="S" />', attributes='flowport:rollback="yes"'), "p",
     "true or false"),
    (process('<bpmn:startEvent id="S" />', attributes='flowport:executor="http"'), "p",
     "flowport:executor"),
])
def test_bad_executor_settings_are_refused_with_the_element_id(xml, element_id, words):
    problem = refused(xml)
    assert problem.element_id == element_id
    assert words in problem.message


def test_a_service_task_without_executor_still_waits_to_be_completed_from_outside():
    run = Run(compile_bpmn(chain('<bpmn:serviceTask id="Ext" />'), executors=KNOWN))
    assert run.state_of("Ext") == "waiting" and run.step.work == ()
    run.complete("Ext", {"done": 1})
    assert run.status == "completed"


def test_parked_work_carries_its_inputs_across_restores():
    run = Run(compile_bpmn(chain(service(
        "Machine", name="machine",
        inputs='<flowport:input name="region">region</flowport:input>'
               '<flowport:input name="size">"m2." + size</flowport:input>')), executors=KNOWN),
        {"region": "bcc", "size": "large"})
    assert run.status == "waiting" and run.state_of("Machine") == "waiting"
    (work,) = run.step.work
    assert (work.element_id, work.name, work.executor, work.namespace, work.state) == (
        "Machine", "machine", "demo.resource", "machine", "parked")
    assert work.inputs == {"region": "bcc", "size": "m2.large"}
    assert work.uid == run.uid("Machine")
    run.advance(run.now)  # restored and run again: the same work, inputs worked out once
    assert run.step.work == (work,)
    run.finish("Machine", {"machineId": "vm-1"})
    assert run.status == "completed" and run.step.work == ()
    assert run.variables == {"region": "bcc", "size": "large", "machineId": "vm-1"}


def test_result_variable_keeps_the_outputs_whole():
    run = Run(compile_bpmn(chain(service("Call", executor="http",
                                         extra='flowport:result="answer"')), executors=KNOWN))
    run.finish("Call", {"status": 200, "body": {"ok": True}})
    assert run.variables == {"answer": {"status": 200, "body": {"ok": True}}}


def test_steps_run_one_after_the_other():
    run = Run(compile_bpmn(chain(service("A"), service("B")), executors=KNOWN))
    assert [w.element_id for w in run.step.work] == ["A"]
    run.finish("A", {"a": 1})
    assert [w.element_id for w in run.step.work] == ["B"]
    assert run.states()["A"] == ["completed"]
    run.finish("B", {"b": 2})
    assert run.status == "completed" and run.variables == {"a": 1, "b": 2}


def test_parallel_steps_are_parked_together():
    run = Run(compile_bpmn(process(
        '<bpmn:startEvent id="S" /><bpmn:parallelGateway id="Fork" />'
        + service("A") + service("B") + '<bpmn:parallelGateway id="Join" />'
        '<bpmn:endEvent id="E" />'
        '<bpmn:sequenceFlow id="f0" sourceRef="S" targetRef="Fork" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="Fork" targetRef="A" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="B" />'
        '<bpmn:sequenceFlow id="f3" sourceRef="A" targetRef="Join" />'
        '<bpmn:sequenceFlow id="f4" sourceRef="B" targetRef="Join" />'
        '<bpmn:sequenceFlow id="f5" sourceRef="Join" targetRef="E" />'), executors=KNOWN))
    assert sorted(w.element_id for w in run.step.work) == ["A", "B"]
    run.finish("B", {"b": 2})
    assert [w.element_id for w in run.step.work] == ["A"]
    run.finish("A", {"a": 1})
    assert run.status == "completed" and run.variables == {"a": 1, "b": 2}


def test_failed_executor_fails_the_instance_at_its_task():
    run = Run(compile_bpmn(chain(service("A", name="alpha"), service("B")), executors=KNOWN))
    run.fail("A", "the API said no")
    assert run.status == "failed"
    assert run.step.failed_element_id == "A"
    assert run.step.error == "service task 'A' (alpha) failed: the API said no"
    assert run.state_of("A") == "failed" and "B" not in run.states()
    (work,) = run.step.work
    assert work.state == "failed" and work.inputs == {}


def test_inputs_that_cannot_be_worked_out_fail_the_instance():
    run = Run(compile_bpmn(chain(service(
        "A", inputs='<flowport:input name="n">missing + 1</flowport:input>')), executors=KNOWN))
    assert run.status == "failed" and run.step.failed_element_id == "A"
    assert "NameError" in (run.step.error or "")
    (work,) = run.step.work
    assert work.state == "failed" and work.inputs is None


def test_only_parked_service_tasks_take_results():
    run = Run(compile_bpmn(chain('<bpmn:userTask id="U" />', service("A")), executors=KNOWN))
    with pytest.raises(ElementNotWaiting):
        run.finish("U", {})
    run.complete("U")
    run.finish("A", {})
    with pytest.raises(ElementNotWaiting):
        run._take(run._engine().finish_service(run.spec, run.step.state,
                                               run.uid("A", "completed"), {},
                                               records=run.records, now=run.now))


def test_multi_instance_service_task_parks_each_instance():
    run = Run(compile_bpmn(chain(
        '<bpmn:serviceTask id="Each" flowport:executor="http">'
        "<bpmn:extensionElements><flowport:input name=\"host\">host</flowport:input>"
        "</bpmn:extensionElements><bpmn:multiInstanceLoopCharacteristics>"
        "<bpmn:loopDataInputRef>hosts</bpmn:loopDataInputRef>"
        '<bpmn:inputDataItem id="host" /></bpmn:multiInstanceLoopCharacteristics>'
        "</bpmn:serviceTask>"), executors=KNOWN), {"hosts": ["a", "b"]})
    assert sorted(w.inputs["host"] for w in run.step.work) == ["a", "b"]
    for work in run.step.work:
        run._take(run._engine().finish_service(run.spec, run.step.state, work.uid, {},
                                               records=run.records, now=run.now))
    assert run.status == "completed"
