"""The built-in executors at work in instances: `record` and `demo.resource` write the record
store inside the step's transaction and clean up in their hooks; `http` calls a real server
from a worker, outside any transaction."""

from __future__ import annotations

import pytest
from tests.steps_support import HEADER, drain, fresh, links, ship, start, statuses

from flowport.domain.instances import Status
from flowport.executors.http import factory as http_executor
from flowport.services import cleanup as cleanup_svc
from flowport.services import instances as run
from flowport.services import records
from http_support import RECEIVED, serving


def one_step(executor: str, inputs: dict[str, str], *, attributes: str = "",
             extra: str = "", then: str = "") -> bytes:
    """Start -> a service task "Step" with these flowport:input expressions -> [then] -> end."""
    mapped = "".join(f'<flowport:input name="{k}">{v}</flowport:input>'
                     for k, v in inputs.items())
    after = "Then" if then else "E"
    return (f'{HEADER}<bpmn:process id="p" isExecutable="true" {attributes}>'
            '<bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" '
            'targetRef="Step" />'
            f'<bpmn:serviceTask id="Step" name="step" flowport:executor="{executor}" {extra}>'
            f"<bpmn:extensionElements>{mapped}</bpmn:extensionElements></bpmn:serviceTask>"
            f'<bpmn:sequenceFlow id="f2" sourceRef="Step" targetRef="{after}" />'
            + (f'<bpmn:scriptTask id="Then"><bpmn:script>{then}</bpmn:script></bpmn:scriptTask>'
               '<bpmn:sequenceFlow id="f3" sourceRef="Then" targetRef="E" />' if then else "")
            + '<bpmn:endEvent id="E" /></bpmn:process></bpmn:definitions>').encode()


def test_record_executor_adds_then_delete_removes_it(ctx, admin):
    ship(ctx, admin, "add", one_step("record", {"entity": '"Order"',
                                                "data": '{"no": number}'},
                                     extra='flowport:result="added"'))
    instance = start(ctx, admin, "add", {"number": 17})
    drain(ctx)
    done = fresh(ctx, admin, instance)
    assert done.status is Status.COMPLETED
    record_id = done.variables["added"]["id"]
    assert records.get_record(ctx, admin, "Order", record_id) == {"id": record_id, "no": 17}
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    drain(ctx)
    assert records.list_records(ctx, admin, "Order") == []
    assert fresh(ctx, admin, instance).deleted_at is not None


@pytest.mark.parametrize(("inputs", "reason"), [
    ({"entity": '"Order"', "action": '"burn"'}, "input 'action' must be one of"),
    ({"entity": '"Order"', "action": '"get"', "id": '"nope"'}, "no record 'nope' in 'Order'"),
    ({"entity": '"no such entity!"'}, "entity must be a name"),
    ({"entity": '"Order"', "data": "[1]"}, "input 'data' must be a JSON object"),
])
def test_record_executor_failures_fail_the_step(ctx, admin, inputs, reason):
    ship(ctx, admin, "rec", one_step("record", inputs))
    instance = start(ctx, admin, "rec")
    drain(ctx)
    assert fresh(ctx, admin, instance).status is Status.FAILED
    assert reason in (fresh(ctx, admin, instance).error or "")


def test_record_executor_actions(ctx, admin):
    found = records.add_record(ctx, admin, "Order", {"no": 1})
    for action, inputs, expected in (
        ("get", {"id": f'"{found["id"]}"'}, {"record": {"id": found["id"], "no": 1}}),
        ("list", {}, {"records": [{"id": found["id"], "no": 1}]}),
        ("put", {"id": f'"{found["id"]}"', "data": '{"no": 2}'}, {"id": found["id"]}),
        ("delete", {"id": f'"{found["id"]}"'}, {"deleted": True}),
    ):
        ship(ctx, admin, action, one_step("record", {
            "entity": '"Order"', "action": f'"{action}"', **inputs},
            extra='flowport:result="out"'))
        instance = start(ctx, admin, action)
        drain(ctx)
        assert fresh(ctx, admin, instance).variables["out"] == expected, action
    assert records.list_records(ctx, admin, "Order") == []


def test_demo_resource_hold_then_cancel_marks_it_cancelled(ctx, admin):
    ship(ctx, admin, "vm", one_step("demo.resource", {"hold": "True", "data": '{"cpu": 2}'}))
    instance = start(ctx, admin, "vm")
    drain(ctx)
    (made,) = records.list_records(ctx, admin, "DemoResource")
    assert made["state"] == "provisioning" and made["cpu"] == 2
    assert statuses(ctx, admin, instance) == {"step": "started"}
    run.cancel_instance(ctx, admin, instance.id)
    drain(ctx)
    (after,) = records.list_records(ctx, admin, "DemoResource")
    assert after == {**made, "state": "cancelled"}
    assert statuses(ctx, admin, instance) == {"step": "cancelled"}


def test_demo_resource_rollback_removes_what_it_made(ctx, admin):
    ship(ctx, admin, "vm", one_step("demo.resource", {}, attributes='flowport:rollback="true"',
                                    then="1 / 0"))
    instance = start(ctx, admin, "vm")
    drain(ctx)
    assert fresh(ctx, admin, instance).status is Status.FAILED
    assert records.list_records(ctx, admin, "DemoResource") == []
    assert links(ctx, admin, instance).cleanup.state == "completed"


def test_demo_resource_failure_on_request_leaves_no_record(ctx, admin):
    ship(ctx, admin, "vm", one_step("demo.resource", {"fail": '["run"]'}))
    instance = start(ctx, admin, "vm")
    drain(ctx)
    assert "demo failure of run requested" in (fresh(ctx, admin, instance).error or "")
    assert records.list_records(ctx, admin, "DemoResource") == []


def test_http_executor_in_an_instance(ctx, admin):
    with serving() as url:
        ctx.settings.http_allowed_hosts = url.split("//")[1]
        ctx.executors.add("http", http_executor(ctx.settings))
        ship(ctx, admin, "call", one_step("http", {"url": f'"{url}/echo"', "method": '"POST"',
                                                   "json": '{"order": order}'},
                                          extra='flowport:result="answer"'))
        RECEIVED.clear()
        instance = start(ctx, admin, "call", {"order": "A-1"})
        drain(ctx)
    done = fresh(ctx, admin, instance)
    assert done.status is Status.COMPLETED
    assert done.variables["answer"]["status"] == 201
    assert done.variables["answer"]["body"] == {"order": "A-1"}
    assert RECEIVED[-1]["body"] == {"order": "A-1"}
