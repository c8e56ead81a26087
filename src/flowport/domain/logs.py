"""An instance's log: its events as lines of text, one line each (clients count lines to poll
for new ones, so a line never holds a line break)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flowport.domain.instances import Event


def log_line(event: Event) -> str:
    """`2020-11-26 13:29:35.323 <what happened>`, the time in UTC."""
    at = event.at.strftime("%Y-%m-%d %H:%M:%S.") + f"{event.at.microsecond // 1000:03d}"
    return f"{at} {' '.join(_describe(event).split())}"


def _describe(event: Event) -> str:
    d = event.detail
    by = f" by {event.actor}" if event.actor else ""
    if event.kind == "created":
        return f"process start: {d.get('process_key')} version {d.get('version')}{by}"
    if event.kind == "status":
        return _status(d, by)
    if event.kind == "element_completed":
        return f"step {d.get('element_id')} completed{by}"
    if event.kind == "message":
        return f"message {d.get('name')} received"
    if event.kind == "timer":
        return "timer fired"
    return f"{event.kind}{by}: {json.dumps(d, ensure_ascii=False, default=str)}"


def _status(d: dict[str, object], by: str) -> str:
    target = d.get("to")
    if target == "completed":
        return "process end"
    if target == "failed":
        where = f" at {d['element_id']}" if d.get("element_id") else ""
        return f"process failed{where}: {d.get('error') or 'no reason given'}"
    if target in ("stopped", "aborted"):
        reason = f": {d['reason']}" if d.get("reason") else ""
        return f"process {target}{by}{reason}"
    return f"process {target} (was {d.get('from')})"


# -- the account's robot log (Sherpa's Log) ----------------------------------------------------

ROBOT_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")  # stored as their index


@dataclass(frozen=True)
class RobotLog:
    """One line of an account's robot log, optionally about a robot, a version and a run."""

    seq: int
    guid: str
    account_id: int
    robot_seq: int | None
    version_id: int | None
    instance_seq: int | None
    level: int
    message: str
    created_at: datetime
