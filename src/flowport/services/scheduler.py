"""Firing schedules: the schedule loop's one use case.

Each due schedule is served in one transaction: claim its row (replicas skip each other's
claims), decide what its fire time becomes, start the instance through the instances service,
write the history line and advance the row. So a fire time either produced its one instance and
moved on, or nothing happened and the next claim tries again: exactly once, on any number of
processes. The history table's unique (schedule, fire time) backs this up in the database.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flowport.domain.accounts import Principal, Role
from flowport.domain.instances import Instance
from flowport.domain.processes import ProcessType
from flowport.domain.schedules import TICK, Misfire, Outcome, Schedule, SkipReason
from flowport.errors import FlowportError, NotFound
from flowport.services import instances
from flowport.services.context import Context
from flowport.services.dispatch import RobotOptions
from flowport.store import Tx

# A continuous schedule whose start failed tries again after this long, not on every poll.
RETRY_AFTER_FAILURE = timedelta(seconds=60)


@dataclass
class _Serving:
    """One claimed schedule being served inside its transaction."""

    ctx: Context
    tx: Tx
    schedule: Schedule
    now: datetime
    runs: int = 0
    started: list[Instance] = field(default_factory=list)
    process_gone: bool = False

    def __post_init__(self) -> None:
        self.runs = self.schedule.runs

    def record(self, fire_time: datetime, outcome: Outcome, reason: str | None = None,
               instance_id: str | None = None, **detail: Any) -> None:
        self.tx.add_schedule_run(self.schedule, fire_time, self.now, outcome, reason=reason,
                                 instance_id=instance_id,
                                 detail={**detail, "served_by": _server()})

    def skip(self, fire_time: datetime, reason: SkipReason, **detail: Any) -> None:
        self.record(fire_time, Outcome.SKIPPED, reason.value, **detail)

    def fire(self, fire_time: datetime, **detail: Any) -> bool:
        """Start the instance that serves `fire_time`, unless max_concurrency forbids it or
        the start fails; either way the history says what happened."""
        s = self.schedule
        limit = s.concurrency
        if limit is not None:
            unfinished = self.tx.count_unfinished_instances(s.id)
            if unfinished >= limit:
                self.skip(fire_time, SkipReason.MAX_CONCURRENCY, unfinished=unfinished,
                          max_concurrency=limit, **detail)
                return False
        process = self.tx.fetch_process_by_id(s.account_id, s.process_id)
        origin: dict[str, Any] = {"schedule_id": s.id, "fire_time": fire_time.isoformat(),
                                  **detail}
        savepoint = self.tx.savepoint()
        try:
            if process is None:
                self.process_gone = True
                raise NotFound(f"process {s.process_key!r} was deleted; the schedule stops")
            version_id = instances.version_to_start(self.tx, process, s.version)
            robot = self._robot_options() if process.process_type is ProcessType.PACKAGE \
                else None
            if robot is not None:
                origin.update(_targeting(robot))
            instance = instances.start_in(
                self.ctx, self.tx, _actor(s), process, version_id, dict(s.variables), self.now,
                schedule_id=s.id, origin=origin, robot=robot)
        except FlowportError as exc:
            savepoint.rollback()
            self.record(fire_time, Outcome.FAILED, exc.code, error=exc.message, **detail)
            return False
        savepoint.commit()
        self.record(fire_time, Outcome.STARTED, instance_id=instance.id, **detail)
        self.runs += 1
        self.started.append(instance)
        return True

    def _robot_options(self) -> RobotOptions:
        """How a package instance the schedule starts is dispatched: its robot or robot
        group (named by number) and its stop and abort deadlines (seconds from the start)."""
        s = self.schedule
        robot_id = group_id = None
        if s.robot_id is not None:
            robot = self.tx.fetch_robot_by_seq(s.account_id, s.robot_id)
            if robot is None:
                raise NotFound(f"the schedule targets robot number {s.robot_id}, which does "
                               "not exist (any more)", field="robot_id")
            robot_id = robot.id
        if s.robot_group_id is not None:
            group = self.tx.fetch_group_by_number(s.account_id, s.robot_group_id)
            if group is None:
                raise NotFound(f"the schedule targets robot group number "
                               f"{s.robot_group_id}, which does not exist (any more)",
                               field="robot_group_id")
            group_id = group.id

        def later(seconds: int | None) -> datetime | None:
            return self.now + timedelta(seconds=seconds) if seconds is not None else None

        return RobotOptions(stop_after=later(s.stop_after), abort_after=later(s.abort_after),
                            robot_id=robot_id, robot_group_id=group_id)

    def advance(self, next_fire_at: datetime | None, covered_until: datetime) -> None:
        s = self.schedule
        if self.process_gone or (s.max_runs is not None and self.runs >= s.max_runs):
            next_fire_at = None
        self.tx.advance_schedule(s.id, runs=self.runs, next_fire_at=next_fire_at,
                                 covered_until=max(covered_until, s.covered_until))


def _targeting(robot: RobotOptions) -> dict[str, Any]:
    """What the `created` event says of how the instance is dispatched."""
    out: dict[str, Any] = {}
    for name, value in (("stop_at", robot.stop_after), ("abort_at", robot.abort_after),
                        ("robot_id", robot.robot_id), ("robot_group_id", robot.robot_group_id)):
        if value is not None:
            out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _server() -> str:
    """Which process served a fire time (host:pid), for the history of a replicated setup."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _actor(schedule: Schedule) -> Principal:
    """Who a schedule's instances are started by, as their events show it."""
    return Principal(schedule.account_id, None, f"schedule:{schedule.id}",
                     frozenset({Role.OPERATOR}))


def _serve_continuous(job: _Serving) -> None:
    s, now = job.schedule, job.now
    opening = s.timing.opening(now)
    if opening is None or opening > now:
        job.advance(opening, now)
        return
    fire_time = max(now, s.covered_until + TICK)
    free = (s.concurrency or 1) - job.tx.count_unfinished_instances(s.id)
    if s.max_runs is not None:
        free = min(free, s.max_runs - s.runs)
    failed = False
    for _ in range(max(free, 0)):
        if not job.fire(fire_time):
            failed = True
            break
        fire_time += TICK
    # Due again on the next pass (the claim waits until there is room); after a failure, later.
    job.advance(now + RETRY_AFTER_FAILURE if failed else max(fire_time, now + TICK),
                fire_time - TICK)


def _serve_cron(job: _Serving, grace: timedelta) -> None:
    s, now, timing = job.schedule, job.now, job.schedule.timing
    due = s.next_fire_at
    assert due is not None
    # Fire times passed over since the last one served (window closed, holidays): one line.
    first = timing.next_raw(s.covered_until)
    reason = timing.skip_reason(first) if first is not None and first < due else None
    if first is not None and reason is not None:
        job.skip(first, reason, until=due.isoformat())
    cutoff = now - grace
    if due >= cutoff:  # on time
        job.fire(due)
        job.advance(timing.next_fire(due), due)
        return
    # A misfire: the process was down or too busy when `due` came.
    resume = timing.next_fire(cutoff - TICK)
    covered = resume - TICK if resume is not None else now
    if s.misfire is Misfire.SKIP:
        job.skip(due, SkipReason.MISFIRE, until=resume.isoformat() if resume else None)
        job.advance(resume, covered)
    elif s.misfire is Misfire.RUN_ONCE:
        job.fire(due, misfire=Misfire.RUN_ONCE.value, missed_until=cutoff.isoformat())
        job.advance(resume, covered)
    else:
        assert s.catch_up_limit is not None
        latest = timing.last_fires(due, cutoff, s.catch_up_limit)
        if latest and due < latest[0]:
            job.skip(due, SkipReason.MISFIRE, until=latest[0].isoformat())
            job.advance(latest[0], latest[0] - TICK)
        else:
            job.fire(due, misfire=Misfire.CATCH_UP.value)
            job.advance(timing.next_fire(due), due)


def fire_due_schedules(ctx: Context, *, limit: int = 100) -> int:
    """Serve due schedules, one transaction each, until none is due or `limit` were served.
    A schedule served in this pass is not due again before the next pass. Returns how many
    were served."""
    due_by = ctx.clock.now()
    grace = timedelta(seconds=ctx.settings.schedule_misfire_seconds)
    served = 0
    while served < limit:
        with ctx.store.transaction() as tx:
            schedule = tx.claim_due_schedule(due_by)
            if schedule is None:
                break
            job = _Serving(ctx, tx, schedule, max(ctx.clock.now(), due_by))
            if schedule.continuous:
                _serve_continuous(job)
            else:
                _serve_cron(job, grace)
        for instance in job.started:
            instances.after_commit(ctx, instance)
        served += 1
    return served


def next_due(ctx: Context) -> datetime | None:
    """When the schedule loop next has something to do."""
    with ctx.store.transaction(write=False) as tx:
        return tx.next_schedule_fire_at(ctx.clock.now())
