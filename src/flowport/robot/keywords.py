"""Keywords for Robot Framework suites run by a Flowport robot:

    *** Settings ***
    Library    flowport.robot.keywords

    *** Tasks ***
    Book the order
        ${order}=    Get Input    order_id
        Set Output    confirmation    C-${order}

Inputs also arrive as plain variables (`${order_id}`). Outputs are kept in the JSON file named
by FLOWPORT_OUTPUT and become the instance's variables when the run completes. Python scripts
read FLOWPORT_INPUT and write FLOWPORT_OUTPUT themselves (or use these functions)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROBOT_LIBRARY_SCOPE = "GLOBAL"
_MISSING = object()


def _file(variable: str) -> Path:
    name = os.environ.get(variable)
    if not name:
        raise RuntimeError(f"{variable} is not set: is this running under `flowport robot`?")
    return Path(name)


def _read(variable: str) -> dict[str, Any]:
    path = _file(variable)
    if not path.exists():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
    if not isinstance(loaded, dict):
        raise RuntimeError(f"{path} does not hold a JSON object")
    return loaded


def get_input(name: str, default: Any = _MISSING) -> Any:
    """The input variable `name` (its default, when given, if there is none)."""
    inputs = _read("FLOWPORT_INPUT")
    if name in inputs:
        return inputs[name]
    if default is _MISSING:
        raise AssertionError(f"no input {name!r}; the inputs are: {', '.join(inputs) or 'none'}")
    return default


def get_inputs() -> dict[str, Any]:
    """Every input variable, as a dictionary."""
    return _read("FLOWPORT_INPUT")


def set_output(name: str, value: Any) -> None:
    """Set the output `name` (it must be JSON: text, numbers, lists, dictionaries...)."""
    outputs = _read("FLOWPORT_OUTPUT")
    outputs[name] = value
    path = _file("FLOWPORT_OUTPUT")
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(outputs), encoding="utf-8")  # whole, or not at all
    os.replace(partial, path)


def set_outputs(**values: Any) -> None:
    """Set several outputs: `Set Outputs    total=${3}    status=ok`."""
    for name, value in values.items():
        set_output(name, value)
