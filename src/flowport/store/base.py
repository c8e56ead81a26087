"""What every query module shares: the open connection, pages and cursors."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from flowport.errors import BadInput


class Duplicate(Exception):
    """A write broke a uniqueness rule (two racing requests with one idempotency key, say)."""


Savepoint = sa.NestedTransaction


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise BadInput("cursor is not one this server gave out", field="cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise BadInput("cursor is not one this server gave out", field="cursor")
    return values


class Queries:
    """Base of the query groups that make up a transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn


def decode_seq_cursor(cursor: str) -> int:
    """A cursor that holds one row number (lists ordered newest first)."""
    (seq,) = decode_cursor(cursor, 1)
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise BadInput("cursor is not one this server gave out", field="cursor")
    return seq
