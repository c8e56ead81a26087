"""Forms: a start form generated from a version's declared parameters, and reading posted
values into what the services take. Checking the values is the services' job; this only turns
form text into JSON values, so the messages a person sees are the API's own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile

from flowport.domain.assignments import parse_assignments
from flowport.domain.processes import Parameter, ParamType
from flowport.errors import BadInput


async def _posted(request: Request) -> FormData:
    return await request.form()


# A posted form, read once (the CSRF check may have read it already: Starlette keeps it).
Posted = Annotated[FormData, Depends(_posted)]

# Fields of the start form that are not parameters; a parameter of the same name is prefixed.
PARAM_PREFIX = "p:"
EXTRA_FIELD = "extra"


@dataclass(frozen=True)
class Field:
    """One input of a generated form."""

    name: str  # the form field's name
    label: str
    widget: str  # "text" | "textarea" | "select" | "datetime"
    required: bool
    hint: str
    inputmode: str | None = None
    maxlength: int | None = None
    options: tuple[str, ...] = ()
    value: str = ""


_HINTS = {
    ParamType.TEXT: "text",
    ParamType.INTEGER: "a whole number",
    ParamType.DECIMAL: "a decimal number, e.g. 12.50",
    ParamType.BOOLEAN: "true or false",
    ParamType.DATETIME: "a date and time (UTC)",
    ParamType.UUID: "a UUID",
    ParamType.JSON: "any JSON value, e.g. {\"a\": 1} or [1, 2]",
}


def _default_text(param: Parameter) -> str:
    if param.default is None:
        return ""
    if param.type is ParamType.JSON:
        return json.dumps(param.default)
    if param.type is ParamType.BOOLEAN:
        return "true" if param.default else "false"
    return str(param.default)


def start_fields(parameters: tuple[Parameter, ...], posted: FormData | None = None
                 ) -> list[Field]:
    """The inputs of the start form, one per input parameter, filled with what was posted (or
    the declared defaults)."""
    fields = []
    for param in parameters:
        if not param.is_input:
            continue
        name = PARAM_PREFIX + param.name
        raw = posted.get(name) if posted is not None else None
        value = raw if isinstance(raw, str) else _default_text(param)
        hint = _HINTS[param.type]
        if param.max_length is not None:
            hint += f", at most {param.max_length} characters"
        if param.description:
            hint = f"{param.description} ({hint})"
        widget, inputmode = "text", None
        options: tuple[str, ...] = ()
        if param.type is ParamType.JSON:
            widget = "textarea"
        elif param.type is ParamType.BOOLEAN:
            widget, options = "select", ("", "true", "false")
        elif param.type is ParamType.DATETIME:
            widget = "datetime"
        elif param.type is ParamType.INTEGER:
            inputmode = "numeric"
        elif param.type is ParamType.DECIMAL:
            inputmode = "decimal"
        fields.append(Field(name, param.name, widget, param.required, hint, inputmode,
                            param.max_length, options, value))
    return fields


def read_start_form(parameters: tuple[Parameter, ...], form: FormData) -> dict[str, Any]:
    """Variables from a posted start form. Empty inputs are left out (so defaults and
    `required` apply); JSON inputs are parsed; every other value goes as typed, for the
    service to check against its declared type."""
    variables: dict[str, Any] = parse_assignments(text(form, EXTRA_FIELD).splitlines(),
                                                  EXTRA_FIELD)
    for param in parameters:
        if not param.is_input:
            continue
        raw = text(form, PARAM_PREFIX + param.name)
        if raw.strip() == "":
            continue
        if param.type is ParamType.JSON:
            try:
                variables[param.name] = json.loads(raw)
            except ValueError:
                raise BadInput(f"{param.name!r} must be JSON", field=param.name) from None
        elif param.type is ParamType.TEXT:
            variables[param.name] = raw
        else:
            variables[param.name] = raw.strip()
    return variables


def text(form: FormData, name: str) -> str:
    """A text field's value ('' when absent); a file sent in its place is not text."""
    value = form.get(name)
    if value is None:
        return ""
    if isinstance(value, UploadFile):
        raise BadInput(f"{name} must be text, not a file", field=name)
    if "\x00" in value:
        raise BadInput(f"{name} must not contain NUL characters", field=name)
    return value


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


def json_text(form: FormData, name: str) -> Any:
    """An optional JSON field (parameters, outputs): None when empty."""
    raw = text(form, name).strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadInput(f"{name} must be JSON: {exc}", field=name) from None


def read_data(form: FormData) -> dict[str, Any]:
    """The data of a completion form: one NAME=VALUE per line, as the CLI's --data takes."""
    return parse_assignments(text(form, "data").splitlines(), "data")
