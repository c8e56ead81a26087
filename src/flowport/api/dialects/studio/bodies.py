"""Reading Studio request bodies (JSON, form-urlencoded, multipart) and checking their fields
the way a DRF serializer would."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import UploadFile

from flowport.api.dialects.studio.faults import REQUIRED, StudioError

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
INTEGER = re.compile(r"\s*[+-]?\d{1,30}\s*")


def pairs_to_data(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Form fields: the last value of a repeated field wins, except for `name[]` fields, which
    collect every value in a list (`pk[]=1&pk[]=2`)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key.endswith("[]"):
            data.setdefault(key, []).append(value)
        else:
            data[key] = value
    return data


async def read_data(request: Request) -> dict[str, Any]:
    """The body as a dict. An empty body is `{}` whatever its type (as in DRF); a body of any
    type other than JSON, form or multipart is 415."""
    raw = await request.body()
    if not raw:
        return {}
    media = request.headers.get("content-type", "")
    kind = media.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise StudioError(400, f"JSON parse error - {exc}") from None
        if not isinstance(body, dict):
            raise StudioError(400, fields={"non_field_errors": [
                f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]})
        return body
    if kind == FORM:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StudioError(400, "Form parse error - the body is not UTF-8") from None
        return pairs_to_data(parse_qsl(text, keep_blank_values=True))
    if kind == MULTIPART:
        try:
            form = await request.form()
        except Exception as exc:  # Starlette raises its own and multipart's parse errors
            raise StudioError(400, f"Multipart form parse error - {exc}") from None
        pairs: list[tuple[str, Any]] = []
        for key, value in form.multi_items():
            pairs.append((key, await value.read() if isinstance(value, UploadFile) else value))
        return pairs_to_data(pairs)
    shown = media.split(";")[0].strip() or "none"
    raise StudioError(415, f'Unsupported media type "{shown}" in request.')


def integer(value: Any) -> int | None:
    """An integer from a JSON number or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and INTEGER.fullmatch(value):
        return int(value)
    return None


class Fields:
    """DRF-style checks of text fields, collecting every field's errors before failing."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, list[str]] = {}
        self.values: dict[str, str] = {}

    def text(self, name: str, *, limit: int, required: bool = False,
             allow_blank: bool = False) -> None:
        if name not in self.data:
            if required:
                self.errors[name] = [REQUIRED]
            return
        value = self.data[name]
        if value is None:
            self.errors[name] = ["This field may not be null."]
            return
        # DRF's CharField takes numbers as their text; anything else is refused.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.errors[name] = ["Not a valid string."]
            return
        text = str(value).strip()
        if "\x00" in text:
            self.errors[name] = ["Null characters are not allowed."]
        elif not text and not allow_blank:
            self.errors[name] = ["This field may not be blank."]
        elif len(text) > limit:
            self.errors[name] = [f"Ensure this field has no more than {limit} characters."]
        else:
            self.values[name] = text

    def check(self) -> dict[str, str]:
        if self.errors:
            raise StudioError(400, fields=self.errors)
        return self.values
