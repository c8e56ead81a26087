"""Accounts, users, API tokens, sessions and the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowport.domain.accounts import Account, AuditEntry, Principal, Role, Token, User
from flowport.store import tables as t
from flowport.store.base import Page, Queries, decode_seq_cursor, encode_cursor


def _roles(raw: Sequence[str]) -> frozenset[Role]:
    return frozenset(Role(r) for r in raw)


def _user(row: Any) -> User:
    return User(row.id, row.account_id, row.login, row.name, row.email, _roles(row.roles),
                row.disabled, row.system_admin, row.created_at, row.updated_at)


_USER_COLUMNS = [c for c in t.users.c if c.name != "password_hash"]


# Built once: every API request runs it, and building a statement costs more than running it.
_PRINCIPAL_BY_TOKEN = (
    sa.select(t.api_tokens.c.account_id, t.api_tokens.c.user_id, t.api_tokens.c.roles,
              t.api_tokens.c.expires_at, t.users.c.login, t.users.c.system_admin,
              t.users.c.roles.label("user_roles"))
    .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
    .where(t.api_tokens.c.token_hash == sa.bindparam("token_hash"),
           t.api_tokens.c.revoked_at.is_(None), t.users.c.disabled.is_(False))
)


class AccountQueries(Queries):
    def create_account(self, name: str, now: datetime) -> Account:
        result = self.conn.execute(
            t.accounts.insert().values(name=name, created_at=now).returning(t.accounts.c.id)
        )
        return Account(result.scalar_one(), name, now)

    def find_account(self, name: str) -> Account | None:
        row = self.conn.execute(sa.select(t.accounts).where(t.accounts.c.name == name)).first()
        return Account(row.id, row.name, row.created_at) if row else None

    def fetch_account(self, account_id: int) -> Account | None:
        row = self.conn.execute(
            sa.select(t.accounts).where(t.accounts.c.id == account_id)).first()
        return Account(row.id, row.name, row.created_at) if row else None

    def list_accounts(self) -> list[Account]:
        rows = self.conn.execute(sa.select(t.accounts).order_by(t.accounts.c.id)).all()
        return [Account(r.id, r.name, r.created_at) for r in rows]

    # -- users -----------------------------------------------------------------------------

    def count_users(self) -> int:
        return self.conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar_one()

    def create_user(
        self, account_id: int, login: str, roles: Sequence[Role], now: datetime,
        password_hash: str | None = None, *, name: str = "", email: str = "",
        system_admin: bool = False,
    ) -> int:
        return self.conn.execute(
            t.users.insert()
            .values(account_id=account_id, login=login, roles=sorted(r.value for r in roles),
                    password_hash=password_hash, name=name, email=email,
                    system_admin=system_admin, created_at=now, updated_at=now)
            .returning(t.users.c.id)
        ).scalar_one()

    def fetch_user(self, account_id: int, user_id: int) -> User | None:
        row = self.conn.execute(
            sa.select(*_USER_COLUMNS)
            .where(t.users.c.account_id == account_id, t.users.c.id == user_id)
        ).first()
        return _user(row) if row else None

    def find_login(self, login: str) -> tuple[User, str | None] | None:
        """A user and its password hash, by login, across accounts (logins are global)."""
        row = self.conn.execute(sa.select(t.users).where(t.users.c.login == login)).first()
        return (_user(row), row.password_hash) if row else None

    def login_taken(self, login: str) -> bool:
        return self.conn.execute(
            sa.select(t.users.c.id).where(t.users.c.login == login)).first() is not None

    def list_users(self, account_id: int) -> list[User]:
        rows = self.conn.execute(
            sa.select(*_USER_COLUMNS).where(t.users.c.account_id == account_id)
            .order_by(t.users.c.id)
        ).all()
        return [_user(r) for r in rows]

    def update_user(self, user_id: int, now: datetime, **fields: Any) -> None:
        if "roles" in fields:
            fields["roles"] = sorted(Role(r).value for r in fields["roles"])
        self.conn.execute(
            t.users.update().where(t.users.c.id == user_id).values(updated_at=now, **fields))

    # -- tokens ----------------------------------------------------------------------------

    def create_token(
        self, account_id: int, user_id: int, name: str, token_hash: str,
        roles: Sequence[Role], now: datetime, expires_at: datetime | None = None,
    ) -> int:
        return self.conn.execute(
            t.api_tokens.insert()
            .values(account_id=account_id, user_id=user_id, name=name, token_hash=token_hash,
                    roles=sorted(r.value for r in roles), created_at=now,
                    expires_at=expires_at)
            .returning(t.api_tokens.c.id)
        ).scalar_one()

    def list_tokens(self, account_id: int, user_id: int | None) -> list[Token]:
        query = sa.select(t.api_tokens).where(t.api_tokens.c.account_id == account_id)
        if user_id is not None:
            query = query.where(t.api_tokens.c.user_id == user_id)
        rows = self.conn.execute(query.order_by(t.api_tokens.c.id)).all()
        return [Token(r.id, r.user_id, r.name, _roles(r.roles), r.created_at, r.expires_at,
                      r.revoked_at) for r in rows]

    def revoke_token(self, account_id: int, token_id: int, user_id: int | None,
                     now: datetime) -> bool:
        query = t.api_tokens.update().where(
            t.api_tokens.c.account_id == account_id, t.api_tokens.c.id == token_id,
            t.api_tokens.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(t.api_tokens.c.user_id == user_id)
        return self.conn.execute(query.values(revoked_at=now)).rowcount == 1

    def revoke_token_by_hash(self, token_hash: str, now: datetime) -> tuple[int, int] | None:
        """Revoke the live (unrevoked, unexpired) token with this hash; its (account id, token
        id), or None when there is no such token."""
        row = self.conn.execute(
            t.api_tokens.update()
            .where(t.api_tokens.c.token_hash == token_hash, t.api_tokens.c.revoked_at.is_(None),
                   sa.or_(t.api_tokens.c.expires_at.is_(None), t.api_tokens.c.expires_at > now))
            .values(revoked_at=now)
            .returning(t.api_tokens.c.account_id, t.api_tokens.c.id)
        ).first()
        return (row.account_id, row.id) if row else None

    def find_principal_by_token(self, token_hash: str, now: datetime) -> Principal | None:
        row = self.conn.execute(_PRINCIPAL_BY_TOKEN, {"token_hash": token_hash}).first()
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return Principal(row.account_id, row.user_id, row.login, _roles(row.roles),
                         row.system_admin, user_roles=_roles(row.user_roles))

    # -- sessions --------------------------------------------------------------------------

    def create_session(self, token_hash: str, user: User, csrf_token: str,
                       now: datetime) -> None:
        self.conn.execute(t.sessions.insert().values(
            token_hash=token_hash, account_id=user.account_id, user_id=user.id,
            csrf_token=csrf_token, created_at=now, last_seen_at=now))

    def find_principal_by_session(self, token_hash: str, now: datetime, *,
                                  idle_since: datetime,
                                  created_since: datetime) -> Principal | None:
        """The session's user if it was used after `idle_since` and created after
        `created_since`; marks it used now."""
        row = self.conn.execute(
            sa.select(t.sessions.c.id, t.sessions.c.csrf_token, t.sessions.c.last_seen_at,
                      t.sessions.c.created_at,
                      t.users.c.account_id, t.users.c.id.label("user_id"), t.users.c.login,
                      t.users.c.roles, t.users.c.system_admin)
            .join(t.users, t.users.c.id == t.sessions.c.user_id)
            .where(t.sessions.c.token_hash == token_hash, t.users.c.disabled.is_(False))
        ).first()
        if row is None or row.last_seen_at <= idle_since or row.created_at <= created_since:
            return None
        # Touch at most once a minute: a write per request would serialize SQLite readers.
        if (now - row.last_seen_at).total_seconds() > 60:
            self.conn.execute(t.sessions.update().where(t.sessions.c.id == row.id)
                              .values(last_seen_at=now))
        return Principal(row.account_id, row.user_id, row.login, _roles(row.roles),
                         row.system_admin, csrf_token=row.csrf_token)

    def delete_session(self, token_hash: str) -> None:
        self.conn.execute(t.sessions.delete().where(t.sessions.c.token_hash == token_hash))

    def delete_user_sessions(self, user_id: int) -> None:
        self.conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))

    # -- audit -----------------------------------------------------------------------------

    def audit(self, account_id: int, kind: str, actor: str | None, detail: dict[str, Any],
              now: datetime) -> None:
        self.conn.execute(t.events.insert().values(
            account_id=account_id, instance_seq=None, at=now, kind=kind, actor=actor,
            detail=detail))

    def list_audit(self, account_id: int, cursor: str | None, limit: int) -> Page:
        query = sa.select(t.events).where(t.events.c.account_id == account_id,
                                          t.events.c.instance_seq.is_(None))
        if cursor:
            query = query.where(t.events.c.seq < decode_seq_cursor(cursor))
        rows = self.conn.execute(query.order_by(t.events.c.seq.desc()).limit(limit + 1)).all()
        items = [AuditEntry(r.seq, r.at, r.kind, r.actor, r.detail) for r in rows[:limit]]
        return Page(items, encode_cursor(items[-1].seq) if len(rows) > limit else None)
