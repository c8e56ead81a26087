"""Instance variables are plain JSON: what scripts leave behind is normalized here.

Normalizing after every script (not only when the state is saved) makes a script behave the same
whether or not the engine happened to persist the instance between it and the previous one.
"""

from __future__ import annotations

import math
import types
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

# A script can build a list that holds itself, or a small structure that expands exponentially
# when walked ([x, x] nested 100 deep); these bounds keep the walk itself cheap.
MAX_DEPTH = 64
MAX_NODES = 1_000_000

_SCALARS = (str, int, bool, type(None))


class ValueProblem(ValueError):
    """A value cannot be stored as JSON; the message names the variable and what is wrong."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(f"{path} {reason}".strip())
        self.path, self.reason = path, reason


def _droppable(value: Any) -> bool:
    # Helper functions and other callables a script defines are not variables, as in
    # SpiffWorkflow's own script environment.
    return callable(value) or isinstance(value, types.ModuleType)


class _Walker:
    def __init__(self) -> None:
        self.nodes = 0

    def convert(self, value: Any, depth: int) -> Any:
        # Paths are built only on the way out of an error: building one per value made a walk
        # of a million values several times slower.
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ValueProblem(f"is too large to store (over {MAX_NODES} values)")
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is float:
            return value if math.isfinite(value) else str(value)
        if depth >= MAX_DEPTH:
            raise ValueProblem(f"is nested too deeply to store (over {MAX_DEPTH} levels)")
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    if not isinstance(key, (int, float, bool)) and key is not None:
                        raise ValueProblem(
                            f"has a key of type {type(key).__name__}; keys must be text")
                    key = str(key)
                out[key] = self._item(item, depth, f"[{key!r}]")
            return out
        if isinstance(value, (list, tuple, set, frozenset, range)) or kind in _VIEWS:
            return [self._item(item, depth, i) for i, item in enumerate(value)]
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return self.convert(float(value), depth)
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, (Decimal, UUID)):
            return str(value)
        raise ValueProblem(
            f"holds a {type(value).__name__}, which cannot be stored; "
            "use text, numbers, booleans, lists or dicts")

    def _item(self, item: Any, depth: int, step: object) -> Any:
        try:
            return self.convert(item, depth + 1)
        except ValueProblem as problem:
            where = step if isinstance(step, str) else f"[{step}]"
            raise ValueProblem(problem.reason, f"{where}{problem.path}") from None


_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))


def to_json_value(value: Any, name: str = "value") -> Any:
    """A JSON-safe deep copy of `value`; raises ValueProblem naming the offending part."""
    return _named(_Walker(), value, name, 0)


def to_json_variables(data: dict[str, Any], *,
                      drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A JSON-safe deep copy of a variables dict. Top-level callables, modules and the names in
    `drop` are left out rather than refused."""
    walker = _Walker()
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in drop or _droppable(value):
            continue
        if not isinstance(key, str):
            raise ValueProblem(f"variable names must be text, not {type(key).__name__}")
        out[key] = _named(walker, value, key, 1)
    return out


def _named(walker: _Walker, value: Any, name: str, depth: int) -> Any:
    try:
        return walker.convert(value, depth)
    except ValueProblem as problem:
        raise ValueProblem(problem.reason, f"{name}{problem.path}") from None
