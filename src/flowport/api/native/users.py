"""/api/v1/accounts, /api/v1/users, /api/v1/audit: administration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from flowport.api.auth import Admin, AnyUser, Ctx
from flowport.api.native.schemas import MAX_ID, Body, RowId, user_out, when
from flowport.domain.accounts import Role
from flowport.services import auth as auth_svc
from flowport.services import users as svc

router = APIRouter(tags=["administration"])


class AccountIn(Body):
    name: str = Field(min_length=1, max_length=255)


class UserIn(Body):
    login: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=8, max_length=256)
    roles: list[Role] = Field(min_length=1)
    name: str = Field(default="", max_length=255)
    email: str = Field(default="", max_length=255)
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class UserPatch(Body):
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255)
    roles: list[Role] | None = Field(default=None, min_length=1)
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)


@router.post("/api/v1/accounts", status_code=201)
def create_account(body: AccountIn, ctx: Ctx, who: Admin) -> dict[str, Any]:
    account = svc.create_account(ctx, who, body.name)
    return {"id": account.id, "name": account.name, "created_at": when(account.created_at)}


@router.post("/api/v1/users", status_code=201)
def create_user(body: UserIn, ctx: Ctx, who: Admin) -> dict[str, Any]:
    user = svc.create_user(ctx, who, svc.CreateUser(
        body.login, body.password, frozenset(body.roles), body.name, body.email,
        body.account_id))
    return user_out(user)


@router.get("/api/v1/users")
def list_users(ctx: Ctx, who: Admin) -> dict[str, Any]:
    return {"items": [user_out(u) for u in svc.list_users(ctx, who)]}


@router.get("/api/v1/users/{user_id}")
def get_user(user_id: RowId, ctx: Ctx, who: AnyUser) -> dict[str, Any]:
    return user_out(svc.get_user(ctx, who, user_id))


@router.patch("/api/v1/users/{user_id}")
def update_user(user_id: RowId, body: UserPatch, ctx: Ctx, who: Admin) -> dict[str, Any]:
    roles = frozenset(body.roles) if body.roles is not None else None
    return user_out(svc.update_user(ctx, who, user_id, svc.UpdateUser(
        body.name, body.email, roles, body.disabled, body.password)))


@router.get("/api/v1/audit")
def list_audit(
    ctx: Ctx, who: Admin, cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    page = auth_svc.list_audit(ctx, who, cursor, limit)
    return {"items": [{"seq": e.seq, "at": when(e.at), "kind": e.kind, "actor": e.actor,
                       "detail": e.detail} for e in page.items],
            "next_cursor": page.next_cursor}
