"""Cron expressions and the instants they name in a time zone.

An expression has the five standard fields (minute hour day-of-month month day-of-week) or six
with a leading seconds field. Each field takes `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n`
and `a/n` (= `a-max/n`), and comma lists; months and weekdays also take English three-letter
names, and weekday 7 is Sunday like 0. As in Vixie cron, when both day fields are restricted
(neither starts with `*`) a day matches if EITHER matches. `@yearly`, `@monthly`, `@weekly`,
`@daily` and `@hourly` are shorthands. Quartz extras (`?`, `L`, `W`, `#`) are refused.

Daylight saving time. Matching is done on the wall clock of the schedule's zone; the wall clock
is then turned into UTC instants by two rules, so that no run is lost or doubled:

- A wall time that does not exist (skipped by a spring-forward change) fires at the first
  instant after the gap; several such times collapse into that one instant.
- A wall time that exists twice (repeated by a fall-back change) fires once, at its first
  occurrence, unless the hour field matches every hour: such a schedule keeps its rhythm in
  real time and fires in both passes of the repeated hour.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flowport.errors import InvalidSchedule

# How far ahead a search looks before it decides an expression never matches again: eight
# years covers February 29 in every century.
HORIZON_YEARS = 9
SECOND = timedelta(seconds=1)

_MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}
# (name, lowest, highest, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}), ("minute", 0, 59, {}), ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _WEEKDAYS),
)


def _bad(message: str) -> InvalidSchedule:
    return InvalidSchedule(message, field="cron")


def _number(text: str, lo: int, hi: int, names: dict[str, int], what: str) -> int:
    value = names.get(text)
    if value is None:
        if not text.isdecimal():
            raise _bad(f"{what} field: {text!r} is not a number")
        value = int(text)
    if not lo <= value <= hi:
        raise _bad(f"{what} field: {value} is outside {lo}-{hi}")
    return value


def _field(text: str, lo: int, hi: int, names: dict[str, int], what: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdecimal() or not 1 <= int(step_text) <= hi:
                raise _bad(f"{what} field: step {step_text!r} must be a number from 1 to {hi}")
            step = int(step_text)
        if base == "*":
            first, last = lo, hi
        elif "-" in base:
            left, _, right = base.partition("-")
            first = _number(left, lo, hi, names, what)
            last = _number(right, lo, hi, names, what)
            if first > last:
                raise _bad(f"{what} field: range {base!r} runs backwards")
        elif base:
            first = _number(base, lo, hi, names, what)
            last = hi if slash else first
        else:
            raise _bad(f"{what} field: empty item in {text!r}")
        values.update(range(first, last + 1, step))
    return tuple(sorted(values))


@dataclass(frozen=True)
class Cron:
    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: frozenset[int]  # 0 = Sunday
    days_star: bool
    weekdays_star: bool

    @property
    def every_hour(self) -> bool:
        """The hour field matches every hour: such a schedule fires in both passes of a
        repeated (fall-back) hour."""
        return len(self.hours) == 24

    def day_matches(self, day: date) -> bool:
        in_month = day.day in self.days
        in_week = day.isoweekday() % 7 in self.weekdays
        if self.days_star or self.weekdays_star:
            return in_month and in_week
        return in_month or in_week

    def _time_from(self, start: time) -> time | None:
        """The first matching time of day at or after `start`."""
        for hour in self.hours[bisect_left(self.hours, start.hour):]:
            same_hour = hour == start.hour
            minutes = self.minutes[bisect_left(self.minutes, start.minute):] if same_hour \
                else self.minutes
            for minute in minutes:
                same_minute = same_hour and minute == start.minute
                seconds = self.seconds[bisect_left(self.seconds, start.second):] \
                    if same_minute else self.seconds
                if seconds:
                    return time(hour, minute, seconds[0])
        return None

    def next_wall(self, start: datetime) -> datetime | None:
        """The first matching wall time (naive, whole seconds) at or after `start`, or None
        within the search horizon."""
        if start.microsecond:
            start = start.replace(microsecond=0) + SECOND
        last_year = min(start.year + HORIZON_YEARS, 9999)
        for year in range(start.year, last_year + 1):
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                first_day = start.day if (year, month) == (start.year, start.month) else 1
                for day_number in range(first_day, calendar.monthrange(year, month)[1] + 1):
                    day = date(year, month, day_number)
                    if not self.day_matches(day):
                        continue
                    at = self._time_from(start.time() if day == start.date() else time.min)
                    if at is not None:
                        return datetime.combine(day, at)
        return None


def parse_cron(text: object) -> Cron:
    """Parse a cron expression or raise InvalidSchedule naming the `cron` field."""
    if not isinstance(text, str) or not text.strip():
        raise _bad("cron must be a cron expression such as '0 9 * * 1-5'")
    if len(text) > 255:
        raise _bad("cron is longer than 255 characters")
    source = " ".join(text.split())
    expanded = _MACROS.get(source.lower(), source.lower())
    if expanded.startswith("@"):
        raise _bad(f"unknown shorthand {source!r}; known: {', '.join(_MACROS)}")
    parts = expanded.split(" ")
    if len(parts) == 5:
        parts = ["0", *parts]
    elif len(parts) != 6:
        raise _bad(f"cron has {len(parts)} fields; it needs 5 (minute hour day-of-month month "
                   "day-of-week) or 6 with a leading seconds field")
    values = [_field(part, lo, hi, names, what)
              for part, (what, lo, hi, names) in zip(parts, _FIELDS, strict=True)]
    cron = Cron(
        text=source, seconds=values[0], minutes=values[1], hours=values[2], days=values[3],
        months=values[4], weekdays=frozenset(d % 7 for d in values[5]),
        days_star=parts[3].startswith("*"), weekdays_star=parts[5].startswith("*"),
    )
    if cron.next_wall(datetime(2000, 1, 1)) is None:
        raise _bad(f"cron {source!r} never matches a real date")
    return cron


def zone(name: object) -> ZoneInfo:
    """An IANA time zone, or InvalidSchedule naming the `timezone` field."""
    if not isinstance(name, str) or not name or len(name) > 64 or name.startswith("/") \
            or ".." in name:
        raise InvalidSchedule("timezone must be an IANA time zone name such as 'Europe/Berlin'",
                              field="timezone")
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise InvalidSchedule(f"unknown time zone {name!r}", field="timezone") from None


# -- wall clock to instants -------------------------------------------------------------------


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock reading of `instant` in `tz`."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def _change_within(tz: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first whole second in (lo, hi] whose offset differs from lo's; the caller knows
    there is one."""
    base = _offset(lo, tz)
    low = int(lo.timestamp() // 1)
    high = -int(-hi.timestamp() // 1)
    while high - low > 1:
        mid = (low + high) // 2
        if _offset(datetime.fromtimestamp(mid, UTC), tz) == base:
            low = mid
        else:
            high = mid
    return datetime.fromtimestamp(high, UTC)


def changes(tz: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    """The instants in (after, until] where the zone's UTC offset changes. Probes a day at a
    time: no real zone changes its offset twice within one day."""
    lo = after
    while lo < until:
        hi = min(lo + timedelta(days=1), until)
        if _offset(hi, tz) != _offset(lo, tz):
            hi = _change_within(tz, lo, hi)
            yield hi
        lo = hi


def resolve(moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime | None]:
    """The UTC instants at which the wall clock of `tz` reads `moment` (naive): the first, and
    the second for a repeated wall time. A wall time inside a gap resolves to the instant the
    gap ends."""
    early = moment.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = moment.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return early, None
    if early < late:  # repeated: fold 0 is the first pass
        return early, late
    # In a gap fold 0 reads with the offset from before the change, which lands after it.
    return _change_within(tz, late, early), None


def _first_pass(cron: Cron, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first instant after `after` at which a matching wall time is first seen."""
    start = wall(after, tz).replace(microsecond=0) + SECOND
    while (moment := cron.next_wall(start)) is not None:
        first, second = resolve(moment, tz)
        if first > after:
            return first
        # `after` lies in the second pass of a repeated hour, and so does `moment`'s first
        # occurrence: go on from the end of the repeated wall times.
        start = moment + SECOND
        if second is not None:
            change = _change_within(tz, first, second)
            start = max(start, (change + _offset(first, tz)).replace(tzinfo=None))
    return None


def _second_pass(cron: Cron, tz: ZoneInfo, after: datetime, until: datetime) -> datetime | None:
    """The first instant in (after, until] at which a repeated wall time is seen again."""
    for change in changes(tz, after - timedelta(days=1), until):
        before, now = _offset(change - SECOND, tz), _offset(change, tz)
        if now >= before or change + (before - now) <= after:
            continue
        start = max(change, after.replace(microsecond=0) + SECOND)
        moment = cron.next_wall(wall(start, tz))
        if moment is not None and moment < (change + before).replace(tzinfo=None):
            return moment.replace(tzinfo=UTC) - now
    return None


def next_instant(cron: Cron, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first fire instant of `cron` in `tz` strictly after `after` (aware), or None within
    the search horizon. See the module notes for the daylight-saving rules."""
    found = _first_pass(cron, tz, after)
    if cron.every_hour:
        until = found or after + timedelta(days=366 * HORIZON_YEARS)
        again = _second_pass(cron, tz, after, until)
        if again is not None and (found is None or again < found):
            found = again
    return found
