"""What the CLI's command modules share: JSON output, errors, values from the command line,
and the connection to a server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import httpx

from flowport.client import ApiError, Client
from flowport.domain.assignments import parse_assignments
from flowport.errors import BadInput

# -- output and errors --------------------------------------------------------------------


def emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def note(message: str) -> None:
    click.echo(message, err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    note(f"flowport: {message}")
    raise click.exceptions.Exit(code)


def describe(exc: ApiError) -> str:
    text = f"{exc.status} {exc.title}: {exc.detail}"
    if exc.field:
        text += f" [field: {exc.field}]"
    for issue in exc.problem.get("errors") or []:
        if isinstance(issue, dict) and issue.get("message"):
            text += f"\n  - {issue.get('field') or '(body)'}: {issue['message']}"
    return text


# -- values from the command line ---------------------------------------------------------


def parse_pairs(pairs: tuple[str, ...], json_object: str | None, option: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if json_object:
        try:
            loaded = json.loads(json_object)
        except ValueError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint=option) from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("must be a JSON object", param_hint=option)
        values.update(loaded)
    try:
        values.update(parse_assignments(pairs, option))
    except BadInput as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None
    return values


# -- talking to a server ------------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    server: str
    token: str | None
    timeout: float

    @contextmanager
    def client(self) -> Iterator[Client]:
        try:
            with Client(self.server, self.token, self.timeout) as api:
                yield api
        except ApiError as exc:
            hint = ""
            if exc.status == 401 and not self.token:
                hint = "\n  no token given: pass --token or set FLOWPORT_TOKEN"
            fail(describe(exc) + hint)
        except httpx.TimeoutException:
            fail(f"{self.server} did not answer within the time limit")
        except httpx.TransportError as exc:
            fail(f"cannot reach {self.server}: {exc}")
