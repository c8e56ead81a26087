"""Executor steps: the workers that run steps and hook calls, and the use cases around steps
(list them, finish a parked one, and debug mode's re-run and resume).

A worker claims one due step in a short transaction (replicas skip each other's claims), then
calls the executor: inside a second transaction for a transactional executor, whose record
writes then commit with the step's result; otherwise outside any transaction, feeding the
result back in a third one. A claim carries a lease, so a step whose worker died is found
again: a lost run fails (a person may re-run it in debug mode), a lost hook call counts as a
failed try. Failed hook calls are retried with exponential backoff, then fail for good.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import ElementState, Instance
from flowport.domain.steps import (
    HOOK_STATUSES,
    RERUNNABLE,
    Cleanup,
    CleanupKind,
    Step,
    StepKind,
    StepStatus,
)
from flowport.errors import BadInput, Conflict, FlowportError, NotFound
from flowport.executors import BpmnError, Done, Parked, StepCall, StepFailed, hook_of
from flowport.services import cleanup, instances
from flowport.services.auth import require
from flowport.services.children import TxChildren
from flowport.services.context import Context
from flowport.services.records import TxRecords
from flowport.store import Tx

log = logging.getLogger("flowport.steps")


@dataclass(frozen=True)
class FinishStep:
    """The result of a parked step, from whoever did its work: outputs, or an error."""

    step: str  # the step's id (or number)
    outputs: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Failure:
    reason: str
    started: bool = True  # False: the executor never got the work (not installed, lost)
    code: str | None = None  # a BPMN error: an error boundary event may catch it
    data: dict[str, Any] | None = None  # beside code and message in the caught error


RunOutcome = Done | Parked | Failure
HookOutcome = Failure | str | None  # a failure, or success with an optional note


def _invoke(fn: Callable[[StepCall], Any], call: StepCall) -> Any:
    """Call an executor: whatever it raises becomes a Failure; a transactional executor's
    record writes are undone when it raises."""
    try:
        if call.records is None:
            return fn(call)
        with call.records.scope():
            return fn(call)
    except BpmnError as exc:
        return Failure(str(exc) or f"BPMN error {exc.code!r}", code=exc.code, data=exc.data)
    except StepFailed as exc:
        return Failure(str(exc) or "the executor failed without saying why")
    except FlowportError as exc:
        return Failure(exc.message)
    except Exception as exc:
        log.warning("executor call failed", exc_info=True)
        return Failure(f"{type(exc).__name__}: {exc}")


def _checked_run(outcome: Any) -> RunOutcome:
    if isinstance(outcome, Failure | Parked):
        return outcome
    if not isinstance(outcome, Done):
        return Failure(f"the executor returned {type(outcome).__name__}, not Done or Parked")
    if not isinstance(outcome.outputs, dict):
        return Failure("the executor's outputs are not a JSON object")
    try:
        json.dumps(outcome.outputs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return Failure(f"the executor's outputs are not JSON: {exc}")
    return outcome


def _call(step: Step, about: Step, attempt: int, now: datetime,
          records: TxRecords | None, children: TxChildren | None = None) -> StepCall:
    """The call for `step`; `about` is the run step it concerns (itself, or a hook's target)."""
    return StepCall(
        account_id=step.account_id, instance_id=about.instance_id, step_id=about.id,
        element_id=about.element_id, name=about.name, namespace=about.namespace,
        inputs=about.params, outputs=about.outputs if about is not step else None,
        attempt=attempt, now=now, records=records, children=children, detail=about.detail)


# -- the workers ----------------------------------------------------------------------------

def run_due_steps(ctx: Context, *, limit: int = 100) -> int:
    """Run steps and hook calls that are due, one at a time; returns how many."""
    done = 0
    while done < limit and run_one(ctx):
        done += 1
    return done


def run_one(ctx: Context) -> bool:
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        claimed = tx.claim_step(now, now + timedelta(seconds=ctx.settings.step_lease_seconds))
    if claimed is None:
        return False
    step, lost = claimed
    try:
        if step.kind is StepKind.RUN:
            _run(ctx, step, lost)
        else:
            _hook(ctx, step, lost)
    except Exception:
        # A bug or an outage, not the executor's failure. Shorten the lease: the step is
        # found again as lost, which is what it is (a queued one then simply runs).
        log.exception("step %s failed unexpectedly; it is taken up again later", step.id)
        later = ctx.clock.now() + timedelta(seconds=ctx.settings.hook_backoff_seconds)
        with ctx.store.transaction() as tx:
            tx.update_step(step.seq, ctx.clock.now(), lease_until=later)
    return True


def next_due(ctx: Context) -> datetime | None:
    with ctx.store.transaction(write=False) as tx:
        return tx.next_step_due()


def _lock(tx: Tx, step: Step) -> tuple[Instance, str | None, Step]:
    instance, state = tx.lock_instance(step.account_id, step.instance_id)
    fresh = tx.fetch_step(step.account_id, seq=step.seq, lock=True)
    assert fresh is not None
    return instance, state, fresh


def _run(ctx: Context, claimed: Step, lost: bool) -> None:
    executor = ctx.executors.get(claimed.executor)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, state, step = _lock(tx, claimed)
        if lost and step.status is StepStatus.STARTING:
            _settle(ctx, tx, instance, state, step, Failure(
                "the worker running this step stopped before it finished"), now)
            return
        if step.status is StepStatus.STARTED:
            _collect(ctx, tx, instance, state, step, executor, now)
            return
        if step.status is not StepStatus.QUEUED:
            tx.update_step(step.seq, now, lease_until=None)
            return
        if not _wanted(tx, instance, state, step):
            tx.update_step(step.seq, now, status=StepStatus.WITHDRAWN, lease_until=None,
                           ended_at=now, reason="the instance went on without it")
            return
        attempt = step.attempts + 1
        tx.update_step(step.seq, now, status=StepStatus.STARTING, attempts=attempt)
        step = _refetch(tx, step)
        if executor is None:
            _settle(ctx, tx, instance, state, step, Failure(
                f"executor {step.executor!r} is not installed on this server", started=False),
                now)
            return
        if executor.transactional:
            records = TxRecords(tx, step.account_id, now)
            outcome = _checked_run(_invoke(executor.run, _call(
                step, step, attempt, now, records, TxChildren(ctx, tx, instance, now))))
            _settle(ctx, tx, instance, state, step, outcome, now)
            return
    assert executor is not None
    outcome = _checked_run(_invoke(executor.run, _call(step, step, attempt, now, None)))
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, state, step = _lock(tx, step)
        if step.status is not StepStatus.STARTING or step.attempts != attempt:
            log.info("step %s changed while its executor ran; its result is dropped", step.id)
            if step.attempts == attempt:
                tx.update_step(step.seq, now, lease_until=None)
            return
        _settle(ctx, tx, instance, state, step, outcome, now)


def _collect(ctx: Context, tx: Tx, instance: Instance, state: str | None, step: Step,
             executor: Any, now: datetime) -> None:
    """A parked step the server watches itself was made due (its child instance ended, say):
    ask its executor whether the work is done, and settle it if so."""
    tx.update_step(step.seq, now, lease_until=None)
    collect = getattr(executor, "collect", None) if executor is not None else None
    if not callable(collect) or not executor.transactional:
        return
    call = _call(step, step, step.attempts, now, TxRecords(tx, step.account_id, now),
                 TxChildren(ctx, tx, instance, now))
    outcome = _invoke(collect, call)
    if outcome is None:
        return
    _settle(ctx, tx, instance, state, step, _checked_run(outcome), now)


def _wanted(tx: Tx, instance: Instance, state: str | None, step: Step) -> bool:
    """Whether the instance still waits for this step: it is active, and the step's element
    was not taken away meanwhile (by an interrupting boundary event, say)."""
    if instance.status.is_final or state is None or step.uid is None:
        return False
    element = tx.fetch_element(instance.seq, step.uid)
    return element is not None and element.state is ElementState.WAITING


def _refetch(tx: Tx, step: Step) -> Step:
    fresh = tx.fetch_step(step.account_id, seq=step.seq)
    assert fresh is not None
    return fresh


def _settle(ctx: Context, tx: Tx, instance: Instance, state: str | None, step: Step,
            outcome: RunOutcome, now: datetime, actor: str | None = None) -> None:
    """Record a run's outcome on its step and feed it to the instance, if that still waits
    for it."""
    running = _wanted(tx, instance, state, step)
    if isinstance(outcome, Parked):
        tx.update_step(step.seq, now, status=StepStatus.STARTED, detail=outcome.detail,
                       lease_until=None)
        return
    version, spec = ctx.versions.get(tx, instance.version_id)
    if isinstance(outcome, Done) and running:
        assert spec is not None and state is not None and step.uid is not None
        try:
            result = ctx.engine.finish_service(spec, state, step.uid, outcome.outputs,
                                               records=TxRecords(tx, step.account_id, now),
                                               now=now)
        except BadInput as exc:
            outcome = Failure(f"the executor's outputs cannot be used: {exc.message}")
        else:
            tx.update_step(step.seq, now, status=StepStatus.COMPLETED, outputs=outcome.outputs,
                           reason=None, completed_at=now, ended_at=now, lease_until=None)
            tx.add_events(instance.account_id, instance.seq, [("step_completed", actor, {
                "step_id": step.id, "element_id": step.element_id})], now)
            _apply(ctx, tx, instance, version, result, now, actor)
            return
    if isinstance(outcome, Done):  # nothing waits for it any more: keep the result only
        tx.update_step(step.seq, now, status=StepStatus.COMPLETED, outputs=outcome.outputs,
                       reason=None, completed_at=now, ended_at=now, lease_until=None)
        return
    status = StepStatus.FAILED if outcome.started else StepStatus.START_FAILED
    tx.update_step(step.seq, now, status=status, reason=outcome.reason, ended_at=now,
                   lease_until=None)
    tx.add_events(instance.account_id, instance.seq, [("step_failed", actor, {
        "step_id": step.id, "element_id": step.element_id, "reason": outcome.reason,
        "debug": instance.debug})], now)
    if not running:
        return
    assert spec is not None and state is not None and step.uid is not None
    if outcome.code is not None:
        caught = ctx.engine.throw_service_error(
            spec, state, step.uid, outcome.code, {"error": {
                "code": outcome.code, "message": outcome.reason, **(outcome.data or {})}},
            records=TxRecords(tx, step.account_id, now), now=now)
        if caught is not None:
            tx.add_events(instance.account_id, instance.seq, [("error_caught", actor, {
                "step_id": step.id, "element_id": step.element_id, "code": outcome.code})],
                now)
            _apply(ctx, tx, instance, version, caught, now, actor)
            return
    if instance.debug:
        tx.on_commit(lambda: ctx.notifier.publish(instance.id))
        return  # it waits for a person: re-run the step, or resume (fail and roll back)
    result = ctx.engine.fail_service(spec, state, step.uid, outcome.reason, now=now)
    _apply(ctx, tx, instance, version, result, now, actor)


def _apply(ctx: Context, tx: Tx, instance: Instance, version: Any, result: Any,
           now: datetime, actor: str | None) -> None:
    fresh = instances._apply_step(ctx, tx, instance, version, result, now, actor)
    tx.on_commit(lambda: instances.after_commit(ctx, fresh))


@dataclass(frozen=True)
class _HookCall:
    """A hook call with what it is locked together with: its link, the original instance,
    the cleanup instance, and the step whose hook it calls (`about`)."""

    link: Cleanup
    target: Instance
    cleanup: Instance
    step: Step
    about: Step


def _hook(ctx: Context, claimed: Step, lost: bool) -> None:
    executor = ctx.executors.get(claimed.executor)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        call = _lock_hook(tx, claimed, now)
        if call is None:
            return
        if lost:
            _settle_hook(ctx, tx, call, Failure(
                "the worker calling this hook stopped before it finished"), now)
            return
        attempt = call.step.attempts + 1
        tx.update_step(call.step.seq, now, attempts=attempt)
        step, kind = _refetch(tx, call.step), call.step.kind.value
        call = replace(call, step=step)
        hook = hook_of(executor, kind) if executor is not None else None
        if executor is None:
            _settle_hook(ctx, tx, call, Failure(
                f"executor {step.executor!r} is not installed on this server"), now)
            return
        if hook is None:
            _settle_hook(ctx, tx, call, f"no {kind} handler", now)
            return
        if executor.transactional:
            records = TxRecords(tx, step.account_id, now)
            outcome = _hook_result(_invoke(hook, _call(
                step, call.about, attempt, now, records,
                TxChildren(ctx, tx, call.target, now))))
            _settle_hook(ctx, tx, call, outcome, now)
            return
    outcome = _hook_result(_invoke(hook, _call(step, call.about, attempt, now, None)))
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        again = _lock_hook(tx, step, now)
        if again is not None and again.step.attempts == attempt:
            _settle_hook(ctx, tx, again, outcome, now)


def _hook_result(value: Any) -> HookOutcome:
    if isinstance(value, Failure):
        return value
    return value if isinstance(value, str) else None


def _lock_hook(tx: Tx, claimed: Step, now: datetime) -> _HookCall | None:
    """Lock the original, then the cleanup instance, then the hook call; None when the call
    was settled meanwhile (its lease is then simply released)."""
    link = tx.fetch_cleanup_link(claimed.instance_seq)
    assert link is not None and claimed.target_seq is not None
    target, _ = tx.lock_instance(claimed.account_id, link.target_id)
    cleanup_instance, _ = tx.lock_instance(claimed.account_id, link.instance_id)
    step = tx.fetch_step(claimed.account_id, seq=claimed.seq, lock=True)
    assert step is not None
    if step.status is not HOOK_STATUSES[step.kind][0] or cleanup_instance.status.is_final:
        tx.update_step(step.seq, now, lease_until=None)
        return None
    about = tx.fetch_step(claimed.account_id, seq=claimed.target_seq)
    assert about is not None
    return _HookCall(link, target, cleanup_instance, step, about)


def _settle_hook(ctx: Context, tx: Tx, call: _HookCall, outcome: HookOutcome,
                 now: datetime) -> None:
    step, about, kind = call.step, call.about, call.link.kind
    _, success, failed = HOOK_STATUSES[step.kind]
    if not isinstance(outcome, Failure):
        tx.update_step(step.seq, now, status=success, reason=outcome, ended_at=now,
                       lease_until=None, due_at=None)
        tx.update_step(about.seq, now, status=success, reason=outcome or about.reason,
                       ended_at=now)
        cleanup.advance(ctx, tx, call.cleanup, call.target, kind, now)
        return
    tries = ctx.settings.hook_attempts
    if step.attempts < tries:
        delay = min(ctx.settings.hook_backoff_seconds * 2 ** (step.attempts - 1),
                    ctx.settings.hook_backoff_max_seconds)
        tx.update_step(step.seq, now, lease_until=None, due_at=now + timedelta(seconds=delay),
                       reason=f"try {step.attempts} of {tries} failed, next in {delay:g} s: "
                              f"{outcome.reason}")
        cleanup.steps_queued(ctx, tx)
        return
    reason = f"failed {tries} times; last: {outcome.reason}" if tries > 1 else outcome.reason
    tx.update_step(step.seq, now, status=failed, reason=reason, ended_at=now, lease_until=None,
                   due_at=None)
    tx.update_step(about.seq, now, status=failed, reason=reason, ended_at=now)
    if kind is CleanupKind.CANCEL:
        cleanup.advance(ctx, tx, call.cleanup, call.target, kind, now)  # try every one
    else:
        cleanup.finish(ctx, tx, call.cleanup, call.target, kind, now, error=(
            f"the {step.kind} hook of step {about.namespace!r} ({about.id}) failed: {reason}"))


# -- use cases ------------------------------------------------------------------------------

def _find(tx: Tx, who: Principal, ref: str, *, lock: bool = False) -> Step:
    step = None
    if ref.isdecimal() and len(ref) < 19:
        step = tx.fetch_step(who.account_id, seq=int(ref), lock=lock)
    else:
        try:
            step = tx.fetch_step(who.account_id, step_id=str(uuid.UUID(ref)), lock=lock)
        except ValueError:
            step = None
    if step is None:
        raise NotFound(f"no step {ref!r}")
    return step


def get_step(ctx: Context, who: Principal, ref: str) -> Step:
    """A step by its id or its number (Activiti's taskId)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return _find(tx, who, ref)


def list_steps(ctx: Context, who: Principal, instance: Instance) -> list[Step]:
    """The steps of an instance the caller has read: its executor runs, or a cleanup
    instance's hook calls, oldest first."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_steps(instance.seq)


def _locked_run(tx: Tx, who: Principal, ref: str) -> tuple[Instance, str | None, Step]:
    found = _find(tx, who, ref)
    instance, state, step = _lock(tx, found)
    if step.kind is not StepKind.RUN:
        raise Conflict(f"step {step.id} is a {step.kind} hook call, not an executor run")
    return instance, state, step


def _debugging(instance: Instance, step: Step) -> None:
    if step.status not in RERUNNABLE:
        raise Conflict(f"step {step.id} is {step.status.value}; only a failed step can be run "
                       "again or resumed")
    if not instance.debug:
        raise Conflict(f"instance {instance.id} is not in debug mode")
    if instance.status.is_final:
        raise Conflict(f"instance {instance.id} is {instance.status.value}")


def rerun_step(ctx: Context, who: Principal, ref: str) -> Step:
    """Debug mode: run a failed step again with the same inputs."""
    require(who, Permission.START)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, _, step = _locked_run(tx, who, ref)
        _debugging(instance, step)
        tx.update_step(step.seq, now, status=StepStatus.QUEUED, reason=None, ended_at=None,
                       outputs=None, detail=None, due_at=now, lease_until=None)
        tx.add_events(instance.account_id, instance.seq, [("step_rerun", who.login, {
            "step_id": step.id, "element_id": step.element_id})], now)
        cleanup.steps_queued(ctx, tx)
        return _refetch(tx, step)


def resume_step(ctx: Context, who: Principal, ref: str) -> Step:
    """Debug mode: give up on a failed step; the instance fails at it and, when its version
    enables rollback, rolls back."""
    require(who, Permission.START)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, state, step = _locked_run(tx, who, ref)
        _debugging(instance, step)
        version, spec = ctx.versions.get(tx, instance.version_id)
        assert spec is not None and state is not None and step.uid is not None
        tx.add_events(instance.account_id, instance.seq, [("debug_resumed", who.login, {
            "step_id": step.id, "element_id": step.element_id})], now)
        result = ctx.engine.fail_service(spec, state, step.uid, step.reason or "resumed",
                                         now=now)
        _apply(ctx, tx, instance, version, result, now, who.login)
        return _refetch(tx, step)


def finish_step(ctx: Context, who: Principal, cmd: FinishStep) -> Step:
    """Report the result of a parked step (one whose executor handed its work elsewhere)."""
    require(who, Permission.START)
    with ctx.store.transaction(write=False) as tx:
        step = _find(tx, who, cmd.step)
    return finish_parked(ctx, who.account_id, step.id, cmd, who.login)


def finish_parked(ctx: Context, account_id: int, step_id: str, cmd: FinishStep,
                  actor: str | None) -> Step:
    """The same for the server's own use cases (a child instance that ended, a robot's
    report): no caller's permission to check, the step named by its id."""
    if cmd.outputs is not None and not isinstance(cmd.outputs, dict):
        raise BadInput("outputs must be a JSON object", field="outputs")
    if cmd.error is not None and (not isinstance(cmd.error, str) or not cmd.error.strip()):
        raise BadInput("error must be a non-empty text", field="error")
    if cmd.error is not None and cmd.outputs is not None:
        raise BadInput("send outputs or an error, not both", field="error")
    outcome = _checked_run(Failure(cmd.error) if cmd.error is not None
                           else Done(cmd.outputs or {}))
    if isinstance(outcome, Failure) and cmd.error is None:
        raise BadInput(outcome.reason, field="outputs")
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        found = tx.fetch_step(account_id, step_id=step_id)
        if found is None:
            raise NotFound(f"no step {step_id!r}")
        instance, state, step = _lock(tx, found)
        if step.kind is not StepKind.RUN or step.status is not StepStatus.STARTED:
            raise Conflict(f"step {step.id} is {step.status.value}; only a parked (started) "
                           "step takes a result")
        _settle(ctx, tx, instance, state, step, outcome, now, actor)
        return _refetch(tx, step)
