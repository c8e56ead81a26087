"""Part (a): the straight-through diagram in one process, one thread.

1. raw SpiffWorkflow in memory: the spec parsed once; per instance a new BpmnWorkflow, the
   start variables on the start task, do_engine_steps.
2. Flowport's Engine.start in memory, with a dict-backed record store: with the script tasks in
   the calling thread, and in the sandbox's worker processes (the difference, per script task,
   is what isolation costs).
3. durable starts through the service layer (`services.instances.start_instance`), one
   transaction each, on SQLite and PostgreSQL, configured as `flowport serve` is (scripts in
   workers); on SQLite also with the scripts in the calling thread.
4. the store's single-row commit rate on the same database: `Store.transaction()` +
   `tx.insert_record`, i.e. SQLAlchemy Core insert + commit.

The raw SpiffWorkflow baseline imports SpiffWorkflow directly: it is the yardstick, not part of
Flowport.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import diagram
from bench.report import progress

DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


Workload = Callable[[int], None]  # runs instance i; raises if it did not complete correctly


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def run_for(fn: Workload, seconds: float, warmup: float = 0.0) -> Rate:
    """Call fn for `warmup` seconds untimed (with negative instance numbers), then
    fn(0), fn(1), ... for `seconds`; the rate of the timed part."""
    if warmup > 0:
        i, end = -1, time.perf_counter() + warmup
        while time.perf_counter() < end:
            fn(i)
            i -= 1
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        fn(n)
        n += 1
        now = time.perf_counter()
    return Rate(n, now - start)


# -- 1. raw SpiffWorkflow -----------------------------------------------------------------


def raw_spiff() -> Workload:
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_str(diagram.xml())
    spec = parser.get_spec(diagram.BPMN_PROCESS_ID)

    def one(i: int) -> None:
        workflow = BpmnWorkflow(spec)
        workflow.get_tasks(state=TaskState.READY)[0].data.update(diagram.variables(i))
        workflow.do_engine_steps()
        if not workflow.is_completed() or workflow.data.get("label") != diagram.expected_label(i):
            raise RuntimeError(f"raw SpiffWorkflow did not complete instance {i}")

    return one


# -- 2. Flowport's engine in memory -------------------------------------------------------


class MemoryRecords:
    """A trivial in-memory RecordAccess: the engine's cost without a database."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {}

    def list(self, entity: str) -> list[dict[str, Any]]:
        return [{"id": k, **v} for k, v in self._data.get(entity, {}).items()]

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        found = self._data.get(entity, {}).get(record_id)
        return None if found is None else {"id": record_id, **found}

    def add(self, entity: str, data: dict[str, Any]) -> str:
        record_id = str(uuid.uuid4())
        self._data.setdefault(entity, {})[record_id] = dict(data)
        return record_id

    def put(self, entity: str, record_id: str, data: dict[str, Any]) -> None:
        self._data.setdefault(entity, {})[record_id] = dict(data)

    def delete(self, entity: str, record_id: str) -> bool:
        return self._data.get(entity, {}).pop(record_id, None) is not None

    @contextmanager
    def scope(self) -> Iterator[None]:
        yield


def engine_in_memory(sandbox: Any = None, *, in_worker: bool = False) -> Workload:
    """`in_worker`: the variant of the diagram whose scripts cannot stay in the server."""
    from flowport.config import Settings
    from flowport.engine import Engine, compile_bpmn

    compiled = compile_bpmn(diagram.xml(in_worker=in_worker))
    engine = Engine(script_time_limit=Settings.model_fields["script_time_limit"].default,
                    sandbox=sandbox)
    records = MemoryRecords()

    def one(i: int) -> None:
        step = engine.start(compiled.spec, diagram.variables(i), records=records,
                            now=datetime.now(UTC))
        if step.status != "completed" or step.variables.get("label") != diagram.expected_label(i):
            raise RuntimeError(f"Engine.start did not complete instance {i}: {step.status} "
                               f"{step.error}")

    return one


@contextmanager
def engine_isolated() -> Iterator[Workload]:
    """Engine.start in memory with the scripts in a worker pool configured as `serve`'s, on
    the diagram variant whose scripts each need a worker."""
    from flowport.config import Settings
    from flowport.services.context import script_pool

    pool = script_pool(Settings(script_workers=max(
        1, Settings.model_fields["script_workers"].default)))
    assert pool is not None
    try:
        pool.warm()
        yield engine_in_memory(pool, in_worker=True)
    finally:
        pool.close()


# -- 3 and 4. durable, through the services -----------------------------------------------


@dataclass
class Durable:
    """A migrated database with an admin and the diagram deployed, ready to start."""

    ctx: Any  # flowport.services.context.Context
    who: Any  # flowport.domain.accounts.Principal

    def start(self, i: int) -> None:
        from flowport.domain.instances import Status
        from flowport.services.instances import StartInstance, start_instance

        started = start_instance(self.ctx, self.who,
                                 StartInstance(diagram.PROCESS_KEY, diagram.variables(i)))
        instance = started.instance
        if instance.status is not Status.COMPLETED:
            raise RuntimeError(f"instance {instance.id} is {instance.status.value}: "
                               f"{instance.error}")


@contextmanager
def durable(url: str, script_workers: int | None = None) -> Iterator[Durable]:
    """`script_workers` None: as configured by default (the sandbox on); 0: in the thread."""
    from flowport.config import Settings
    from flowport.services import auth, processes
    from flowport.services.context import Context
    from flowport.store.migrate import upgrade

    upgrade(url)
    workers = {} if script_workers is None else {"script_workers": script_workers}
    ctx = Context.build(Settings(database_url=url, run_loops=False, **workers))
    ctx.engine.warm()
    try:
        _, token = auth.create_account_with_admin(ctx, "bench", "bench")
        who = auth.authenticate(ctx, token)
        processes.create_process(ctx, who, processes.CreateProcess(
            key=diagram.PROCESS_KEY, name="Bench: straight through"))
        processes.deploy_version(ctx, who, diagram.PROCESS_KEY, processes.DeployVersion(
            diagram.DIAGRAM.name, diagram.xml(), diagram.PARAMETERS, diagram.OUTPUTS))
        yield Durable(ctx, who)
    finally:
        ctx.close()


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="flowport-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


def pg_admin_url() -> str:
    return (os.environ.get("FLOWPORT_BENCH_POSTGRES_URL")
            or os.environ.get("FLOWPORT_TEST_POSTGRES_URL") or DEFAULT_PG_ADMIN_URL)


@contextmanager
def postgres_url(admin_url: str) -> Iterator[str | None]:
    """A scratch database `bench_<random>` on the admin URL's server, dropped at the end;
    None (and nothing created) when the server does not answer."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except sa.exc.OperationalError as exc:
            first = str(exc.orig or exc).strip().splitlines()[0]
            progress(f"PostgreSQL at {sa.make_url(admin_url).render_as_string()} is not "
                     f"reachable, skipped: {first}")
            yield None
            return
        try:
            yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


@contextmanager
def commits(url: str) -> Iterator[Workload]:
    """One small record per transaction through the store: SQLAlchemy Core insert + commit,
    with the engine settings (WAL, BEGIN IMMEDIATE, pool) the services use."""
    from flowport.store import Store
    from flowport.store.migrate import upgrade

    upgrade(url)
    store = Store(url)
    try:
        with store.transaction() as tx:
            account = tx.find_account("bench-commits") or tx.create_account(
                "bench-commits", datetime.now(UTC))

        def one(i: int) -> None:
            with store.transaction() as tx:
                tx.insert_record(account.id, "bench_commits", str(uuid.uuid4()), {"n": i},
                                 datetime.now(UTC))

        yield one
    finally:
        store.dispose()


def profile_durable(url: str, seconds: float, warmup: float, top: int = 30) -> str:
    """cProfile of durable starts: the top functions by own time and by cumulative time."""
    with durable(url) as d:
        run_for(d.start, 0, warmup)
        profiler = cProfile.Profile()
        profiler.enable()
        rate = run_for(d.start, seconds)
        profiler.disable()
    out = io.StringIO()
    out.write(f"{rate.count} durable starts in {rate.seconds:.2f} s under cProfile "
              f"({rate.per_second:,.0f}/s; the profiler slows everything down)\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()
