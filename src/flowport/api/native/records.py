"""/api/v1/records/{entity}: the account's record store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from flowport.api.auth import Ctx, Reader, RecordWriter
from flowport.services import records as svc

router = APIRouter(prefix="/api/v1/records", tags=["records"])
Data = Annotated[dict[str, Any], Body()]


@router.get("/{entity}")
def list_records(entity: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return {"items": svc.list_records(ctx, who, entity)}


@router.post("/{entity}", status_code=201)
def add_record(entity: str, data: Data, ctx: Ctx, who: RecordWriter) -> dict[str, Any]:
    return svc.add_record(ctx, who, entity, data)


@router.get("/{entity}/{record_id}")
def get_record(entity: str, record_id: str, ctx: Ctx, who: Reader) -> dict[str, Any]:
    return svc.get_record(ctx, who, entity, record_id)


@router.put("/{entity}/{record_id}")
def put_record(
    entity: str, record_id: str, data: Data, ctx: Ctx, who: RecordWriter
) -> dict[str, Any]:
    return svc.put_record(ctx, who, entity, record_id, data)


@router.delete("/{entity}/{record_id}", status_code=204)
def delete_record(entity: str, record_id: str, ctx: Ctx, who: RecordWriter) -> Response:
    svc.delete_record(ctx, who, entity, record_id)
    return Response(status_code=204)
