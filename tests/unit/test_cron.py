"""Cron expressions: parsing, and the instants they name across daylight-saving changes.

Each row gives a start instant and the next fire times as wall-clock readings with their UTC
offset, so a doubled or missing run shows up as a wrong line."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from flowport.domain.cron import next_instant, parse_cron, resolve, zone
from flowport.errors import InvalidSchedule

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def fires(expr: str, tz: str, after: str, count: int) -> list[str]:
    cron, zone_info = parse_cron(expr), ZoneInfo(tz)
    at = datetime.fromisoformat(after)
    out = []
    for _ in range(count):
        found = next_instant(cron, zone_info, at)
        assert found is not None and found > at
        at = found
        out.append(found.astimezone(zone_info).isoformat())
    return out


@pytest.mark.parametrize(("expr", "tz", "after", "expected"), [
    # plain UTC
    ("*/15 * * * *", "UTC", "2026-01-05T09:07:00+00:00",
     ["2026-01-05T09:15:00+00:00", "2026-01-05T09:30:00+00:00", "2026-01-05T09:45:00+00:00"]),
    ("0 9 * * 1-5", "UTC", "2026-01-09T10:00:00+00:00",  # a Friday: next is Monday
     ["2026-01-12T09:00:00+00:00", "2026-01-13T09:00:00+00:00"]),
    ("*/20 * * * * *", "UTC", "2026-01-05T09:00:00.500000+00:00",  # seconds field
     ["2026-01-05T09:00:20+00:00", "2026-01-05T09:00:40+00:00", "2026-01-05T09:01:00+00:00"]),
    ("0 0 29 2 *", "UTC", "2026-03-01T00:00:00+00:00", ["2028-02-29T00:00:00+00:00"]),
    ("0 12 1 * mon", "UTC", "2026-06-01T12:00:00+00:00",  # day OR weekday (Vixie rule)
     ["2026-06-08T12:00:00+00:00", "2026-06-15T12:00:00+00:00", "2026-06-22T12:00:00+00:00",
      "2026-06-29T12:00:00+00:00", "2026-07-01T12:00:00+00:00"]),
    ("0 12 */10 * mon", "UTC", "2026-06-01T00:00:00+00:00",  # '*/10' counts as a star: AND
     ["2026-06-01T12:00:00+00:00", "2026-08-31T12:00:00+00:00"]),
    ("@monthly", "UTC", "2026-01-31T00:00:00+00:00", ["2026-02-01T00:00:00+00:00"]),
    ("30 2 * * sun", "UTC", "2026-01-04T02:30:00+00:00", ["2026-01-11T02:30:00+00:00"]),
    # Berlin spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist
    ("30 2 * * *", BERLIN, "2026-03-27T12:00:00+01:00",
     ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
    ("*/30 * * * *", BERLIN, "2026-03-29T01:00:00+01:00",
     ["2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"]),
    ("0 * * * *", BERLIN, "2026-03-29T00:30:00+01:00",
     ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]),
    ("0 3 * * *", BERLIN, "2026-03-28T12:00:00+01:00",  # 03:00 exists: once
     ["2026-03-29T03:00:00+02:00", "2026-03-30T03:00:00+02:00"]),
    # Berlin fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:00-02:59 happens twice
    ("30 2 * * *", BERLIN, "2026-10-24T12:00:00+02:00",
     ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
    ("0 1-3 * * *", BERLIN, "2026-10-25T00:00:00+02:00",
     ["2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00",
      "2026-10-26T01:00:00+01:00"]),
    ("*/30 * * * *", BERLIN, "2026-10-25T01:00:00+02:00",  # every hour: both passes
     ["2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
      "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"]),
    ("*/20 * * * *", BERLIN, "2026-10-25T02:05:00+01:00",  # starting inside the second pass
     ["2026-10-25T02:20:00+01:00", "2026-10-25T02:40:00+01:00", "2026-10-25T03:00:00+01:00"]),
    ("20 2 * * *", BERLIN, "2026-10-25T02:05:00+01:00",  # its 02:20 ran in the first pass
     ["2026-10-26T02:20:00+01:00"]),
    ("50 2 * * *", BERLIN, "2026-10-25T02:40:00+02:00",
     ["2026-10-25T02:50:00+02:00", "2026-10-26T02:50:00+01:00"]),
    # New York spring forward 2026-03-08 02:00 EST -> 03:00 EDT
    ("15 2 * * *", NEW_YORK, "2026-03-07T12:00:00-05:00",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"]),
    ("0 */1 * * *", NEW_YORK, "2026-03-08T00:30:00-05:00",
     ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]),
    # New York fall back 2026-11-01 02:00 EDT -> 01:00 EST
    ("30 1 * * *", NEW_YORK, "2026-10-31T12:00:00-04:00",
     ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
    ("0 * * * *", NEW_YORK, "2026-11-01T00:30:00-04:00",
     ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]),
    ("0 0 * * *", NEW_YORK, "2026-11-01T00:00:00-04:00",  # days stay one apart
     ["2026-11-02T00:00:00-05:00", "2026-11-03T00:00:00-05:00"]),
])
def test_fire_times(expr, tz, after, expected):
    assert fires(expr, tz, after, len(expected)) == expected


def test_every_minute_across_both_changes_has_no_gap_and_no_repeat():
    """Over a whole spring-forward and fall-back hour, an every-minute schedule fires once a
    minute of real time, never twice at one instant."""
    cron, berlin = parse_cron("* * * * *"), ZoneInfo(BERLIN)
    for start in ("2026-03-29T00:00:00+00:00", "2026-10-25T00:00:00+00:00"):
        at = datetime.fromisoformat(start)
        seen = []
        for _ in range(180):
            found = next_instant(cron, berlin, at)
            assert found is not None
            seen.append(found)
            at = found
        steps = {(b - a).total_seconds() for a, b in pairwise(seen)}
        assert steps == {60.0}, start


def test_resolve_names_both_instants_of_a_repeated_time_and_the_end_of_a_gap():
    berlin = ZoneInfo(BERLIN)
    first, second = resolve(datetime(2026, 10, 25, 2, 30), berlin)
    assert (first.isoformat(), second and second.isoformat()) == (
        "2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00")
    assert resolve(datetime(2026, 3, 29, 2, 30), berlin) == (
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC), None)
    assert resolve(datetime(2026, 6, 1, 12, 0), berlin) == (
        datetime(2026, 6, 1, 10, 0, tzinfo=UTC), None)


@pytest.mark.parametrize(("expr", "fragment"), [
    ("", "cron expression"),
    ("   ", "cron expression"),
    ("* * * *", "4 fields"),
    ("* * * * * * *", "7 fields"),
    ("60 * * * *", "outside 0-59"),
    ("* 24 * * *", "outside 0-23"),
    ("* * 0 * *", "outside 1-31"),
    ("* * * 13 *", "outside 1-12"),
    ("* * * * 8", "outside 0-7"),
    ("5-1 * * * *", "backwards"),
    ("*/0 * * * *", "step"),
    ("*/x * * * *", "step"),
    ("a * * * *", "not a number"),
    ("1,,2 * * * *", "empty item"),
    ("? * * * *", "not a number"),
    ("0 0 L * *", "not a number"),
    ("0 0 1#2 * *", "not a number"),
    ("0 0 31 2 *", "never matches"),
    ("0 0 30 2 *", "never matches"),
    ("@reboot", "unknown shorthand"),
    ("-1 * * * *", "not a number"),
    ("x" * 256, "longer than 255"),
])
def test_bad_cron_is_refused_naming_the_field(expr, fragment):
    with pytest.raises(InvalidSchedule) as caught:
        parse_cron(expr)
    assert caught.value.field == "cron"
    assert fragment in caught.value.message


def test_names_and_sunday_seven():
    assert parse_cron("0 0 * jan-mar sun").months == (1, 2, 3)
    assert parse_cron("0 0 * * 7").weekdays == parse_cron("0 0 * * 0").weekdays == {0}
    assert parse_cron("0 0 * * MON-FRI").weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("10/20 * * * *").minutes == (10, 30, 50)
    assert parse_cron("0 0 * * *").seconds == (0,)
    assert parse_cron("5 0 0 * * *").seconds == (5,)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime",
                                  "Europe/Berlin ", "x" * 65, 5, None])
def test_unknown_time_zone(name):
    with pytest.raises(InvalidSchedule) as caught:
        zone(name)
    assert caught.value.field == "timezone"


def test_known_time_zones():
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    assert zone("UTC").key == "UTC"
