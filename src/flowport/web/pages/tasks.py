"""The task inbox: user and manual tasks of the account waiting for a person."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request, Response

from flowport.api.auth import Ctx
from flowport.api.errors import status_of
from flowport.domain.accounts import Principal
from flowport.errors import FlowportError
from flowport.services import instances as run
from flowport.services import overview as svc
from flowport.services.context import Context
from flowport.web.auth import Reader, Starter
from flowport.web.forms import Posted, read_data, text
from flowport.web.render import NavEntry, redirect, render
from flowport.web.routing import page_router

router = page_router()
NAV = NavEntry("Tasks", "/tasks", order=30)
PAGE_SIZE = 50


def _inbox(request: Request, ctx: Context, who: Principal, *, process: str | None = None,
           cursor: str | None = None, status: int = 200, done: str | None = None,
           error: FlowportError | None = None, error_uid: str | None = None,
           data: str = "") -> Response:
    page = svc.list_tasks(ctx, who, svc.ListTasks(process or None, cursor or None, PAGE_SIZE))
    return render(request, "tasks.html", who, status=status, page=page, process=process or "",
                  done=done, error=error, error_uid=error_uid, data=data)


@router.get("/tasks")
def tasks_page(request: Request, ctx: Ctx, who: Reader,
               process: Annotated[str | None, Query(max_length=128)] = None,
               cursor: Annotated[str | None, Query(max_length=1024)] = None,
               done: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    try:
        done = str(uuid.UUID(done)) if done else None
    except ValueError:
        done = None
    return _inbox(request, ctx, who, process=process, cursor=cursor, done=done)


@router.post("/tasks/{uid}/complete")
def complete_task(request: Request, uid: str, ctx: Ctx, who: Starter,
                  form: Posted) -> Response:
    try:
        done = run.complete_element(ctx, who, run.CompleteElement(None, uid, read_data(form)))
    except FlowportError as exc:
        return _inbox(request, ctx, who, status=status_of(exc), error=exc, error_uid=uid,
                      data=text(form, "data"))
    return redirect(f"/tasks?done={done.instance.id}")
