"""Schedules through the services on both databases, with a clock that moves only when told:
create and change them, fire them, and read what each fire time became."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flowport.domain.instances import Status
from flowport.errors import InvalidParameters, InvalidSchedule, NotFound
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services import scheduler
from flowport.services import schedules as svc

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the `clock` fixture's start, a Monday


def ship(ctx, who, name: str, key: str | None = None, **kwargs) -> str:
    key = key or name
    deploy.create_process(ctx, who, deploy.CreateProcess(key=key))
    deploy.deploy_version(ctx, who, key, deploy.DeployVersion(
        f"{name}.bpmn", (FLOWS / f"{name}.bpmn").read_bytes(), **kwargs))
    return key


def create(ctx, who, key="straight", **kw):
    kw.setdefault("variables", {"amount": 3})
    if not kw.get("continuous"):
        kw.setdefault("cron", "*/10 * * * *")
    return svc.create_schedule(ctx, who, svc.CreateSchedule(process_key=key, **kw))


def fire(ctx, clock, until: datetime | None = None) -> int:
    if until is not None:
        clock.advance(until - clock.now())
    return scheduler.fire_due_schedules(ctx)


def runs(ctx, who, schedule):
    page = svc.list_runs(ctx, who, schedule.id, limit=500)
    return [(r.fire_time.strftime("%d %H:%M"), r.outcome.value, r.reason)
            for r in reversed(page.items)]


def started(ctx, who, schedule):
    page = run.list_instances(ctx, who, run.ListInstances(schedule_id=schedule.id, limit=500))
    return list(reversed(page.items))


@pytest.fixture
def straight(ctx, admin):
    return ship(ctx, admin, "straight")


def test_a_fire_time_starts_one_instance_that_names_it(ctx, admin, clock, straight):
    schedule = create(ctx, admin)
    assert schedule.next_fire_at == T0 + timedelta(minutes=10)
    assert svc.upcoming(ctx, admin, schedule.id, 3) == [
        T0 + timedelta(minutes=m) for m in (10, 20, 30)]
    assert fire(ctx, clock) == 0  # nothing due yet
    fire(ctx, clock, T0 + timedelta(minutes=10, seconds=1))
    fire(ctx, clock)  # the same moment again: nothing more
    (instance,) = started(ctx, admin, schedule)
    assert instance.status is Status.COMPLETED and instance.variables["total"] == 6
    assert instance.schedule_id == schedule.id
    created = run.list_events(ctx, admin, instance.id)[0]
    assert created.kind == "created" and created.actor == f"schedule:{schedule.id}"
    assert created.detail["fire_time"] == "2026-01-05T09:10:00+00:00"
    assert created.detail["schedule_id"] == schedule.id
    assert runs(ctx, admin, schedule) == [("05 09:10", "started", None)]
    assert svc.list_runs(ctx, admin, schedule.id).items[0].instance_id == instance.id
    again = svc.get_schedule(ctx, admin, schedule.id)
    assert again.runs == 1 and again.next_fire_at == T0 + timedelta(minutes=20)


def test_each_fire_time_in_turn(ctx, admin, clock, straight):
    schedule = create(ctx, admin, cron="*/10 * * * *")
    for minute in range(10, 60, 10):
        fire(ctx, clock, T0 + timedelta(minutes=minute))
    assert [i.status for i in started(ctx, admin, schedule)] == [Status.COMPLETED] * 5
    assert [r[0] for r in runs(ctx, admin, schedule)] == [
        "05 09:10", "05 09:20", "05 09:30", "05 09:40", "05 09:50"]


def test_window_and_calendar_skips_are_one_line_each(ctx, admin, clock, straight):
    schedule = create(ctx, admin, cron="0 * * * *", window={"start": "09:00", "end": "11:00"},
                      calendar=["2026-01-06"])
    assert svc.upcoming(ctx, admin, schedule.id, 3) == [
        T0 + timedelta(hours=1), T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1)]
    fire(ctx, clock, T0 + timedelta(hours=1))
    fire(ctx, clock, T0 + timedelta(days=2))
    assert runs(ctx, admin, schedule) == [
        ("05 10:00", "started", None), ("05 11:00", "skipped", "window"),
        ("07 09:00", "started", None)]
    skipped = [r for r in svc.list_runs(ctx, admin, schedule.id).items
               if r.outcome.value == "skipped"]
    assert skipped[0].detail["until"] == "2026-01-07T09:00:00+00:00"
    assert skipped[0].detail["served_by"].endswith(f":{os.getpid()}")


def test_holiday_line(ctx, admin, clock, straight):
    schedule = create(ctx, admin, cron="0 9 * * *", calendar=["2026-01-06", "2026-01-07"])
    fire(ctx, clock, T0 + timedelta(days=1))  # nothing due: the 6th is a holiday
    fire(ctx, clock, T0 + timedelta(days=3))
    assert runs(ctx, admin, schedule) == [
        ("06 09:00", "skipped", "calendar"), ("08 09:00", "started", None)]


@pytest.mark.parametrize(("policy", "expected"), [
    # down from 09:05 until 10:30 (grace 60 s): 09:10 ... 10:20 were missed, 10:30 is on time
    ({"misfire": "skip"}, [("05 09:10", "skipped", "misfire"), ("05 10:30", "started", None)]),
    ({"misfire": "run_once"}, [("05 09:10", "started", None), ("05 10:30", "started", None)]),
    ({"misfire": "catch_up", "catch_up_limit": 2},
     [("05 09:10", "skipped", "misfire"), ("05 10:10", "started", None),
      ("05 10:20", "started", None), ("05 10:30", "started", None)]),
    ({"misfire": "catch_up", "catch_up_limit": 50},
     [(f"05 {h:02d}:{m:02d}", "started", None)
      for h, m in [(9, 10), (9, 20), (9, 30), (9, 40), (9, 50), (10, 0), (10, 10), (10, 20),
                   (10, 30)]]),
])
def test_misfire_policies(ctx, admin, clock, straight, policy, expected):
    schedule = create(ctx, admin, **policy)
    fire(ctx, clock, T0 + timedelta(minutes=90, seconds=5))
    assert runs(ctx, admin, schedule) == expected
    assert len(started(ctx, admin, schedule)) == sum(1 for r in expected if r[1] == "started")
    assert svc.get_schedule(ctx, admin, schedule.id).next_fire_at == T0 + timedelta(minutes=100)


def test_run_once_says_what_it_stands_for(ctx, admin, clock, straight):
    schedule = create(ctx, admin, misfire="run_once")
    fire(ctx, clock, T0 + timedelta(minutes=35))
    first = started(ctx, admin, schedule)[0]
    detail = run.list_events(ctx, admin, first.id)[0].detail
    assert detail["misfire"] == "run_once"
    assert detail["fire_time"] == "2026-01-05T09:10:00+00:00"
    assert detail["missed_until"] == "2026-01-05T09:34:00+00:00"


def test_max_concurrency_skips_while_runs_are_unfinished(ctx, admin, clock):
    ship(ctx, admin, "approval")  # waits at a user task
    schedule = create(ctx, admin, "approval", variables={}, max_concurrency=1)
    fire(ctx, clock, T0 + timedelta(minutes=10))
    fire(ctx, clock, T0 + timedelta(minutes=20))
    (waiting,) = started(ctx, admin, schedule)
    run.cancel_instance(ctx, admin, waiting.id)
    fire(ctx, clock, T0 + timedelta(minutes=30))
    assert runs(ctx, admin, schedule) == [
        ("05 09:10", "started", None), ("05 09:20", "skipped", "max_concurrency"),
        ("05 09:30", "started", None)]


def test_unfinished_or_failed_runs_do_not_block_without_max_concurrency(ctx, admin, clock):
    ship(ctx, admin, "approval")
    ship(ctx, admin, "failing")
    waits = create(ctx, admin, "approval", variables={})
    fails = create(ctx, admin, "failing", variables={})
    for minute in (10, 20, 30):
        fire(ctx, clock, T0 + timedelta(minutes=minute))
    assert [i.status for i in started(ctx, admin, waits)] == [Status.WAITING] * 3
    assert [i.status for i in started(ctx, admin, fails)] == [Status.FAILED] * 3


def test_max_runs_and_end_at_stop_it(ctx, admin, clock, straight):
    limited = create(ctx, admin, max_runs=2)
    ending = create(ctx, admin, end_at=T0 + timedelta(minutes=25))
    assert svc.upcoming(ctx, admin, limited.id, 5) == [T0 + timedelta(minutes=m)
                                                        for m in (10, 20)]
    for minute in (10, 20, 30, 40):
        fire(ctx, clock, T0 + timedelta(minutes=minute))
    for schedule in (limited, ending):
        assert len(started(ctx, admin, schedule)) == 2
        assert svc.get_schedule(ctx, admin, schedule.id).next_fire_at is None
    assert svc.get_schedule(ctx, admin, limited.id).runs == 2


def test_start_at_delays_the_first_fire(ctx, admin, clock, straight):
    schedule = create(ctx, admin, start_at=T0 + timedelta(hours=2, minutes=5))
    assert schedule.next_fire_at == T0 + timedelta(hours=2, minutes=10)


def test_a_failing_start_is_recorded_and_the_schedule_goes_on(ctx, admin, clock):
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="empty"))  # no version yet
    schedule = create(ctx, admin, "empty", variables={})
    fire(ctx, clock, T0 + timedelta(minutes=10))
    ship_version = deploy.DeployVersion("straight.bpmn", (FLOWS / "straight.bpmn").read_bytes())
    deploy.deploy_version(ctx, admin, "empty", ship_version)
    svc.update_schedule(ctx, admin, schedule.id, svc.UpdateSchedule({"variables": {"amount": 1}}))
    fire(ctx, clock, T0 + timedelta(minutes=20))
    assert runs(ctx, admin, schedule) == [
        ("05 09:10", "failed", "conflict"), ("05 09:20", "started", None)]
    failed = svc.list_runs(ctx, admin, schedule.id).items[-1]
    assert "no version" in failed.detail["error"]


def test_a_deleted_process_stops_its_schedules(ctx, admin, clock, straight):
    schedule = create(ctx, admin)
    deploy.delete_process(ctx, admin, straight)
    fire(ctx, clock, T0 + timedelta(minutes=10))
    fire(ctx, clock, T0 + timedelta(minutes=20))
    assert runs(ctx, admin, schedule) == [("05 09:10", "failed", "not_found")]
    assert svc.get_schedule(ctx, admin, schedule.id).next_fire_at is None


def test_pinned_version(ctx, admin, clock, straight):
    schedule = create(ctx, admin, version=1)
    deploy.deploy_version(ctx, admin, straight, deploy.DeployVersion(
        "s.bpmn", (FLOWS / "straight.bpmn").read_bytes().replace(b"Double", b"Twice")))
    fire(ctx, clock, T0 + timedelta(minutes=10))
    assert started(ctx, admin, schedule)[0].version_number == 1
    with pytest.raises(NotFound) as caught:
        create(ctx, admin, version=7)
    assert caught.value.field == "version"


def test_continuous_starts_the_next_run_when_the_previous_ends(ctx, admin, clock):
    ship(ctx, admin, "approval")
    schedule = create(ctx, admin, "approval", variables={}, continuous=True)
    assert schedule.next_fire_at == T0 and schedule.concurrency == 1
    assert svc.upcoming(ctx, admin, schedule.id, 5) == []
    fire(ctx, clock)
    fire(ctx, clock, T0 + timedelta(seconds=1))
    (first,) = started(ctx, admin, schedule)
    assert scheduler.next_due(ctx) is None  # full: it waits for the run to end
    run.cancel_instance(ctx, admin, first.id)
    fire(ctx, clock, T0 + timedelta(seconds=2))
    assert [i.status for i in started(ctx, admin, schedule)] == [Status.STOPPED,
                                                                 Status.WAITING]


def test_continuous_fills_its_concurrency_within_window_and_runs(ctx, admin, clock):
    ship(ctx, admin, "approval")
    schedule = create(ctx, admin, "approval", variables={}, continuous=True,
                      max_concurrency=3, max_runs=4, window={"start": "10:00", "end": "12:00"})
    assert schedule.next_fire_at == T0 + timedelta(hours=1)
    fire(ctx, clock, T0 + timedelta(hours=1))
    assert len(started(ctx, admin, schedule)) == 3
    for instance in started(ctx, admin, schedule):
        run.cancel_instance(ctx, admin, instance.id)
    fire(ctx, clock, T0 + timedelta(hours=1, seconds=1))
    assert len(started(ctx, admin, schedule)) == 4
    assert svc.get_schedule(ctx, admin, schedule.id).next_fire_at is None


def test_changes_rearm_it_and_disabled_ones_do_not_fire(ctx, admin, clock, straight):
    schedule = create(ctx, admin)
    renamed = svc.update_schedule(ctx, admin, schedule.id, svc.UpdateSchedule({"name": "n"}))
    assert renamed.name == "n" and renamed.next_fire_at == schedule.next_fire_at
    hourly = svc.update_schedule(ctx, admin, schedule.id, svc.UpdateSchedule(
        {"cron": "0 * * * *", "timezone": "Asia/Kolkata"}))  # UTC+05:30
    assert hourly.next_fire_at == T0 + timedelta(minutes=30)
    off = svc.update_schedule(ctx, admin, schedule.id, svc.UpdateSchedule({"enabled": False}))
    assert off.next_fire_at is None and svc.upcoming(ctx, admin, schedule.id, 3) == []
    fire(ctx, clock, T0 + timedelta(hours=3, minutes=40))
    assert started(ctx, admin, schedule) == []
    on = svc.update_schedule(ctx, admin, schedule.id, svc.UpdateSchedule({"enabled": True}))
    assert on.next_fire_at == T0 + timedelta(hours=4, minutes=30)  # from now: no misfire
    svc.delete_schedule(ctx, admin, schedule.id)
    with pytest.raises(NotFound):
        svc.get_schedule(ctx, admin, schedule.id)
    fire(ctx, clock, T0 + timedelta(hours=5))
    assert started(ctx, admin, schedule) == []


@pytest.mark.parametrize(("kw", "field"), [
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "0 0 30 2 *"}, "cron"),
    ({"timezone": "Europe/Atlantis"}, "timezone"),
    ({"start_at": T0, "end_at": T0 - timedelta(days=1)}, "end_at"),
    ({"start_at": datetime(2026, 1, 5)}, "start_at"),
    ({"window": {"start": "18:00", "end": "09:00"}}, "window.end"),
    ({"calendar": ["tomorrow"]}, "calendar"),
    ({"max_runs": -1}, "max_runs"),
    ({"max_runs": 0}, "max_runs"),
    ({"max_concurrency": -2}, "max_concurrency"),
    ({"catch_up_limit": 3}, "catch_up_limit"),
    ({"misfire": "catch_up"}, "catch_up_limit"),
    ({"misfire": "never"}, "misfire"),
    ({"stop_after": -5}, "stop_after"),
    ({"abort_after": 0}, "abort_after"),
    ({"robot_id": 1, "robot_group_id": 2}, "robot_group_id"),
    ({"version": -1}, "version"),
    ({"variables": ["a"]}, "variables"),
    ({"name": "x" * 256}, "name"),
    ({"enabled": "yes"}, "enabled"),
    ({"continuous": True, "cron": "* * * * *"}, "cron"),
    ({"cron": None}, "cron"),
])
def test_bad_input_names_the_field_and_creates_nothing(ctx, admin, straight, kw, field):
    with pytest.raises(InvalidSchedule) as caught:
        create(ctx, admin, **kw)
    assert caught.value.field == field
    assert svc.list_schedules(ctx, admin, svc.ListSchedules()).items == []


def test_bad_change_changes_nothing(ctx, admin, straight):
    schedule = create(ctx, admin)
    for changes, field in [({"cron": "bad"}, "cron"), ({"end_at": T0 - timedelta(days=1),
                                                       "start_at": T0}, "end_at"),
                           ({"colour": "red"}, "colour"), ({"process_key": None},
                                                           "process_key")]:
        with pytest.raises(InvalidSchedule) as caught:
            svc.update_schedule(ctx, admin, schedule.id, svc.UpdateSchedule(changes))
        assert caught.value.field == field
    assert svc.get_schedule(ctx, admin, schedule.id) == schedule


def test_variables_are_checked_against_the_parameters(ctx, admin):
    ship(ctx, admin, "straight", key="typed",
         parameters=[{"name": "amount", "type": "integer", "required": True}])
    with pytest.raises(InvalidParameters):
        create(ctx, admin, "typed", variables={})
    with pytest.raises(NotFound):
        create(ctx, admin, "nowhere")


def test_another_account_sees_nothing(ctx, admin, other, straight):
    schedule = create(ctx, admin)
    for call in (lambda: svc.get_schedule(ctx, other, schedule.id),
                 lambda: svc.update_schedule(ctx, other, schedule.id,
                                             svc.UpdateSchedule({"name": "x"})),
                 lambda: svc.delete_schedule(ctx, other, schedule.id),
                 lambda: svc.upcoming(ctx, other, schedule.id, 3),
                 lambda: svc.list_runs(ctx, other, schedule.id)):
        with pytest.raises(NotFound):
            call()
    assert svc.list_schedules(ctx, other, svc.ListSchedules()).items == []
    assert run.list_instances(ctx, other, run.ListInstances(schedule_id=schedule.id)).items == []
    assert svc.get_schedule(ctx, admin, schedule.id) == schedule


def test_list_pages(ctx, admin, straight):
    made = [create(ctx, admin, name=f"s{i}") for i in range(5)]
    first = svc.list_schedules(ctx, admin, svc.ListSchedules(limit=3))
    rest = svc.list_schedules(ctx, admin, svc.ListSchedules(limit=3, cursor=first.next_cursor))
    assert [s.name for s in first.items + rest.items] == [s.name for s in reversed(made)]
    assert rest.next_cursor is None
    svc.update_schedule(ctx, admin, made[0].id, svc.UpdateSchedule({"enabled": False}))
    assert len(svc.list_schedules(ctx, admin, svc.ListSchedules(enabled=False)).items) == 1
    assert svc.list_schedules(ctx, admin, svc.ListSchedules(process_key="x")).items == []
