"""Accounts and users: the administration use cases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flowport.domain.accounts import Account, Permission, Principal, Role, User
from flowport.errors import BadInput, Conflict, Forbidden, NotFound
from flowport.services.auth import check_password, hash_password, require
from flowport.services.context import Context
from flowport.store import Duplicate

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$")


@dataclass(frozen=True)
class CreateUser:
    login: str
    password: str
    roles: frozenset[Role]
    name: str = ""
    email: str = ""
    account_id: int | None = None


@dataclass(frozen=True)
class UpdateUser:
    name: str | None = None
    email: str | None = None
    roles: frozenset[Role] | None = None
    disabled: bool | None = None
    password: str | None = None


def _text(value: Any, name: str, limit: int = 255) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise BadInput(f"{name} must be text of at most {limit} characters", field=name)
    return value


def _roles(roles: Any) -> frozenset[Role]:
    if not roles:
        raise BadInput("a user needs at least one role", field="roles")
    return frozenset(roles)


def create_account(ctx: Context, who: Principal, name: str) -> Account:
    if not who.system_admin:
        raise Forbidden("only a system administrator creates accounts")
    name = _text(name, "name").strip()
    if not name:
        raise BadInput("name must not be blank", field="name")
    now = ctx.clock.now()
    try:
        with ctx.store.transaction() as tx:
            if tx.find_account(name) is not None:
                raise Conflict(f"an account named {name!r} exists already", field="name")
            account = tx.create_account(name, now)
            tx.audit(who.account_id, "account.created", who.login,
                     {"account_id": account.id, "name": name}, now)
            return account
    except Duplicate:
        raise Conflict(f"an account named {name!r} exists already", field="name") from None


def create_user(ctx: Context, who: Principal, cmd: CreateUser) -> User:
    require(who, Permission.ADMIN)
    account_id = who.account_id
    if cmd.account_id is not None and cmd.account_id != who.account_id:
        if not who.system_admin:
            # Another account's id reads as unknown, like every other object of theirs.
            raise NotFound(f"no account {cmd.account_id}")
        account_id = cmd.account_id
    if not isinstance(cmd.login, str) or not LOGIN_PATTERN.match(cmd.login):
        raise BadInput("login holds 1 to 128 letters, digits, '_', '.', '@' or '-'",
                       field="login")
    password = check_password(cmd.password)
    roles = _roles(cmd.roles)
    name, email = _text(cmd.name, "name"), _text(cmd.email, "email")
    now = ctx.clock.now()
    password_hash = hash_password(password)  # slow on purpose: outside the transaction
    taken = Conflict(f"the login {cmd.login!r} is taken", field="login")
    try:
        with ctx.store.transaction() as tx:
            if tx.fetch_account(account_id) is None:
                raise NotFound(f"no account {account_id}")
            if tx.login_taken(cmd.login):
                raise taken
            user_id = tx.create_user(account_id, cmd.login, sorted(roles), now, password_hash,
                                     name=name, email=email)
            tx.audit(account_id, "user.created", who.login,
                     {"user_id": user_id, "login": cmd.login, "roles": sorted(roles)}, now)
            user = tx.fetch_user(account_id, user_id)
    except Duplicate:
        raise taken from None
    assert user is not None
    return user


def get_user(ctx: Context, who: Principal, user_id: int) -> User:
    if who.user_id != user_id:
        require(who, Permission.ADMIN)
    with ctx.store.transaction(write=False) as tx:
        user = tx.fetch_user(who.account_id, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def list_users(ctx: Context, who: Principal) -> list[User]:
    require(who, Permission.ADMIN)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_users(who.account_id)


def update_user(ctx: Context, who: Principal, user_id: int, cmd: UpdateUser) -> User:
    require(who, Permission.ADMIN)
    fields: dict[str, Any] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    if cmd.name is not None:
        fields["name"] = _text(cmd.name, "name")
    if cmd.email is not None:
        fields["email"] = _text(cmd.email, "email")
    if cmd.roles is not None:
        fields["roles"] = sorted(_roles(cmd.roles))
        # An account must not lose its last way in through its own admin's slip.
        if user_id == who.user_id and "admin" in who.roles and "admin" not in fields["roles"]:
            raise Conflict("you cannot remove your own admin role", field="roles")
        events.append(("user.roles_changed", {"roles": fields["roles"]}))
    if cmd.disabled is not None:
        if user_id == who.user_id and cmd.disabled:
            raise Conflict("you cannot disable yourself", field="disabled")
        fields["disabled"] = cmd.disabled
        events.append(("user.disabled" if cmd.disabled else "user.enabled", {}))
    if cmd.password is not None:
        fields["password_hash"] = hash_password(check_password(cmd.password))
        events.append(("user.password_reset", {}))
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        if tx.fetch_user(who.account_id, user_id) is None:
            raise NotFound(f"no user {user_id}")
        if fields:
            tx.update_user(user_id, now, **fields)
        if cmd.disabled or cmd.password is not None:
            tx.delete_user_sessions(user_id)
        for kind, detail in events:
            tx.audit(who.account_id, kind, who.login, {"user_id": user_id, **detail}, now)
        user = tx.fetch_user(who.account_id, user_id)
    assert user is not None
    return user


def reset_password(ctx: Context, login: str, password: str) -> User:
    """Set a user's password by login for whoever runs the server (`flowport user
    set-password`): holding the database is the authority here, so no caller is checked. Ends
    the user's sessions."""
    password_hash = hash_password(check_password(password))
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        found = tx.find_login(login)
        if found is None:
            raise NotFound(f"no user {login!r}")
        user = found[0]
        tx.update_user(user.id, now, password_hash=password_hash)
        tx.delete_user_sessions(user.id)
        tx.audit(user.account_id, "user.password_reset", None,
                 {"user_id": user.id, "by": "server operator"}, now)
    return user
