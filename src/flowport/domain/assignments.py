"""How a person types values: `NAME=VALUE`, the value JSON when it parses, else text. Shared by
the CLI's --var/--data options and the console's forms."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from flowport.errors import BadInput


def parse_value(text: str) -> Any:
    """JSON when it parses (numbers, true/false, null, objects, lists), else the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text  # NaN and Infinity are not JSON
    return value


def parse_assignments(lines: Iterable[str], field: str) -> dict[str, Any]:
    """`NAME=VALUE` items (blank ones skipped) into a dict; a malformed one is BadInput."""
    values: dict[str, Any] = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, raw = line.partition("=")
        name = name.strip()
        if not sep or not name:
            raise BadInput(f"{line.strip()!r} is not NAME=VALUE", field=field)
        values[name] = parse_value(raw.strip())
    return values
