"""/api/v1/schedules: schedules that start instances on a cron, continuously, within windows
and limits; their next fire times and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from flowport.api.auth import Ctx, Reader, Starter
from flowport.api.native.schemas import Body, RowId, when
from flowport.domain.schedules import MAX_CALENDAR_DAYS, MAX_UPCOMING, Schedule, ScheduleRun
from flowport.services import schedules as svc

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])

class WindowIn(Body):
    start: str = Field(max_length=8, description="'HH:MM' or 'HH:MM:SS' on the wall clock")
    end: str = Field(max_length=8, description="exclusive; '24:00' is the end of the day")


class ScheduleFields(Body):
    """The fields of a schedule; PATCH takes any of them."""

    version: int | None = None
    cron: str | None = Field(
        default=None, max_length=255,
        description="5 fields (minute hour day month weekday), or 6 with leading seconds")
    timezone: str = Field(default="UTC", max_length=64, description="IANA name")
    continuous: bool = False
    name: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=4000)
    variables: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    start_at: datetime | None = None
    end_at: datetime | None = None
    window: WindowIn | None = None
    calendar: list[str] | None = Field(default=None, max_length=MAX_CALENDAR_DAYS,
                                       description="non-working days, 'YYYY-MM-DD'")
    max_runs: int | None = None
    max_concurrency: int | None = None
    misfire: str = Field(default="skip", max_length=16,
                         description="skip | run_once | catch_up")
    catch_up_limit: int | None = None
    stop_after: int | None = Field(default=None, description="seconds")
    abort_after: int | None = Field(default=None, description="seconds")
    robot_id: int | None = None
    robot_group_id: int | None = None
    robot_type: int | None = Field(default=None, description="0 or 2: one robot; 1: a group")


class ScheduleIn(ScheduleFields):
    process_key: str = Field(max_length=128)


class SchedulePatch(ScheduleFields):
    process_key: str | None = Field(default=None, max_length=128)


def schedule_out(s: Schedule) -> dict[str, Any]:
    timing = s.timing
    return {
        "id": s.id, "guid": s.guid, "name": s.name, "description": s.description,
        "process_key": s.process_key, "version": s.version, "enabled": s.enabled,
        "continuous": s.continuous, "cron": s.cron, "timezone": s.timezone,
        "variables": s.variables, "start_at": when(timing.start_at),
        "end_at": when(timing.end_at),
        "window": timing.window.to_dict() if timing.window else None,
        "calendar": sorted(day.isoformat() for day in timing.calendar),
        "max_runs": s.max_runs, "max_concurrency": s.max_concurrency, "misfire": s.misfire.value,
        "catch_up_limit": s.catch_up_limit, "stop_after": s.stop_after,
        "abort_after": s.abort_after, "robot_id": s.robot_id,
        "robot_group_id": s.robot_group_id, "robot_type": s.robot_type, "runs": s.runs,
        "next_fire_at": when(s.next_fire_at), "created_by": s.created_by,
        "created_at": when(s.created_at), "updated_at": when(s.updated_at),
    }


def run_out(r: ScheduleRun) -> dict[str, Any]:
    return {"fire_time": when(r.fire_time), "at": when(r.at), "outcome": r.outcome.value,
            "reason": r.reason, "instance_id": r.instance_id, "detail": r.detail}


@router.post("", status_code=201)
def create_schedule(body: ScheduleIn, ctx: Ctx, who: Starter) -> JSONResponse:
    cmd = svc.CreateSchedule(**body.model_dump(exclude_unset=True))
    schedule = svc.create_schedule(ctx, who, cmd)
    return JSONResponse(schedule_out(schedule), status_code=201,
                        headers={"Location": f"/api/v1/schedules/{schedule.id}"})


@router.get("")
def list_schedules(
    ctx: Ctx, who: Reader, process_key: Annotated[str | None, Query(max_length=128)] = None,
    enabled: bool | None = None, cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    page = svc.list_schedules(ctx, who, svc.ListSchedules(process_key, enabled, cursor, limit))
    return {"items": [schedule_out(s) for s in page.items], "next_cursor": page.next_cursor}


@router.get("/{schedule_id}")
def get_schedule(schedule_id: RowId, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return schedule_out(svc.get_schedule(ctx, who, schedule_id))


@router.patch("/{schedule_id}")
def update_schedule(schedule_id: RowId, body: SchedulePatch, ctx: Ctx,
                    who: Starter) -> dict[str, Any]:
    cmd = svc.UpdateSchedule(body.model_dump(exclude_unset=True))
    return schedule_out(svc.update_schedule(ctx, who, schedule_id, cmd))


@router.delete("/{schedule_id}", status_code=204)
def delete_schedule(schedule_id: RowId, ctx: Ctx, who: Starter) -> Response:
    svc.delete_schedule(ctx, who, schedule_id)
    return Response(status_code=204)


@router.get("/{schedule_id}/upcoming")
def upcoming(schedule_id: RowId, ctx: Ctx, who: Reader,
             count: Annotated[int, Query(ge=1, le=MAX_UPCOMING)] = 10) -> dict[str, Any]:
    """The next `count` fire times (none for a continuous or disabled schedule)."""
    return {"items": [when(t) for t in svc.upcoming(ctx, who, schedule_id, count)]}


@router.get("/{schedule_id}/runs")
def list_runs(schedule_id: RowId, ctx: Ctx, who: Reader,
              cursor: Annotated[str | None, Query(max_length=1024)] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """What each fire time became, newest first: started (with its instance), skipped (with
    the reason: window, calendar, misfire, max_concurrency) or failed (with the error)."""
    page = svc.list_runs(ctx, who, schedule_id, cursor, limit)
    return {"items": [run_out(r) for r in page.items], "next_cursor": page.next_cursor}
