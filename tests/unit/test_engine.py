"""Engine behaviour, one supported element type after another. Every step goes through the
instance's serialized state and a fresh Engine (test_engine_support.Run)."""

from __future__ import annotations

import json
import threading

import pytest
from test_engine_support import NOW, MemoryRecords, Run, diagram, fixture

from flowport.engine import Engine
from flowport.engine import specs as engine_specs
from flowport.errors import BadInput, ElementNotWaiting, NotFound

pytestmark = pytest.mark.usefixtures("script_host")


def test_script_chain_runs_through_in_one_step():
    run = Run("script_chain", {"order_id": "A7", "amount": 4})
    assert run.status == "completed"
    assert run.variables == {"order_id": "A7", "amount": 4, "total": 10, "label": "order A7: 10"}
    assert run.step.error is None and run.step.wake_at is None
    # "Start" and "End" are also SpiffWorkflow's own task names: they still show as elements.
    assert [(e.element_id, e.type, e.state) for e in run.step.elements] == [
        ("Start", "startEvent", "completed"), ("Add", "scriptTask", "completed"),
        ("Double", "scriptTask", "completed"), ("Label", "scriptTask", "completed"),
        ("End", "endEvent", "completed")]
    assert len({e.uid for e in run.step.elements}) == 5


def test_plain_task_passes_manual_and_user_tasks_wait():
    run = Run("tasks")
    assert run.status == "waiting"
    assert run.states() == {"Start": ["completed"], "Note": ["completed"], "Pack": ["waiting"]}
    run.complete("Pack", {"packed_by": "ann"})
    assert run.states()["Review"] == ["waiting"]
    assert run.variables == {"packed_by": "ann"}
    run.complete("Review", {"approved": True})
    assert run.status == "completed"
    assert run.variables["summary"] == "ann / True"


def test_uids_are_stable_across_steps():
    run = Run("tasks")
    pack = run.uid("Pack")
    run.complete("Pack")
    assert run.uid("Pack", "completed") == pack


def test_completing_what_does_not_wait():
    run = Run("tasks")
    done = run.uid("Start", "completed")
    with pytest.raises(ElementNotWaiting):
        run.complete("Start", uid=done)
    for unknown in ("nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound):
            run.complete("Pack", uid=unknown)
    # SpiffWorkflow's own bookkeeping tasks are not elements.
    internal = [t for t in json.loads(run.step.state)["tasks"].values()
                if t["task_spec"] == "Start"]
    with pytest.raises(NotFound):
        run.complete("Pack", uid=internal[0]["id"])
    assert run.status == "waiting"


def test_service_task_waits_for_its_result_across_restores():
    run = Run("service_task")
    assert run.status == "waiting"
    assert run.state_of("Charge") == "waiting"
    run.advance(NOW)  # restored and run again: still held
    assert run.state_of("Charge") == "waiting"
    run.complete("Charge", {"charged": 12})
    assert run.status == "completed"
    assert run.variables["receipt"] == "paid 12"
    assert run.state_of("Charge") == "completed"


@pytest.mark.parametrize(("amount", "taken", "skipped"), [(500, "Large", "Small"),
                                                          (5, "Small", "Large")])
def test_exclusive_gateway(amount, taken, skipped):
    run = Run("exclusive", {"amount": amount})
    assert run.status == "completed"
    assert run.variables["size"] == taken.lower()
    assert run.state_of(taken) == "completed" and skipped not in run.states()
    assert run.states()["Size"] == ["completed"]


def test_exclusive_gateway_without_a_way_out_fails_the_instance():
    run = Run(diagram("""
        <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="G" />
        <bpmn:exclusiveGateway id="G" />
        <bpmn:sequenceFlow id="f2" sourceRef="G" targetRef="E">
          <bpmn:conditionExpression>x &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>
        <bpmn:endEvent id="E" />"""), {"x": 0})
    assert run.status == "failed"
    assert run.step.failed_element_id == "G"
    assert "exclusive gateway 'G' failed" in (run.step.error or "")


def test_condition_error_names_the_gateway():
    run = Run("exclusive", {})
    assert run.status == "failed"
    assert run.step.failed_element_id == "Size"
    assert run.step.error == ("exclusive gateway 'Size' (How big?) failed: expression "
                              "'amount > 100': NameError: name 'amount' is not defined (line 1)")


def test_parallel_gateway_waits_for_both_branches():
    run = Run("parallel")
    assert run.states() == {"Start": ["completed"], "Fork": ["completed"],
                            "Legal": ["waiting"], "Finance": ["waiting"]}
    run.complete("Legal", {"legal": "ok"})
    assert run.status == "waiting" and run.variables == {"legal": "ok"}
    assert "Join" not in run.states()  # a join is reported once it has gone through
    run.complete("Finance", {"finance": "fine"})
    assert run.status == "completed"
    assert run.variables["verdict"] == "ok+fine"
    assert run.states()["Join"] == ["completed"]


@pytest.mark.parametrize(("channels", "ran"), [(["mail", "sms"], {"Mail", "Sms"}),
                                               (["sms"], {"Sms"}), ([], {"Nothing"})])
def test_inclusive_gateway(channels, ran):
    run = Run("inclusive", {"channels": channels})
    assert run.status == "completed"
    assert {e for e in ("Mail", "Sms", "Nothing") if e in run.states()} == ran


def test_event_based_gateway_takes_the_message():
    run = Run("event_gateway")
    assert run.states()["First"] == ["waiting"]
    assert run.step.wake_at == NOW.replace(day=2)
    run.message("paid", {"amount": 3})
    assert run.status == "completed"
    assert run.variables == {"amount": 3, "outcome": "paid"}
    assert "Expired" not in run.states()


def test_event_based_gateway_takes_the_timer():
    run = Run("event_gateway")
    run.advance(NOW.replace(day=2))
    assert run.status == "completed"
    assert run.variables == {"outcome": "expired"}


def test_message_catch_merges_its_payload():
    run = Run("messages")
    run.complete("Fill", {"form": 1})
    assert run.state_of("Wait") == "waiting"
    assert run.state_of("Cancelled") == "cancelled"
    with pytest.raises(NotFound):
        run.message("cancel")
    with pytest.raises(NotFound):
        run.message("nobody-waits-for-this")
    run.message("approved", {"approver": "bob"})
    assert run.status == "completed"
    assert run.variables == {"form": 1, "approver": "bob", "result": "approved by bob"}


def test_message_boundary_event_interrupts_the_task():
    run = Run("messages")
    run.message("cancel")
    assert run.status == "completed"
    assert run.state_of("Fill") == "cancelled"
    assert run.state_of("EndCancelled") == "completed"


def test_message_start_and_internal_throw():
    run = Run("message_start_throw")
    assert run.status == "waiting" and run.state_of("Ordered") == "waiting"
    run.message("order", {"qty": 2})
    assert run.state_of("Listen") == "waiting" and run.state_of("Prepare") == "waiting"
    run.complete("Prepare")  # its branch throws "ready", which the other branch catches
    assert run.status == "completed"
    assert run.state_of("Announce") == "completed" and run.state_of("Listen") == "completed"


@pytest.mark.parametrize(("amount", "decision"), [(5, "accepted"), (500, "rejected")])
def test_error_boundary_event_catches_a_sub_process_error(amount, decision):
    run = Run("errors", {"amount": amount})
    assert run.status == "completed"
    assert run.variables["decision"] == decision
    assert run.state_of("OverLimit") == ("completed" if decision == "rejected" else "cancelled")


def test_an_error_nothing_catches_fails_the_instance():
    run = Run("errors", {"amount": -1})
    assert run.status == "failed"
    assert run.step.failed_element_id == "Fatal"
    assert "E_FATAL" in (run.step.error or "")


def test_terminate_end_event_stops_the_other_branches():
    run = Run("terminate")
    assert run.status == "completed"
    assert run.state_of("Slow") == "cancelled"


def test_embedded_sub_process():
    run = Run("subprocess", {"value": 4})
    assert run.status == "waiting"
    assert run.state_of("Inner") == "running" and run.state_of("Confirm") == "waiting"
    assert run.variables == {"value": 4, "doubled": 8}
    run.complete("Confirm", {"ok": True})
    assert run.status == "completed"
    assert run.variables == {"value": 4, "doubled": 8, "ok": True, "result": 9}


def test_call_activity_runs_the_other_process_of_the_file():
    run = Run("call_activity", {"quantity": 4})
    assert run.status == "completed"
    assert run.variables["message"] == "price 12"
    assert run.state_of("Price") == "completed" and run.state_of("CallPricing") == "completed"


def test_multi_instance_parallel_then_sequential():
    run = Run("multi_instance", {"reviewers": ["ann", "bob"]})
    assert sorted(run.states()["Vote"]) == ["running", "waiting", "waiting"]
    first, second = [e.uid for e in run.step.elements
                     if e.element_id == "Vote" and e.state == "waiting"]
    run.complete("Vote", {"vote": "yes"}, uid=first)
    assert run.variables["votes"] == ["yes"]
    run.complete("Vote", {"vote": "no"}, uid=second)
    assert run.status == "completed"
    assert run.variables["votes"] == ["yes", "no"]
    assert run.variables["rounds"] == [2, 12, 22]
    assert run.states()["Count"].count("completed") == 4  # the activity and 3 instances


def test_scripts_read_and_write_records():
    records = MemoryRecords()
    run = Run("records", {"name": "ann"}, records=records)
    assert run.status == "completed"
    contact = run.variables["contact_id"]
    assert run.variables["contacts"] == [{"id": contact, "name": "ANN"}]
    assert run.variables["found"] == {"id": contact, "name": "ANN"}
    assert run.variables["deleted"] is True
    assert records.entities == {"Contact": {}}
    assert records.scopes == 2  # one unit of work per script


def test_a_failed_script_leaves_no_record_writes_of_its_own():
    records = MemoryRecords()
    run = Run(diagram("""
        <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Keep" />
        <bpmn:scriptTask id="Keep"><bpmn:script>records.add("Log", {"n": 1})</bpmn:script>
        </bpmn:scriptTask><bpmn:sequenceFlow id="f2" sourceRef="Keep" targetRef="Boom" />
        <bpmn:scriptTask id="Boom"><bpmn:script>records.add("Log", {"n": 2})
x = 1 / 0</bpmn:script></bpmn:scriptTask>
        <bpmn:sequenceFlow id="f3" sourceRef="Boom" targetRef="E" /><bpmn:endEvent id="E" />
        """), records=records)
    assert run.status == "failed"
    assert run.step.error == ("script task 'Boom' failed: ZeroDivisionError: division by zero "
                              "(line 2)")
    assert [r["n"] for r in records.list("Log")] == [1]
    assert run.state_of("Boom") == "failed" and run.state_of("Keep") == "completed"


def test_cancel_cancels_what_is_open():
    run = Run("parallel")
    run.complete("Legal", {"legal": "ok"})
    elements = run.cancel()
    states = {e.element_id: e.state for e in elements}
    assert states == {"Start": "completed", "Fork": "completed", "Legal": "completed",
                      "Finance": "cancelled"}
    with pytest.raises(ElementNotWaiting):
        run.complete("Finance", uid=next(e.uid for e in elements if e.element_id == "Finance"))


def test_cancel_a_waiting_timer():
    run = Run("timer_duration")
    elements = run.cancel()
    assert {e.element_id: e.state for e in elements}["Pause"] == "cancelled"


def test_endless_loop_fails_instead_of_hanging(monkeypatch):
    from flowport.engine import runtime

    monkeypatch.setattr(runtime, "MAX_STEPS", 200)
    run = Run(diagram("""
        <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="G" />
        <bpmn:exclusiveGateway id="G" default="f3" />
        <bpmn:sequenceFlow id="f2" sourceRef="G" targetRef="Again" />
        <bpmn:scriptTask id="Again"><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
        <bpmn:sequenceFlow id="f4" sourceRef="Again" targetRef="G" />
        <bpmn:sequenceFlow id="f3" sourceRef="G" targetRef="E" /><bpmn:endEvent id="E" />
        """).replace(b'<bpmn:sequenceFlow id="f2" sourceRef="G" targetRef="Again" />',
                     b'<bpmn:sequenceFlow id="f2" sourceRef="G" targetRef="Again">'
                     b"<bpmn:conditionExpression>True</bpmn:conditionExpression>"
                     b"</bpmn:sequenceFlow>"), {"n": 0})
    assert run.status == "failed"
    assert "endless loop" in (run.step.error or "")


def test_bad_input_is_refused():
    engine, spec = Engine(), fixture("tasks").spec
    with pytest.raises(BadInput):
        engine.start(spec, ["not", "a", "dict"], records=MemoryRecords(), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        engine.start(spec, {"x": object()}, records=MemoryRecords(), now=NOW)
    with pytest.raises(BadInput):
        engine.advance(spec, "{not json", records=MemoryRecords(), now=NOW)
    run = Run("tasks")
    with pytest.raises(BadInput):
        engine.complete_element(spec, run.step.state, run.uid("Pack"), {"x": {1, 2}.__iter__()},
                                records=MemoryRecords(), now=NOW)


def test_user_data_that_looks_like_serializer_markup_survives():
    run = Run("tasks", {"meta": {"typename": "Task", "value": 1}})
    run.complete("Pack", {"packed_by": "x"})
    assert run.variables["meta"] == {"typename": "Task", "value": 1}


def test_specs_are_restored_once_per_engine(monkeypatch):
    loads = []
    real = engine_specs.load_spec
    monkeypatch.setattr(engine_specs, "load_spec", lambda text: loads.append(1) or real(text))
    engine, spec = Engine(), fixture("script_chain").spec
    for i in range(3):
        step = engine.start(spec, {"order_id": "A", "amount": i}, records=MemoryRecords(),
                            now=NOW)
        assert step.status == "completed"
    assert len(loads) == 1
    small = Engine(spec_cache_size=0)
    small.start(spec, {"order_id": "A", "amount": 1}, records=MemoryRecords(), now=NOW)
    small.start(spec, {"order_id": "A", "amount": 1}, records=MemoryRecords(), now=NOW)
    assert len(loads) == 3


def test_one_engine_serves_many_threads():
    engine = Engine()
    spec = fixture("multi_instance").spec
    failures: list[str] = []

    def work() -> None:
        for _ in range(5):
            step = engine.start(spec, {"reviewers": ["a", "b", "c"]}, records=MemoryRecords(),
                                now=NOW)
            for element in [e for e in step.elements if e.state == "waiting"]:
                step = engine.complete_element(spec, step.state, element.uid, {"vote": 1},
                                               records=MemoryRecords(), now=NOW)
            if step.status != "completed" or step.variables["votes"] != [1, 1, 1]:
                failures.append(f"{step.status} {step.error} {step.variables}")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
