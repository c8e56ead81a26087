"""Connecting to SQLite or PostgreSQL: the only place that knows which one it is talking to.

SQLite runs in WAL mode; write transactions take the write lock up front (BEGIN IMMEDIATE) so
two writers never deadlock upgrading a read lock. PostgreSQL gets row locks from FOR UPDATE
(SQLAlchemy drops that clause on SQLite, where the whole database is the lock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

WRITE = "flowport_write"


def create_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # No pre-ping: it costs a round trip per transaction. A connection the server dropped
    # fails its first use instead; SQLAlchemy then invalidates the pool, the store answers
    # Unavailable (503) for that one request, and the next one reconnects.
    # A database that does not answer must not hold requests for the OS's TCP timeouts: give
    # up connecting after 5 s, and notice a silent peer through keepalives.
    return sa.create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
        connect_args={"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10,
                      "keepalives_interval": 5, "keepalives_count": 2},
    )


def _sqlite_engine(url: str) -> sa.Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Every transaction ends in an explicit COMMIT or ROLLBACK (Store.transaction), so the
    # pool's own rollback on check-in would only add a call to each one.
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                              pool_reset_on_return=None)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's begin event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE, True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


# SQLSTATE classes and codes that mean "the server is gone or going", not "this query is
# wrong": connection exceptions, and the server shutting down or not yet up.
_OUT_OF_REACH = ("08", "57P01", "57P02", "57P03")


def out_of_reach(exc: sa.exc.DBAPIError) -> bool:
    """Did `exc` happen because the database could not be reached (rather than because of what
    was asked of it)? Then the request may be tried again later."""
    if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is None:
        # SQLite's operational errors (a locked file, say) are not about reaching it; a
        # PostgreSQL error without a SQLSTATE comes from the client: the link failed.
        return type(exc.orig).__module__.startswith("psycopg")
    return sqlstate.startswith(_OUT_OF_REACH)


# Serialization failure and deadlock: PostgreSQL chose this transaction to undo so another
# could go on; the same request, sent again, will most likely succeed.
_TRY_AGAIN = ("40001", "40P01")


def gave_way(exc: sa.exc.DBAPIError) -> bool:
    """Was the transaction rolled back only to let a concurrent one through (a deadlock or a
    serialization failure on PostgreSQL, a write lock held past the busy timeout on SQLite)?"""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _TRY_AGAIN
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(exc.orig)


def is_postgresql(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"
