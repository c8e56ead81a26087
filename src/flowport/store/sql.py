"""The store: every query Flowport makes, named by what it is for.

`Store.transaction()` opens one transaction and yields a `Tx`; a service does all its reading and
writing through that one `Tx`, so a use case commits whole or not at all. Every method that
reads or writes an account's objects takes the account id: tenancy is part of each query, not
something a caller may forget to add. The queries live in one module per concept; `Tx` is their
union.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import sqlalchemy as sa

from flowport.errors import Unavailable
from flowport.store import tables as t
from flowport.store.accounts import AccountQueries
from flowport.store.base import Duplicate, Savepoint
from flowport.store.database import WRITE, create_engine, gave_way, out_of_reach
from flowport.store.drafts import DraftQueries
from flowport.store.instances import InstanceQueries
from flowport.store.jobs import JobQueries
from flowport.store.overview import OverviewQueries
from flowport.store.processes import ProcessQueries
from flowport.store.records import RecordQueries
from flowport.store.relay import PgRelay
from flowport.store.robot_logs import RobotLogQueries
from flowport.store.robots import RobotQueries
from flowport.store.schedules import ScheduleQueries
from flowport.store.steps import StepQueries


class Store:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        # SQLite takes one writer at a time and makes the others wait in its busy handler,
        # which sleeps and polls (up to 100 ms a nap): under a few concurrent writers the
        # tail latency was seconds. Threads of this process queue on a lock instead and get
        # the write lock the moment it is free; other processes still meet the busy handler.
        self._writer = WriterGate() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        gate = self._writer if write and self._writer is not None else nullcontext()
        try:
            with gate, self.engine.connect().execution_options(**{WRITE: write}) as conn, \
                    conn.begin():
                tx = Tx(conn)
                yield tx
        except sa.exc.IntegrityError as exc:
            raise Duplicate(str(exc.orig)) from exc
        except sa.exc.DBAPIError as exc:
            if out_of_reach(exc):
                # Rolled back, or never begun; a lost COMMIT may have landed: a client that
                # retries a start sends an Idempotency-Key.
                raise Unavailable("the database is out of reach; try again shortly") from exc
            if gave_way(exc):
                raise Unavailable("the database undid this request to let a concurrent one "
                                  "through; send it again") from exc
            raise
        for callback in tx.committed:
            callback()

    def relay(self, deliver: Callable[[str], None], on_gap: Callable[[], None]
              ) -> PgRelay | None:
        """Wake-ups between processes sharing this database; None on SQLite, where one
        process owns the file."""
        if self.dialect != "postgresql":
            return None
        return PgRelay(self.url, deliver, on_gap)

    def ping(self) -> None:
        with self.transaction(write=False) as tx:
            tx.conn.exec_driver_sql("SELECT 1")

    def create_schema(self) -> None:
        """For tests and throwaway databases; real ones go through `flowport db upgrade`."""
        t.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


class WriterGate:
    """A re-entrant lock with SQLite's own patience: a writer that waited as long as SQLite's
    busy timeout gets the same error SQLite would have given."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._lock = threading.RLock()
        self._timeout = timeout

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=self._timeout):
            raise Unavailable("the database is busy; try again")

    def __exit__(self, *_: object) -> None:
        self._lock.release()


class Tx(AccountQueries, ProcessQueries, InstanceQueries, RecordQueries, ScheduleQueries,
         DraftQueries, StepQueries, OverviewQueries, RobotQueries, JobQueries,
         RobotLogQueries):
    """One open transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        super().__init__(conn)
        self.committed: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the transaction has committed (never if it rolls back): to wake
        whoever waits for what it wrote."""
        self.committed.append(callback)

    def savepoint(self) -> Savepoint:
        """A point to roll back to without ending the transaction."""
        return self.conn.begin_nested()
