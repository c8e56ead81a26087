"""/api/v1/robot/...: the protocol robot agents speak, with their own credential (enrollment
aside). Routes declare no permission of their own: the services require a robot's credential
after looking the job up, so another account's job is a 404 to anyone."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from flowport.api.auth import AnyUser, Ctx
from flowport.api.native.robots import robot_out
from flowport.api.native.schemas import MAX_ID, Body, Tags, aware, instance_out, when
from flowport.api.waiting import poll_until
from flowport.domain.robots import MAX_SLOTS
from flowport.errors import TooLarge
from flowport.services import agents as svc
from flowport.services import robots
from flowport.services.context import Context
from flowport.services.dispatch import work_key
from flowport.store import Artifact

router = APIRouter(prefix="/api/v1/robot", tags=["robot agents"])
InstanceId = Annotated[str, Field(max_length=36)]
Fencing = Annotated[int, Field(ge=0, le=MAX_ID)]


class EnrollIn(Body):
    enrollment_token: str = Field(min_length=1, max_length=255)
    machine: str = Field(default="", max_length=255)
    runtime_version: str | None = Field(default=None, max_length=64)
    tags: Tags | None = Field(default=None, max_length=32)
    slots: int | None = Field(default=None, ge=1, le=MAX_SLOTS)


class HeldJob(Body):
    id: InstanceId
    fencing_token: Fencing


class HeartbeatIn(Body):
    jobs: list[HeldJob] = Field(default_factory=list, max_length=256)
    machine: str | None = Field(default=None, max_length=255)
    runtime_version: str | None = Field(default=None, max_length=64)
    tags: Tags | None = Field(default=None, max_length=32)
    slots: int | None = Field(default=None, ge=1, le=MAX_SLOTS)


class ClaimIn(Body):
    max_jobs: int = Field(default=1, ge=1, le=MAX_SLOTS)
    timeout: float = Field(default=0.0, ge=0, le=3600,
                           description="seconds to wait for work (capped by the server)")


class CompleteIn(Body):
    fencing_token: Fencing
    outputs: dict[str, Any] = Field(default_factory=dict)


class FailIn(Body):
    fencing_token: Fencing
    error: str
    status: str = "failed"
    retryable: bool = False


class LogLineIn(Body):
    level: str = Field(max_length=16)
    message: str
    time: datetime | None = None


class LogsIn(Body):
    fencing_token: Fencing
    lines: list[LogLineIn]


class ProgressEventIn(Body):
    kind: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict)


class ProgressIn(Body):
    fencing_token: Fencing
    events: list[ProgressEventIn]


def timing(ctx: Context) -> dict[str, Any]:
    """How often the agent should heartbeat, and how long a lease lasts without one."""
    return {"heartbeat_seconds": ctx.settings.robot_heartbeat_seconds,
            "lease_seconds": ctx.settings.robot_lease_seconds}


def claimed_out(c: svc.Claimed) -> dict[str, Any]:
    v = c.version
    return {"id": c.instance.id, "fencing_token": c.job.fencing, "attempt": c.job.attempts,
            "lease_expires_at": when(c.job.lease_expires_at),
            "process_key": c.instance.process_key, "version": c.instance.version_number,
            "business_key": c.instance.business_key, "variables": c.instance.variables,
            "stop_after": when(c.job.stop_after), "abort_after": when(c.job.abort_after),
            "package": {"sha256": v.sha256, "file_name": v.file_name, "kind": v.kind.value,
                        "entry_point": v.entry_point, "size": v.size}}


def artifact_out(a: Artifact) -> dict[str, Any]:
    return {"name": a.name, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "created_at": when(a.created_at)}


def reported_out(r: svc.Reported) -> dict[str, Any]:
    return {"changed": r.changed, "instance": instance_out(r.instance)}


@router.post("/enroll")
def enroll(body: EnrollIn, ctx: Ctx) -> dict[str, Any]:
    """Trade a one-time enrollment token for the robot's own credential (`token`, shown
    once; send it as `Authorization: Bearer <token>`)."""
    enrolled = robots.enroll(ctx, robots.Enroll(
        body.enrollment_token, body.machine, body.runtime_version,
        tuple(body.tags) if body.tags is not None else None, body.slots))
    return {"robot": robot_out(enrolled.robot, ctx), "token": enrolled.credential,
            **timing(ctx)}


@router.post("/heartbeat")
def heartbeat(body: HeartbeatIn, ctx: Ctx, who: AnyUser) -> dict[str, Any]:
    """A sign of life: renews the leases of the listed jobs and answers with commands for
    them: `stop` (interrupt gracefully), `abort` (kill), `drop` (no longer yours: kill it and
    report nothing)."""
    beat = svc.heartbeat(ctx, who, svc.Heartbeat(
        tuple((j.id, j.fencing_token) for j in body.jobs), body.machine, body.runtime_version,
        tuple(body.tags) if body.tags is not None else None, body.slots))
    return {"robot": robot_out(beat.robot, ctx),
            "commands": [{"job_id": c.job_id, "command": c.command, "reason": c.reason}
                         for c in beat.commands], **timing(ctx)}


class _Gone(Exception):
    """The robot hung up while its claim waited."""


@router.post("/claim")
async def claim(body: ClaimIn, request: Request, ctx: Ctx, who: AnyUser) -> dict[str, Any]:
    """Claim up to `max_jobs` jobs, waiting up to `timeout` seconds for one to come (a long
    poll). Each comes with a lease and a fencing token for every later report."""
    key = work_key(who.account_id)
    if ctx.notifier.closing:  # shutting down: claim nothing; the robot asks again elsewhere
        return {"jobs": [], **timing(ctx)}

    async def fetch() -> list[svc.Claimed]:
        # A robot that hung up (it stopped, or crashed) must not be handed work it will
        # never see.
        if await request.is_disconnected():
            raise _Gone
        return await run_in_threadpool(svc.claim_jobs, ctx, who, body.max_jobs)

    timeout = min(body.timeout, ctx.settings.robot_claim_max_wait_seconds)
    try:
        jobs = await poll_until(ctx.notifier, key, fetch, bool, timeout,
                                ctx.settings.robot_poll_seconds)
    except _Gone:
        ctx.notifier.publish_one(key)  # the wake-up it took belongs to another robot
        return {"jobs": [], **timing(ctx)}
    return {"jobs": [claimed_out(c) for c in jobs], **timing(ctx)}


@router.post("/jobs/{instance_id}/complete")
def complete(instance_id: str, body: CompleteIn, ctx: Ctx, who: AnyUser) -> dict[str, Any]:
    """The run succeeded; its outputs become the instance's variables."""
    return reported_out(svc.complete_job(ctx, who, svc.Complete(
        instance_id, body.fencing_token, body.outputs)))


@router.post("/jobs/{instance_id}/fail")
def fail(instance_id: str, body: FailIn, ctx: Ctx, who: AnyUser) -> dict[str, Any]:
    """The run ended otherwise: `status` failed, stopped or aborted; `retryable` when the
    robot lost the run itself (the job may be tried again)."""
    return reported_out(svc.fail_job(ctx, who, svc.Fail(
        instance_id, body.fencing_token, body.error, body.status, body.retryable)))


@router.post("/jobs/{instance_id}/logs")
def add_logs(instance_id: str, body: LogsIn, ctx: Ctx, who: AnyUser) -> dict[str, Any]:
    lines = tuple((aware(line.time), line.level, line.message) for line in body.lines)
    return {"accepted": svc.add_log_lines(ctx, who, svc.LogBatch(
        instance_id, body.fencing_token, lines))}


@router.post("/jobs/{instance_id}/progress")
def add_progress(instance_id: str, body: ProgressIn, ctx: Ctx, who: AnyUser
                 ) -> dict[str, Any]:
    events = tuple((e.kind, e.detail) for e in body.events)
    return {"accepted": svc.add_progress(ctx, who, svc.ProgressBatch(
        instance_id, body.fencing_token, events))}


@router.put("/jobs/{instance_id}/artifacts/{name:path}", status_code=201,
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string",
                                                        "format": "binary"}}}}})
async def put_artifact(instance_id: str, name: str, request: Request, ctx: Ctx,
                       who: AnyUser,
                       fencing_token: Annotated[int, Query(ge=0, le=MAX_ID)]) -> dict[str, Any]:
    """Upload a file of the run (the raw body); one of the same name is replaced."""
    length = request.headers.get("content-length", "")
    limit = ctx.settings.robot_max_artifact_bytes
    if length.isdecimal() and int(length) > limit:  # refuse before reading it all
        raise TooLarge(f"artifact {name!r} holds {length} bytes; the limit is {limit} per "
                       f"artifact (FLOWPORT_ROBOT_MAX_ARTIFACT_BYTES)", field="content")
    content = await request.body()
    cmd = svc.PutArtifact(instance_id, fencing_token, name, content,
                          request.headers.get("content-type", "application/octet-stream"))
    return artifact_out(await run_in_threadpool(svc.put_artifact, ctx, who, cmd))


@router.get("/packages/{sha256}")
def get_package(sha256: str, ctx: Ctx, who: AnyUser) -> Response:
    """A package's content by its SHA-256 (what a claimed job names)."""
    file_name, content = svc.get_package(ctx, who, sha256)
    return Response(content, media_type="application/octet-stream",
                    headers={"Content-Disposition": attachment(file_name)})


def attachment(file_name: str) -> str:
    """A Content-Disposition that no file name can break out of."""
    return f"attachment; filename*=UTF-8''{quote(file_name, safe='')}"
