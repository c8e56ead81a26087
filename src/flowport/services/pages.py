"""Page sizes. Every list takes a `limit` from 1 to 500 (the native routes declare that range in
their schema); FLOWPORT_MAX_PAGE_SIZE may lower the most a page holds, and a larger `limit` then
gets that many, with `next_cursor` for the rest, so clients that page keep working."""

from __future__ import annotations

from typing import Any

from flowport.errors import BadInput
from flowport.services.context import Context

MAX_LIMIT = 500


def page_limit(ctx: Context, limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return min(limit, ctx.settings.max_page_size)
