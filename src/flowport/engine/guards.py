"""The runtime half of the script sandbox: what a restricted script may touch.

The compile-time policy (scripts.py) routes attribute access, item writes, risky operators and
format specs through the functions here. Attribute access is allow-listed per type: anything not
listed is refused, so a new CPython method cannot silently widen the sandbox. Operations that can
allocate or compute without bound in a single C call (repetition, power, shifts, padding, joins,
format widths) are size-checked before they run, because the CPU budget is only checked between
script lines and cannot interrupt one long C call.
"""

from __future__ import annotations

import builtins
import operator
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

MAX_ITEMS = 1_000_000  # longest string or list one operation may build
MAX_INT_BITS = 100_000  # largest integer one operation may build (about 30,000 digits)
MAX_FORMAT_WIDTH = 10_000
MAX_DECIMAL_DIGITS = 4_300  # the same bound CPython puts on int(str)


class ScriptLimitError(Exception):
    """An operation would exceed the sandbox's size limits."""


def _check_size(size: int) -> None:
    if size > MAX_ITEMS:
        raise ScriptLimitError(f"the result would hold {size} items; the limit is {MAX_ITEMS}")


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise ScriptLimitError(f"the result would be a number of about {bits} bits; "
                               f"the limit is {MAX_INT_BITS}")


_SEQUENCES = (str, list, tuple)
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _check_widths(spec: str) -> None:
    for run in _DIGITS.findall(spec):
        if len(run) > 5 or int(run) > MAX_FORMAT_WIDTH:
            raise ScriptLimitError(f"format widths above {MAX_FORMAT_WIDTH} are not allowed")


def _check_percent(template: str) -> None:
    for match in _PERCENT_FIELD.finditer(template):
        for part in match.groups():
            if part == "*":
                raise ScriptLimitError("'*' widths are not allowed in % formatting")
            if part is not None and (len(part) > 5 or int(part) > MAX_FORMAT_WIDTH):
                raise ScriptLimitError(f"format widths above {MAX_FORMAT_WIDTH} are not allowed")


def binop(op: str, left: Any, right: Any) -> Any:
    """`left op right` for the operators that can build huge values in one step."""
    if op == "*":
        if isinstance(left, _SEQUENCES) and isinstance(right, int):
            _check_size(len(left) * right)
        elif isinstance(right, _SEQUENCES) and isinstance(left, int):
            _check_size(len(right) * left)
        elif isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length())
        return left * right
    if op == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            _check_size(len(left) + len(right))
        return left + right
    if op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _check_bits(left.bit_length() * right)
        return left**right
    if op == "<<":
        if isinstance(left, int) and isinstance(right, int) and left:
            _check_bits(left.bit_length() + right)
        return left << right
    if op == "%":
        if isinstance(left, str):
            _check_percent(left)
        return left % right
    raise ScriptLimitError(f"unknown operator {op!r}")  # pragma: no cover - policy emits only these


GUARDED_OPERATORS = frozenset({"*", "+", "**", "<<", "%"})
_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "-=": operator.sub, "/=": operator.truediv, "//=": operator.floordiv, ">>=": operator.rshift,
    "|=": operator.or_, "^=": operator.xor, "&=": operator.and_, "@=": operator.matmul,
}


def inplacevar(op: str, target: Any, value: Any) -> Any:
    """`target op= value`; RestrictedPython rewrites augmented assignment into this call."""
    plain = op[:-1]
    if plain in GUARDED_OPERATORS:
        return binop(plain, target, value)
    return _INPLACE[op](target, value)


def format_value(value: Any, conversion: int, spec: str) -> str:
    """An f-string field: `{value!conversion:spec}`."""
    if conversion == ord("s"):
        value = str(value)
    elif conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("a"):
        value = ascii(value)
    _check_widths(spec)
    return format(value, spec)


def _join(sep: str, items: Iterable[Any]) -> str:
    parts = list(items)
    _check_size(len(sep) * max(len(parts) - 1, 0)
                + sum(len(p) for p in parts if isinstance(p, str)))
    return sep.join(parts)


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    hits = text.count(old) if old else len(text) + 1
    if count >= 0:
        hits = min(hits, count)
    _check_size(len(text) + hits * (len(new) - len(old)))
    return text.replace(old, new, count)


def _pad(method: Callable[..., str]) -> Callable[..., str]:
    def padded(text: str, width: int, *args: Any) -> str:
        _check_size(width)
        return method(text, width, *args)

    return padded


def _extend(items: list[Any], more: Iterable[Any]) -> None:
    more = list(more)
    _check_size(len(items) + len(more))
    items.extend(more)


def _strftime(moment: date | time, template: str) -> str:
    _check_widths(template)
    return moment.strftime(template)


# Methods that are safe only after a size check: (type, name) -> checked implementation.
_CHECKED: dict[tuple[type, str], Callable[..., Any]] = {
    (str, "join"): _join, (str, "replace"): _replace, (str, "center"): _pad(str.center),
    (str, "ljust"): _pad(str.ljust), (str, "rjust"): _pad(str.rjust),
    (str, "zfill"): _pad(str.zfill),
    (list, "extend"): _extend,
    (datetime, "strftime"): _strftime, (date, "strftime"): _strftime,
    (time, "strftime"): _strftime,
}

_STR = frozenset((
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isspace",
    "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
    "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith",
    "strip", "swapcase", "title", "upper", "join", "replace", "center", "ljust", "rjust",
    "zfill",
))
_LIST = frozenset((
    "append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse",
    "sort",
))
_DICT = frozenset((
    "clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values",
))
_SET = frozenset((
    "add", "clear", "copy", "difference", "difference_update", "discard", "intersection",
    "intersection_update", "isdisjoint", "issubset", "issuperset", "pop", "remove",
    "symmetric_difference", "symmetric_difference_update", "union", "update",
))
_NUMBER = frozenset((
    "real", "imag", "conjugate", "is_integer", "bit_length", "numerator", "denominator",
))

_ALLOWED: dict[type, frozenset[str]] = {
    str: _STR, list: _LIST, dict: _DICT, set: _SET,
    frozenset: _SET - {"add", "clear", "discard", "pop", "remove", "update",
                       "difference_update", "intersection_update",
                       "symmetric_difference_update"},
    tuple: frozenset({"count", "index"}), int: _NUMBER, float: _NUMBER, bool: _NUMBER,
}
# Value types whose public attributes are all harmless (given the strftime check above).
_OPEN = (datetime, date, time, timedelta, timezone, Decimal)

RECORD_METHODS = frozenset({"list", "get", "add", "put", "delete"})


class RecordsMarker:
    """Base of the records object scripts see; only RECORD_METHODS are reachable on it."""


def getattr_guard(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name` in a script."""
    if not isinstance(name, str) or name.startswith("_") or name in INSPECT_ATTRIBUTES:
        raise AttributeError(f"attribute {name!r} is not available in scripts")
    is_class = isinstance(obj, type)
    cls: type = obj if is_class else type(obj)
    allowed = _ALLOWED.get(cls)
    if allowed is not None:
        if name in allowed:
            checked = _CHECKED.get((cls, name))
            if checked is None:
                return getattr(obj, name)
            if not is_class:
                return lambda *args, **kwargs: checked(obj, *args, **kwargs)
    elif issubclass(cls, _OPEN):
        checked = _CHECKED.get((cls, name))
        if checked is not None and not is_class:
            return lambda *args: checked(obj, *args)
        if checked is None:
            return getattr(obj, name)
    elif isinstance(obj, RecordsMarker) and name in RECORD_METHODS:
        return getattr(obj, name)
    raise AttributeError(f"{cls.__name__!r} attribute {name!r} is not available in scripts")


def write_guard(obj: Any) -> Any:
    """The object of `obj[key] = value`, `del obj[key]` or `obj.attr = value`."""
    if type(obj) in (dict, list, set):
        return obj
    raise TypeError(f"scripts cannot change a {type(obj).__name__}")


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


class _DiscardPrint:
    """print() in a script goes nowhere: there is no console to read it."""

    def __init__(self, _getattr_: Any = None) -> None:
        pass

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        pass

    def __call__(self) -> str:
        return ""


def _range(*args: int) -> range:
    span = range(*args)
    _check_size(len(span))
    return span


def _int(value: Any = 0, *args: Any) -> int:
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_DECIMAL_DIGITS:
        raise ScriptLimitError(f"int() of a Decimal above 10**{MAX_DECIMAL_DIGITS} is not allowed")
    return int(value, *args)


_SAFE_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "abs", "all", "any", "bool", "chr", "dict", "divmod", "enumerate", "filter", "float",
        "frozenset", "isinstance", "len", "list", "map", "max", "min", "ord", "repr", "reversed",
        "round", "set", "sorted", "str", "sum", "tuple", "zip", "ArithmeticError",
        "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError", "LookupError",
        "NameError", "OverflowError", "RuntimeError", "TypeError", "ValueError",
        "ZeroDivisionError",
    )
}
BUILTINS: dict[str, Any] = {
    **_SAFE_BUILTINS, "range": _range, "int": _int, "None": None, "True": True, "False": False,
    "datetime": datetime, "date": date, "time": time, "timedelta": timedelta,
    "timezone": timezone, "Decimal": Decimal,
}

# Everything a compiled restricted script refers to besides the instance's variables.
GUARDS: dict[str, Any] = {
    "__builtins__": BUILTINS,
    "__name__": "flowport_script",
    "_getattr_": getattr_guard,
    "_getitem_": _getitem,
    "_getiter_": iter,
    "_write_": write_guard,
    "_apply_": _apply,
    "_print_": _DiscardPrint,
    "_inplacevar_": inplacevar,
    "_binop_": binop,
    "_format_": format_value,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
}
