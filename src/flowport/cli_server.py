"""`flowport serve`, `worker` and `db upgrade`: the server side. Settings are built here, at
the entry point, and passed down."""

from __future__ import annotations

import os
import re
import secrets
import signal
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowport import __version__, bundles
from flowport.cli_common import fail, note

if TYPE_CHECKING:
    from flowport.config import Settings
    from flowport.domain.accounts import Principal
    from flowport.services.context import Context


def build_settings(**overrides: Any) -> Settings:
    """FLOWPORT_* environment variables, overridden by command-line options that were given."""
    from flowport.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:  # pydantic's ValidationError
        fail(f"invalid settings: {exc}")


def redact(url: str) -> str:
    return re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", url)


def setup_logging(level: str) -> None:
    import logging

    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "debug":
        for chatty in ("alembic", "httpx"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def migrate(settings: Settings) -> None:
    from flowport.store.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except Exception as exc:  # any driver error: say what and where, then stop
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"cannot migrate {redact(settings.database_url)}: {first}")


database_option = click.option("--database-url", help="Database URL (env FLOWPORT_DATABASE_URL; "
                               "default: SQLite file var/flowport.db).")
log_option = click.option("--log-level", default="info", show_default=True,
                          type=click.Choice(["debug", "info", "warning", "error"]))


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@database_option
def db_upgrade(database_url: str | None) -> None:
    """Migrate the database to the latest schema."""
    settings = build_settings(database_url=database_url)
    migrate(settings)
    note(f"{redact(settings.database_url)} is at the latest schema")


def start_scripts(ctx: Context) -> None:
    """Start the script workers before serving, so that a host which cannot run them is
    reported now, not on the first script task."""
    from flowport.errors import Unavailable

    try:
        ctx.engine.warm()
    except Unavailable as exc:
        ctx.close()
        fail(f"{exc.message}\n  (FLOWPORT_SCRIPT_WORKERS=0 runs script tasks inside the server, "
             "without process isolation)")
    pool = ctx.engine.sandbox
    if pool is None:
        note("script tasks run inside the server (FLOWPORT_SCRIPT_WORKERS=0): no isolation")
    else:
        note(f"script tasks run in {pool.size} confined worker processes "
             f"(network guard: {pool.confinement.get('network', '?')})")


def system_principal(ctx: Context) -> Principal | None:
    """An administrator of the default account, for work the server does on its own behalf."""
    from flowport.domain.accounts import Principal, Role
    from flowport.services.auth import DEFAULT_ACCOUNT

    with ctx.store.transaction(write=False) as tx:
        account = tx.find_account(DEFAULT_ACCOUNT)
    if account is None:
        return None
    return Principal(account.id, None, "flowport-serve", frozenset({Role.ADMIN}))


def deploy_examples(ctx: Context, root: Path) -> None:
    """Deploy every process under `root` through the services; identical content is kept."""
    from flowport.domain.processes import ProcessType
    from flowport.errors import Conflict, FlowportError
    from flowport.services import processes as svc

    who = system_principal(ctx)
    if who is None:
        note("examples: no 'default' account in this database; skipped")
        return
    try:
        paths = bundles.targets(root)
    except bundles.BundleError as exc:
        note(f"examples: {exc}")
        return
    for path in paths:
        try:
            b = bundles.load(path)
            with suppress(Conflict):  # it exists: add a version if the content changed
                svc.create_process(ctx, who, svc.CreateProcess(
                    key=b.key, name=b.name, description=b.description,
                    process_type=ProcessType(b.process_type),
                    min_version_to_run=b.min_version_to_run, **b.robot_policy))
            deployed = svc.deploy_version(ctx, who, b.key, svc.DeployVersion(
                b.file_name, b.content, b.parameters, b.outputs, b.bpmn_process_id))
        except bundles.BundleError as exc:
            note(f"examples: {exc}")
        except FlowportError as exc:
            note(f"examples: {path}: {exc.message}")
        else:
            state = "deployed" if deployed.created else "unchanged"
            note(f"examples: {b.key} v{deployed.version.number} {state}")


def write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)


def banner(settings: Settings, created: str | None, token_file: Path | None,
           password: str | None = None) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{settings.port}"
    lines = [f"Flowport {__version__} starting on {url}",
             f"  console:   {url}/",
             f"  API docs:  {url}/docs",
             f"  database:  {redact(settings.database_url)}",
             "  authenticate every request with the header  Authorization: Bearer <token>"]
    token_ref = "<token>"
    if created and settings.bootstrap_admin_token:
        lines.append("  admin created with the token in FLOWPORT_BOOTSTRAP_ADMIN_TOKEN")
        token_ref = "$FLOWPORT_BOOTSTRAP_ADMIN_TOKEN"
    elif created:
        saved = f" (saved to {token_file})" if token_file else ""
        lines.append(f"  admin token, shown once{saved}:  {created}")
        token_ref = created
    elif token_file and token_file.is_file():
        lines.append(f"  the admin token is in {token_file}")
        token_ref = f"$(cat {token_file})"
    else:
        lines.append("  use an API token of this database (`flowport token create NAME` "
                     "makes more)")
    lines.append(f"  for the CLI:  export FLOWPORT_URL={url} FLOWPORT_TOKEN={token_ref}")
    if password and settings.bootstrap_admin_password:
        lines.append("  console login: admin, with the password in "
                     "FLOWPORT_BOOTSTRAP_ADMIN_PASSWORD")
    elif password:
        lines.append(f"  console login, shown once:  admin / {password}")
    else:
        lines.append("  console login: your user; `flowport user set-password LOGIN` (run "
                     "here) sets a password")
    return "\n".join(lines)


@click.command()
@click.option("--host", help="Address to listen on (env FLOWPORT_HOST) [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535),
              help="Port (env FLOWPORT_PORT) [default: 8080].")
@database_option
@click.option("--examples", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Deploy every process in this directory first (unchanged ones are kept).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a generated admin token to this file (mode 0600).")
@log_option
def serve(host: str | None, port: int | None, database_url: str | None, examples: Path | None,
          token_file: Path | None, log_level: str) -> None:
    """Migrate the database, create the first admin if there is none, and serve the API."""
    import uvicorn

    from flowport.api.app import create_app
    from flowport.errors import FlowportError
    from flowport.services import auth
    from flowport.services.context import Context

    settings = build_settings(host=host, port=port, database_url=database_url)
    setup_logging(log_level)
    migrate(settings)
    ctx = Context.build(settings)
    start_scripts(ctx)
    try:
        password = settings.bootstrap_admin_password or secrets.token_urlsafe(12)
        try:
            created = auth.bootstrap_admin(ctx, settings.bootstrap_admin_token, password)
        except FlowportError as exc:
            fail(f"FLOWPORT_BOOTSTRAP_ADMIN_PASSWORD: {exc.message}")
        if created and token_file and not settings.bootstrap_admin_token:
            write_secret(token_file, created)
        if examples:
            deploy_examples(ctx, examples)
        click.echo(banner(settings, created, token_file, password if created else None))
        sys.stdout.flush()
        # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal; with
        # these handlers that ends in a clean exit 0 instead of death by signal.
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, _stopped)
        ctx.start_relay()
        config = uvicorn.Config(create_app(ctx), host=settings.host, port=settings.port,
                                log_level=log_level, timeout_graceful_shutdown=10,
                                server_header=False)
        with suppress(_Stopped):
            _server_class()(config, ctx).run()
        note("flowport stopped")
    finally:
        ctx.close()


class _Stopped(Exception):
    pass


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn stops accepting connections and lets requests finish; long-polls and
        launch-and-wait requests are told at once, so they answer (no job, or 202) instead of
        holding the shutdown up."""

        def __init__(self, config: uvicorn.Config, ctx: Context) -> None:
            super().__init__(config)
            self.ctx = ctx

        def handle_exit(self, sig: int, frame: Any) -> None:
            # From another thread: the signal may have interrupted this one inside the
            # notifier's lock.
            threading.Thread(target=self.ctx.notifier.close, daemon=True).start()
            super().handle_exit(sig, frame)

    return Server


def _stopped(_signum: int, _frame: object) -> None:
    raise _Stopped


@click.command()
@database_option
@log_option
def worker(database_url: str | None, log_level: str) -> None:
    """Run the background loops (timers, schedules, executor steps and hooks, robot leases and
    deadlines) only, until SIGTERM or Ctrl-C."""
    from flowport.loops import background_loops
    from flowport.services.context import Context

    settings = build_settings(database_url=database_url)
    setup_logging(log_level)
    ctx = Context.build(settings)
    start_scripts(ctx)
    ctx.start_relay()
    loops = background_loops(ctx)
    note(f"flowport worker on {redact(settings.database_url)}; stop with Ctrl-C or SIGTERM")
    try:
        if hasattr(signal, "sigwait"):
            # Block the signals in this thread (the loops' threads inherit the mask) and wait
            # for one here: no handler ever runs inside the loops' locks.
            stops = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stops)
            for loop in loops:
                loop.start()
            signal.sigwait(stops)
            for loop in loops:
                loop.stop()
        else:  # pragma: no cover - platforms without POSIX signals
            for loop in loops[1:]:
                loop.start()
            with suppress(KeyboardInterrupt):
                loops[0].run()
            for loop in loops[1:]:
                loop.stop()
    finally:
        ctx.close()
    note("flowport worker stopped")
