"""Shared fixtures. Every test that touches a database runs once per database in
FLOWPORT_TEST_DATABASES (default: sqlite, plus postgresql when it answers; in CI both are
required and an unreachable PostgreSQL fails the run instead of skipping)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowport.clock import FixedClock
from flowport.config import Settings
from flowport.domain.accounts import Principal
from flowport.engine import ScriptPool
from flowport.services import auth
from flowport.services.context import Context, script_pool
from flowport.store import Store
from flowport.store.migrate import upgrade
from flowport.store.tables import metadata

PG_ADMIN_URL = os.environ.get(
    "FLOWPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parent.parent / "examples"


def _postgres_answers() -> bool:
    engine = sa.create_engine(PG_ADMIN_URL)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _databases() -> list[str]:
    wanted = os.environ.get("FLOWPORT_TEST_DATABASES")
    if wanted:
        return [d.strip() for d in wanted.split(",") if d.strip()]
    return ["sqlite", "postgresql"] if IN_CI or _postgres_answers() else ["sqlite"]


DATABASES = _databases()


def pytest_report_header() -> str:
    return f"flowport databases: {', '.join(DATABASES)}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if "postgresql" not in DATABASES and not os.environ.get("FLOWPORT_TEST_DATABASES"):
        terminalreporter.write_line(
            "WARNING: PostgreSQL was not reachable; database tests ran on SQLite only",
            yellow=True,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `postgresql` (LISTEN/NOTIFY, replicas, a cut link, deadlock detection)
    has no SQLite variant: it is deselected there, not skipped, so skips keep meaning
    something is missing."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_sqlite = params.get("database_url") == "sqlite"
        (dropped if on_sqlite and item.get_closest_marker("postgresql") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A scratch database for this run, migrated once, dropped at the end."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"flowport_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.exit(f"PostgreSQL at {PG_ADMIN_URL} is required but unreachable: {exc}", 3)
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "flowport.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "flowport.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, run_loops=False)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ScriptPool]:
    """One pool of script workers for the whole run: starting workers per test is slow."""
    pool = script_pool(Settings())
    assert pool is not None
    yield pool
    pool.close()


@pytest.fixture
def ctx(settings: Settings, clock: FixedClock, sandbox: ScriptPool) -> Iterator[Context]:
    context = Context.build(settings, clock=clock, sandbox=sandbox)
    yield context
    context.close()


@pytest.fixture
def store(ctx: Context) -> Store:
    return ctx.store


def _principal(ctx: Context, account: str, login: str) -> tuple[Principal, str]:
    _, token = auth.create_account_with_admin(ctx, account, login)
    return auth.authenticate(ctx, token), token


@pytest.fixture
def admin_token(ctx: Context) -> str:
    return _principal(ctx, "acme", "alice")[1]


@pytest.fixture
def admin(ctx: Context, admin_token: str) -> Principal:
    return auth.authenticate(ctx, admin_token)


@pytest.fixture
def other_token(ctx: Context) -> str:
    """An admin of a second account: everything of the first must be invisible to it."""
    return _principal(ctx, "globex", "mallory")[1]


@pytest.fixture
def other(ctx: Context, other_token: str) -> Principal:
    return auth.authenticate(ctx, other_token)


def bpmn(name: str) -> bytes:
    return (FIXTURES / "bpmn" / name).read_bytes()


HOUR = timedelta(hours=1)


@pytest.fixture
def scripted(ctx: Context):
    """An executor named "test" that logs its calls and answers as each test says
    (tests/steps_support.py)."""
    from steps_support import Scripted

    executor = Scripted()
    ctx.executors.add("test", executor)
    return executor
