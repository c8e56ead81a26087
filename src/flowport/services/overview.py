"""Views across an account's instances: the dashboard's numbers and the task inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flowport.domain.accounts import Permission, Principal
from flowport.domain.instances import Instance, Status
from flowport.errors import BadInput
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.services.processes import process_filter
from flowport.store import Page

FAILURE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Overview:
    counts: dict[Status, int]  # live instances by status; absent statuses count 0
    failures: list[Instance]  # failed within FAILURE_WINDOW, newest first
    waiting_tasks: int


def overview(ctx: Context, who: Principal, failures: int = 10) -> Overview:
    require(who, Permission.READ)
    since = ctx.clock.now() - FAILURE_WINDOW
    with ctx.store.transaction(write=False) as tx:
        counts = tx.count_instances_by_status(who.account_id)
        recent = tx.list_failures_since(who.account_id, since, failures)
        waiting = tx.count_waiting_tasks(who.account_id)
    return Overview({s: counts.get(s, 0) for s in Status}, recent, waiting)


@dataclass(frozen=True)
class ListTasks:
    process_key: str | None = None
    cursor: str | None = None
    limit: int = 50


def list_tasks(ctx: Context, who: Principal, query: ListTasks) -> Page:
    """The account's inbox: user and manual tasks waiting for a person, oldest first."""
    require(who, Permission.READ)
    if not 1 <= query.limit <= ctx.settings.max_page_size:
        raise BadInput(f"limit must be 1 to {ctx.settings.max_page_size}", field="limit")
    with ctx.store.transaction(write=False) as tx:
        process_id = process_filter(tx, who, query.process_key)
        return tx.list_waiting_tasks(who.account_id, process_id=process_id,
                                     cursor=query.cursor, limit=query.limit)
