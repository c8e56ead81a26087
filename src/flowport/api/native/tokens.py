"""/api/v1/tokens: API tokens, shown once at creation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from flowport.api.auth import Ctx, Reader
from flowport.api.native.schemas import Body, RowId, when
from flowport.domain.accounts import Role, Token
from flowport.services import auth as svc

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


class TokenIn(Body):
    name: str = Field(min_length=1, max_length=255)
    roles: list[Role] | None = None
    expires_at: datetime | None = None


def token_out(t: Token) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "roles": sorted(t.roles), "user_id": t.user_id,
            "created_at": when(t.created_at), "expires_at": when(t.expires_at),
            "revoked_at": when(t.revoked_at)}


@router.post("", status_code=201)
def create_token(body: TokenIn, ctx: Ctx, who: Reader) -> dict[str, Any]:
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    roles = frozenset(body.roles) if body.roles is not None else None
    created = svc.create_token(ctx, who, svc.CreateToken(body.name, roles, expires))
    return {**token_out(created.token), "token": created.secret}


@router.get("")
def list_tokens(ctx: Ctx, who: Reader) -> dict[str, Any]:
    return {"items": [token_out(t) for t in svc.list_tokens(ctx, who)]}


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: RowId, ctx: Ctx, who: Reader) -> Response:
    svc.revoke_token(ctx, who, token_id)
    return Response(status_code=204)
