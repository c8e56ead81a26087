"""Who is calling, and may they: tokens, passwords, sessions and the permission check."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from flowport.domain.accounts import (
    TOKEN_PREFIX,
    Permission,
    Principal,
    Role,
    Token,
    User,
    permissions_of,
)
from flowport.domain.robots import ROBOT_TOKEN_PREFIX
from flowport.errors import BadInput, Forbidden, NotFound, TooManyRequests, Unauthenticated
from flowport.services.context import Context
from flowport.services.pages import page_limit
from flowport.store import Page, Tx

T = TypeVar("T")

log = logging.getLogger("flowport.auth")

DEFAULT_ACCOUNT = "default"
SESSION_PREFIX = "fps_"
_hasher = PasswordHasher()  # argon2id with the library's current parameters
# Verified against when a login is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_token(token: str) -> str:
    # Tokens are 256-bit random values, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: object) -> str:
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        raise BadInput("a password holds 8 to 256 characters", field="password")
    return password


def require(who: Principal, permission: Permission) -> None:
    if not who.can(permission):
        raise Forbidden(f"this needs the {permission.value!r} permission")


def authenticate(ctx: Context, token: str) -> Principal:
    with ctx.store.transaction(write=False) as tx:
        if token.startswith(ROBOT_TOKEN_PREFIX):  # a robot's own credential
            principal = tx.find_robot_principal(hash_token(token))
        else:
            principal = tx.find_principal_by_token(hash_token(token), ctx.clock.now())
    if principal is None:
        raise Unauthenticated("the token is unknown, revoked or expired")
    return principal


def authenticate_session(ctx: Context, session: str) -> Principal:
    with ctx.store.transaction() as tx:
        principal = _session_principal(ctx, tx, session)
    if principal is None:
        raise Unauthenticated("the session is unknown or has expired; log in again")
    return principal


def bootstrap_admin(ctx: Context, token: str | None = None,
                    password: str | None = None) -> str | None:
    """When the database has no users, create a system administrator `admin` in account
    `default` holding `token` (or a fresh one) and, when given, `password` (for the console);
    return the token. Otherwise return None and change nothing."""
    with ctx.store.transaction(write=False) as tx:
        if tx.count_users():
            return None  # the usual case: spare the password hash below
    password_hash = hash_password(check_password(password)) if password is not None else None
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        if tx.count_users():
            return None
        account = tx.find_account(DEFAULT_ACCOUNT) or tx.create_account(DEFAULT_ACCOUNT, now)
        user_id = tx.create_user(account.id, "admin", [Role.ADMIN], now, password_hash,
                                 system_admin=True)
        token = token or new_token()
        tx.create_token(account.id, user_id, "bootstrap", hash_token(token), [Role.ADMIN], now)
        tx.audit(account.id, "admin.bootstrapped", None, {"login": "admin"}, now)
        return token


def create_account_with_admin(ctx: Context, name: str, login: str) -> tuple[int, str]:
    """An account with one admin user and a token for it (tests and the CLI)."""
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        account = tx.find_account(name) or tx.create_account(name, now)
        user_id = tx.create_user(account.id, login, [Role.ADMIN], now)
        token = new_token()
        tx.create_token(account.id, user_id, "initial", hash_token(token), [Role.ADMIN], now)
        return account.id, token


# -- API tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateToken:
    name: str
    roles: frozenset[Role] | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class NewToken:
    token: Token
    secret: str


def create_token(ctx: Context, who: Principal, cmd: CreateToken) -> NewToken:
    require(who, Permission.READ)
    if who.user_id is None:
        raise Forbidden("only users create tokens")
    if not isinstance(cmd.name, str) or not 1 <= len(cmd.name) <= 255:
        raise BadInput("name holds 1 to 255 characters", field="name")
    granted = who.roles if cmd.roles is None else cmd.roles
    if not permissions_of(granted) <= who.permissions:
        raise Forbidden("a token cannot hold roles its user does not have")
    now = ctx.clock.now()
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise BadInput("expires_at must be in the future", field="expires_at")
    secret = new_token()
    with ctx.store.transaction() as tx:
        token_id = tx.create_token(who.account_id, who.user_id, cmd.name, hash_token(secret),
                                   sorted(granted), now, cmd.expires_at)
        tx.audit(who.account_id, "token.created", who.login,
                 {"token_id": token_id, "name": cmd.name, "roles": sorted(granted)}, now)
    token = Token(token_id, who.user_id, cmd.name, frozenset(granted), now, cmd.expires_at,
                  None)
    return NewToken(token, secret)


def list_tokens(ctx: Context, who: Principal) -> list[Token]:
    """An admin sees the account's tokens; anyone else their own."""
    require(who, Permission.READ)
    mine_only = None if who.can(Permission.ADMIN) else who.user_id
    with ctx.store.transaction(write=False) as tx:
        return tx.list_tokens(who.account_id, mine_only)


def revoke_token(ctx: Context, who: Principal, token_id: int) -> None:
    require(who, Permission.READ)
    mine_only = None if who.can(Permission.ADMIN) else who.user_id
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        if not tx.revoke_token(who.account_id, token_id, mine_only, now):
            raise NotFound(f"no live token {token_id}")
        tx.audit(who.account_id, "token.revoked", who.login, {"token_id": token_id}, now)


# -- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    login: str
    password: str
    client: str = ""


@dataclass(frozen=True)
class Session:
    principal: Principal
    secret: str
    csrf_token: str


def login(ctx: Context, cmd: Login) -> Session:
    """Check a password and open a cookie session."""

    def open_session(tx: Tx, user: User, now: datetime) -> tuple[str, str]:
        secret, csrf = new_token(SESSION_PREFIX), secrets.token_urlsafe(24)
        tx.create_session(hash_token(secret), user, csrf, now)
        return secret, csrf

    user, (secret, csrf) = _password_login(ctx, cmd, "session", open_session)
    principal = Principal(user.account_id, user.id, user.login, user.roles, user.system_admin,
                          csrf_token=csrf)
    return Session(principal, secret, csrf)


@dataclass(frozen=True)
class TokenLogin:
    login: str
    password: str
    client: str = ""
    name: str = "login"  # the name the new token is listed under


def login_for_token(ctx: Context, cmd: TokenLogin) -> NewToken:
    """Check a password and issue a new API token holding the user's roles (Studio's login;
    each login a new token, the others staying valid). It expires after
    `login_token_hours`, or never."""
    hours = ctx.settings.login_token_hours

    def issue(tx: Tx, user: User, now: datetime) -> NewToken:
        secret = new_token()
        expires_at = now + timedelta(hours=hours) if hours else None
        token_id = tx.create_token(user.account_id, user.id, cmd.name, hash_token(secret),
                                   sorted(user.roles), now, expires_at)
        return NewToken(Token(token_id, user.id, cmd.name, user.roles, now, expires_at, None),
                        secret)

    _, issued = _password_login(ctx, Login(cmd.login, cmd.password, cmd.client), "token",
                                issue)
    return issued


def logout_token(ctx: Context, secret: str) -> None:
    """Revoke the token whose secret is given (holding it is the authority to revoke it)."""
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        revoked = tx.revoke_token_by_hash(hash_token(secret), now)
        if revoked is None:
            raise Unauthenticated("the token is unknown, revoked or expired")
        account_id, token_id = revoked
        tx.audit(account_id, "auth.logout", None, {"token_id": token_id}, now)


def _password_login(ctx: Context, cmd: Login, kind: str,
                    opening: Callable[[Tx, User, datetime], T]) -> tuple[User, T]:
    """Check a password and, in the same transaction, open what `opening` opens for the user.
    Failures are throttled per login and per client address, audited in the user's account,
    and logged (an unknown login has no account to audit in)."""
    now = ctx.clock.now()
    login_key, client_key = f"login:{cmd.login.lower()}", f"client:{cmd.client}"
    keys = (login_key, client_key)
    wait = max(ctx.throttle.retry_after(key, now) for key in keys)
    if wait > 0:
        raise TooManyRequests(f"too many failed logins; try again in {wait} s",
                              retry_after=wait)
    opened: T | None = None
    with ctx.store.transaction() as tx:
        found = tx.find_login(cmd.login)
        user, password_hash = found if found else (None, None)
        ok = _verify(password_hash, cmd.password) and user is not None and not user.disabled
        if user is None or not ok:
            for key in keys:
                ctx.throttle.failed(key, now)
            if user is not None:
                tx.audit(user.account_id, "auth.login_failed", cmd.login,
                         {"client": cmd.client}, now)
        else:
            opened = opening(tx, user, now)
            tx.audit(user.account_id, "auth.login", user.login,
                     {"client": cmd.client, "kind": kind}, now)
    if user is None or not ok:
        log.warning("failed login for %r from %s%s", cmd.login[:128], cmd.client or "?",
                    "" if user is not None else " (no such login)")
        raise Unauthenticated("the login or password is not correct")
    # Only the login's own count is forgiven: a success must not wipe the client address's
    # failures, or logging in to one's own account between guesses would reset them.
    ctx.throttle.succeeded(login_key)
    assert opened is not None
    return user, opened


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _session_principal(ctx: Context, tx: Tx, session: str) -> Principal | None:
    """The session's user while it is neither idle too long nor older than its lifetime."""
    now = ctx.clock.now()
    return tx.find_principal_by_session(
        hash_token(session), now,
        idle_since=now - timedelta(minutes=ctx.settings.session_idle_minutes),
        created_since=now - timedelta(hours=ctx.settings.session_max_hours))


def logout(ctx: Context, session: str) -> None:
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        who = _session_principal(ctx, tx, session)
        tx.delete_session(hash_token(session))
        if who is not None:
            tx.audit(who.account_id, "auth.logout", who.login, {}, now)


def list_audit(ctx: Context, who: Principal, cursor: str | None, limit: int) -> Page:
    require(who, Permission.ADMIN)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_audit(who.account_id, cursor, page_limit(ctx, limit))
