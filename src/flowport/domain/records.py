"""The record store: JSON documents in an account's named entities."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Record:
    entity: str
    id: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RecordAccess(Protocol):
    """What a script task sees of the record store: bound to one account and one transaction,
    so a script's writes commit or roll back with the step that made them."""

    def list(self, entity: str) -> list[dict[str, Any]]: ...

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None: ...

    def add(self, entity: str, data: dict[str, Any]) -> str: ...

    def put(self, entity: str, record_id: str, data: dict[str, Any]) -> None: ...

    def delete(self, entity: str, record_id: str) -> bool: ...

    def scope(self) -> AbstractContextManager[None]:
        """One script's unit of work: its writes are undone if the block raises, so a failed
        script leaves no half of its effects behind."""
        ...
