"""Processes, their immutable versions, declared parameters and output templates."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum
from typing import Any

from flowport.errors import BadInput, InvalidParameters

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
MAX_NAME = 255
MAX_DESCRIPTION = 4000
MAX_PROJECT = 255
MAX_ROW_ID = 2**63 - 1  # both databases hold 64-bit row ids


class ProcessType(IntEnum):
    BPMN = 0
    PACKAGE = 1


class ContentKind(StrEnum):
    BPMN = "bpmn"
    ROBOT = "robot"
    PYTHON = "python"
    ZIP = "zip"


@dataclass(frozen=True)
class Process:
    id: int
    account_id: int
    key: str
    guid: str
    name: str
    description: str
    process_type: ProcessType
    min_version_to_run: str | None
    current_version: int | None
    created_at: datetime
    updated_at: datetime
    project: str = ""
    created_by: int | None = None  # user id
    creator: str | None = None     # that user's display name (name, else login)
    # Package processes: the tags a robot needs, and how often work whose robot was lost is
    # tried (1: never retried), waiting retry_backoff seconds, doubled each time, in between.
    robot_tags: tuple[str, ...] = ()
    max_attempts: int = 1
    retry_backoff: int = 60


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    INOUT = "inout"


class ParamType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    UUID = "uuid"
    JSON = "json"


@dataclass(frozen=True)
class Parameter:
    name: str
    type: ParamType = ParamType.TEXT
    required: bool = False
    default: Any = None
    max_length: int | None = None
    description: str = ""
    direction: Direction = Direction.IN

    @property
    def is_input(self) -> bool:
        return self.direction is not Direction.OUT

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type.value,
            "required": self.required,
        }
        if self.default is not None:
            out["default"] = self.default
        if self.max_length is not None:
            out["max_length"] = self.max_length
        if self.description:
            out["description"] = self.description
        if self.direction is not Direction.IN:
            out["direction"] = self.direction.value
        return out


@dataclass(frozen=True)
class Output:
    """One entry of a version's output template: `name` in `outputs` comes from `variable`."""

    name: str
    variable: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "variable": self.variable}


@dataclass(frozen=True)
class Version:
    id: int
    process_id: int
    number: int
    sha256: str
    file_name: str
    kind: ContentKind
    parameters: tuple[Parameter, ...]
    outputs: tuple[Output, ...]
    created_at: datetime
    entry_point: str | None = None
    bpmn_process_id: str | None = None
    size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    guid: str | None = None
    label: str = ""  # a name of its own (Sherpa's version Name); "" when none was given
    description: str = ""
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class DraftKind(StrEnum):
    BPMN = "bpmn"   # BPMN 2.0 XML
    JSON = "json"   # a JSON object (Studio's own flow format; kept, not runnable)


@dataclass(frozen=True)
class Draft:
    """The unpublished content of a process: one per process, replaced by each save."""

    process_id: int
    kind: DraftKind
    content: bytes
    sha256: str
    saved_by: str | None
    saved_at: datetime


def new_guid() -> str:
    return str(uuid.uuid4())


def new_key() -> str:
    """A key for a process created without one (Studio's processes have none)."""
    return f"p_{uuid.uuid4().hex[:16]}"


def row_number(ref: str | int) -> int | None:
    """The row id a reference names when it is a number or all ASCII digits (keys never start
    with a digit, so `1001` names a process by id, `approval` by key); None otherwise. A number
    too large for any row gives 0, which names nothing."""
    if isinstance(ref, int):
        number = ref
    elif ref.isascii() and ref.isdigit():
        number = int(ref) if len(ref) <= 19 else 0
    else:
        return None
    return number if 0 < number <= MAX_ROW_ID else 0


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise BadInput(
            "key must start with a letter or '_' and hold at most 128 letters, digits, '_', '.' "
            "or '-'",
            field="key",
        )
    return key


def parse_parameters(raw: Any) -> tuple[Parameter, ...]:
    """Read a declared-parameter list (from an API body or a sidecar file)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadInput("parameters must be a list", field="parameters")
    seen: set[str] = set()
    out = []
    for i, item in enumerate(raw):
        where = f"parameters[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise BadInput("each parameter needs a non-empty 'name'", field=where)
        name = item["name"]
        if name in seen:
            raise BadInput(f"parameter {name!r} is declared twice", field=where)
        seen.add(name)
        try:
            ptype = ParamType(item.get("type", "text"))
        except ValueError:
            kinds = ", ".join(t.value for t in ParamType)
            raise BadInput(
                f"parameter {name!r}: type must be one of {kinds}", field=where
            ) from None
        max_length = item.get("max_length")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            raise BadInput(
                f"parameter {name!r}: max_length must be a positive integer", field=where
            )
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise BadInput(f"parameter {name!r}: required must be true or false", field=where)
        try:
            direction = Direction(item.get("direction", "in"))
        except ValueError:
            raise BadInput(f"parameter {name!r}: direction must be in, out or inout",
                           field=where) from None
        param = Parameter(name, ptype, required, None, max_length,
                          str(item.get("description", "")), direction)
        default = item.get("default")
        if default is not None:
            param = replace(param, default=coerce(param, default, where=f"{where}.default"))
        out.append(param)
    return tuple(out)


def parse_outputs(raw: Any) -> tuple[Output, ...]:
    """An output template: a list of names, of {name, variable}, or a {name: variable} map."""
    if raw is None:
        return ()
    items: list[tuple[Any, Any]]
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for entry in raw:
            if isinstance(entry, str):
                items.append((entry, entry))
            elif isinstance(entry, dict):
                items.append((entry.get("name"), entry.get("variable", entry.get("name"))))
            else:
                raise BadInput("each output must be a name or {name, variable}", field="outputs")
    else:
        raise BadInput("outputs must be a list or an object", field="outputs")
    out = []
    for name, variable in items:
        if not isinstance(name, str) or not name or not isinstance(variable, str) or not variable:
            raise BadInput("each output needs a non-empty name and variable", field="outputs")
        out.append(Output(name, variable))
    return tuple(out)


def coerce(param: Parameter, value: Any, *, where: str | None = None) -> Any:
    """Check one value against its declared type; return its JSON-ready form."""
    where = where or param.name
    kind = param.type

    def bad(expected: str) -> InvalidParameters:
        return InvalidParameters(f"{param.name!r} must be {expected}", field=where)

    if kind is ParamType.TEXT:
        if not isinstance(value, str):
            raise bad("text")
        if param.max_length is not None and len(value) > param.max_length:
            raise InvalidParameters(
                f"{param.name!r} is longer than {param.max_length} characters", field=where
            )
        return value
    if kind is ParamType.INTEGER:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,19}", value.strip()):
            return int(value)
        raise bad("an integer")
    if kind is ParamType.DECIMAL:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad("a decimal number")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise bad("a decimal number") from None
        if not number.is_finite():
            raise bad("a finite decimal number")
        return float(number) if isinstance(value, float) else str(number)
    if kind is ParamType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad("true or false")
    if kind is ParamType.DATETIME:
        if not isinstance(value, str):
            raise bad("an ISO 8601 date-time")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad("an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.isoformat()
    if kind is ParamType.UUID:
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise bad("a UUID") from None
    return value  # json: any JSON value


def validate_variables(
    parameters: tuple[Parameter, ...], variables: dict[str, Any]
) -> dict[str, Any]:
    """Apply defaults, check required parameters and types. Undeclared variables pass through
    unchanged: a version with no declared parameters accepts anything."""
    out = dict(variables)
    for param in parameters:
        if not param.is_input:
            continue
        if param.name not in variables or variables[param.name] is None:
            if param.required:
                raise InvalidParameters(f"{param.name!r} is required", field=param.name)
            if param.default is not None:
                out[param.name] = param.default
            continue
        out[param.name] = coerce(param, variables[param.name])
    return out


def render_outputs(template: tuple[Output, ...], variables: dict[str, Any]) -> dict[str, Any]:
    return {o.name: variables.get(o.variable) for o in template}
