"""Schedule timing: the pure next-fire function with windows, calendars, validity periods and
continuous mode, and the checks on what a user sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowport.domain.schedules import (
    Misfire,
    SkipReason,
    Timing,
    Window,
    check_count,
    check_misfire,
    check_targeting,
)
from flowport.errors import InvalidSchedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def local(timing: Timing, instants: list[datetime]) -> list[str]:
    return [i.astimezone(timing.tz).isoformat() for i in instants]


def timing(cron: str | None = "0 * * * *", tz: str = "Europe/Berlin", **kw) -> Timing:
    return Timing.build(cron=cron, timezone=tz, continuous=cron is None, **kw)


@pytest.mark.parametrize(("kw", "after", "expected"), [
    # hourly, only 09:00-12:00 on the wall clock
    ({"window": {"start": "09:00", "end": "12:00"}}, "2026-01-05T10:30:00+01:00",
     ["2026-01-05T11:00:00+01:00", "2026-01-06T09:00:00+01:00", "2026-01-06T10:00:00+01:00",
      "2026-01-06T11:00:00+01:00", "2026-01-07T09:00:00+01:00"]),
    # the window's end is exclusive; seconds count
    ({"window": {"start": "09:00:30", "end": "24:00"}}, "2026-01-05T08:00:00+01:00",
     ["2026-01-05T10:00:00+01:00", "2026-01-05T11:00:00+01:00"]),
    # a holiday is skipped whole; so is the window outside it
    ({"window": {"start": "09:00", "end": "10:00"}, "calendar": ["2026-01-06", "2026-01-07"]},
     "2026-01-05T09:30:00+01:00",
     ["2026-01-08T09:00:00+01:00", "2026-01-09T09:00:00+01:00"]),
    # the calendar is read on the zone's wall clock: 23:00 UTC on the 5th is the 6th in Berlin
    ({"calendar": ["2026-01-06"]}, "2026-01-05T22:30:00+01:00",
     ["2026-01-05T23:00:00+01:00", "2026-01-07T00:00:00+01:00"]),
    # validity: start inclusive, end exclusive
    ({"start_at": at("2026-01-05T12:00:00+00:00"), "end_at": at("2026-01-05T15:00:00+00:00")},
     "2026-01-01T00:00:00+00:00",
     ["2026-01-05T13:00:00+01:00", "2026-01-05T14:00:00+01:00", "2026-01-05T15:00:00+01:00"]),
    # a window opening inside the spring-forward gap opens when the gap ends
    ({"window": {"start": "02:30", "end": "04:00"}}, "2026-03-28T12:00:00+01:00",
     ["2026-03-29T03:00:00+02:00", "2026-03-30T03:00:00+02:00", "2026-03-31T03:00:00+02:00"]),
])
def test_next_fire_times(kw, after, expected):
    t = timing(**kw)
    assert local(t, t.upcoming(at(after), len(expected))) == expected


def test_upcoming_ends_with_the_validity_period():
    t = timing(end_at=at("2026-01-05T12:00:00+01:00"))
    assert local(t, t.upcoming(at("2026-01-05T09:30:00+01:00"), 10)) == [
        "2026-01-05T10:00:00+01:00", "2026-01-05T11:00:00+01:00"]


def test_a_window_no_fire_time_falls_in_gives_none():
    t = timing("0 2 * * *", window={"start": "09:00", "end": "18:00"})
    assert t.next_fire(at("2026-01-05T00:00:00+00:00")) is None


@pytest.mark.parametrize(("instant", "reason"), [
    ("2026-01-05T10:00:00+01:00", None),
    ("2026-01-05T08:59:59+01:00", SkipReason.WINDOW),
    ("2026-01-05T18:00:00+01:00", SkipReason.WINDOW),
    ("2026-01-06T10:00:00+01:00", SkipReason.CALENDAR),
])
def test_skip_reason(instant, reason):
    t = timing(window={"start": "09:00", "end": "18:00"}, calendar=["2026-01-06"])
    assert t.skip_reason(at(instant)) is reason


@pytest.mark.parametrize(("kw", "instant", "expected"), [
    ({}, "2026-01-05T10:17:00+01:00", "2026-01-05T10:17:00+01:00"),
    ({"window": {"start": "09:00", "end": "18:00"}}, "2026-01-05T18:00:00+01:00",
     "2026-01-06T09:00:00+01:00"),
    ({"window": {"start": "09:00", "end": "18:00"}}, "2026-01-05T07:00:00+01:00",
     "2026-01-05T09:00:00+01:00"),
    ({"window": {"start": "09:00", "end": "18:00"}, "calendar": ["2026-01-06"]},
     "2026-01-05T19:00:00+01:00", "2026-01-07T09:00:00+01:00"),
    ({"start_at": at("2026-02-01T00:00:00+00:00")}, "2026-01-05T10:00:00+01:00",
     "2026-02-01T01:00:00+01:00"),
    ({"end_at": at("2026-01-05T09:00:00+00:00")}, "2026-01-05T10:00:00+01:00", None),
])
def test_continuous_opening(kw, instant, expected):
    t = timing(None, **kw)
    opening = t.opening(at(instant))
    assert (opening.astimezone(t.tz).isoformat() if opening else None) == expected


def test_last_fires_takes_the_latest_and_skips_closed_hours():
    t = timing("*/10 * * * *", window={"start": "09:00", "end": "10:00"})
    since, before = at("2026-01-01T09:00:00+01:00"), at("2026-01-05T12:00:00+01:00")
    assert local(t, t.last_fires(since, before, 3)) == [
        "2026-01-05T09:30:00+01:00", "2026-01-05T09:40:00+01:00", "2026-01-05T09:50:00+01:00"]
    # fewer than asked since `since`: all of them
    assert local(t, t.last_fires(at("2026-01-05T09:35:00+01:00"), before, 5)) == [
        "2026-01-05T09:40:00+01:00", "2026-01-05T09:50:00+01:00"]


def test_last_fires_after_a_long_outage_is_cheap():
    t = timing("* * * * * *", tz="UTC")
    since = at("2025-01-01T00:00:00+00:00")
    latest = t.last_fires(since, at("2026-01-01T00:00:00+00:00"), 2)
    assert local(t, latest) == ["2025-12-31T23:59:58+00:00", "2025-12-31T23:59:59+00:00"]


@pytest.mark.parametrize(("kw", "field"), [
    ({"cron": "0 0 31 2 *"}, "cron"),
    ({"cron": "not cron"}, "cron"),
    ({"cron": None}, "cron"),  # neither cron nor continuous
    ({"cron": "* * * * *", "continuous": True}, "cron"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"start_at": at("2026-01-05T10:00:00+00:00"), "end_at": at("2026-01-05T10:00:00+00:00")},
     "end_at"),
    ({"start_at": at("2026-01-05T10:00:00+00:00"), "end_at": at("2026-01-04T10:00:00+00:00")},
     "end_at"),
    ({"start_at": datetime(2026, 1, 5, 10)}, "start_at"),  # no offset
    ({"end_at": datetime(9999, 12, 31, 23, tzinfo=UTC)}, "end_at"),
    ({"start_at": datetime(1, 1, 1, tzinfo=UTC)}, "start_at"),
    ({"window": {"start": "18:00", "end": "09:00"}}, "window.end"),
    ({"window": {"start": "09:00", "end": "09:00"}}, "window.end"),
    ({"window": {"start": "9am", "end": "18:00"}}, "window.start"),
    ({"window": {"start": "09:00", "end": "25:00"}}, "window.end"),
    ({"window": {"start": "24:00", "end": "24:00"}}, "window.start"),
    ({"window": {"start": "09:00"}}, "window"),
    ({"window": "09-18"}, "window"),
    ({"calendar": "2026-01-01"}, "calendar"),
    ({"calendar": ["2026-13-01"]}, "calendar"),
    ({"calendar": ["2026-1-1"]}, "calendar"),
    ({"calendar": [20260101]}, "calendar"),
    ({"calendar": ["2026-01-01"] * 3661}, "calendar"),
])
def test_bad_timing_names_the_field(kw, field):
    args = {"cron": "0 9 * * *", "timezone": "UTC", **kw}
    with pytest.raises(InvalidSchedule) as caught:
        Timing.build(**args)
    assert caught.value.field == field


def test_window_round_trip():
    assert Window.parse({"start": "09:00", "end": "17:30:15"}).to_dict() == {
        "start": "09:00", "end": "17:30:15"}
    assert Window.parse({"start": "00:00", "end": "24:00"}) == Window(0, 86400)


@pytest.mark.parametrize(("value", "ok"), [
    (None, True), (1, True), (5, True), (0, False), (-1, False), (1.5, False), (True, False),
    ("3", False), (2**31, False),
])
def test_counts(value, ok):
    if ok:
        assert check_count(value, "max_runs") == value
    else:
        with pytest.raises(InvalidSchedule) as caught:
            check_count(value, "max_runs")
        assert caught.value.field == "max_runs"


@pytest.mark.parametrize(("policy", "limit", "field"), [
    ("skip", None, None), ("run_once", None, None), ("catch_up", 3, None),
    ("catch_up", None, "catch_up_limit"), ("skip", 3, "catch_up_limit"),
    ("catch_up", 0, "catch_up_limit"), ("catch_up", 1001, "catch_up_limit"),
    ("later", None, "misfire"), (None, None, "misfire"),
])
def test_misfire_policy(policy, limit, field):
    if field is None:
        assert check_misfire(policy, limit) == (Misfire(policy), limit)
    else:
        with pytest.raises(InvalidSchedule) as caught:
            check_misfire(policy, limit)
        assert caught.value.field == field


@pytest.mark.parametrize(("robot", "group", "robot_type", "field"), [
    (None, None, None, None), (3, None, None, None), (None, 4, None, None),
    (3, None, 2, None), (3, None, 0, None), (None, 4, 1, None),
    (3, 4, None, "robot_group_id"), (-1, None, None, "robot_id"),
    (None, 0, None, "robot_group_id"), (None, None, 1, "robot_group_id"),
    (None, 4, 2, "robot_id"), (3, None, 5, "robot_type"), (3, None, True, "robot_type"),
])
def test_targeting(robot, group, robot_type, field):
    if field is None:
        check_targeting(robot, group, robot_type)
    else:
        with pytest.raises(InvalidSchedule) as caught:
            check_targeting(robot, group, robot_type)
        assert caught.value.field == field


def test_times_are_utc():
    t = timing(start_at=datetime(2026, 1, 5, 10, tzinfo=UTC).astimezone(
        Timing.build(cron="* * * * *", timezone="Asia/Tokyo").tz))
    assert t.start_at is not None and t.start_at.tzinfo is UTC
