"""The pipe protocol between the server and its script workers (workers.py, script_worker.py).

A message is a JSON array in a frame: four bytes of big-endian length, then UTF-8 JSON. The
server asks `["exec" | "eval", source, data]`; the worker may ask back `["call", method, args]`
(a record-store call, answered `["ok", value]` or `["err", kind, message]`) any number of times,
and ends with `["done", value, cpu, retire]` or `["fail", kind, detail, line, cpu, retire]`
(`retire`: the worker exits after this answer and wants replacing). Its first message, once
confined, is `["ready", confinement]`. Nothing else crosses: no code, no objects.
"""

from __future__ import annotations

import json
import struct
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from flowport.engine.values import ValueProblem, to_json_value

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # the largest message either side accepts


class FrameTooLarge(ValueError):
    pass


class ProtocolError(ValueError):
    """A frame that is not what the protocol allows."""


def _no_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not JSON")


def encode(message: list[Any]) -> bytes:
    payload = json.dumps(message, separators=(",", ":"), ensure_ascii=False,
                         allow_nan=False).encode()
    if len(payload) > MAX_FRAME:
        raise FrameTooLarge(f"a message of {len(payload)} bytes; the limit is {MAX_FRAME}")
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> list[Any]:
    try:
        message = json.loads(payload, parse_constant=_no_constant)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, list) or not message or not isinstance(message[0], str):
        raise ProtocolError("a message is a list that starts with its kind")
    return message


# An expression's value (a condition, a timer, a cardinality) may be a date or a duration:
# those travel tagged; everything else as the JSON value scripts leave behind.
_TAGS: dict[str, type] = {"datetime": datetime, "date": date, "time": time,
                          "timedelta": timedelta, "decimal": Decimal}


def pack_value(value: Any) -> Any:
    kind = type(value)
    for tag, candidate in _TAGS.items():
        if kind is candidate:
            if isinstance(value, timedelta):
                text = str(value.total_seconds())
            elif isinstance(value, Decimal):
                text = str(value)
            else:
                text = value.isoformat()
            return {"$flowport": tag, "value": text}
    try:
        return to_json_value(value, "the expression's value")
    except ValueProblem as problem:
        raise TypeError(str(problem)) from None


def unpack_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 2 and isinstance(value.get("value"), str):
        tag, text = value.get("$flowport"), value["value"]
        if tag == "timedelta":
            return timedelta(seconds=float(text))
        if tag == "decimal":
            return Decimal(text)
        kind = _TAGS.get(str(tag))
        if kind is not None:
            return kind.fromisoformat(text)  # type: ignore[attr-defined]
    return value
