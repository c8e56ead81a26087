"""/api/v1/steps: executor steps by id; finish a parked one; debug mode's re-run and resume."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowport.api.auth import Ctx, Reader, Starter
from flowport.api.native.schemas import FinishIn, step_out
from flowport.services import steps as svc

router = APIRouter(tags=["steps"])


@router.get("/api/v1/steps/{step_id}")
def get_step(step_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return step_out(svc.get_step(ctx, who, step_id))


@router.post("/api/v1/steps/{step_id}/finish")
def finish_step(step_id: str, body: FinishIn, ctx: Ctx, who: Starter) -> dict[str, Any]:
    """Report the result of a parked (`started`) step: its outputs, or an error."""
    return step_out(svc.finish_step(ctx, who, svc.FinishStep(step_id, body.outputs,
                                                             body.error)))


@router.post("/api/v1/steps/{step_id}/rerun")
def rerun_step(step_id: str, ctx: Ctx, who: Starter) -> dict[str, Any]:
    """Debug mode: run a failed step again with the same inputs."""
    return step_out(svc.rerun_step(ctx, who, step_id))


@router.post("/api/v1/steps/{step_id}/resume")
def resume_step(step_id: str, ctx: Ctx, who: Starter) -> dict[str, Any]:
    """Debug mode: give up on a failed step; the instance fails there and, when its version
    enables rollback, rolls back."""
    return step_out(svc.resume_step(ctx, who, step_id))
