"""Schedules: when a schedule fires, and the checks on what a user may ask of one.

`Timing` is the pure part: a cron expression (or continuous mode) in an IANA time zone, a
validity period `[start_at, end_at)`, a daily window `[start, end)` on the zone's wall clock and
a calendar of non-working days (dates on the zone's wall clock). `Timing.next_fire` gives the
next instant at which the schedule starts an instance; daylight saving time follows the rules
in `flowport.domain.cron`. Everything takes and returns aware UTC datetimes.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from flowport.domain.cron import HORIZON_YEARS, Cron, next_instant, parse_cron, resolve, wall, zone
from flowport.errors import InvalidSchedule

TICK = timedelta(microseconds=1)
DAY_SECONDS = 24 * 3600
MAX_CALENDAR_DAYS = 3660
MAX_CATCH_UP = 1000
MAX_UPCOMING = 1000
# How many skipped stretches (window closed, holiday) a search walks past before giving up.
_MAX_JUMPS = 20_000
_HORIZON = timedelta(days=366 * HORIZON_YEARS)
# Dates outside these years are refused, so searches that look years ahead stay in range.
_FIRST_YEAR, _LAST_YEAR = 1970, 9000
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?$")


class Misfire(StrEnum):
    """What a fire time that passed while no process could serve it becomes."""

    SKIP = "skip"          # nothing: the next fire time on schedule runs
    RUN_ONCE = "run_once"  # one run for all the missed times
    CATCH_UP = "catch_up"  # one run for each of the latest N missed times


class Outcome(StrEnum):
    STARTED = "started"
    SKIPPED = "skipped"
    FAILED = "failed"


class SkipReason(StrEnum):
    CALENDAR = "calendar"
    WINDOW = "window"
    MISFIRE = "misfire"
    MAX_CONCURRENCY = "max_concurrency"


def _clock_seconds(text: object, name: str) -> int:
    match = _CLOCK.match(text) if isinstance(text, str) else None
    seconds = 0 if match is None else (
        int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3] or 0))
    if match is None or seconds > DAY_SECONDS:
        raise InvalidSchedule(f"{name} must be a time of day 'HH:MM' or 'HH:MM:SS' "
                              "(24:00 for midnight at the end)", field=name)
    return seconds


def _clock_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


@dataclass(frozen=True)
class Window:
    """A daily period on the wall clock: seconds after midnight, start inclusive, end
    exclusive (86400 is the midnight that ends the day)."""

    start: int
    end: int

    @classmethod
    def parse(cls, value: object) -> Window:
        if not isinstance(value, dict) or set(value) != {"start", "end"}:
            raise InvalidSchedule("window must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"}",
                                  field="window")
        start = _clock_seconds(value["start"], "window.start")
        end = _clock_seconds(value["end"], "window.end")
        if start >= DAY_SECONDS:
            raise InvalidSchedule("window.start must be before 24:00", field="window.start")
        if end <= start:
            raise InvalidSchedule("window.end must be after window.start", field="window.end")
        return cls(start, end)

    def contains(self, moment: time) -> bool:
        return self.start <= moment.hour * 3600 + moment.minute * 60 + moment.second < self.end

    def to_dict(self) -> dict[str, str]:
        return {"start": _clock_text(self.start), "end": _clock_text(self.end)}


def parse_calendar(value: object) -> frozenset[date]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise InvalidSchedule("calendar must be a list of dates 'YYYY-MM-DD'", field="calendar")
    if len(value) > MAX_CALENDAR_DAYS:
        raise InvalidSchedule(f"calendar holds more than {MAX_CALENDAR_DAYS} dates",
                              field="calendar")
    days: set[date] = set()
    for item in value:
        try:
            if not isinstance(item, str) or len(item) != 10:
                raise ValueError
            days.add(date.fromisoformat(item))
        except ValueError:
            raise InvalidSchedule(f"calendar: {item!r} is not a date 'YYYY-MM-DD'",
                                  field="calendar") from None
    return frozenset(days)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidSchedule(f"{name} must be a date and time with a UTC offset, such as "
                              "'2026-01-05T09:00:00Z'", field=name)
    if not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        raise InvalidSchedule(f"{name} must lie in the years {_FIRST_YEAR} to {_LAST_YEAR}",
                              field=name)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Timing:
    """When a schedule may fire. `cron` None means continuous: start the next run as soon as
    the previous one ends, within the same period, window and calendar."""

    cron: Cron | None
    tz: ZoneInfo
    start_at: datetime | None = None
    end_at: datetime | None = None
    window: Window | None = None
    calendar: frozenset[date] = frozenset()

    @classmethod
    def build(cls, *, cron: str | None, timezone: str, continuous: bool = False,
              start_at: datetime | None = None, end_at: datetime | None = None,
              window: object = None, calendar: object = None) -> Timing:
        """Check a user's timing fields; InvalidSchedule names the first wrong one."""
        if continuous and cron is not None:
            raise InvalidSchedule("a continuous schedule has no cron", field="cron")
        if not continuous and cron is None:
            raise InvalidSchedule("cron is required unless the schedule is continuous",
                                  field="cron")
        parsed = None if cron is None else parse_cron(cron)
        tz = zone(timezone)
        start, end = _aware(start_at, "start_at"), _aware(end_at, "end_at")
        if start is not None and end is not None and end <= start:
            raise InvalidSchedule("end_at must be after start_at", field="end_at")
        return cls(parsed, tz, start, end, None if window is None else Window.parse(window),
                   frozenset() if calendar is None else parse_calendar(calendar))

    @property
    def continuous(self) -> bool:
        return self.cron is None

    def skip_reason(self, instant: datetime) -> SkipReason | None:
        """Why an instant inside the validity period is not a fire time, if it is not."""
        local = wall(instant, self.tz)
        if local.date() in self.calendar:
            return SkipReason.CALENDAR
        if self.window is not None and not self.window.contains(local.time()):
            return SkipReason.WINDOW
        return None

    def _day_opens(self, day: date) -> datetime:
        opens = self.window.start if self.window else 0
        return resolve(datetime.combine(day, time.min) + timedelta(seconds=opens), self.tz)[0]

    def resume_at(self, instant: datetime, reason: SkipReason) -> datetime:
        """The first instant after `instant` at which a fire time may come again."""
        local = wall(instant, self.tz)
        if reason is SkipReason.WINDOW and self.window is not None and (
            local.hour * 3600 + local.minute * 60 + local.second < self.window.start
        ):
            return self._day_opens(local.date())
        return self._day_opens(local.date() + timedelta(days=1))

    def next_raw(self, after: datetime) -> datetime | None:
        """The next cron instant after `after` inside the validity period, window and
        calendar ignored."""
        assert self.cron is not None, "a continuous schedule has no fire times"
        if self.start_at is not None and after < self.start_at:
            after = self.start_at - TICK
        found = next_instant(self.cron, self.tz, after)
        if found is None or (self.end_at is not None and found >= self.end_at):
            return None
        return found

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after`, or None if there is none ahead."""
        horizon = after + _HORIZON
        for _ in range(_MAX_JUMPS):
            found = self.next_raw(after)
            if found is None or found > horizon:
                return None
            reason = self.skip_reason(found)
            if reason is None:
                return found
            after = self.resume_at(found, reason) - TICK
        return None

    def opening(self, at: datetime) -> datetime | None:
        """Continuous mode: the first instant at or after `at` when a run may start."""
        if self.start_at is not None and at < self.start_at:
            at = self.start_at
        for _ in range(_MAX_JUMPS):
            if self.end_at is not None and at >= self.end_at:
                return None
            reason = self.skip_reason(at)
            if reason is None:
                return at
            at = self.resume_at(at, reason)
        return None

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        found: list[datetime] = []
        while len(found) < count:
            following = self.next_fire(found[-1] if found else after)
            if following is None:
                break
            found.append(following)
        return found

    def last_fires(self, since: datetime, before: datetime, count: int) -> list[datetime]:
        """The latest `count` fire times in [since, before), oldest first. Looks back over a
        span that grows fourfold until it holds enough, so the cost follows `count` and not
        the length of an outage."""
        span = timedelta(minutes=1)
        while True:
            low = max(since, before - span)
            kept: deque[datetime] = deque(maxlen=count)
            at = self.next_fire(low - TICK)
            while at is not None and at < before:
                kept.append(at)
                at = self.next_fire(at)
            if len(kept) >= count or low == since:
                return list(kept)
            span *= 4


@dataclass(frozen=True)
class Schedule:
    id: int
    guid: str
    account_id: int
    process_id: int
    process_key: str
    version: int | None
    name: str
    description: str
    enabled: bool
    cron: str | None
    timezone: str
    timing: Timing
    variables: dict[str, Any]
    max_runs: int | None
    max_concurrency: int | None
    misfire: Misfire
    catch_up_limit: int | None
    stop_after: int | None
    abort_after: int | None
    robot_id: int | None
    robot_group_id: int | None
    robot_type: int | None
    runs: int
    next_fire_at: datetime | None
    covered_until: datetime
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def continuous(self) -> bool:
        return self.timing.continuous

    @property
    def exhausted(self) -> bool:
        return self.max_runs is not None and self.runs >= self.max_runs

    @property
    def concurrency(self) -> int | None:
        """How many unfinished instances it may have; continuous mode keeps one by default."""
        return self.max_concurrency if self.max_concurrency is not None or not \
            self.continuous else 1

    def upcoming(self, count: int) -> list[datetime]:
        """Its next fire times, as far as max_runs lets it fire (continuous: none)."""
        if not self.enabled or self.continuous or self.next_fire_at is None:
            return []
        if self.max_runs is not None:
            count = min(count, self.max_runs - self.runs)
        if count <= 0:
            return []
        return [self.next_fire_at, *self.timing.upcoming(self.next_fire_at, count - 1)]


def first_due(timing: Timing, *, enabled: bool, runs: int, max_runs: int | None,
              after: datetime) -> datetime | None:
    """Where a schedule's next fire time lies when it is (re)armed at `after`: None when it
    is disabled, used up or has nothing ahead."""
    if not enabled or (max_runs is not None and runs >= max_runs):
        return None
    if timing.continuous:
        return timing.opening(after)
    return timing.next_fire(after)


@dataclass(frozen=True)
class ScheduleRun:
    """One line of a schedule's history: a fire time and what became of it. A skipped
    stretch (window closed, holiday, missed while down) is one line from `fire_time` to
    `detail['until']`."""

    seq: int
    schedule_id: int
    fire_time: datetime
    at: datetime
    outcome: Outcome
    reason: str | None
    instance_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)


# -- checks on the other fields ------------------------------------------------------------


def check_count(value: object, name: str, *, maximum: int = 2**31 - 1) -> int | None:
    """An optional whole number from 1 to `maximum`."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise InvalidSchedule(f"{name} must be a whole number from 1 to {maximum}", field=name)
    return value


def check_misfire(policy: object, catch_up_limit: object) -> tuple[Misfire, int | None]:
    try:
        misfire = Misfire(policy)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidSchedule(f"misfire must be one of {', '.join(Misfire)}",
                              field="misfire") from None
    limit = check_count(catch_up_limit, "catch_up_limit", maximum=MAX_CATCH_UP)
    if misfire is Misfire.CATCH_UP and limit is None:
        raise InvalidSchedule("misfire 'catch_up' needs catch_up_limit, the most missed runs "
                              "to make up", field="catch_up_limit")
    if misfire is not Misfire.CATCH_UP and limit is not None:
        raise InvalidSchedule("catch_up_limit goes with misfire 'catch_up'",
                              field="catch_up_limit")
    return misfire, limit


# Sherpa's RobotType: 0 or 2 one robot, 1 a robot group (kept as sent, for its dialect).
ROBOT_TYPES = {0: "robot_id", 1: "robot_group_id", 2: "robot_id"}


def check_targeting(robot_id: object, robot_group_id: object, robot_type: object) -> None:
    robot = check_count(robot_id, "robot_id", maximum=2**63 - 1)
    group = check_count(robot_group_id, "robot_group_id", maximum=2**63 - 1)
    if robot is not None and group is not None:
        raise InvalidSchedule("target one robot or one robot group, not both",
                              field="robot_group_id")
    if robot_type is None:
        return
    if not isinstance(robot_type, int) or isinstance(robot_type, bool) \
            or robot_type not in ROBOT_TYPES:
        raise InvalidSchedule("robot_type must be 0 or 2 (one robot) or 1 (a robot group)",
                              field="robot_type")
    needed = ROBOT_TYPES[robot_type]
    if (robot if needed == "robot_id" else group) is None:
        raise InvalidSchedule(f"robot_type {robot_type} needs {needed}", field=needed)
