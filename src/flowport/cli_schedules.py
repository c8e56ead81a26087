"""`flowport schedules ...`: schedules through the native API (see `flowport.client`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from flowport.cli_common import Remote, emit, parse_pairs

F = TypeVar("F", bound=Callable[..., Any])
CLEARABLE = ("cron", "version", "start_at", "end_at", "window", "calendar", "max_runs",
             "max_concurrency", "catch_up_limit", "stop_after", "abort_after", "robot_id",
             "robot_group_id", "robot_type")


def _options(command: F) -> F:
    """The fields of a schedule, for `create` and `update` alike."""
    options = [
        click.option("--cron", help="5 fields (minute hour day month weekday), or 6 with a "
                                    "leading seconds field: '0 9 * * mon-fri'."),
        click.option("--timezone", "--tz", "timezone", help="IANA zone [default: UTC]."),
        click.option("--continuous/--not-continuous", default=None,
                     help="Start the next run as soon as the previous one ends (no cron)."),
        click.option("--version", type=int, help="Pin a version (default: the current one)."),
        click.option("--name"),
        click.option("--description"),
        click.option("--var", "-v", "pairs", multiple=True, metavar="NAME=VALUE",
                     help="A variable of each instance; VALUE is JSON when it parses. "
                          "Repeatable."),
        click.option("--json-vars", metavar="JSON", help="Variables as one JSON object."),
        click.option("--enable/--disable", "enabled", default=None),
        click.option("--start-at", metavar="ISO", help="First instant it may fire, with an "
                                                       "offset: 2026-01-05T00:00:00Z."),
        click.option("--end-at", metavar="ISO", help="It fires only before this instant."),
        click.option("--window", metavar="HH:MM-HH:MM",
                     help="Only within these hours of each day, on the zone's clock."),
        click.option("--calendar", "calendar", multiple=True, metavar="YYYY-MM-DD",
                     help="A non-working day: no runs then. Repeatable."),
        click.option("--max-runs", type=int, help="Stop after this many runs."),
        click.option("--max-concurrency", type=int,
                     help="Skip a fire time while this many runs are unfinished."),
        click.option("--misfire", type=click.Choice(["skip", "run_once", "catch_up"]),
                     help="Fire times missed while down: skip (default), one run, or one "
                          "each (up to --catch-up-limit)."),
        click.option("--catch-up-limit", type=int),
        click.option("--stop-after", type=int, metavar="SECONDS",
                     help="Stop each run this long after it starts."),
        click.option("--abort-after", type=int, metavar="SECONDS",
                     help="Abort each run this long after it starts."),
        click.option("--robot-id", type=int),
        click.option("--robot-group-id", type=int),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _fields(pairs: tuple[str, ...], json_vars: str | None, window: str | None,
            calendar: tuple[str, ...], **given: Any) -> dict[str, Any]:
    """The API fields of the options that were given."""
    fields = {name: value for name, value in given.items() if value is not None}
    if pairs or json_vars:
        fields["variables"] = parse_pairs(pairs, json_vars, "--var/--json-vars")
    if window is not None:
        start, sep, end = window.partition("-")
        if not sep:
            raise click.BadParameter("must be HH:MM-HH:MM", param_hint="--window")
        fields["window"] = {"start": start.strip(), "end": end.strip()}
    if calendar:
        fields["calendar"] = list(calendar)
    return fields


@click.group()
def schedules() -> None:
    """Schedules: start a process on a cron or continuously, within windows and limits."""


@schedules.command("list")
@click.option("--process", "process_key", help="Only schedules of this process key.")
@click.option("--enabled/--disabled", default=None, help="Only enabled (disabled) ones.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@click.pass_obj
def list_schedules(remote: Remote, process_key: str | None, enabled: bool | None, limit: int,
                   cursor: str | None) -> None:
    """List schedules, newest first: {items, next_cursor}."""
    with remote.client() as api:
        emit(api.list_schedules(process_key, enabled, cursor, limit))


@schedules.command("create")
@click.argument("process_key")
@_options
@click.pass_obj
def create(remote: Remote, process_key: str, **options: Any) -> None:
    """Schedule process PROCESS_KEY (give --cron, or --continuous) and print the schedule."""
    with remote.client() as api:
        emit(api.create_schedule(process_key, **_fields(**options)))


@schedules.command("show")
@click.argument("schedule_id", type=int)
@click.option("--count", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many next fire times and history lines.")
@click.pass_obj
def show(remote: Remote, schedule_id: int, count: int) -> None:
    """A schedule, its next fire times and its latest history."""
    with remote.client() as api:
        emit({"schedule": api.get_schedule(schedule_id),
              "upcoming": api.upcoming(schedule_id, count),
              "runs": api.schedule_runs(schedule_id, limit=min(count, 500))["items"]})


@schedules.command("update")
@click.argument("schedule_id", type=int)
@click.option("--process", "process_key", help="Schedule another process.")
@_options
@click.option("--clear", "cleared", multiple=True, type=click.Choice(CLEARABLE),
              help="Remove an optional setting. Repeatable.")
@click.pass_obj
def update(remote: Remote, schedule_id: int, cleared: tuple[str, ...], **options: Any) -> None:
    """Change the given settings of a schedule; the others stay."""
    changes = _fields(**options)
    changes.update(dict.fromkeys(cleared))
    if not changes:
        raise click.UsageError("nothing to change: give an option, or --clear FIELD")
    with remote.client() as api:
        emit(api.update_schedule(schedule_id, **changes))


@schedules.command("delete")
@click.argument("schedule_id", type=int)
@click.pass_obj
def delete(remote: Remote, schedule_id: int) -> None:
    """Delete a schedule; the instances it started stay."""
    with remote.client() as api:
        api.delete_schedule(schedule_id)
    emit({"deleted": schedule_id})


@schedules.command("upcoming")
@click.argument("schedule_id", type=int)
@click.option("--count", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.pass_obj
def upcoming(remote: Remote, schedule_id: int, count: int) -> None:
    """The next fire times (UTC)."""
    with remote.client() as api:
        emit(api.upcoming(schedule_id, count))


@schedules.command("runs")
@click.argument("schedule_id", type=int)
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@click.pass_obj
def runs(remote: Remote, schedule_id: int, limit: int, cursor: str | None) -> None:
    """What each fire time became, newest first: started, skipped (and why) or failed."""
    with remote.client() as api:
        emit(api.schedule_runs(schedule_id, cursor, limit))
