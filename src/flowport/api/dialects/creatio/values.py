"""Creatio's value rules: inputs arrive as text (query strings, forms) or JSON scalars; results
go back as text, wrapped in WCF's XML string or as a JSON string literal."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from fastapi import Request, Response

from flowport.domain.processes import Parameter, ParamType
from flowport.errors import InvalidParameters

SERIALIZATION_NS = "http://schemas.microsoft.com/2003/10/Serialization/"
INT32 = range(-(2**31), 2**31)


def to_input(param: Parameter, value: Any) -> Any:
    """One input value in the form the core's parameter check expects."""
    if value is None:
        return None
    if param.type is ParamType.TEXT and not isinstance(value, str):
        return compact(value) if isinstance(value, dict | list) else text_of(value)
    if param.type is ParamType.BOOLEAN and isinstance(value, str) and value in ("1", "0"):
        return value == "1"
    if param.type is ParamType.INTEGER:
        number = value
        if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
            number = int(value)
        if isinstance(number, int) and not isinstance(number, bool) and number not in INT32:
            raise InvalidParameters(f"Parameter '{param.name}' is outside the 32-bit range",
                                    field=param.name)
        return number
    return value


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text_of(value: Any) -> str | None:
    """The contract's value-to-text rules; the result is a string or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return compact(value)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    types = [part.split(";")[0].strip() for part in accept.split(",") if part.strip()]
    for kind in types:
        if kind == "application/json":
            return True
        if kind.endswith("/xml") or kind.endswith("+xml"):
            return False
    if not types or types == ["*/*"]:
        sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return sent == "application/json"
    return False


def result_response(request: Request, text: str | None,
                    headers: dict[str, str]) -> Response:
    if wants_json(request):
        return Response(json.dumps(text), media_type="application/json; charset=utf-8",
                        headers=headers)
    if text is None:
        body = (f'<string xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true" '
                f'xmlns="{SERIALIZATION_NS}"/>')
    else:
        body = f'<string xmlns="{SERIALIZATION_NS}">{escape(text)}</string>'
    return Response(body, media_type="application/xml; charset=utf-8", headers=headers)
