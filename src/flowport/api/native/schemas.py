"""Request bodies and response shapes of the native API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowport.domain.accounts import Principal, User
from flowport.domain.instances import Element, Event, Instance, WaitingTask
from flowport.domain.processes import Draft, Process, Version
from flowport.domain.steps import Cleanup, Step
from flowport.services.cleanup import InstanceLinks

# Both databases hold 64-bit integers; a larger number can name nothing, so it is a 4xx, not
# an overflow deep in the driver.
MAX_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refusing it here keeps the databases alike.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


Tags = list[Annotated[str, Field(max_length=64)]]


class ProcessIn(Body):
    key: str = Field(max_length=128)
    name: str | None = Field(default=None, max_length=255)
    description: str = Field(default="", max_length=4000)
    process_type: int = Field(default=0, ge=0, le=1)
    min_version_to_run: str | None = Field(default=None, max_length=64)
    project: str = Field(default="", max_length=255)
    robot_tags: Tags = Field(default_factory=list, max_length=32)
    max_attempts: int = Field(default=1, ge=1, le=100)
    retry_backoff: int = Field(default=60, ge=0, le=86_400)


class VersionPatch(Body):
    label: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=4000)


class ProcessPatch(Body):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=4000)
    min_version_to_run: str | None = Field(default=None, max_length=64)
    project: str | None = Field(default=None, max_length=255)
    robot_tags: Tags = Field(default_factory=list, max_length=32)
    max_attempts: int = Field(default=1, ge=1, le=100)
    retry_backoff: int = Field(default=60, ge=0, le=86_400)


class DraftIn(Body):
    # BPMN 2.0 XML text, or a JSON object (or its text).
    content: str | dict[str, Any]


class VersionIn(Body):
    file_name: str = Field(min_length=1, max_length=255)
    content: str
    encoding: str = Field(default="utf-8", pattern="^(utf-8|base64)$")
    parameters: list[dict[str, Any]] | None = None
    outputs: list[Any] | dict[str, str] | None = None
    bpmn_process_id: str | None = None


class WaitIn(Body):
    timeout: float = Field(default=30.0, gt=0, le=3600)
    variable: str | None = Field(default=None, min_length=1, max_length=255)


class StartIn(Body):
    variables: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=MAX_ID)
    business_key: str | None = Field(default=None, max_length=255)
    wait: WaitIn | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    # Debug mode: a failed executor step waits to be re-run or resumed. Default: the version's.
    debug: bool | None = None
    # Package processes: deadlines, and which robot (or group) may run it, what tags it needs.
    stop_after: datetime | None = None
    abort_after: datetime | None = None
    robot_id: str | None = Field(default=None, max_length=36)
    robot_group_id: str | None = Field(default=None, max_length=36)
    robot_tags: Tags = Field(default_factory=list, max_length=32)


class CompleteIn(Body):
    data: dict[str, Any] = Field(default_factory=dict)


class CancelIn(Body):
    reason: str | None = Field(default=None, max_length=4000)


class FinishIn(Body):
    """The result of a parked step: outputs, or an error."""

    outputs: dict[str, Any] | None = None
    error: str | None = Field(default=None, min_length=1, max_length=4000)


class MessageIn(Body):
    name: str = Field(min_length=1, max_length=255)
    data: dict[str, Any] = Field(default_factory=dict)


def aware(value: datetime | None) -> datetime | None:
    """A time sent without a zone is taken as UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def process_out(p: Process) -> dict[str, Any]:
    return {"id": p.id, "key": p.key, "guid": p.guid, "name": p.name,
            "description": p.description, "project": p.project,
            "created_by": p.created_by, "creator": p.creator,
            "process_type": int(p.process_type), "min_version_to_run": p.min_version_to_run,
            "current_version": p.current_version, "robot_tags": list(p.robot_tags),
            "max_attempts": p.max_attempts, "retry_backoff": p.retry_backoff,
            "created_at": when(p.created_at), "updated_at": when(p.updated_at)}


def version_out(key: str, v: Version) -> dict[str, Any]:
    return {"process_key": key, "id": v.id, "number": v.number, "sha256": v.sha256,
            "file_name": v.file_name, "kind": v.kind.value, "size": v.size,
            "bpmn_process_id": v.bpmn_process_id, "entry_point": v.entry_point,
            "parameters": [p.to_dict() for p in v.parameters],
            "outputs": [o.to_dict() for o in v.outputs], "created_at": when(v.created_at),
            "guid": v.guid, "label": v.label, "description": v.description,
            "deleted_at": when(v.deleted_at)}


def instance_out(i: Instance) -> dict[str, Any]:
    return {"id": i.id, "seq": i.seq, "process_key": i.process_key, "version": i.version_number,
            "status": i.status.value, "business_key": i.business_key,
            "variables": i.variables, "outputs": i.outputs, "error": i.error,
            "created_at": when(i.created_at), "updated_at": when(i.updated_at),
            "started_at": when(i.started_at), "ended_at": when(i.ended_at),
            "wake_at": when(i.wake_at), "schedule_id": i.schedule_id, "name": i.name,
            "debug": i.debug, "deleted_at": when(i.deleted_at), "parent_id": i.parent_id}


def draft_out(key: str, d: Draft) -> dict[str, Any]:
    return {"process_key": key, "kind": d.kind.value, "content": d.content.decode(),
            "sha256": d.sha256, "saved_by": d.saved_by, "saved_at": when(d.saved_at)}


def cleanup_out(c: Cleanup | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"kind": c.kind.value, "state": c.state.value, "instance_id": c.instance_id,
            "created_at": when(c.created_at), "ended_at": when(c.ended_at)}


def instance_detail_out(links: InstanceLinks) -> dict[str, Any]:
    """One instance with its cleanup links: the latest (`cleanup`), all of them, and, for a
    cleanup instance, the instance it cleans up after."""
    link = links.cleanup_of
    return {**instance_out(links.instance), "cleanup": cleanup_out(links.cleanup),
            "cleanups": [cleanup_out(c) for c in links.cleanups],
            "cleanup_of": {"kind": link.kind.value, "instance_id": link.target_id}
            if link else None}


def step_out(s: Step) -> dict[str, Any]:
    return {"id": s.id, "number": s.seq, "instance_id": s.instance_id, "uid": s.uid,
            "element_id": s.element_id, "name": s.name, "namespace": s.namespace,
            "executor": s.executor, "kind": s.kind.value, "status": s.status.value,
            "inputs": s.params, "outputs": s.outputs, "reason": s.reason,
            "progress": s.progress, "detail": s.detail, "attempts": s.attempts,
            "next_try_at": when(s.due_at),
            "created_at": when(s.created_at), "updated_at": when(s.updated_at),
            "completed_at": when(s.completed_at), "ended_at": when(s.ended_at)}


def element_out(e: Element) -> dict[str, Any]:
    return {"uid": e.uid, "element_id": e.element_id, "name": e.name, "type": e.type,
            "state": e.state.value, "created_at": when(e.created_at),
            "updated_at": when(e.updated_at)}


def event_out(e: Event) -> dict[str, Any]:
    return {"seq": e.seq, "at": when(e.at), "kind": e.kind, "actor": e.actor,
            "detail": e.detail}


def principal_out(p: Principal) -> dict[str, Any]:
    return {"account_id": p.account_id, "user_id": p.user_id, "login": p.login,
            "roles": sorted(p.roles), "system_admin": p.system_admin}


def user_out(u: User) -> dict[str, Any]:
    return {"id": u.id, "account_id": u.account_id, "login": u.login, "name": u.name,
            "email": u.email, "roles": sorted(u.roles), "disabled": u.disabled,
            "system_admin": u.system_admin, "created_at": when(u.created_at),
            "updated_at": when(u.updated_at)}


def task_out(t: WaitingTask) -> dict[str, Any]:
    return {"uid": t.uid, "element_id": t.element_id, "name": t.name, "type": t.type,
            "since": when(t.since), "instance_id": t.instance_id, "process_key": t.process_key,
            "business_key": t.business_key}
