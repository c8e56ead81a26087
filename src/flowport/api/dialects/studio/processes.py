"""/api/process/process/: the process collection (list, create, batch delete) and its items."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from flowport.api.auth import context
from flowport.api.dialects.studio.access import Deployer, Reader, endpoint
from flowport.api.dialects.studio.bodies import Fields, integer, pairs_to_data, read_data
from flowport.api.dialects.studio.faults import NOT_FOUND, StudioError, translated
from flowport.domain.processes import Process, row_number
from flowport.services import processes as svc

COLLECTION = "/api/process/process"
# Studio's names of the fields a list may be ordered by, and the core's.
ORDER_FIELDS = {"id": "id", "name": "name", "ctime": "created_at", "utime": "updated_at",
                "cuser": "created_by"}
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 10, 100
PAGE = re.compile(r"\s*\d{1,15}\s*")  # beyond 15 digits no page can exist
MAX_BATCH = 1000
NAME, PROJECT, MARK = 100, 255, 500  # field limits (contract §2)


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def process_out(p: Process) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "cuser": p.created_by, "user": p.creator or "",
            "ctime": seconds(p.created_at), "utime": seconds(p.updated_at),
            "project": p.project, "mark": p.description}


def path_id(raw: str) -> int:
    """The id in a path; anything that is not a positive integer names nothing."""
    number = row_number(raw)
    if not number:
        raise StudioError(404, NOT_FOUND)
    return number


def ordering(raw: str | None) -> tuple[str, ...]:
    """DRF's OrderingFilter: unknown fields are dropped; with none left, the default."""
    kept = []
    for term in (raw or "").split(","):
        term = term.strip()
        field = ORDER_FIELDS.get(term.removeprefix("-"))
        if field:
            kept.append(("-" if term.startswith("-") else "") + field)
    return tuple(kept) or ("-id",)


def page_size(raw: str | None) -> int:
    """DRF's page_size: a positive integer capped at the maximum; anything else the default."""
    size = integer(raw) if raw is not None and len(raw) < 20 else None
    if size is None or size <= 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


@endpoint("GET", COLLECTION)
async def list_processes(request: Request, who: Reader) -> JSONResponse:
    query = request.query_params
    size = page_size(query.get("page_size"))
    raw_page = query.get("page", "1")
    if not PAGE.fullmatch(raw_page) or int(raw_page) < 1:
        raise StudioError(404, "Invalid page.")
    number = int(raw_page)
    find = svc.FindProcesses(name_contains=query.get("name") or None,
                             sort=ordering(query.get("ordering")),
                             offset=(number - 1) * size, limit=size)
    with translated():
        found = await run_in_threadpool(svc.find_processes, context(request), who, find)
    if number > 1 and not found.items:
        raise StudioError(404, "Invalid page.")
    url = request.url
    following = (str(url.include_query_params(page=number + 1))
                 if find.offset + len(found.items) < found.total else None)
    previous = None
    if number > 1:
        previous = str(url.remove_query_params("page") if number == 2
                       else url.include_query_params(page=number - 1))
    return JSONResponse({"count": found.total, "next": following, "previous": previous,
                         "results": [process_out(p) for p in found.items]})


@endpoint("POST", COLLECTION)
async def create_process(request: Request, who: Deployer) -> JSONResponse:
    fields = Fields(await read_data(request))
    fields.text("name", limit=NAME, required=True)
    fields.text("project", limit=PROJECT, required=True)
    fields.text("mark", limit=MARK, allow_blank=True)
    values = fields.check()
    cmd = svc.CreateProcess(key=None, name=values["name"], project=values["project"],
                            description=values.get("mark", ""))
    with translated():
        process = await run_in_threadpool(svc.create_process, context(request), who, cmd)
    return JSONResponse(process_out(process), status_code=201)


def batch_ids(data: dict[str, Any]) -> list[int]:
    """The ids of `pk` ("1001,1002") and `pk[]` ([1001, 1002]) together."""
    raw: list[Any] = []
    pk = data.get("pk")
    if isinstance(pk, str):
        raw += pk.split(",")
    elif isinstance(pk, list):
        raw += pk
    elif pk is not None:
        raw.append(pk)
    items = data.get("pk[]")
    if items is not None:
        raw += items if isinstance(items, list) else [items]
    raw = [r.strip() if isinstance(r, str) else r for r in raw]
    raw = [r for r in raw if r != ""]
    if not raw:
        raise StudioError(400, "pk or pk[] is required")
    if len(raw) > MAX_BATCH:
        raise StudioError(400, f"at most {MAX_BATCH} ids at once")
    ids = []
    for item in raw:
        number = integer(item)
        if number is None:
            raise StudioError(400, f"pk holds integer ids; {str(item)[:50]!r} is not one")
        ids.append(number)
    return ids


@endpoint("DELETE", COLLECTION)
async def delete_processes(request: Request, who: Deployer) -> Response:
    data = await read_data(request)
    if "pk" not in data and "pk[]" not in data:
        # For clients that cannot send a body with DELETE.
        data = pairs_to_data(parse_qsl(request.url.query, keep_blank_values=True))
    ids = batch_ids(data)
    with translated():
        await run_in_threadpool(svc.delete_processes, context(request), who, ids)
    return Response(status_code=204)


ITEM = COLLECTION + "/{pk}"  # DRF's name for it; Activiti's {id} is another thing


@endpoint("GET", ITEM)
async def get_process(pk: str, request: Request, who: Reader) -> JSONResponse:
    number = path_id(pk)
    with translated():
        process = await run_in_threadpool(svc.get_process, context(request), who, number)
    return JSONResponse(process_out(process))


async def _update(pk: str, request: Request, who: Deployer) -> JSONResponse:
    """PUT and PATCH alike: every field is optional (the source says so for both)."""
    number = path_id(pk)
    fields = Fields(await read_data(request))
    fields.text("name", limit=NAME)
    fields.text("project", limit=PROJECT)
    fields.text("mark", limit=MARK, allow_blank=True)
    values = fields.check()
    cmd = svc.UpdateProcess(name=values.get("name"), project=values.get("project"),
                            description=values.get("mark"),
                            sent=frozenset({"mark": "description"}.get(k, k) for k in values))
    with translated():
        process = await run_in_threadpool(svc.update_process, context(request), who, number,
                                          cmd)
    return JSONResponse(process_out(process))


endpoint("PUT", ITEM)(_update)
endpoint("PATCH", ITEM)(_update)


@endpoint("DELETE", ITEM)
async def delete_process(pk: str, request: Request, who: Deployer) -> Response:
    number = path_id(pk)
    with translated(UnknownIds=NOT_FOUND):
        await run_in_threadpool(svc.delete_process, context(request), who, number)
    return Response(status_code=204)
