"""Linked cleanup instances: cancel, delete and rollback call the executors' hooks in the
order seed 004 asks, retry failed hooks with backoff and end visibly failed; the original
records each link. Real databases, the real engine, an executor scripted per test."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.steps_support import (
    Scripted,
    chain_bpmn,
    drain,
    fail,
    fresh,
    links,
    parallel_bpmn,
    ship,
    start,
    statuses,
)

from flowport.domain.instances import Status
from flowport.domain.steps import CleanupKind, CleanupState, StepKind, StepStatus
from flowport.errors import Conflict, InvalidTransition, NotFound
from flowport.services import cleanup as cleanup_svc
from flowport.services import instances as run
from flowport.services import steps as steps_svc

ROLLBACK = 'flowport:rollback="true"'



def completed(ctx, admin, key="chain", *ids):
    ship(ctx, admin, key, chain_bpmn(*(ids or ("A", "B", "C"))))
    instance = start(ctx, admin, key)
    drain(ctx)
    assert fresh(ctx, admin, instance).status is Status.COMPLETED
    return instance


def everything(ctx):
    """Every table the cleanup use cases write, for "nothing changed" checks."""
    with ctx.store.transaction(write=False) as tx:
        return [tx.conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").all()
                for t in ("instances", "steps", "cleanups", "events")]


# -- rollback ------------------------------------------------------------------------------

def test_rollback_undoes_the_failed_step_then_the_completed_ones_newest_first(
        ctx, admin, scripted, clock):
    ship(ctx, admin, "chain", chain_bpmn("A", "B", "C", attributes=ROLLBACK))
    scripted.when("run", "C", fail("no capacity"))
    instance = start(ctx, admin, "chain", name="test")
    for _ in range(3):  # A, B, C one second apart: completion order is time order
        steps_svc.run_one(ctx)
        clock.advance(timedelta(seconds=1))
    failed = fresh(ctx, admin, instance)
    assert failed.status is Status.FAILED
    link = links(ctx, admin, instance).cleanup
    assert (link.kind, link.state) == (CleanupKind.ROLLBACK, CleanupState.RUNNING)
    assert statuses(ctx, admin, instance)["C"] == "rolling_back"
    drain(ctx)
    assert scripted.of("rollback") == ["C", "B", "A"]
    assert set(statuses(ctx, admin, instance).values()) == {"rolled_back"}
    # The failed step's hook saw its inputs; the completed ones' hooks saw their outputs too.
    calls = {c.namespace: c for c in scripted.seen if c.outputs is not None}
    assert calls["B"].outputs == {"B": 1} and calls["A"].outputs == {"A": 1}
    link = links(ctx, admin, instance).cleanup
    assert link.state is CleanupState.COMPLETED
    rollback = run.get_instance(ctx, admin, link.instance_id)
    assert rollback.status is Status.COMPLETED and rollback.name == "test#rollback"
    assert links(ctx, admin, rollback).cleanup_of.target_id == instance.id
    hook_calls = steps_svc.list_steps(ctx, admin, rollback)
    assert [(s.namespace, s.kind, s.status) for s in hook_calls] == [
        ("C", StepKind.ROLLBACK, StepStatus.ROLLED_BACK),
        ("B", StepKind.ROLLBACK, StepStatus.ROLLED_BACK),
        ("A", StepKind.ROLLBACK, StepStatus.ROLLED_BACK)]
    assert fresh(ctx, admin, instance).status is Status.FAILED  # keeps its own status


def test_rollback_cancels_steps_in_flight_first_and_stops_at_a_failing_hook(
        ctx, admin, scripted):
    ship(ctx, admin, "par", parallel_bpmn("A", "B", "C", attributes=ROLLBACK))
    scripted.when("run", "A", "park")
    scripted.when("run", "C", fail())
    scripted.when("rollback", "C", fail("cannot undo"))
    ctx.settings.hook_attempts = 1
    instance = start(ctx, admin, "par")
    drain(ctx)
    assert scripted.of("run") == ["A", "B", "C"]
    assert scripted.of("cancel") == ["A"]  # in flight: cancelled first
    assert scripted.of("rollback") == ["C"]  # failed for good: B is left alone
    assert statuses(ctx, admin, instance) == {"A": "cancelled", "B": "completed",
                                             "C": "rollback_failed"}
    link = links(ctx, admin, instance).cleanup
    assert link.state is CleanupState.FAILED
    rollback = run.get_instance(ctx, admin, link.instance_id)
    assert rollback.status is Status.FAILED and "cannot undo" in (rollback.error or "")


def test_script_failure_with_rollback_undoes_the_completed_steps(ctx, admin, scripted):
    xml = chain_bpmn("A", "B", attributes=ROLLBACK).replace(
        b'<bpmn:endEvent id="E" />',
        b'<bpmn:scriptTask id="Boom"><bpmn:script>1 / 0</bpmn:script></bpmn:scriptTask>'
        b'<bpmn:endEvent id="E" /><bpmn:sequenceFlow id="fx" sourceRef="Boom" targetRef="E" />'
    ).replace(b'sourceRef="B" targetRef="E"', b'sourceRef="B" targetRef="Boom"')
    ship(ctx, admin, "script", xml)
    instance = start(ctx, admin, "script")
    drain(ctx)
    assert "ZeroDivisionError" in (fresh(ctx, admin, instance).error or "")
    assert scripted.of("rollback") == ["B", "A"]


# -- cancel --------------------------------------------------------------------------------

def test_cancel_withdraws_queued_steps_and_cancels_the_ones_in_flight(ctx, admin, scripted):
    ship(ctx, admin, "par", parallel_bpmn("A", "B"))
    scripted.when("run", "A", "park")
    instance = start(ctx, admin, "par")
    assert steps_svc.run_one(ctx)  # A parks; B stays queued
    assert statuses(ctx, admin, instance) == {"A": "started", "B": "queued"}
    stopped = run.cancel_instance(ctx, admin, instance.id, "not needed")
    assert stopped.status is Status.STOPPED
    link = links(ctx, admin, instance).cleanup
    assert (link.kind, link.state) == (CleanupKind.CANCEL, CleanupState.RUNNING)
    assert statuses(ctx, admin, instance) == {"A": "cancelling", "B": "withdrawn"}
    drain(ctx)
    assert scripted.of("cancel") == ["A"] and scripted.of("run") == ["A"]
    assert statuses(ctx, admin, instance) == {"A": "cancelled", "B": "withdrawn"}
    assert links(ctx, admin, instance).cleanup.state is CleanupState.COMPLETED
    # Twice: unchanged, the same cancel instance.
    again = run.cancel_instance(ctx, admin, instance.id)
    assert again.status is Status.STOPPED
    assert [c.instance_id for c in links(ctx, admin, instance).cleanups] == [link.instance_id]
    # Once deleted, or when its cancel failed, a cancel means nothing any more.
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    with pytest.raises(Conflict, match="followed by a delete"):
        run.cancel_instance(ctx, admin, instance.id)


def test_cancel_tries_every_step_in_flight_even_when_one_fails(ctx, admin, scripted):
    ctx.settings.hook_attempts = 1
    ship(ctx, admin, "par", parallel_bpmn("A", "B", "C"))
    for namespace in ("A", "B", "C"):
        scripted.when("run", namespace, "park")
    scripted.when("cancel", "C", fail("already gone"))
    instance = start(ctx, admin, "par")
    drain(ctx)
    run.cancel_instance(ctx, admin, instance.id)
    drain(ctx)
    assert scripted.of("cancel") == ["C", "B", "A"]  # newest first, all tried
    assert statuses(ctx, admin, instance) == {"A": "cancelled", "B": "cancelled",
                                             "C": "cancel_failed"}
    link = links(ctx, admin, instance).cleanup
    assert link.state is CleanupState.FAILED
    assert run.get_instance(ctx, admin, link.instance_id).error == "1 of 3 hooks failed"
    with pytest.raises(Conflict, match="its cancel failed"):
        run.cancel_instance(ctx, admin, instance.id)


def test_cancel_without_steps_in_flight_completes_at_once(ctx, admin, scripted):
    ship(ctx, admin, "approval", chain_bpmn("A").replace(
        b'<bpmn:startEvent id="S" />',
        b'<bpmn:startEvent id="S" /><bpmn:userTask id="U" />'
        b'<bpmn:sequenceFlow id="fu" sourceRef="U" targetRef="A" />').replace(
        b'sourceRef="S" targetRef="A"', b'sourceRef="S" targetRef="U"'))
    instance = start(ctx, admin, "approval")
    run.cancel_instance(ctx, admin, instance.id)
    assert links(ctx, admin, instance).cleanup.state is CleanupState.COMPLETED
    assert scripted.calls == []


def test_cleanup_instances_cannot_be_cancelled_or_deleted(ctx, admin, scripted):
    ship(ctx, admin, "par", parallel_bpmn("A"))
    scripted.when("run", "A", "park")
    instance = start(ctx, admin, "par")
    drain(ctx)
    run.cancel_instance(ctx, admin, instance.id)
    cancel_id = links(ctx, admin, instance).cleanup.instance_id
    before = everything(ctx)
    with pytest.raises(Conflict, match="cancel instance"):
        run.cancel_instance(ctx, admin, cancel_id)
    with pytest.raises(Conflict, match="cancel instance"):
        cleanup_svc.delete_instance(ctx, admin, cancel_id)
    assert everything(ctx) == before


def test_cancelling_a_completed_instance_is_refused(ctx, admin, scripted):
    instance = completed(ctx, admin)
    before = everything(ctx)
    with pytest.raises(InvalidTransition):
        run.cancel_instance(ctx, admin, instance.id)
    assert everything(ctx) == before


# -- delete --------------------------------------------------------------------------------

def test_delete_calls_delete_hooks_newest_first_then_marks_deleted(ctx, admin, scripted,
                                                                   clock):
    ship(ctx, admin, "chain", chain_bpmn("A", "B", "C"))
    instance = start(ctx, admin, "chain")
    for _ in range(3):
        steps_svc.run_one(ctx)
        clock.advance(timedelta(seconds=1))
    deleting = cleanup_svc.delete_instance(ctx, admin, instance.id)
    assert deleting.deleted_at is None
    link = links(ctx, admin, instance).cleanup
    assert (link.kind, link.state) == (CleanupKind.DELETE, CleanupState.RUNNING)
    assert cleanup_svc.delete_instance(ctx, admin, instance.id).deleted_at is None  # unchanged
    drain(ctx)
    assert scripted.of("delete") == ["C", "B", "A"]
    deleted = fresh(ctx, admin, instance)  # still readable by id
    assert deleted.deleted_at is not None and deleted.status is Status.COMPLETED
    assert set(statuses(ctx, admin, instance).values()) == {"deleted"}
    listed = [i.id for i in run.list_instances(ctx, admin, run.ListInstances()).items]
    assert instance.id not in listed and link.instance_id not in listed
    every = run.list_instances(ctx, admin, run.ListInstances(include_cleanups=True)).items
    assert [i.id for i in every] == [link.instance_id]
    assert cleanup_svc.delete_instance(ctx, admin, instance.id).deleted_at is not None
    assert len(links(ctx, admin, instance).cleanups) == 1


def test_delete_of_a_running_instance_is_refused_and_changes_nothing(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    instance = start(ctx, admin, "chain")
    before = everything(ctx)
    with pytest.raises(InvalidTransition, match="waiting; only an ended instance can be "
                                                "deleted: cancel it first"):
        cleanup_svc.delete_instance(ctx, admin, instance.id)
    assert everything(ctx) == before


def test_delete_while_a_rollback_runs_is_refused(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A", "B", attributes=ROLLBACK))
    scripted.when("run", "B", fail())
    instance = start(ctx, admin, "chain")
    steps_svc.run_one(ctx)
    steps_svc.run_one(ctx)  # B fails: the rollback is queued, not run
    with pytest.raises(Conflict, match="rollback instance"):
        cleanup_svc.delete_instance(ctx, admin, instance.id)
    drain(ctx)
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    drain(ctx)
    # Rolled back steps are not deleted again.
    assert scripted.of("delete") == [] and fresh(ctx, admin, instance).deleted_at is not None


def test_a_failing_delete_hook_stops_the_delete_and_a_new_delete_retries(
        ctx, admin, scripted, clock):
    ctx.settings.hook_attempts = 3
    ctx.settings.hook_backoff_seconds = 10
    instance = completed(ctx, admin)
    scripted.when("delete", "B", fail("disk busy"))
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    drain(ctx)
    assert scripted.of("delete") == ["C", "B"]
    (_, retrying) = steps_svc.list_steps(ctx, admin, run.get_instance(
        ctx, admin, links(ctx, admin, instance).cleanup.instance_id))
    assert retrying.status is StepStatus.DELETING and retrying.attempts == 1
    assert retrying.reason == "try 1 of 3 failed, next in 10 s: disk busy"
    assert drain(ctx) == 0  # backing off
    clock.advance(timedelta(seconds=10))
    drain(ctx)
    clock.advance(timedelta(seconds=19))
    assert drain(ctx) == 0  # the second wait is twice as long
    clock.advance(timedelta(seconds=1))
    drain(ctx)
    assert scripted.of("delete") == ["C", "B", "B", "B"]  # A's hook never called
    first = links(ctx, admin, instance).cleanup
    assert first.state is CleanupState.FAILED
    assert fresh(ctx, admin, instance).deleted_at is None
    assert statuses(ctx, admin, instance) == {"A": "completed", "B": "delete_failed",
                                             "C": "deleted"}
    failed_call = steps_svc.list_steps(ctx, admin, run.get_instance(
        ctx, admin, first.instance_id))[-1]
    assert failed_call.status is StepStatus.DELETE_FAILED
    assert failed_call.reason == "failed 3 times; last: disk busy"
    # A new delete: a new linked instance, which picks up where the first stopped.
    scripted.when("delete", "B", None)
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    second = links(ctx, admin, instance).cleanup
    assert second.instance_id != first.instance_id
    drain(ctx)
    assert scripted.of("delete") == ["C", "B", "B", "B", "B", "A"]
    assert fresh(ctx, admin, instance).deleted_at is not None
    assert [c.kind for c in links(ctx, admin, instance).cleanups] == ["delete", "delete"]


def test_a_hook_that_fails_twice_then_succeeds(ctx, admin, scripted, clock):
    instance = completed(ctx, admin, "one", "A")
    scripted.when("delete", "A", fail("1"), fail("2"), None)
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    for _ in range(3):
        drain(ctx)
        clock.advance(timedelta(hours=1))
    assert scripted.of("delete") == ["A", "A", "A"]
    assert [c.attempt for c in scripted.seen if c.outputs is not None] == [1, 2, 3]
    assert fresh(ctx, admin, instance).deleted_at is not None
    assert statuses(ctx, admin, instance) == {"A": "deleted"}


def test_a_hook_that_always_fails_ends_in_a_visible_failed_cleanup(ctx, admin, scripted,
                                                                   clock):
    instance = completed(ctx, admin, "one", "A")
    scripted.when("delete", "A", RuntimeError("gone fishing"))
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    for _ in range(ctx.settings.hook_attempts + 1):
        drain(ctx)
        clock.advance(timedelta(hours=1))
    assert len(scripted.of("delete")) == ctx.settings.hook_attempts
    link = links(ctx, admin, instance).cleanup
    assert (link.kind, link.state) == (CleanupKind.DELETE, CleanupState.FAILED)
    failed = run.get_instance(ctx, admin, link.instance_id)
    assert failed.status is Status.FAILED
    assert "gone fishing" in (failed.error or "")
    assert statuses(ctx, admin, instance) == {"A": "delete_failed"}
    assert fresh(ctx, admin, instance).deleted_at is None


def test_an_executor_without_the_hook_succeeds_with_a_note(ctx, admin):
    plain = Scripted(hooks=())
    ctx.executors.add("test", plain)
    instance = completed(ctx, admin, "one", "A")
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    drain(ctx)
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    assert (step.status, step.reason) == (StepStatus.DELETED, "no delete handler")
    assert fresh(ctx, admin, instance).deleted_at is not None


def test_a_non_transactional_hook_runs_outside_the_transaction(ctx, admin):
    outside = Scripted(transactional=False)
    ctx.executors.add("test", outside)
    instance = completed(ctx, admin, "one", "A")
    cleanup_svc.delete_instance(ctx, admin, instance.id)
    drain(ctx)
    assert outside.of("delete") == ["A"] and outside.seen[-1].records is None
    assert fresh(ctx, admin, instance).deleted_at is not None


def test_delete_is_scoped_to_the_account(ctx, admin, other, scripted):
    instance = completed(ctx, admin, "one", "A")
    before = everything(ctx)
    for bad in (instance.id, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound):
            cleanup_svc.delete_instance(ctx, other, bad)
    assert everything(ctx) == before
