"""Accounts, users, API tokens and the one table of what each role may do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DEVELOPER = "developer"
    OPERATOR = "operator"
    VIEWER = "viewer"
    ROBOT = "robot"


class Permission(StrEnum):
    READ = "read"                       # see processes, versions, instances, records
    DEPLOY = "deploy"                   # create and change processes and versions
    START = "start"                     # start, stop, cancel instances; complete elements
    RECORDS_WRITE = "records:write"
    ROBOT = "robot"                     # the robot endpoints
    ADMIN = "admin"                     # users and tokens of the account


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission) - {Permission.ROBOT},
    Role.DEVELOPER: frozenset(
        {Permission.READ, Permission.DEPLOY, Permission.START, Permission.RECORDS_WRITE}
    ),
    Role.OPERATOR: frozenset({Permission.READ, Permission.START}),
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ROBOT: frozenset({Permission.ROBOT}),
}


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    out: frozenset[Permission] = frozenset()
    for role in roles:
        out |= ROLE_PERMISSIONS[role]
    return out


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved once per request from a token or a session."""

    account_id: int
    user_id: int | None
    login: str
    roles: frozenset[Role]
    system_admin: bool = False
    # Cookie sessions must prove each unsafe request with the CSRF token; Bearer tokens need not.
    csrf_token: str | None = None
    # For a token: its user's roles today. A token never grants more than its user holds.
    user_roles: frozenset[Role] | None = None
    # For a robot's own credential: the robot (its row number). Robots are not users.
    robot_id: int | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = permissions_of(self.roles)
        if self.user_roles is not None:
            granted &= permissions_of(self.user_roles)
        return granted

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    created_at: datetime


TOKEN_PREFIX = "fpt_"


@dataclass(frozen=True)
class User:
    id: int
    account_id: int
    login: str
    name: str
    email: str
    roles: frozenset[Role]
    disabled: bool
    system_admin: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Token:
    id: int
    user_id: int
    name: str
    roles: frozenset[Role]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    kind: str
    actor: str | None
    detail: dict[str, object]
