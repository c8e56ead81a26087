"""Executor steps through the services: queued by the engine, run by the workers, fed back;
debug mode's re-run and resume; parked steps finished from outside. Real databases, the real
engine, an executor scripted per test."""

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
from flowport.domain.steps import StepStatus
from flowport.errors import BadInput, Conflict, ElementNotWaiting, InvalidDefinition, NotFound
from flowport.executors import Done
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services import steps as steps_svc


def test_steps_run_in_order_and_their_outputs_become_variables(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A", "B", "C"), outputs=["A", "C"])
    instance = start(ctx, admin, "chain", {"order": 7})
    # Straight to the first step, which waits for a worker: nothing ran in the request.
    assert instance.status is Status.WAITING and scripted.calls == []
    assert statuses(ctx, admin, instance) == {"A": "queued"}
    assert drain(ctx) == 3
    assert scripted.of("run") == ["A", "B", "C"]
    done = fresh(ctx, admin, instance)
    assert done.status is Status.COMPLETED
    assert done.variables == {"order": 7, "A": 1, "B": 1, "C": 1}
    assert done.outputs == {"A": 1, "C": 1}
    steps = steps_svc.list_steps(ctx, admin, done)
    assert [(s.namespace, s.status, s.outputs) for s in steps] == [
        ("A", StepStatus.COMPLETED, {"A": 1}), ("B", StepStatus.COMPLETED, {"B": 1}),
        ("C", StepStatus.COMPLETED, {"C": 1})]
    assert all(s.completed_at and s.ended_at and s.reason is None for s in steps)
    assert scripted.seen[0].inputs == {} and scripted.seen[0].records is not None
    assert scripted.seen[0].step_id == steps[0].id and scripted.seen[0].instance_id == done.id


def test_inputs_come_from_the_input_expressions(ctx, admin, scripted):
    xml = chain_bpmn("A").replace(
        b"<bpmn:extensionElements>",
        b'<bpmn:extensionElements><flowport:input name="region">region.upper()'
        b"</flowport:input>")
    ship(ctx, admin, "inputs", xml)
    instance = start(ctx, admin, "inputs", {"region": "bcc"})
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    assert step.params == {"region": "BCC"}
    drain(ctx)
    assert scripted.seen[0].inputs == {"region": "BCC"}


def test_input_that_cannot_be_worked_out_fails_at_produce(ctx, admin, scripted):
    xml = chain_bpmn("A").replace(
        b"<bpmn:extensionElements>",
        b'<bpmn:extensionElements><flowport:input name="x">nope + 1</flowport:input>')
    ship(ctx, admin, "bad-input", xml)
    instance = start(ctx, admin, "bad-input")
    assert instance.status is Status.FAILED and "NameError" in (instance.error or "")
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    assert step.status is StepStatus.INPUT_FAILED and "NameError" in (step.reason or "")
    assert drain(ctx) == 0 and scripted.calls == []


def test_a_failing_step_fails_the_instance_without_rollback(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A", "B", "C"))
    scripted.when("run", "C", fail("no capacity in region bcc"))
    instance = start(ctx, admin, "chain")
    drain(ctx)
    done = fresh(ctx, admin, instance)
    assert done.status is Status.FAILED
    assert done.error == "service task 'C' failed: no capacity in region bcc"
    steps = steps_svc.list_steps(ctx, admin, done)
    assert steps[-1].status is StepStatus.FAILED
    assert steps[-1].reason == "no capacity in region bcc"
    assert links(ctx, admin, done).cleanups == []
    assert scripted.of("rollback") == []


@pytest.mark.parametrize(("answer", "reason"), [
    (RuntimeError("socket closed"), "RuntimeError: socket closed"),
    (Done({"bad": object()}), "the executor's outputs are not JSON"),
    ("not an outcome", "the executor returned str, not Done or Parked"),
])
def test_executor_errors_of_every_kind_become_step_failures(ctx, admin, scripted, answer,
                                                            reason):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    scripted.when("run", "A", answer)
    instance = start(ctx, admin, "chain")
    drain(ctx)
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    assert step.status is StepStatus.FAILED and (step.reason or "").startswith(reason)
    assert fresh(ctx, admin, instance).status is Status.FAILED


def test_unknown_executor_is_refused_at_upload_with_the_element_id(ctx, admin):
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="stone"))
    with pytest.raises(InvalidDefinition) as caught:
        deploy.deploy_version(ctx, admin, "stone", deploy.DeployVersion(
            "stone.bpmn", chain_bpmn("Machine", executor="MachineStone")))
    assert caught.value.element_id == "Machine"
    assert "'MachineStone'" in caught.value.message and "demo.resource" in caught.value.message
    assert deploy.list_versions(ctx, admin, "stone") == []


def test_an_executor_step_cannot_be_completed_by_hand(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    instance = start(ctx, admin, "chain")
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    with pytest.raises(ElementNotWaiting, match="run by executor 'test'"):
        run.complete_element(ctx, admin, run.CompleteElement(instance.id, step.uid, {}))
    assert statuses(ctx, admin, instance) == {"A": "queued"}


def test_a_non_transactional_executor_runs_outside_the_transaction(ctx, admin):
    outside = Scripted(transactional=False)
    ctx.executors.add("test", outside)
    ship(ctx, admin, "chain", chain_bpmn("A", "B"))
    instance = start(ctx, admin, "chain")
    drain(ctx)
    assert fresh(ctx, admin, instance).status is Status.COMPLETED
    assert [c.records for c in outside.seen] == [None, None]


def test_parked_step_waits_until_finished_from_outside(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A", "B"))
    scripted.when("run", "A", "park")
    instance = start(ctx, admin, "chain")
    drain(ctx)
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    assert step.status is StepStatus.STARTED and step.detail == {"parked": True}
    assert fresh(ctx, admin, instance).status is Status.WAITING
    for bad in (steps_svc.FinishStep(step.id, outputs=[1]),  # type: ignore[arg-type]
                steps_svc.FinishStep(step.id, error=" "),
                steps_svc.FinishStep(step.id, outputs={}, error="x")):
        with pytest.raises(BadInput):
            steps_svc.finish_step(ctx, admin, bad)
    finished = steps_svc.finish_step(ctx, admin, steps_svc.FinishStep(step.id, {"vm": "v-1"}))
    assert finished.status is StepStatus.COMPLETED and finished.outputs == {"vm": "v-1"}
    with pytest.raises(Conflict):
        steps_svc.finish_step(ctx, admin, steps_svc.FinishStep(step.id, {"vm": "v-2"}))
    drain(ctx)
    done = fresh(ctx, admin, instance)
    assert done.status is Status.COMPLETED and done.variables["vm"] == "v-1"


def test_parked_step_reported_failed_is_a_monitor_failure(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    scripted.when("run", "A", "park")
    instance = start(ctx, admin, "chain")
    drain(ctx)
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    failed = steps_svc.finish_step(ctx, admin, steps_svc.FinishStep(str(step.seq),
                                                                    error="quota exceeded"))
    assert failed.status is StepStatus.FAILED and failed.reason == "quota exceeded"
    assert fresh(ctx, admin, instance).status is Status.FAILED


def test_a_step_whose_worker_died_is_failed_once_its_lease_ends(ctx, admin, clock):
    hanging = Scripted(transactional=False)
    ctx.executors.add("test", hanging)
    ship(ctx, admin, "chain", chain_bpmn("A"))
    instance = start(ctx, admin, "chain")
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    # A worker claims it and starts it, then dies before the result is written back.
    with ctx.store.transaction() as tx:
        tx.claim_step(clock.now(), clock.now() + timedelta(seconds=60))
        tx.update_step(step.seq, clock.now(), status=StepStatus.STARTING, attempts=1)
    assert drain(ctx) == 0  # leased: nobody else takes it
    clock.advance(timedelta(seconds=61))
    assert drain(ctx) == 1
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    assert step.status is StepStatus.FAILED and "stopped" in (step.reason or "")
    assert fresh(ctx, admin, instance).status is Status.FAILED
    assert hanging.calls == []


def test_a_claimed_step_is_run_by_another_worker_after_the_lease(ctx, admin, clock, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    instance = start(ctx, admin, "chain")
    with ctx.store.transaction() as tx:
        assert tx.claim_step(clock.now(), clock.now() + timedelta(seconds=60)) is not None
    clock.advance(timedelta(seconds=61))
    drain(ctx)
    assert fresh(ctx, admin, instance).status is Status.COMPLETED
    assert scripted.of("run") == ["A"]


def test_steps_of_a_failed_parallel_branch_are_withdrawn(ctx, admin, scripted):
    ship(ctx, admin, "par", parallel_bpmn("A", "B"))
    scripted.when("run", "A", fail())
    instance = start(ctx, admin, "par")
    assert steps_svc.run_one(ctx)  # A runs first and fails the instance
    assert statuses(ctx, admin, instance) == {"A": "failed", "B": "withdrawn"}
    assert drain(ctx) == 0 and scripted.of("run") == ["A"]


# -- debug mode --------------------------------------------------------------------------

def test_debug_failure_waits_and_rerun_continues(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A", "B"))
    scripted.when("run", "A", fail("flaky"), Done({"A": "ok"}))
    instance = start(ctx, admin, "chain", debug=True)
    assert instance.debug is True
    drain(ctx)
    waiting = fresh(ctx, admin, instance)
    assert waiting.status is Status.WAITING  # waits for a person, not failed
    (step,) = steps_svc.list_steps(ctx, admin, waiting)
    assert step.status is StepStatus.FAILED and step.reason == "flaky"
    again = steps_svc.rerun_step(ctx, admin, str(step.seq))
    assert (again.id, again.status, again.reason, again.ended_at) == (
        step.id, StepStatus.QUEUED, None, None)
    drain(ctx)
    assert fresh(ctx, admin, instance).status is Status.COMPLETED
    assert scripted.of("run") == ["A", "A", "B"]
    assert [c.attempt for c in scripted.seen] == [1, 2, 1]
    assert scripted.seen[0].inputs == scripted.seen[1].inputs


def test_debug_resume_fails_the_instance_and_rolls_back(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A", "B", attributes='flowport:rollback="true"'))
    scripted.when("run", "B", fail("broken"))
    instance = start(ctx, admin, "chain", debug=True)
    drain(ctx)
    failed = steps_svc.list_steps(ctx, admin, instance)[-1]
    steps_svc.resume_step(ctx, admin, failed.id)
    ended = fresh(ctx, admin, instance)
    assert ended.status is Status.FAILED and "broken" in (ended.error or "")
    drain(ctx)
    assert scripted.of("rollback") == ["B", "A"]
    assert links(ctx, admin, instance).cleanup.kind == "rollback"


def test_debug_resume_without_rollback_just_fails(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    scripted.when("run", "A", fail())
    instance = start(ctx, admin, "chain", debug=True)
    drain(ctx)
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    steps_svc.resume_step(ctx, admin, step.id)
    assert fresh(ctx, admin, instance).status is Status.FAILED
    assert links(ctx, admin, instance).cleanups == []


def test_debug_is_the_versions_default_unless_the_start_says(ctx, admin, scripted):
    ship(ctx, admin, "dbg", chain_bpmn("A", attributes='flowport:debug="true"'))
    assert start(ctx, admin, "dbg").debug is True
    assert start(ctx, admin, "dbg", debug=False).debug is False
    with pytest.raises(BadInput):
        start(ctx, admin, "dbg", debug="yes")


def test_rerun_and_resume_refuse_what_they_cannot_do(ctx, admin, other, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A", "B"))
    scripted.when("run", "B", fail())
    plain = start(ctx, admin, "chain")
    debug = start(ctx, admin, "chain", debug=True)
    drain(ctx)
    done_step, failed_plain = steps_svc.list_steps(ctx, admin, plain)
    _, failed_debug = steps_svc.list_steps(ctx, admin, debug)
    for use_case in (steps_svc.rerun_step, steps_svc.resume_step):
        with pytest.raises(Conflict, match="only a failed step"):
            use_case(ctx, admin, done_step.id)
        with pytest.raises(Conflict, match="not in debug mode"):
            use_case(ctx, admin, failed_plain.id)
        for unknown in ("999999", "00000000-0000-0000-0000-000000000000", "x", "9" * 30):
            with pytest.raises(NotFound):
                use_case(ctx, admin, unknown)
        with pytest.raises(NotFound):
            use_case(ctx, other, failed_debug.id)
    assert statuses(ctx, admin, debug) == {"A": "completed", "B": "failed"}
    with pytest.raises(NotFound):
        steps_svc.get_step(ctx, other, failed_debug.id)


def test_cancelling_a_debug_instance_with_a_failed_step(ctx, admin, scripted):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    scripted.when("run", "A", fail())
    instance = start(ctx, admin, "chain", debug=True)
    drain(ctx)
    run.cancel_instance(ctx, admin, instance.id)
    assert fresh(ctx, admin, instance).status is Status.STOPPED
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    with pytest.raises(Conflict):
        steps_svc.rerun_step(ctx, admin, step.id)


def test_a_step_whose_executor_is_gone_never_starts(ctx, admin, scripted):
    from flowport.executors import Executors

    ship(ctx, admin, "chain", chain_bpmn("A"))
    instance = start(ctx, admin, "chain")
    ctx.executors = Executors({})  # uninstalled after the version was deployed
    drain(ctx)
    (step,) = steps_svc.list_steps(ctx, admin, instance)
    assert step.status is StepStatus.START_FAILED
    assert step.reason == "executor 'test' is not installed on this server"
    assert fresh(ctx, admin, instance).status is Status.FAILED and scripted.calls == []


def test_concurrent_workers_run_each_step_exactly_once(ctx, admin, scripted):
    import threading
    from collections import Counter

    ship(ctx, admin, "chain", chain_bpmn("A", "B"))
    started = [start(ctx, admin, "chain") for _ in range(12)]
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            while steps_svc.run_due_steps(ctx):
                pass
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    drain(ctx)  # whatever a worker saw queued only after it had stopped looking
    assert all(fresh(ctx, admin, i).status is Status.COMPLETED for i in started)
    runs = Counter(call.step_id for call in scripted.seen)
    assert len(runs) == 24 and set(runs.values()) == {1}


def test_an_unexpected_error_after_the_executor_is_retried_not_lost(ctx, admin, scripted,
                                                                    clock, monkeypatch):
    ship(ctx, admin, "chain", chain_bpmn("A"))
    instance = start(ctx, admin, "chain")
    real = ctx.engine.finish_service
    broken = iter([RuntimeError("database hiccup")])

    def flaky(*args, **kwargs):
        for error in broken:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(ctx.engine, "finish_service", flaky)
    assert drain(ctx) == 1
    # The step's transaction rolled back whole: still queued, taken up once its lease ends.
    assert statuses(ctx, admin, instance) == {"A": "queued"}
    assert drain(ctx) == 0
    clock.advance(timedelta(seconds=ctx.settings.hook_backoff_seconds))
    assert drain(ctx) == 1
    assert fresh(ctx, admin, instance).status is Status.COMPLETED
    assert scripted.of("run") == ["A", "A"]


def test_a_step_whose_element_a_boundary_timer_took_away_is_withdrawn(ctx, admin, scripted,
                                                                     clock):
    xml = chain_bpmn("A").replace(
        b'<bpmn:endEvent id="E" />',
        b'<bpmn:endEvent id="E" /><bpmn:boundaryEvent id="Late" attachedToRef="A">'
        b"<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>"
        b'</bpmn:timerEventDefinition></bpmn:boundaryEvent><bpmn:endEvent id="TooLate" />'
        b'<bpmn:sequenceFlow id="fl" sourceRef="Late" targetRef="TooLate" />')
    ship(ctx, admin, "late", xml)
    scripted.when("run", "A", "park")
    in_flight = start(ctx, admin, "late")
    waiting = start(ctx, admin, "late")
    steps_svc.run_one(ctx)  # the first instance's step parks; the second's stays queued
    clock.advance(timedelta(hours=2))
    assert run.fire_due_timers(ctx) == 2
    assert fresh(ctx, admin, in_flight).status is Status.COMPLETED  # by the timer's path
    drain(ctx)
    first, second = (steps_svc.list_steps(ctx, admin, i)[0] for i in (in_flight, waiting))
    assert first.status is StepStatus.STARTED  # in flight when the timer fired
    assert second.status is StepStatus.WITHDRAWN
    assert second.reason == "the instance went on without it"
    assert scripted.of("run") == ["A"]
    # The parked work reports back late: kept on the step, the instance is not disturbed.
    done = steps_svc.finish_step(ctx, admin, steps_svc.FinishStep(first.id, {"late": True}))
    assert done.status is StepStatus.COMPLETED
    assert fresh(ctx, admin, in_flight).status is Status.COMPLETED
    assert "late" not in fresh(ctx, admin, in_flight).variables
