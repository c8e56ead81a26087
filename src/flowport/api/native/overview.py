"""/api/v1/overview and /api/v1/tasks: the dashboard's numbers and the task inbox."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from flowport.api.auth import Ctx, Reader
from flowport.api.native.schemas import instance_out, task_out
from flowport.services import overview as svc

router = APIRouter(tags=["overview"])


@router.get("/api/v1/overview")
def overview(ctx: Ctx, who: Reader) -> dict[str, Any]:
    """Live instances by status, failures of the last 24 hours, waiting user tasks."""
    seen = svc.overview(ctx, who)
    return {"instances_by_status": {s.value: n for s, n in seen.counts.items()},
            "recent_failures": [instance_out(i) for i in seen.failures],
            "waiting_tasks": seen.waiting_tasks}


@router.get("/api/v1/tasks")
def list_tasks(
    ctx: Ctx, who: Reader, process_key: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """User and manual tasks waiting for a person, oldest first; complete one with
    `POST /api/v1/elements/{uid}/complete`."""
    page = svc.list_tasks(ctx, who, svc.ListTasks(process_key, cursor, limit))
    return {"items": [task_out(t) for t in page.items], "next_cursor": page.next_cursor}
