"""Reading a step's inputs: each problem is a StepFailed naming the input."""

from __future__ import annotations

from typing import Any

from flowport.executors.base import StepFailed


def text(inputs: dict[str, Any], name: str, *, default: str | None = None) -> str:
    value = inputs.get(name, default)
    if not isinstance(value, str) or not value:
        raise StepFailed(f"input {name!r} must be non-empty text")
    return value


def mapping(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    value = inputs.get(name, {})
    if not isinstance(value, dict):
        raise StepFailed(f"input {name!r} must be a JSON object")
    return value


def flag(inputs: dict[str, Any], name: str) -> bool:
    value = inputs.get(name, False)
    if not isinstance(value, bool):
        raise StepFailed(f"input {name!r} must be true or false")
    return value


def records_of(call: Any) -> Any:
    if call.records is None:
        raise StepFailed("this executor needs the record store, which this call lacks")
    return call.records
