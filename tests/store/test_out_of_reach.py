"""Which driver errors mean "the database is out of reach" (503, try again) rather than "this
query failed" (a bug, or a conflict the service handles)."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors as pg

from flowport.errors import Unavailable
from flowport.store import Store
from flowport.store.database import gave_way, out_of_reach


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


@pytest.mark.parametrize(("orig", "expected"), [
    (pg.SerializationFailure("could not serialize access"), True),
    (pg.DeadlockDetected("deadlock detected"), True),
    (sqlite3.OperationalError("database is locked"), True),
    (pg.QueryCanceled("canceling statement due to statement timeout"), False),
    (sqlite3.OperationalError("no such table: x"), False),
    (psycopg.OperationalError("connection failed"), False),
])
def test_what_counts_as_giving_way_to_another_transaction(orig: Exception,
                                                          expected: bool) -> None:
    assert gave_way(wrapped(orig)) is expected


@pytest.mark.postgresql
def test_a_deadlock_victim_is_told_to_send_again(store) -> None:
    """Two transactions lock two rows in opposite orders: PostgreSQL undoes one of them, and
    the store says so as Unavailable (503, Retry-After) rather than a 500."""

    with store.transaction() as tx:
        tx.conn.exec_driver_sql("CREATE TABLE pair (id int primary key, n int)")
        tx.conn.exec_driver_sql("INSERT INTO pair VALUES (1, 0), (2, 0)")
    both_hold_one = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def cross(first: int, second: int) -> None:
        try:
            with store.transaction() as tx:
                tx.conn.exec_driver_sql(f"UPDATE pair SET n = n + 1 WHERE id = {first}")
                both_hold_one.wait()
                tx.conn.exec_driver_sql(f"UPDATE pair SET n = n + 1 WHERE id = {second}")
            outcomes.append("committed")
        except Unavailable as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=cross, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes)[0] == "committed"
    assert "send it again" in sorted(outcomes)[1]
