"""Which driver errors mean "the database is out of reach" (503, try again) rather than "this
query failed" (a bug, or a conflict the service handles)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors as pg

from flowport.errors import Unavailable
from flowport.store import Store
from flowport.store.database import out_of_reach


def wrapped(orig: Exception, cls: type[sa.exc.DBAPIError] = sa.exc.OperationalError
            ) -> sa.exc.DBAPIError:
    return cls("SELECT 1", {}, orig)


@pytest.mark.parametrize(("orig", "expected"), [
    (psycopg.OperationalError("connection failed: server closed the connection"), True),
    (pg.AdminShutdown("terminating connection due to administrator command"), True),
    (pg.CannotConnectNow("the database system is starting up"), True),
    (pg.ConnectionFailure("connection failure"), True),
    (pg.SerializationFailure("could not serialize access"), False),
    (pg.DeadlockDetected("deadlock detected"), False),
    (pg.QueryCanceled("canceling statement due to statement timeout"), False),
    (sqlite3.OperationalError("database is locked"), False),
])
def test_what_counts_as_out_of_reach(orig: Exception, expected: bool) -> None:
    assert out_of_reach(wrapped(orig)) is expected


def test_an_interface_error_or_an_invalidated_connection_is_out_of_reach() -> None:
    assert out_of_reach(wrapped(psycopg.InterfaceError("connection already closed"),
                                sa.exc.InterfaceError))
    lost = wrapped(pg.SerializationFailure("x"))
    lost.connection_invalidated = True
    assert out_of_reach(lost)
    assert not out_of_reach(wrapped(pg.UniqueViolation("duplicate"), sa.exc.IntegrityError))


def test_a_store_that_cannot_connect_raises_unavailable_quickly() -> None:
    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(Unavailable, match="out of reach"), store.transaction():
            pass
    finally:
        store.dispose()
