"""/api/v1/instances/{id}/...: stop and abort, and robot work as people see it (its job,
why it is still pending, its logs and artifacts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from flowport.api.auth import Ctx, Reader, Starter
from flowport.api.native.agents import artifact_out, attachment
from flowport.api.native.schemas import CancelIn, instance_out, when
from flowport.services import jobs as svc
from flowport.services import stopping
from flowport.services.jobs import Ref

router = APIRouter(prefix="/api/v1/instances/{instance_id}", tags=["instances"])


def ref_out(ref: Ref | None) -> dict[str, str] | None:
    return {"id": ref.id, "name": ref.name} if ref else None


@router.post("/stop")
def stop_instance(instance_id: str, ctx: Ctx, who: Starter,
                  body: CancelIn | None = None) -> dict[str, Any]:
    """Stop gracefully: a package instance goes `stopping` and its robot interrupts the run
    (then `stopped`, or `aborting` after the grace period); a BPMN instance ends `stopped`,
    as with `/cancel`."""
    cmd = stopping.StopInstance(instance_id, body.reason if body else None)
    return instance_out(stopping.stop_instance(ctx, who, cmd))


@router.post("/abort")
def abort_instance(instance_id: str, ctx: Ctx, who: Starter,
                   body: CancelIn | None = None) -> dict[str, Any]:
    """Stop hard: a package instance goes `aborting` and its robot kills the run (the server
    ends it `aborted` itself if the robot never answers); a BPMN instance ends `aborted`."""
    cmd = stopping.StopInstance(instance_id, body.reason if body else None)
    return instance_out(stopping.abort_instance(ctx, who, cmd))


@router.get("/job")
def get_job(instance_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    """The dispatch state of a package instance."""
    view = svc.get_job(ctx, who, instance_id)
    job = view.job
    return {"instance": instance_out(view.instance), "attempts": job.attempts,
            "max_attempts": job.max_attempts, "retry_backoff": job.retry_backoff,
            "robot": ref_out(view.robot), "lease_expires_at": when(job.lease_expires_at),
            "ready_at": when(job.ready_at), "stop_after": when(job.stop_after),
            "abort_after": when(job.abort_after), "escalate_at": when(job.escalate_at),
            "requires": {"min_version": job.min_version, "tags": list(job.tags),
                         "robot": ref_out(view.target_robot),
                         "robot_group": ref_out(view.target_group)},
            "log_lines": job.log_lines}


@router.get("/pending-reasons")
def pending_reasons(instance_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    """Why a pending package instance is not running now, computed from the robots as they
    are (none when it is not pending)."""
    instance, reasons = svc.get_pending_reasons(ctx, who, instance_id)
    return {"status": instance.status.value,
            "reasons": [{"code": r.code, "message": r.message} for r in reasons]}


@router.get("/logs")
def list_logs(
    instance_id: str, ctx: Ctx, who: Reader,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The robot's log lines, oldest first."""
    page = svc.list_logs(ctx, who, instance_id, cursor, limit)
    return {"items": [{"seq": line.seq, "time": when(line.at), "level": line.level,
                       "message": line.message} for line in page.items],
            "next_cursor": page.next_cursor}


@router.get("/artifacts")
def list_artifacts(instance_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return {"items": [artifact_out(a) for a in svc.list_artifacts(ctx, who, instance_id)]}


@router.get("/artifacts/{name:path}")
def get_artifact(instance_id: str, name: str, ctx: Ctx, who: Reader) -> Response:
    """An artifact's content, always as a download: a robot's HTML report must not run as a
    page of this server."""
    artifact, content = svc.get_artifact(ctx, who, instance_id, name)
    return Response(content, media_type=artifact.content_type, headers={
        "Content-Disposition": attachment(name.rsplit("/", 1)[-1]),
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})
