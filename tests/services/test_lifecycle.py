"""Service tests: every use case through the real engine and a real database, both kinds."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from flowport.domain.instances import ElementState, Status
from flowport.errors import (
    BadInput,
    Conflict,
    ElementNotWaiting,
    Forbidden,
    InvalidDefinition,
    InvalidParameters,
    NotFound,
)
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services import records

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"


def ship(ctx, who, name: str, **kwargs):
    key = kwargs.pop("key", name)
    deploy.create_process(ctx, who, deploy.CreateProcess(key=key))
    return deploy.deploy_version(ctx, who, key, deploy.DeployVersion(
        f"{name}.bpmn", (FLOWS / f"{name}.bpmn").read_bytes(), **kwargs))


def start(ctx, who, key, **variables):
    return run.start_instance(ctx, who, run.StartInstance(key, variables)).instance


def waiting_uid(ctx, who, instance_id, element_id):
    (uid,) = [e.uid for e in run.list_elements(ctx, who, instance_id)
              if e.element_id == element_id and e.state is ElementState.WAITING]
    return uid


def test_straight_through_completes_in_the_start_call(ctx, admin):
    ship(ctx, admin, "straight", parameters=[{"name": "amount", "type": "integer",
                                              "required": True}],
         outputs=[{"name": "Size", "variable": "size"}])
    instance = start(ctx, admin, "straight", amount="70")
    assert instance.status is Status.COMPLETED
    assert instance.variables["total"] == 140
    assert instance.outputs == {"Size": "large"}
    assert instance.ended_at is not None
    kinds = [(e.kind, e.detail.get("to")) for e in run.list_events(ctx, admin, instance.id)]
    assert kinds == [("created", None), ("status", "completed")]
    done = {e.element_id for e in run.list_elements(ctx, admin, instance.id)
            if e.state is ElementState.COMPLETED}
    assert {"Double", "MarkLarge"} <= done and "MarkSmall" not in done


def test_identical_upload_returns_the_existing_version(ctx, admin):
    first = ship(ctx, admin, "straight")
    again = deploy.deploy_version(ctx, admin, "straight", deploy.DeployVersion(
        "straight.bpmn", (FLOWS / "straight.bpmn").read_bytes()))
    assert first.created and not again.created
    assert again.version.number == first.version.number == 1
    assert len(deploy.list_versions(ctx, admin, "straight")) == 1


@pytest.mark.parametrize(("content", "element"), [
    ((FLOWS / "unsupported.bpmn").read_bytes(), "Mail"),
    (b"<not-xml", None),
    (b'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn='
     b'"http://www.omg.org/spec/BPMN/20100524/MODEL"/>', None),
])
def test_bad_bpmn_is_refused_and_changes_nothing(ctx, admin, content, element):
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="p"))
    with pytest.raises(InvalidDefinition) as caught:
        deploy.deploy_version(ctx, admin, "p", deploy.DeployVersion("p.bpmn", content))
    if element:
        assert caught.value.element_id == element
        assert element in caught.value.message
    assert deploy.list_versions(ctx, admin, "p") == []
    assert deploy.get_process(ctx, admin, "p").current_version is None


def test_wrong_file_kind_for_the_process_type(ctx, admin):
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="p"))
    with pytest.raises(BadInput, match="BPMN"):
        deploy.deploy_version(ctx, admin, "p", deploy.DeployVersion("p.robot", b"*** Tasks"))


def test_parameters_are_checked_before_anything_is_written(ctx, admin):
    ship(ctx, admin, "straight", parameters=[{"name": "amount", "type": "integer",
                                              "required": True}])
    with pytest.raises(InvalidParameters) as caught:
        start(ctx, admin, "straight", amount="lots")
    assert caught.value.field == "amount"
    with pytest.raises(InvalidParameters):
        start(ctx, admin, "straight")
    assert run.list_instances(ctx, admin, run.ListInstances()).items == []


def test_user_task_waits_and_completes_with_data(ctx, admin):
    ship(ctx, admin, "approval")
    instance = start(ctx, admin, "approval")
    assert instance.status is Status.WAITING
    assert instance.wake_at == ctx.clock.now() + timedelta(hours=1)
    uid = waiting_uid(ctx, admin, instance.id, "Approve")
    done = run.complete_element(ctx, admin, run.CompleteElement(instance.id, uid,
                                                                {"approved": True}))
    assert done.changed and done.instance.status is Status.COMPLETED
    assert done.instance.variables["decision"] == "approved"
    assert done.instance.wake_at is None
    assert [r["decision"] for r in records.list_records(ctx, admin, "Decision")] == ["approved"]
    # Completing it again changes nothing and says so.
    again = run.complete_element(ctx, admin, run.CompleteElement(instance.id, uid, {}))
    assert not again.changed and again.instance.revision == done.instance.revision


def test_element_errors(ctx, admin):
    ship(ctx, admin, "approval")
    instance = start(ctx, admin, "approval")
    with pytest.raises(NotFound):
        run.complete_element(ctx, admin, run.CompleteElement(instance.id, "nope", {}))
    start_uid = next(e.uid for e in run.list_elements(ctx, admin, instance.id)
                     if e.element_id == "Start")
    assert start_uid  # a completed start event: completing it again is a no-op
    late_uid = [e.uid for e in run.list_elements(ctx, admin, instance.id)
                if e.element_id == "Late"]
    run.cancel_instance(ctx, admin, instance.id)
    uid = next(e.uid for e in run.list_elements(ctx, admin, instance.id)
               if e.element_id == "Approve")
    with pytest.raises(ElementNotWaiting):
        run.complete_element(ctx, admin, run.CompleteElement(instance.id, uid, {}))
    assert late_uid is not None


def test_timer_fires_only_when_due(ctx, admin, clock):
    ship(ctx, admin, "approval")
    instance = start(ctx, admin, "approval")
    clock.advance(timedelta(minutes=59))
    assert run.fire_due_timers(ctx) == 0
    clock.advance(timedelta(minutes=1))
    assert run.fire_due_timers(ctx) == 1
    fired = run.get_instance(ctx, admin, instance.id)
    assert fired.status is Status.COMPLETED
    assert fired.variables["decision"] == "escalated"
    assert run.fire_due_timers(ctx) == 0
    states = {e.element_id: e.state for e in run.list_elements(ctx, admin, instance.id)}
    assert states["Approve"] is ElementState.CANCELLED


def test_failed_script_fails_the_instance_with_a_clear_error(ctx, admin):
    ship(ctx, admin, "failing")
    instance = start(ctx, admin, "failing")
    assert instance.status is Status.FAILED
    assert "Boom" in (instance.error or "") and "undefined_name" in (instance.error or "")
    events = run.list_events(ctx, admin, instance.id)
    assert events[-1].detail["element_id"] == "Boom"


def test_cancel(ctx, admin):
    ship(ctx, admin, "approval")
    instance = start(ctx, admin, "approval")
    stopped = run.cancel_instance(ctx, admin, instance.id, "not needed")
    assert stopped.status is Status.STOPPED and stopped.wake_at is None
    assert run.cancel_instance(ctx, admin, instance.id).revision == stopped.revision
    completed = start(ctx, admin, "approval")
    uid = waiting_uid(ctx, admin, completed.id, "Approve")
    run.complete_element(ctx, admin, run.CompleteElement(completed.id, uid, {"approved": 0}))
    with pytest.raises(Conflict):
        run.cancel_instance(ctx, admin, completed.id)


def test_idempotency_key_returns_the_first_instance(ctx, admin):
    ship(ctx, admin, "approval")
    cmd = run.StartInstance("approval", {}, idempotency_key="order-17")
    first = run.start_instance(ctx, admin, cmd)
    second = run.start_instance(ctx, admin, cmd)
    assert first.created and not second.created
    assert first.instance.id == second.instance.id
    assert len(run.list_instances(ctx, admin, run.ListInstances()).items) == 1


def test_concurrent_completions_apply_once(ctx, admin):
    ship(ctx, admin, "approval")
    instance = start(ctx, admin, "approval")
    uid = waiting_uid(ctx, admin, instance.id, "Approve")
    results, failures = [], []
    barrier = threading.Barrier(4)

    def complete():
        barrier.wait()
        try:
            results.append(run.complete_element(
                ctx, admin, run.CompleteElement(instance.id, uid, {"approved": True})))
        except Conflict as exc:
            failures.append(exc)

    threads = [threading.Thread(target=complete) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert [r.changed for r in results].count(True) == 1
    assert len(records.list_records(ctx, admin, "Decision")) == 1


def test_tenancy(ctx, admin, other):
    ship(ctx, admin, "approval")
    instance = start(ctx, admin, "approval")
    uid = waiting_uid(ctx, admin, instance.id, "Approve")
    for call in (
        lambda: deploy.get_process(ctx, other, "approval"),
        lambda: run.get_instance(ctx, other, instance.id),
        lambda: run.list_elements(ctx, other, instance.id),
        lambda: run.complete_element(ctx, other, run.CompleteElement(instance.id, uid, {})),
        lambda: run.cancel_instance(ctx, other, instance.id),
        lambda: start(ctx, other, "approval"),
    ):
        with pytest.raises(NotFound):
            call()
    assert run.list_instances(ctx, other, run.ListInstances()).items == []
    assert run.get_instance(ctx, admin, instance.id).status is Status.WAITING


def test_viewer_cannot_start(ctx, admin):
    from dataclasses import replace

    from flowport.domain.accounts import Role

    ship(ctx, admin, "straight")
    viewer = replace(admin, roles=frozenset({Role.VIEWER}))
    with pytest.raises(Forbidden):
        start(ctx, viewer, "straight", amount=1)


def test_versions_pin_and_current(ctx, admin):
    ship(ctx, admin, "straight", key="p")
    deploy.deploy_version(ctx, admin, "p", deploy.DeployVersion(
        "approval.bpmn", (FLOWS / "approval.bpmn").read_bytes()))
    assert deploy.get_process(ctx, admin, "p").current_version == 2
    pinned = run.start_instance(ctx, admin, run.StartInstance("p", {"amount": 1}, version=1))
    assert pinned.instance.version_number == 1 and pinned.instance.status is Status.COMPLETED
    assert start(ctx, admin, "p").status is Status.WAITING
    with pytest.raises(NotFound):
        run.start_instance(ctx, admin, run.StartInstance("p", {}, version=9))


def test_deleted_process_cannot_start(ctx, admin):
    ship(ctx, admin, "straight")
    deploy.delete_process(ctx, admin, "straight")
    with pytest.raises(NotFound):
        start(ctx, admin, "straight", amount=1)
