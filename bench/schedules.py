"""`python -m bench.schedules`: how fast schedules compute their fire times and get served.

1. The pure next-fire function: microseconds per `Timing.next_fire` call for a few crons and
   zones, and milliseconds for `upcoming(1000)`.
2. The scheduler: due schedules served per second by `fire_due_schedules` (one transaction
   each: claim, start a straight-through instance, history line, advance), on SQLite and on
   PostgreSQL when it answers; beside it, plain starts through `start_instance` on the same
   database, so the ratio shows what serving a schedule adds to a start.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import diagram
from bench.inprocess import DEFAULT_PG_ADMIN_URL
from flowport.clock import FixedClock
from flowport.config import Settings
from flowport.domain.schedules import Timing
from flowport.services import auth, processes, scheduler, schedules
from flowport.services import instances as run
from flowport.services.context import Context
from flowport.store.migrate import upgrade

T0 = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # two days before Berlin springs forward
TIMINGS = [
    ("every second, UTC", {"cron": "* * * * * *", "timezone": "UTC"}),
    ("every 15 min, Berlin", {"cron": "*/15 * * * *", "timezone": "Europe/Berlin"}),
    ("weekdays 09:30, New York", {"cron": "30 9 * * mon-fri", "timezone": "America/New_York"}),
    ("every minute, window 09-17 + holidays",
     {"cron": "* * * * *", "timezone": "Europe/Berlin", "window": {"start": "09:00",
                                                                     "end": "17:00"},
      "calendar": ["2026-03-30", "2026-04-03", "2026-04-06"]}),
]


def pure() -> None:
    print(f"{'timing':45} {'next_fire µs':>13} {'upcoming(1000) ms':>18}")
    for name, kw in TIMINGS:
        timing = Timing.build(**kw)
        calls, start = 0, time.perf_counter()
        at: datetime | None = T0
        while time.perf_counter() - start < 0.5:
            at = timing.next_fire(at or T0)
            calls += 1
        per_call = (time.perf_counter() - start) / calls * 1e6
        start = time.perf_counter()
        assert len(timing.upcoming(T0, 1000)) == 1000
        print(f"{name:45} {per_call:13.1f} {(time.perf_counter() - start) * 1e3:18.1f}")


def served(url: str, count: int = 300) -> tuple[float, float]:
    """(schedules served per second, plain starts per second) on one database."""
    clock = FixedClock(T0)
    ctx = Context.build(Settings(database_url=url, run_loops=False), clock=clock)
    try:
        _, token = auth.create_account_with_admin(ctx, f"bench-{uuid.uuid4().hex[:8]}", "b")
        who = auth.authenticate(ctx, token)
        key = f"p{uuid.uuid4().hex[:8]}"
        processes.create_process(ctx, who, processes.CreateProcess(key=key))
        processes.deploy_version(ctx, who, key, processes.DeployVersion(
            "straight.bpmn", diagram.xml(), diagram.PARAMETERS, diagram.OUTPUTS,
            diagram.BPMN_PROCESS_ID))
        for _ in range(count):
            schedules.create_schedule(ctx, who, schedules.CreateSchedule(
                process_key=key, cron="* * * * * *", variables=diagram.variables(1)))
        clock.advance(timedelta(seconds=1))
        start = time.perf_counter()
        assert scheduler.fire_due_schedules(ctx, limit=count) == count
        serving = count / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(count):
            run.start_instance(ctx, who, run.StartInstance(key, diagram.variables(1)))
        return serving, count / (time.perf_counter() - start)
    finally:
        ctx.store.dispose()


def _postgres() -> str | None:
    admin_url = os.environ.get("FLOWPORT_TEST_POSTGRES_URL", DEFAULT_PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"flowport_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError:
        return None
    finally:
        admin.dispose()
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def _drop(url: str) -> None:
    admin_url = os.environ.get("FLOWPORT_TEST_POSTGRES_URL", DEFAULT_PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" '
                             "WITH (FORCE)")
    admin.dispose()


def main() -> None:
    pure()
    print(f"\n{'database':12} {'served/s':>10} {'plain starts/s':>15} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        rows = [("sqlite", *served(url))]
    pg = _postgres()
    if pg is not None:
        try:
            rows.append(("postgresql", *served(pg)))
        finally:
            _drop(pg)
    for name, serving, plain in rows:
        print(f"{name:12} {serving:10.0f} {plain:15.0f} {serving / plain:7.2f}")


if __name__ == "__main__":
    main()
