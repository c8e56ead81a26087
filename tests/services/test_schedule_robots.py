"""A schedule's robot targeting applied to the package instances it starts, on both
databases: only the robot (or the robot group) it names may claim them, and its stop and
abort deadlines count from the start."""

from __future__ import annotations

from datetime import timedelta

from tests.services.test_dispatch import claim, enrolled, package
from tests.services.test_schedules import create, fire, runs, ship, started

from flowport.services import instances as run
from flowport.services import jobs, robots
from flowport.services import schedules as svc


def numbered(ctx, who):
    """Robots r1, r2 (r2 in group "night") and their numbers, as schedules name them."""
    bots = {name: enrolled(ctx, who, name) for name in ("r1", "r2")}
    listed = {r.name: r for r in robots.list_robots(ctx, who, None, 10).items}
    group = robots.create_group(ctx, who, robots.SaveGroup("night"))
    robots.add_robot(ctx, who, group.id, listed["r2"].id)
    return bots, {n: r.seq for n, r in listed.items()}, group


def test_only_the_targeted_robot_or_group_claims_what_a_schedule_starts(ctx, admin, clock):
    package(ctx, admin)
    bots, numbers, group = numbered(ctx, admin)
    to_r1 = create(ctx, admin, "job", variables={}, robot_id=numbers["r1"], robot_type=0,
                   stop_after=600, abort_after=900)
    to_night = create(ctx, admin, "job", variables={}, robot_group_id=group.seq,
                      robot_type=1)
    fire(ctx, clock, clock.now() + timedelta(minutes=10))
    (for_r1,) = started(ctx, admin, to_r1)
    (for_night,) = started(ctx, admin, to_night)
    view = jobs.get_job(ctx, admin, for_r1.id)
    assert view.target_robot is not None and view.target_robot.name == "r1"
    assert view.job.stop_after == clock.now() + timedelta(seconds=600)
    assert view.job.abort_after == clock.now() + timedelta(seconds=900)
    assert jobs.get_job(ctx, admin, for_night.id).target_group.id == group.id
    events = [e for e in run.list_events(ctx, admin, for_r1.id) if e.kind == "created"]
    assert events[0].detail["robot_id"] == view.target_robot.id
    assert [c.instance.id for c in claim(ctx, bots["r2"], 5)] == [for_night.id]
    assert [c.instance.id for c in claim(ctx, bots["r1"], 5)] == [for_r1.id]


def test_a_target_that_is_gone_or_foreign_fails_the_fire_time(ctx, admin, other, clock):
    package(ctx, admin)
    _, numbers, _ = numbered(ctx, admin)
    enrolled(ctx, other, "theirs")
    theirs = robots.list_robots(ctx, other, None, 10).items[0]
    foreign = create(ctx, admin, "job", variables={}, robot_id=theirs.seq, robot_type=0)
    gone = create(ctx, admin, "job", variables={}, robot_id=numbers["r1"], robot_type=0)
    robots.delete_robot(ctx, admin, robots.list_robots(ctx, admin, None, 10).items[0].id)
    fire(ctx, clock, clock.now() + timedelta(minutes=10))
    for schedule in (foreign, gone):
        assert started(ctx, admin, schedule) == []
        ((_, outcome, reason),) = runs(ctx, admin, schedule)
        assert (outcome, reason) == ("failed", "not_found")
        line = svc.list_runs(ctx, admin, schedule.id, limit=5).items[0]
        assert f"robot number {numbers['r1'] if schedule is gone else theirs.seq}" \
            in line.detail["error"]


def test_a_bpmn_process_ignores_the_robot_targeting(ctx, admin, clock):
    key = ship(ctx, admin, "straight")
    _, numbers, _ = numbered(ctx, admin)
    schedule = create(ctx, admin, key, robot_id=numbers["r1"], robot_type=0)
    fire(ctx, clock, clock.now() + timedelta(minutes=10))
    assert len(started(ctx, admin, schedule)) == 1
