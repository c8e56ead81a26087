"""Reading Sherpa request bodies (JSON, form-urlencoded, multipart) with keys matched after
lower-casing and dropping `_` (G3), and checking fields the contract's way (G4-G6, G10)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import UploadFile

from flowport.api.dialects.sherpa.faults import SherpaFault

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                  r"[0-9a-fA-F]{12}$")
DIGITS = re.compile(r"^\s*[+-]?\d{1,18}\s*$")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NAME, DESCRIPTION, MESSAGE, PARAMETERS = 255, 4000, 32768, 64 * 1024


@dataclass(frozen=True)
class File:
    name: str
    content: bytes


def norm(key: str) -> str:
    return key.lower().replace("_", "")


def _keyed(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            continue
        k = norm(key)
        if k in data:
            raise SherpaFault(400, "duplicate_field", f"{key} is sent twice (keys match "
                              f"whatever their case and underscores)", key)
        data[k] = value
    return data


async def read_body(request: Request) -> dict[str, Any]:
    """The body's fields by normalized key; GET bodies are ignored."""
    if request.method == "GET":
        return {}
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not raw and kind != "multipart/form-data":
        return {}
    if kind == "application/json":
        try:
            parsed = json.loads(raw, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise SherpaFault(400, "invalid_body", "the body is not JSON") from None
        if not isinstance(parsed, dict):
            raise SherpaFault(400, "invalid_body", "the body must be a JSON object")
        return _keyed(list(parsed.items()))
    if kind == "application/x-www-form-urlencoded":
        try:
            return _keyed(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise SherpaFault(400, "invalid_body", "the form is not UTF-8") from None
    if kind == "multipart/form-data":
        try:
            form = await request.form()
        except Exception:  # Starlette raises its own and multipart's parse errors
            raise SherpaFault(400, "invalid_body", "the multipart body does not parse") \
                from None
        pairs: list[tuple[str, Any]] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                pairs.append((key, File(value.filename or "", await value.read())))
            else:
                pairs.append((key, value))
        return _keyed(pairs)
    raise SherpaFault(400, "unsupported_content_type",
                      "send JSON, form-urlencoded or multipart")


def missing(field: str) -> SherpaFault:
    return SherpaFault(422, "missing_field", f"{field} is required", field)


def invalid(field: str, message: str) -> SherpaFault:
    return SherpaFault(422, "invalid_value", f"{field}: {message}", field)


def check_guid(value: Any, field: str) -> str:
    if not isinstance(value, str) or not GUID.match(value.strip()):
        raise SherpaFault(400, "malformed_guid", f"{field} must be a GUID "
                          f"(8-4-4-4-12 hex digits)", field)
    return value.strip().lower()


class Fields:
    """One body's fields, read by their contract names."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def has(self, name: str) -> bool:
        return norm(name) in self.data

    def raw(self, name: str) -> Any:
        return self.data.get(norm(name))

    def _present(self, name: str, required: bool) -> bool:
        value = self.raw(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise missing(name)
            return False
        return True

    def guid(self, name: str, *, required: bool = False) -> str | None:
        return check_guid(self.raw(name), name) if self._present(name, required) else None

    def text(self, name: str, *, limit: int = NAME, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise missing(name)
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise SherpaFault(422, "invalid_type", f"{name} must be text", name)
        text = str(value)
        if required and not text.strip():
            raise missing(name)
        if len(text) > limit:
            raise SherpaFault(422, "too_long", f"{name} holds at most {limit} characters",
                              name)
        if "\x00" in text:
            raise invalid(name, "holds a NUL character")
        return text

    def integer(self, name: str, allowed: range | None = None, *,
                required: bool = False) -> int | None:
        if not self.has(name) or self.raw(name) == "":
            if required:
                raise missing(name)
            return None
        value = self.raw(name)
        if isinstance(value, bool) or not (isinstance(value, int) or (
                isinstance(value, str) and DIGITS.match(value))):
            raise SherpaFault(422, "invalid_type", f"{name} must be an integer", name)
        number = int(value)
        if allowed is not None and number not in allowed:
            raise invalid(name, f"must be from {allowed.start} to {allowed.stop - 1}")
        return number

    def time(self, name: str) -> datetime | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        try:
            return datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise invalid(name, "must be a time like 2030-01-01 00:00:00 (UTC)") from None

    def file(self, name: str) -> File | None:
        value = self.raw(name)
        return value if isinstance(value, File) else None


def path_guid(value: str, field: str = "guid") -> str:
    return check_guid(value, field)


def moment(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime(TIME_FORMAT) if value else None


def unix(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0
