"""The `robot` executor through the services, on both databases: a BPMN service task starts a
child package instance, waits for it without holding a worker, takes its outputs back, turns
its failure into a BPMN error (caught by an error boundary event, or failing the instance),
and stops it when the parent is stopped, aborted or cancelled."""

from __future__ import annotations

import pytest
from tests.conftest import HOUR
from tests.services.test_dispatch import claim, enrolled, package
from tests.steps_support import HEADER, drain, fresh, ship, start, statuses

from flowport.domain.instances import Status
from flowport.domain.steps import StepStatus
from flowport.errors import NotFound
from flowport.executors import BpmnError
from flowport.services import agents, robots, stopping
from flowport.services import instances as run
from flowport.services import steps as steps_svc

INPUTS = ('<flowport:input name="process">"entry"</flowport:input>'
          '<flowport:input name="variables">{"invoice": invoice}</flowport:input>')


def parent_bpmn(inputs: str = INPUTS, *, boundary: str | None = None,
                result: str = "", extra: str = "") -> bytes:
    """Start -> Enter (robot) -> Done; with `boundary` an error boundary event on Enter
    (catching that error code, or any with "") leads to Handled -> Failed."""
    catch = ""
    if boundary is not None:
        ref = ' errorRef="Err"' if boundary else ""
        catch = (f'<bpmn:boundaryEvent id="Caught" attachedToRef="Enter">'
                 f'<bpmn:errorEventDefinition{ref} /></bpmn:boundaryEvent>'
                 '<bpmn:scriptTask id="Handled"><bpmn:script>handled = error["message"]'
                 '</bpmn:script></bpmn:scriptTask><bpmn:endEvent id="Failed" />'
                 '<bpmn:sequenceFlow id="c1" sourceRef="Caught" targetRef="Handled" />'
                 '<bpmn:sequenceFlow id="c2" sourceRef="Handled" targetRef="Failed" />')
    error = f'<bpmn:error id="Err" errorCode="{boundary}" />' if boundary else ""
    return (f'{HEADER}{error}<bpmn:process id="p" isExecutable="true">'
            '<bpmn:startEvent id="S" />'
            f'<bpmn:serviceTask id="Enter" name="enter" flowport:executor="robot"{result}>'
            f'<bpmn:extensionElements>{inputs}</bpmn:extensionElements></bpmn:serviceTask>'
            '<bpmn:endEvent id="Done" />'
            '<bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Enter" />'
            '<bpmn:sequenceFlow id="f2" sourceRef="Enter" targetRef="Done" />'
            f'{catch}{extra}</bpmn:process></bpmn:definitions>').encode()


def child_of(ctx, who, parent):
    (step,) = steps_svc.list_steps(ctx, who, fresh(ctx, who, parent))
    assert step.status is StepStatus.STARTED, step
    return run.get_instance(ctx, who, step.detail["instance_id"])


def started(ctx, who, xml=None, variables=None):
    """Deploy the package `entry` and the parent process, start the parent, run its step."""
    package(ctx, who, "entry", parameters=[{"name": "invoice", "type": "text"}])
    ship(ctx, who, "approve", xml or parent_bpmn())
    parent = start(ctx, who, "approve", variables or {"invoice": "INV-7"})
    assert drain(ctx) == 1
    return parent, child_of(ctx, who, parent)


def test_the_child_runs_on_a_robot_and_its_outputs_come_back(ctx, admin):
    parent, child = started(ctx, admin)
    assert child.parent_id == parent.id and child.status is Status.PENDING
    assert child.variables == {"invoice": "INV-7"}
    assert fresh(ctx, admin, parent).status is Status.WAITING
    assert drain(ctx) == 0  # waiting holds no worker
    bot = enrolled(ctx, admin)
    (job,) = claim(ctx, bot)
    assert job.instance.id == child.id
    agents.complete_job(ctx, bot, agents.Complete(child.id, 1, {"entered": True, "n": 3}))
    assert drain(ctx) == 1
    done = fresh(ctx, admin, parent)
    assert done.status is Status.COMPLETED
    assert done.variables == {"invoice": "INV-7", "entered": True, "n": 3}
    assert statuses(ctx, admin, parent) == {"enter": "completed"}


def test_flowport_result_keeps_the_outputs_whole(ctx, admin):
    parent, child = started(ctx, admin, parent_bpmn(result=' flowport:result="entry"'))
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    agents.complete_job(ctx, bot, agents.Complete(child.id, 1, {"n": 3}))
    drain(ctx)
    assert fresh(ctx, admin, parent).variables == {"invoice": "INV-7", "entry": {"n": 3}}


@pytest.mark.parametrize("code", ["", "robot.failed"])
def test_a_failed_job_raises_a_bpmn_error_that_a_boundary_event_catches(ctx, admin, code):
    parent, child = started(ctx, admin, parent_bpmn(boundary=code))
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    agents.fail_job(ctx, bot, agents.Fail(child.id, 1, "the invoice form rejected it"))
    assert drain(ctx) == 1
    done = fresh(ctx, admin, parent)
    assert done.status is Status.COMPLETED, done.error
    error = done.variables["error"]
    assert error["code"] == "robot.failed" and error["instance_id"] == child.id
    assert "the invoice form rejected it" in error["message"]
    assert done.variables["handled"] == error["message"]
    assert statuses(ctx, admin, parent) == {"enter": "failed"}
    kinds = [e.kind for e in run.list_events(ctx, admin, parent.id)]
    assert "error_caught" in kinds


def test_an_uncaught_failure_fails_the_parent(ctx, admin):
    parent, child = started(ctx, admin, parent_bpmn(boundary="other.code"))
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    agents.fail_job(ctx, bot, agents.Fail(child.id, 1, "no such vendor"))
    drain(ctx)
    done = fresh(ctx, admin, parent)
    assert done.status is Status.FAILED
    assert "no such vendor" in done.error and "Enter" in done.error


def test_a_child_stopped_directly_raises_robot_stopped(ctx, admin):
    parent, child = started(ctx, admin, parent_bpmn(boundary="robot.stopped"))
    stopping.stop_instance(ctx, admin, stopping.StopInstance(child.id, "not today"))
    assert fresh(ctx, admin, child).status is Status.STOPPED
    drain(ctx)
    done = fresh(ctx, admin, parent)
    assert done.status is Status.COMPLETED and done.variables["error"]["status"] == "stopped"


@pytest.mark.parametrize(("how", "parent_ends", "child_ends"), [
    ("stop", Status.STOPPED, Status.STOPPED),
    ("abort", Status.ABORTED, Status.ABORTED),
])
def test_stopping_the_parent_stops_a_pending_child(ctx, admin, how, parent_ends, child_ends):
    parent, child = started(ctx, admin)
    stop = stopping.stop_instance if how == "stop" else stopping.abort_instance
    assert stop(ctx, admin, stopping.StopInstance(parent.id, "changed my mind")).status \
        is parent_ends
    drain(ctx)  # the cancel instance calls the robot step's cancel hook
    assert fresh(ctx, admin, child).status is child_ends
    assert statuses(ctx, admin, parent) == {"enter": "cancelled"}


@pytest.mark.parametrize(("hard", "asking", "command", "final"), [
    (False, Status.STOPPING, "stop", Status.STOPPED),
    (True, Status.ABORTING, "abort", Status.ABORTED),
])
def test_cancelling_or_aborting_the_parent_stops_a_running_child_through_its_robot(
        ctx, admin, hard, asking, command, final):
    parent, child = started(ctx, admin)
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    if hard:
        stopping.abort_instance(ctx, admin, stopping.StopInstance(parent.id, "now"))
    else:
        run.cancel_instance(ctx, admin, parent.id, "no")
    drain(ctx)
    assert fresh(ctx, admin, child).status is asking
    beat = agents.heartbeat(ctx, bot, agents.Heartbeat(jobs=((child.id, 1),)))
    assert [(c.job_id, c.command) for c in beat.commands] == [(child.id, command)]
    agents.fail_job(ctx, bot, agents.Fail(child.id, 1, "interrupted", status=final.value))
    drain(ctx)
    assert fresh(ctx, admin, child).status is final
    assert fresh(ctx, admin, parent).status is final  # and stays so
    assert statuses(ctx, admin, parent) == {"enter": "cancelled"}


def test_bad_inputs_fail_the_step_and_start_no_child(ctx, admin):
    package(ctx, admin, "entry", parameters=[{"name": "invoice", "type": "text"}])
    cases = {
        "missing": '<flowport:input name="process">"nope"</flowport:input>',
        "bpmn": '<flowport:input name="process">"approve"</flowport:input>',
        "robot": INPUTS + '<flowport:input name="robot_id">"ghost"</flowport:input>',
        "typo": INPUTS + '<flowport:input name="robot_tag">["x"]</flowport:input>',
        "variables": '<flowport:input name="process">"entry"</flowport:input>'
                     '<flowport:input name="variables">{"invoice": 7}</flowport:input>',
    }
    for name, inputs in cases.items():
        key = "approve" if name == "bpmn" else f"p-{name}"
        ship(ctx, admin, key, parent_bpmn(inputs))
        parent = start(ctx, admin, key, {"invoice": "I"})
        drain(ctx)
        done = fresh(ctx, admin, parent)
        assert done.status is Status.FAILED, name
        (step,) = steps_svc.list_steps(ctx, admin, done)
        assert step.status is StepStatus.FAILED and step.detail is None, (name, step.reason)
    listed = run.list_instances(ctx, admin, run.ListInstances(process_key="entry"))
    assert listed.items == []


def test_robot_targeting_on_the_task(ctx, admin):
    group = robots.create_group(ctx, admin, robots.SaveGroup("finance"))
    inputs = INPUTS + ('<flowport:input name="robot_tags">["excel"]</flowport:input>'
                       f'<flowport:input name="robot_group_id">"{group.id}"</flowport:input>')
    _, child = started(ctx, admin, parent_bpmn(inputs))
    outsider = enrolled(ctx, admin, "outsider", tags=("excel",))
    member = enrolled(ctx, admin, "member", tags=("excel",))
    plain = enrolled(ctx, admin, "plain")
    ids = {r.name: r.id for r in robots.list_robots(ctx, admin, None, 10).items}
    robots.add_robot(ctx, admin, group.id, ids["member"])
    assert claim(ctx, outsider) == [] and claim(ctx, plain) == []
    (job,) = claim(ctx, member)
    assert job.instance.id == child.id


def test_tenancy(ctx, admin, other):
    _, child = started(ctx, admin)
    with pytest.raises(NotFound):
        run.get_instance(ctx, other, child.id)
    # A process of the same key in another account is not the one started.
    package(ctx, other, "entry")
    ship(ctx, other, "approve", parent_bpmn())
    theirs = start(ctx, other, "approve", {"invoice": "X"})
    drain(ctx)
    their_child = child_of(ctx, other, theirs)
    assert their_child.account_id == other.account_id != child.account_id


TIMEOUT = ('<bpmn:boundaryEvent id="Slow" attachedToRef="Enter"><bpmn:timerEventDefinition>'
           '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>'
           '</bpmn:boundaryEvent><bpmn:endEvent id="TooSlow" />'
           '<bpmn:sequenceFlow id="t1" sourceRef="Slow" targetRef="TooSlow" />')


def test_an_interrupting_timer_stops_the_child_it_no_longer_waits_for(ctx, admin, clock):
    parent, child = started(ctx, admin, parent_bpmn(extra=TIMEOUT))
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    clock.advance(HOUR * 2)
    assert run.fire_due_timers(ctx) == 1
    done = fresh(ctx, admin, parent)
    assert done.status is Status.COMPLETED  # through TooSlow
    assert fresh(ctx, admin, child).status is Status.STOPPING  # its robot hears it next
    (step,) = steps_svc.list_steps(ctx, admin, done)
    assert step.status is StepStatus.CANCELLED and "interrupted" in step.reason
    # The robot's late report changes nothing for the parent.
    agents.complete_job(ctx, bot, agents.Complete(child.id, 1, {"n": 1}))
    drain(ctx)
    assert fresh(ctx, admin, parent).variables == done.variables


def test_a_parent_failing_elsewhere_stops_its_pending_child(ctx, admin):
    fork = ('<bpmn:parallelGateway id="Fork" /><bpmn:scriptTask id="Boom">'
            '<bpmn:script>x = 1 / 0</bpmn:script></bpmn:scriptTask>'
            '<bpmn:sequenceFlow id="g1" sourceRef="Fork" targetRef="Enter" />'
            '<bpmn:sequenceFlow id="g2" sourceRef="Fork" targetRef="Later" />'
            '<bpmn:userTask id="Later" />'
            '<bpmn:sequenceFlow id="g3" sourceRef="Later" targetRef="Boom" />')
    xml = parent_bpmn(extra=fork).replace(b'sourceRef="S" targetRef="Enter"',
                                          b'sourceRef="S" targetRef="Fork"')
    parent, child = started(ctx, admin, xml)
    (later,) = [e for e in run.list_elements(ctx, admin, parent.id)
                if e.element_id == "Later"]
    run.complete_element(ctx, admin, run.CompleteElement(parent.id, later.uid, {}))
    assert fresh(ctx, admin, parent).status is Status.FAILED
    assert fresh(ctx, admin, child).status is Status.STOPPED
    assert statuses(ctx, admin, parent) == {"enter": "cancelled"}


def test_a_pinned_version_that_does_not_exist_fails_the_step(ctx, admin):
    inputs = INPUTS + '<flowport:input name="version">2</flowport:input>'
    package(ctx, admin, "entry", parameters=[{"name": "invoice", "type": "text"}])
    ship(ctx, admin, "approve", parent_bpmn(inputs))
    parent = start(ctx, admin, "approve", {"invoice": "I"})
    drain(ctx)
    done = fresh(ctx, admin, parent)
    assert done.status is Status.FAILED and "has no version 2" in done.error


def test_any_executor_may_raise_a_bpmn_error(ctx, admin, scripted):
    xml = parent_bpmn('<flowport:input name="x">1</flowport:input>', boundary="out.of.stock")
    xml = xml.replace(b'flowport:executor="robot"', b'flowport:executor="test"')
    ship(ctx, admin, "shop", xml)
    scripted.when("run", "enter", BpmnError("nothing left", code="out.of.stock",
                                            data={"sku": "A-1"}))
    caught = start(ctx, admin, "shop", {"invoice": "I"})
    drain(ctx)
    done = fresh(ctx, admin, caught)
    assert done.status is Status.COMPLETED
    assert done.variables["error"] == {"code": "out.of.stock", "message": "nothing left",
                                       "sku": "A-1"}
    scripted.when("run", "enter", BpmnError("card declined", code="payment"))
    uncaught = start(ctx, admin, "shop", {"invoice": "J"})
    drain(ctx)
    done = fresh(ctx, admin, uncaught)
    assert done.status is Status.FAILED and "card declined" in done.error

