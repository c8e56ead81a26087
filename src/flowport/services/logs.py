"""An instance's log, read from a line on: Studio's job log, natively /api/v1/instances/{id}/log."""

from __future__ import annotations

from flowport.domain.accounts import Permission, Principal
from flowport.domain.logs import log_line
from flowport.domain.processes import MAX_ROW_ID
from flowport.errors import BadInput
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.services.instances import get_instance


def read_log(ctx: Context, who: Principal, instance_id: str, start: int = 0) -> list[str]:
    """The log lines from the 0-based line `start` on; none when there is nothing new."""
    require(who, Permission.READ)
    if start < 0:
        raise BadInput("the first line is 0 or more", field="row")
    instance = get_instance(ctx, who, instance_id)
    if start > MAX_ROW_ID:
        return []
    with ctx.store.transaction(write=False) as tx:
        return [log_line(e) for e in tx.list_events(instance, skip=start)]
