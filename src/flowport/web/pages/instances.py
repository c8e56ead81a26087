"""Instances: the filterable list that refreshes itself, and an instance with its diagram,
variables, outputs, events, and the actions the caller's role allows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated

from fastapi import Query, Request, Response
from starlette.datastructures import FormData

from flowport.api.auth import Ctx
from flowport.api.errors import status_of
from flowport.api.native.schemas import MAX_ID
from flowport.domain.accounts import Principal
from flowport.domain.instances import HUMAN_TASK_TYPES, Instance, Status
from flowport.domain.processes import ContentKind, Version
from flowport.errors import FlowportError, NotFound
from flowport.services import cleanup, jobs, processes, steps, stopping
from flowport.services import instances as svc
from flowport.services.context import Context
from flowport.web.auth import Reader, Starter
from flowport.web.forms import Posted, read_data, text
from flowport.web.render import NavEntry, redirect, render
from flowport.web.routing import page_router

router = page_router()
NAV = NavEntry("Instances", "/instances", order=20)
PAGE_SIZE = 25
Short = Annotated[str | None, Query(max_length=255)]
# Waiting elements a person may complete here: their tasks, and service tasks whose result
# comes from outside. Timers and messages wait for their event instead.
COMPLETABLE = frozenset({*HUMAN_TASK_TYPES, "serviceTask"})
DONE = {"cancelled": "The instance was cancelled.", "completed": "The element was completed.",
        "started": "The instance was started.", "aborted": "The instance was aborted.",
        "stopping": "Stop requested: its robot ends the run gracefully.",
        "aborting": "Abort requested: its robot kills the run.",
        "deleting": "Delete started: its delete instance calls the delete hooks.",
        "deleted": "The instance was deleted: it no longer appears in lists."}
LOG_LINES = 500  # on the page; the API pages through the rest


@router.get("/instances")
def instances_page(request: Request, ctx: Ctx, who: Reader, process: Short = None,
                   status: Short = None, business_key: Short = None,
                   schedule: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                   cursor: Annotated[str | None, Query(max_length=1024)] = None) -> Response:
    query = svc.ListInstances(process_key=process or None, status=status or None,
                              business_key=business_key or None, cursor=cursor or None,
                              limit=PAGE_SIZE, schedule_id=schedule)
    page = svc.list_instances(ctx, who, query)
    return render(request, "instances.html", who, page=page, query=query,
                  statuses=[s.value for s in Status])


def _version(ctx: Context, who: Principal, key: str, number: int) -> Version | None:
    try:
        return processes.get_version(ctx, who, key, number)
    except NotFound:
        return None  # the process was deleted since; the instance stays readable


def instance_view(request: Request, ctx: Context, who: Principal, instance_id: str, *,
                  status: int = 200, message: str | None = None,
                  error: FlowportError | None = None, error_uid: str | None = None,
                  data: str = "") -> Response:
    instance = svc.get_instance(ctx, who, instance_id)
    elements = svc.list_elements(ctx, who, instance_id)
    events = svc.list_events(ctx, who, instance_id)
    version = _version(ctx, who, instance.process_key, instance.version_number)
    counts = Counter(e.element_id for e in elements)
    return render(request, "instance.html", who, status=status, instance=instance,
                  links=cleanup.links(ctx, who, instance),
                  steps=steps.list_steps(ctx, who, instance),
                  work=jobs.work_view(ctx, who, instance.id, LOG_LINES),
                  elements=elements, events=events, version=version, counts=counts,
                  diagram=version is not None and version.kind is ContentKind.BPMN,
                  message=message, error=error, error_uid=error_uid, data=data,
                  completable=COMPLETABLE,
                  live=not instance.status.is_final)


@router.get("/instances/{instance_id}")
def instance_page(request: Request, instance_id: str, ctx: Ctx, who: Reader,
                  done: Annotated[str | None, Query(max_length=32)] = None,
                  started: Annotated[str | None, Query(max_length=8)] = None) -> Response:
    message = DONE.get("started" if started else done or "")
    return instance_view(request, ctx, who, instance_id, message=message)


def _act(request: Request, ctx: Context, who: Principal, instance_id: str,
         action: Callable[[], Instance], done: Callable[[Instance], str]) -> Response:
    try:
        after = action()
    except FlowportError as exc:
        return instance_view(request, ctx, who, instance_id, status=status_of(exc), error=exc)
    return redirect(f"/instances/{instance_id}?done={done(after)}")


def _reason(form: FormData) -> str | None:
    return text(form, "reason").strip() or None


@router.post("/instances/{instance_id}/cancel")
def cancel_instance(request: Request, instance_id: str, ctx: Ctx, who: Starter,
                    form: Posted) -> Response:
    """Cancel a BPMN instance; stop a package instance gracefully (its robot ends the run)."""
    return _act(request, ctx, who, instance_id,
                lambda: svc.cancel_instance(ctx, who, instance_id, _reason(form)),
                lambda i: "stopping" if i.status is Status.STOPPING else "cancelled")


@router.post("/instances/{instance_id}/abort")
def abort_instance(request: Request, instance_id: str, ctx: Ctx, who: Starter,
                   form: Posted) -> Response:
    cmd = stopping.StopInstance(instance_id, _reason(form))
    return _act(request, ctx, who, instance_id, lambda: stopping.abort_instance(ctx, who, cmd),
                lambda i: "aborting" if i.status is Status.ABORTING else "aborted")


@router.post("/instances/{instance_id}/delete")
def delete_instance(request: Request, instance_id: str, ctx: Ctx, who: Starter) -> Response:
    return _act(request, ctx, who, instance_id,
                lambda: cleanup.delete_instance(ctx, who, instance_id),
                lambda i: "deleted" if i.deleted_at else "deleting")


@router.post("/instances/{instance_id}/elements/{uid}/complete")
def complete_element(request: Request, instance_id: str, uid: str, ctx: Ctx, who: Starter,
                     form: Posted) -> Response:
    try:
        svc.complete_element(ctx, who, svc.CompleteElement(instance_id, uid, read_data(form)))
    except FlowportError as exc:
        return instance_view(request, ctx, who, instance_id, status=status_of(exc), error=exc,
                             error_uid=uid, data=text(form, "data"))
    return redirect(f"/instances/{instance_id}?done=completed")
