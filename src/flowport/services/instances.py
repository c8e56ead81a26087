"""Instances: start, read, complete an element, deliver a message, cancel, fire timers.

Each use case is one transaction: lock the instance, load its engine state, run the engine to
the next wait or the end, write state, elements, events and record-store changes, commit.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import (
    Element,
    ElementState,
    Event,
    Instance,
    Status,
    check_transition,
)
from flowport.domain.processes import (
    Process,
    ProcessType,
    Version,
    render_outputs,
    row_number,
    validate_variables,
)
from flowport.engine import StepResult
from flowport.errors import BadInput, Conflict, ElementNotWaiting, NotFound, TooLarge
from flowport.services import cleanup, dispatch, work
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.services.dispatch import RobotOptions
from flowport.services.pages import page_limit
from flowport.services.processes import process_filter
from flowport.services.records import TxRecords
from flowport.store import Duplicate, ElementChange, Page, Tx

MAX_BUSINESS_KEY = 255


@dataclass(frozen=True)
class StartInstance:
    process_key: str
    variables: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    business_key: str | None = None
    idempotency_key: str | None = None
    name: str | None = None  # a label for this run (Activiti's processName)
    debug: bool | None = None  # None: as the version says (flowport:debug)
    robot: RobotOptions = field(default_factory=RobotOptions)  # package processes only


@dataclass(frozen=True)
class Started:
    instance: Instance
    created: bool


@dataclass(frozen=True)
class ListInstances:
    process_key: str | None = None
    status: str | None = None
    business_key: str | None = None
    cursor: str | None = None
    limit: int = 50
    schedule_id: int | None = None
    include_cleanups: bool = False  # also the linked cancel, delete and rollback instances


@dataclass(frozen=True)
class CompleteElement:
    instance_id: str | None  # None: find the instance from the element's uid
    uid: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Completed:
    instance: Instance
    changed: bool


@dataclass(frozen=True)
class SendMessage:
    instance_id: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)


_ENGINE_STATUS = {"waiting": Status.WAITING, "completed": Status.COMPLETED,
                  "failed": Status.FAILED}


def _check_variables(ctx: Context, variables: Any, name: str = "variables") -> dict[str, Any]:
    if not isinstance(variables, dict):
        raise BadInput(f"{name} must be a JSON object", field=name)
    size = len(json.dumps(variables, default=str))
    if size > ctx.settings.max_variables_bytes:
        raise TooLarge(f"{name} take {size} bytes; the limit is "
                       f"{ctx.settings.max_variables_bytes}", field=name)
    return variables


def _valid_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(f"no {what} {value!r}") from None


def _instance_id(tx: Tx, who: Principal, ref: str) -> str:
    """The id of the caller's instance named by its id or by its number (`seq`: Studio's
    job_id)."""
    number = row_number(ref)
    if number is None:
        return _valid_uuid(ref, "instance")
    found = tx.find_instance_id(who.account_id, number)
    if found is None:
        raise NotFound(f"no instance {ref!r}")
    return found


def _locked(tx: Tx, who: Principal, instance_id: str) -> tuple[Instance, str | None]:
    try:
        return tx.lock_instance(who.account_id, _instance_id(tx, who, instance_id))
    except LookupError:
        raise NotFound(f"no instance {instance_id!r}") from None


def _step_fields(before: Status, version: Version, step: StepResult, now: datetime,
                 started_at: datetime | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The instance fields one engine step writes, and the detail of its status event (None
    when the status stays)."""
    target = _ENGINE_STATUS[step.status]
    check_transition(before, target)
    fields: dict[str, Any] = {
        "status": target, "state": step.state, "variables": step.variables,
        "outputs": render_outputs(version.outputs, step.variables), "error": step.error,
        "wake_at": step.wake_at if target is Status.WAITING else None,
        "started_at": started_at or now, "ended_at": now if target.is_final else None,
    }
    if target is before:
        return fields, None
    detail: dict[str, Any] = {"from": before.value, "to": target.value}
    if step.error:
        detail["error"] = step.error
        detail["element_id"] = step.failed_element_id
    return fields, detail


def _element_changes(step: StepResult) -> list[ElementChange]:
    return [ElementChange(e.uid, e.element_id, e.name, e.type, e.state) for e in step.elements]


def _apply_step(ctx: Context, tx: Tx, instance: Instance, version: Version, step: StepResult,
                now: datetime, actor: str | None) -> Instance:
    """Write one engine step: status, state, variables, outputs, elements and the events of
    every transition, all in the caller's transaction."""
    fields, detail = _step_fields(instance.status, version, step, now, instance.started_at)
    revision = tx.save_instance(instance, now, **fields)
    tx.sync_elements(instance.account_id, instance.seq, _element_changes(step), now)
    if detail is not None:
        tx.add_events(instance.account_id, instance.seq, [("status", actor, detail)], now)
    fields.pop("state")
    fresh = replace(instance, revision=revision, updated_at=now, **fields)
    work.after_step(ctx, tx, fresh, step, now)
    return fresh


def after_commit(ctx: Context, instance: Instance) -> None:
    """Wake whoever waits on the instance (robots waiting for work, a waiting parent), and the
    timer loop if it now waits for a timer."""
    dispatch.after_commit(ctx, instance)
    if instance.wake_at is not None:
        ctx.notifier.timers_changed.set()


def start_instance(ctx: Context, who: Principal, cmd: StartInstance) -> Started:
    require(who, Permission.START)
    variables = _check_variables(ctx, cmd.variables)
    if cmd.business_key is not None and (
        not isinstance(cmd.business_key, str) or len(cmd.business_key) > MAX_BUSINESS_KEY
    ):
        raise BadInput(f"business_key must be text of at most {MAX_BUSINESS_KEY} characters",
                       field="business_key")
    if cmd.idempotency_key is not None and not 0 < len(cmd.idempotency_key) <= 255:
        raise BadInput("Idempotency-Key must hold 1 to 255 characters", field="Idempotency-Key")
    if cmd.name is not None and (not isinstance(cmd.name, str) or not 0 < len(cmd.name) <= 255):
        raise BadInput("name must be text of 1 to 255 characters", field="name")
    if cmd.debug is not None and not isinstance(cmd.debug, bool):
        raise BadInput("debug must be true or false", field="debug")
    try:
        started = _start(ctx, who, cmd, variables)
    except Duplicate:
        # Two requests with one Idempotency-Key raced; the other one won.
        if cmd.idempotency_key is None:
            raise
        with ctx.store.transaction(write=False) as tx:
            first = tx.fetch_instance_by_idempotency_key(who.account_id, cmd.idempotency_key)
        if first is None:
            raise
        return Started(first, created=False)
    after_commit(ctx, started.instance)
    return started


def _start(ctx: Context, who: Principal, cmd: StartInstance,
           variables: dict[str, Any]) -> Started:
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        if cmd.idempotency_key is not None:
            first = tx.fetch_instance_by_idempotency_key(who.account_id, cmd.idempotency_key)
            if first is not None:
                return Started(first, created=False)
        process, version_id = _startable(tx, who, cmd)
        instance = start_in(ctx, tx, who, process, version_id, variables, now,
                            business_key=cmd.business_key, idempotency_key=cmd.idempotency_key,
                            name=cmd.name, debug=cmd.debug, robot=cmd.robot)
        return Started(instance, created=True)


def _startable(tx: Tx, who: Principal, cmd: StartInstance) -> tuple[Process, int]:
    """The live process and the id of the version to start (the pinned one, else current),
    in one read."""
    number = row_number(cmd.process_key)
    found = tx.fetch_startable(who.account_id, cmd.process_key if number is None else number,
                               cmd.version)
    if found is None:
        raise NotFound(f"no process {cmd.process_key!r}")
    process, version_id = found
    if version_id is None:
        return process, version_to_start(tx, process, cmd.version)  # raises
    return process, version_id


def version_to_start(tx: Tx, process: Process, number: int | None) -> int:
    """The id of `process`'s version `number`, else of its current one."""
    number = number if number is not None else process.current_version
    if number is None:
        raise Conflict(f"process {process.key!r} has no version to start yet")
    found = tx.fetch_version(process.id, number)
    if found is None or found.deleted_at is not None:
        raise NotFound(f"process {process.key!r} has no version {number}")
    return found.id


def start_in(ctx: Context, tx: Tx, who: Principal, process: Process, version_id: int,
             variables: dict[str, Any], now: datetime, *, business_key: str | None = None,
             idempotency_key: str | None = None, schedule_id: int | None = None,
             origin: dict[str, Any] | None = None, name: str | None = None,
             debug: bool | None = None, robot: RobotOptions | None = None) -> Instance:
    """Create an instance of `process` at version `version_id` in the caller's transaction
    and run it to its first wait or its end. `origin` adds to the `created` event what started
    it (a schedule's fire time, say); `debug` None means as the version says; `robot` says how
    a package instance is dispatched. The caller commits, then calls `after_commit`.

    A BPMN instance runs before its row is written, so a straight-through start costs three
    inserts and no re-reads."""
    version, spec = ctx.versions.get(tx, version_id)
    variables = validate_variables(version.parameters, variables)
    package = process.process_type is ProcessType.PACKAGE
    if robot is not None and robot.given and not package:
        raise BadInput("robot options (stop_after, abort_after, robot_id, robot_group_id, "
                       "robot_tags) apply to package processes only", field="robot")
    status = Status.PENDING if package else Status.RUNNING
    if debug is None:
        debug = spec is not None and ctx.engine.options(spec).debug
    fields: dict[str, Any] = {"status": status, "variables": variables, "outputs": {},
                              "error": None, "state": None, "wake_at": None,
                              "started_at": None, "ended_at": None}
    events: list[tuple[str, str | None, dict[str, Any]]] = [("created", who.login, {
        "process_key": process.key, "version": version.number, "status": status.value,
        **(origin or {})})]
    elements: list[ElementChange] = []
    step: StepResult | None = None
    if not package:
        assert spec is not None
        step = ctx.engine.start(spec, variables, records=TxRecords(tx, who.account_id, now),
                                now=now)
        fields, detail = _step_fields(status, version, step, now, None)
        elements = _element_changes(step)
        if detail is not None:
            events.append(("status", who.login, detail))
    instance_id = str(uuid.uuid4())
    seq = tx.insert_instance(
        id=instance_id, account_id=who.account_id, process_id=process.id,
        version_id=version.id, business_key=business_key, idempotency_key=idempotency_key,
        schedule_id=schedule_id, name=name, debug=debug, inputs=variables, now=now, **fields)
    tx.insert_elements(who.account_id, seq, elements, now)
    tx.add_events(who.account_id, seq, events, now)
    fields.pop("state")
    instance = Instance(
        seq=seq, id=instance_id, account_id=who.account_id, process_id=process.id,
        process_key=process.key, version_id=version.id, version_number=version.number,
        business_key=business_key, revision=0, created_at=now, updated_at=now,
        schedule_id=schedule_id, name=name, debug=debug, inputs=variables, **fields)
    if step is not None:
        work.after_step(ctx, tx, instance, step, now)
    if package:
        dispatch.enqueue(tx, process, instance,
                         dispatch.check_options(robot or RobotOptions(), now), now)
    return instance


def get_instance(ctx: Context, who: Principal, instance_id: str) -> Instance:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        instance = tx.fetch_instance(who.account_id, _instance_id(tx, who, instance_id))
    if instance is None:
        raise NotFound(f"no instance {instance_id!r}")
    return instance


def list_instances(ctx: Context, who: Principal, query: ListInstances) -> Page:
    require(who, Permission.READ)
    status = None
    if query.status is not None:
        try:
            status = Status(query.status)
        except ValueError:
            raise BadInput(f"status must be one of {', '.join(s.value for s in Status)}",
                           field="status") from None
    with ctx.store.transaction(write=False) as tx:
        process_id = process_filter(tx, who, query.process_key)
        return tx.list_instances(who.account_id, process_id=process_id, status=status,
                                 business_key=query.business_key, cursor=query.cursor,
                                 limit=page_limit(ctx, query.limit),
                                 schedule_id=query.schedule_id,
                                 include_cleanups=query.include_cleanups)


def list_events(ctx: Context, who: Principal, instance_id: str) -> list[Event]:
    instance = get_instance(ctx, who, instance_id)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_events(instance)


def list_elements(ctx: Context, who: Principal, instance_id: str) -> list[Element]:
    instance = get_instance(ctx, who, instance_id)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_elements(instance.seq)


def complete_element(ctx: Context, who: Principal, cmd: CompleteElement) -> Completed:
    """Complete a waiting element. Completing one that is completed already changes nothing
    and says so (`changed` False); one in any other state is a conflict."""
    require(who, Permission.START)
    data = _check_variables(ctx, cmd.data, "data")
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance_id = cmd.instance_id or tx.find_element_instance(who.account_id, cmd.uid)
        if instance_id is None:
            raise NotFound(f"no element {cmd.uid!r}")
        instance, state = _locked(tx, who, instance_id)
        element = tx.fetch_element(instance.seq, cmd.uid)
        if element is None:
            raise NotFound(f"instance has no element {cmd.uid!r}")
        executor_step = tx.fetch_run_step(instance.seq, cmd.uid)
        if executor_step is not None:
            raise ElementNotWaiting(
                f"element {element.element_id!r} is run by executor "
                f"{executor_step.executor!r}; finish its step {executor_step.id} instead")
        if element.state is ElementState.COMPLETED:
            return Completed(instance, changed=False)
        if element.state is not ElementState.WAITING or instance.status not in (
            Status.WAITING, Status.RUNNING
        ):
            raise ElementNotWaiting(
                f"element {element.element_id!r} is {element.state.value}, not waiting")
        version, spec = ctx.versions.get(tx, instance.version_id)
        assert spec is not None and state is not None
        step = ctx.engine.complete_element(spec, state, cmd.uid, data,
                                           records=TxRecords(tx, who.account_id, now), now=now)
        tx.add_events(instance.account_id, instance.seq, [("element_completed", who.login, {
            "uid": cmd.uid, "element_id": element.element_id})], now)
        instance = _apply_step(ctx, tx, instance, version, step, now, who.login)
    after_commit(ctx, instance)
    return Completed(instance, changed=True)


def send_message(ctx: Context, who: Principal, cmd: SendMessage) -> Instance:
    require(who, Permission.START)
    data = _check_variables(ctx, cmd.data, "data")
    if not isinstance(cmd.name, str) or not cmd.name:
        raise BadInput("name must be a message name", field="name")
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, state = _locked(tx, who, cmd.instance_id)
        if instance.status is not Status.WAITING or state is None:
            raise Conflict(f"instance is {instance.status.value}; it waits for no message")
        version, spec = ctx.versions.get(tx, instance.version_id)
        assert spec is not None
        step = ctx.engine.send_message(spec, state, cmd.name, data,
                                       records=TxRecords(tx, who.account_id, now), now=now)
        tx.add_events(instance.account_id, instance.seq,
                      [("message", who.login, {"name": cmd.name})], now)
        instance = _apply_step(ctx, tx, instance, version, step, now, who.login)
    after_commit(ctx, instance)
    return instance


def cancel_instance(ctx: Context, who: Principal, instance_id: str,
                    reason: str | None = None, *, final: Status = Status.STOPPED) -> Instance:
    """End an active instance `stopped` (or `aborted`) and start its linked cancel instance,
    which calls the cancel hook of each executor step in flight. Cancelling a stopped instance
    again changes nothing; a cleanup instance cannot be cancelled. A package instance is
    stopped through its robot instead (stopping → stopped, aborting → aborted:
    services/stopping.py)."""
    require(who, Permission.START)
    if reason is not None and (not isinstance(reason, str) or len(reason) > 4000):
        raise BadInput("reason must be text of at most 4000 characters", field="reason")
    robot_work = dispatch.stop_robot_work(ctx, who, instance_id, reason,
                                          hard=final is Status.ABORTED)
    if robot_work is not None:
        return robot_work
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        instance, state = _locked(tx, who, instance_id)
        cleanup.refuse_linked(tx, instance, "cancelled")
        if instance.status is final:
            if final is Status.STOPPED:
                cleanup.refuse_recancel(tx, instance)
            return instance
        check_transition(instance.status, final)
        fields: dict[str, Any] = {"status": final, "ended_at": now, "wake_at": None}
        if state is not None:
            spec = ctx.versions.get(tx, instance.version_id)[1]
            assert spec is not None
            fields["state"], elements = ctx.engine.cancel(spec, state)
            tx.sync_elements(instance.account_id, instance.seq, [
                ElementChange(e.uid, e.element_id, e.name, e.type, e.state) for e in elements
            ], now)
        tx.save_instance(instance, now, **fields)
        tx.add_events(instance.account_id, instance.seq, [("status", who.login, {
            "from": instance.status.value, "to": final.value, "reason": reason})], now)
        fresh = tx.fetch_instance(instance.account_id, instance.id)
        assert fresh is not None
        fresh = cleanup.after_cancel(ctx, tx, fresh, who.login, now)
    after_commit(ctx, fresh)
    return fresh


def fire_due_timers(ctx: Context, *, limit: int = 100) -> int:
    """Advance instances whose timers are due, one transaction each; replicas skip each
    other's claims. Returns how many were advanced."""
    fired = 0
    while fired < limit:
        now = ctx.clock.now()
        with ctx.store.transaction() as tx:
            claimed = tx.claim_due_instance(now)
            if claimed is None:
                return fired
            account_id, instance_id = claimed
            instance, state = tx.lock_instance(account_id, instance_id)
            version, spec = ctx.versions.get(tx, instance.version_id)
            assert spec is not None and state is not None
            step = ctx.engine.advance(spec, state, records=TxRecords(tx, account_id, now),
                                      now=now)
            tx.add_events(account_id, instance.seq, [("timer", None, {
                "due": instance.wake_at.isoformat() if instance.wake_at else None})], now)
            instance = _apply_step(ctx, tx, instance, version, step, now, None)
        after_commit(ctx, instance)
        fired += 1
    return fired


def is_settled(instance: Instance, variable: str | None) -> bool:
    """What a launch-and-wait request waits for: the end, or the named variable being set."""
    if instance.status.is_final:
        return True
    return variable is not None and variable in instance.variables


def next_wake(ctx: Context) -> datetime | None:
    with ctx.store.transaction(write=False) as tx:
        return tx.next_wake_at()


def get_instance_by_seq(ctx: Context, who: Principal, seq: int) -> Instance:
    """An instance by its number (Studio's job_id, Activiti's processInstanceId)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        instance = tx.fetch_instance_by_seq(who.account_id, seq)
    if instance is None:
        raise NotFound(f"no instance {seq}")
    return instance
