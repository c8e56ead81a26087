"""The `flowport` command.

Server side (`serve`, `worker`, `db upgrade`) builds the settings here, at the entry point, and
passes them down. Everything else talks to a running server through `flowport.client`, with the
server URL and token from `--server`/`--token` or FLOWPORT_URL/FLOWPORT_TOKEN, and prints JSON.
Errors go to stderr as the server's problem detail, with exit status 1.
"""

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
from flowport.cli_common import Remote, describe, emit, fail, note, parse_pairs
from flowport.cli_schedules import schedules
from flowport.client import ApiError, Client
from flowport.robot.start import command as robot_command

if TYPE_CHECKING:
    from flowport.config import Settings
    from flowport.domain.accounts import Principal
    from flowport.services.context import Context

DEFAULT_SERVER = "http://127.0.0.1:8080"
ACTIVE = ("created", "pending", "running", "waiting", "stopping", "aborting")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowport")
@click.option("--server", envvar="FLOWPORT_URL", default=DEFAULT_SERVER, show_default=True,
              help="Server URL (env FLOWPORT_URL).")
@click.option("--token", envvar="FLOWPORT_TOKEN", help="API token (env FLOWPORT_TOKEN).")
@click.option("--http-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Seconds to wait for the server's answer.")
@click.pass_context
def main(ctx: click.Context, server: str, token: str | None, http_timeout: float) -> None:
    """Flowport: deploy, start, watch and complete business processes."""
    ctx.obj = Remote(server, token or None, http_timeout)


# -- server side --------------------------------------------------------------------------


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


@main.group()
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


@main.command()
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


@main.command()
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


# -- client side --------------------------------------------------------------------------


def deploy_one(api: Client, b: bundles.Bundle) -> dict[str, Any]:
    try:
        api.create_process(b.key, b.name, b.description, b.process_type, b.min_version_to_run,
                           **b.robot_policy)
    except ApiError as exc:
        if exc.status != 409:
            raise
    deployed = api.deploy_version(b.key, b.content, b.file_name, b.parameters, b.outputs,
                                  b.bpmn_process_id)
    return {"key": b.key, "version": deployed.version["number"], "created": deployed.created,
            "file": str(b.path)}


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--key", help="Process key (default: from the sidecar or the BPMN process id).")
@click.option("--name", help="Process name for a new process.")
@click.pass_obj
def deploy(remote: Remote, path: Path, key: str | None, name: str | None) -> None:
    """Deploy a .bpmn/.robot/.py/.zip file, or every process under a directory.

    Each file may have a sidecar NAME.flowport.json beside it with key, name, description,
    process_type, parameters and outputs. Prints one {key, version, created, file} per process.
    """
    try:
        paths = bundles.targets(path, key=key, name=name)
    except bundles.BundleError as exc:
        fail(str(exc))
    results, failures = [], 0
    with remote.client() as api:
        for each in paths:
            try:
                results.append(deploy_one(api, bundles.load(each, key=key, name=name)))
            except bundles.BundleError as exc:
                note(f"flowport: {exc}")
                failures += 1
            except ApiError as exc:
                note(f"flowport: {each}: {describe(exc)}")
                failures += 1
    emit(results)
    if failures:
        raise click.exceptions.Exit(1)


@main.command()
@click.option("--search", help="Only processes whose key or name contains this.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.pass_obj
def processes(remote: Remote, search: str | None, limit: int) -> None:
    """List processes."""
    with remote.client() as api:
        emit(api.list_processes(search=search, limit=limit))


@main.command()
@click.argument("key")
@click.option("--var", "-v", "pairs", multiple=True, metavar="NAME=VALUE",
              help="A variable; VALUE is JSON when it parses, else text. Repeatable.")
@click.option("--json-vars", metavar="JSON", help="Variables as one JSON object.")
@click.option("--version", type=click.IntRange(min=1), help="Version number (default: current).")
@click.option("--business-key")
@click.option("--idempotency-key", help="A repeat with the same key returns the first instance.")
@click.option("--wait", is_flag=True, help="Wait for the end (or for --variable).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True, max=3600), default=30.0,
              show_default=True, help="Seconds to wait with --wait.")
@click.option("--variable", help="With --wait: return once this variable is set.")
@click.option("--debug/--no-debug", default=None,
              help="Debug mode: a failed executor step waits for `rerun` or `resume` "
                   "(default: as the process says).")
@click.pass_obj
def start(remote: Remote, key: str, pairs: tuple[str, ...], json_vars: str | None,
          version: int | None, business_key: str | None, idempotency_key: str | None,
          wait: bool, timeout: float, variable: str | None, debug: bool | None) -> None:
    """Start an instance of process KEY and print it.

    With --wait the exit status is 0 when the instance completed (or set --variable), 1 when it
    ended otherwise (failed, stopped, aborted), 2 when the wait timed out (it keeps running).
    """
    variables = parse_pairs(pairs, json_vars, "--var/--json-vars")
    waiting = wait or variable is not None
    with remote.client() as api:
        started = api.start(key, variables, version=version, business_key=business_key,
                            wait_timeout=timeout if waiting else None, wait_variable=variable,
                            idempotency_key=idempotency_key, debug=debug)
    instance = started.instance
    emit(instance)
    if not waiting:
        return
    if started.timed_out:
        fail(f"instance {instance['id']} is still {instance['status']} after {timeout:g} s; "
             "it keeps running", code=2)
    if instance["status"] not in ("completed", *ACTIVE):
        fail(f"instance {instance['id']} ended {instance['status']}: "
             f"{instance.get('error') or 'no error recorded'}")


@main.command()
@click.option("--process", "process_key", help="Only instances of this process key.")
@click.option("--status", help="Only instances in this status (e.g. waiting, failed).")
@click.option("--business-key")
@click.option("--schedule", "schedule_id", type=int, help="Only instances this schedule started.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@click.option("--all", "every", is_flag=True, help="Follow the cursor to the last page.")
@click.pass_obj
def instances(remote: Remote, process_key: str | None, status: str | None,
              business_key: str | None, schedule_id: int | None, limit: int,
              cursor: str | None, every: bool) -> None:
    """List instances, newest first: {items, next_cursor}."""
    with remote.client() as api:
        if every:
            items = list(api.iter_instances(process_key, status, business_key, limit,
                                            schedule_id))
            emit({"items": items, "next_cursor": None})
        else:
            emit(api.list_instances(process_key, status, business_key, cursor, limit,
                                    schedule_id))


@main.command()
@click.argument("instance_id")
@click.pass_obj
def show(remote: Remote, instance_id: str) -> None:
    """Show an instance with its elements, executor steps and events."""
    with remote.client() as api:
        emit({"instance": api.get_instance(instance_id),
              "elements": api.list_elements(instance_id),
              "steps": api.list_steps(instance_id),
              "events": api.list_events(instance_id)})


@main.command()
@click.argument("instance_id")
@click.argument("uid")
@click.option("--data", "-d", "pairs", multiple=True, metavar="NAME=VALUE",
              help="Data for the element; VALUE is JSON when it parses. Repeatable.")
@click.option("--json-data", metavar="JSON", help="Data as one JSON object.")
@click.pass_obj
def complete(remote: Remote, instance_id: str, uid: str, pairs: tuple[str, ...],
             json_data: str | None) -> None:
    """Complete the waiting element UID (e.g. a user task) of an instance."""
    data = parse_pairs(pairs, json_data, "--data/--json-data")
    with remote.client() as api:
        emit(api.complete_element(instance_id, uid, data))


def ending(name: str, summary: str) -> None:
    """A command that ends an instance through the client method of the same name."""

    @main.command(name, help=summary)
    @click.argument("instance_id")
    @click.option("--reason", help="Why; kept in the instance's events.")
    @click.pass_obj
    def command(remote: Remote, instance_id: str, reason: str | None) -> None:
        with remote.client() as api:
            emit(getattr(api, name)(instance_id, reason))


ending("cancel", "Cancel an instance (the same as stop).")
ending("stop", "Stop an instance gracefully (a robot interrupts its run).")
ending("abort", "Abort an instance (a robot kills its run).")


@main.command()
@click.argument("instance_id")
@click.pass_obj
def why(remote: Remote, instance_id: str) -> None:
    """Why a pending package instance is not running yet."""
    with remote.client() as api:
        emit(api.pending_reasons(instance_id))


@main.command()
@click.argument("instance_id")
@click.pass_obj
def logs(remote: Remote, instance_id: str) -> None:
    """Print a package instance's log lines: TIME LEVEL MESSAGE."""
    with remote.client() as api:
        for line in api.iter_logs(instance_id):
            click.echo(f"{line['time']} {line['level']:<5} {line['message']}")


@main.group()
def robots() -> None:
    """Robots (the agents that run packages)."""


@robots.command("create")
@click.argument("name")
@click.option("--tag", "tags", multiple=True, help="A tag it offers. Repeatable.")
@click.option("--slots", type=click.IntRange(1, 64), help="Jobs it runs at once.")
@click.pass_obj
def robots_create(remote: Remote, name: str, tags: tuple[str, ...], slots: int | None) -> None:
    """Create a robot; its one-time enrollment token is printed once."""
    with remote.client() as api:
        created = api.create_robot(name, list(tags) or None, slots)
    emit(created)
    note(f"on the robot's machine:  flowport robot --server {remote.server} "
         f"--enroll {created['enrollment_token']}")


@robots.command("list")
@click.pass_obj
def robots_list(remote: Remote) -> None:
    """List robots with their status (0 disconnected, 2 ready, 3 working)."""
    with remote.client() as api:
        emit({"items": api.list_robots()})


main.add_command(robot_command)


@main.command()
@click.argument("instance_id")
@click.pass_obj
def delete(remote: Remote, instance_id: str) -> None:
    """Delete an ended instance: its executors' delete hooks run in a linked delete instance,
    then it is hidden from lists (still readable by id)."""
    with remote.client() as api:
        emit(api.delete_instance(instance_id))


@main.command()
@click.argument("action", type=click.Choice(["rerun", "resume"]))
@click.argument("step_id")
@click.pass_obj
def step(remote: Remote, action: str, step_id: str) -> None:
    """Debug mode: run a failed executor step again, or resume (fail the instance there and
    roll back if its process says so)."""
    with remote.client() as api:
        emit(api.step_action(step_id, action))


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("name")
@click.option("--role", "roles", multiple=True,
              help="A role for the token (default: all of yours). Repeatable.")
@click.pass_obj
def token_create(remote: Remote, name: str, roles: tuple[str, ...]) -> None:
    """Create an API token; its secret is printed once."""
    with remote.client() as api:
        created = api.create_token(name, list(roles) or None)
    emit(created)
    note("store the token now: it is not shown again")


main.add_command(schedules)
@token.command("list")
@click.pass_obj
def token_list(remote: Remote) -> None:
    """List API tokens (an admin sees the account's, anyone else their own)."""
    with remote.client() as api:
        emit(api.list_tokens())


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@click.pass_obj
def token_revoke(remote: Remote, token_id: int) -> None:
    """Revoke an API token: it is refused from now on."""
    with remote.client() as api:
        api.revoke_token(token_id)
    note(f"token {token_id} revoked")


# -- administration -----------------------------------------------------------------------

ROLES = click.Choice(["admin", "developer", "operator", "viewer", "robot"])


def read_password(from_stdin: bool) -> str:
    """From one line of stdin, or a hidden prompt: never from the command line, where other
    users of the machine could read it."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("password", hide_input=True, confirmation_prompt=True,
                                 err=True)
    return password


@main.group()
def account() -> None:
    """Accounts (system administrators)."""


@account.command("create")
@click.argument("name")
@click.pass_obj
def account_create(remote: Remote, name: str) -> None:
    """Create an account; then `flowport user create --account-id` gives it an admin."""
    with remote.client() as api:
        emit(api.create_account(name))


@main.group()
def user() -> None:
    """Users of your account (admins)."""


@user.command("create")
@click.argument("login")
@click.option("--role", "roles", multiple=True, required=True, type=ROLES,
              help="A role. Repeatable.")
@click.option("--name", default="")
@click.option("--email", default="")
@click.option("--account-id", type=click.IntRange(min=1),
              help="Another account (system administrators only).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_obj
def user_create(remote: Remote, login: str, roles: tuple[str, ...], name: str, email: str,
                account_id: int | None, password_stdin: bool) -> None:
    """Create a user with a password (asked for, or read from stdin)."""
    password = read_password(password_stdin)
    with remote.client() as api:
        emit(api.create_user(login, password, list(roles), name, email, account_id))


@user.command("list")
@click.pass_obj
def user_list(remote: Remote) -> None:
    """List the account's users."""
    with remote.client() as api:
        emit(api.list_users())


@user.command("update")
@click.argument("user_id", type=click.IntRange(min=1))
@click.option("--name")
@click.option("--email")
@click.option("--role", "roles", multiple=True, type=ROLES,
              help="Replace the roles with these. Repeatable.")
@click.option("--disable/--enable", "disabled", default=None,
              help="Disable (ends its sessions and tokens' use) or enable the user.")
@click.option("--reset-password", is_flag=True,
              help="Set a new password (asked for, or read with --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin.")
@click.pass_obj
def user_update(remote: Remote, user_id: int, name: str | None, email: str | None,
                roles: tuple[str, ...], disabled: bool | None, reset_password: bool,
                password_stdin: bool) -> None:
    """Change a user: name, email, roles, disabled, password."""
    password = read_password(password_stdin) if reset_password or password_stdin else None
    with remote.client() as api:
        emit(api.update_user(user_id, name=name, email=email, roles=list(roles) or None,
                             disabled=disabled, password=password))


@main.command()
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--cursor", help="Continue from a previous page's next_cursor.")
@click.pass_obj
def audit(remote: Remote, limit: int, cursor: str | None) -> None:
    """The account's security events, newest first (admins)."""
    with remote.client() as api:
        emit(api.list_audit(cursor, limit))


@user.command("set-password")
@click.argument("login")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@database_option
def user_set_password(login: str, password_stdin: bool, database_url: str | None) -> None:
    """Set LOGIN's console password in the database (no server or token needed: run it where
    the server runs, e.g. for the first admin or a lost password). Ends LOGIN's sessions."""
    from flowport.errors import FlowportError
    from flowport.services import users
    from flowport.services.context import Context

    settings = build_settings(database_url=database_url)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    migrate(settings)
    ctx = Context.build(settings)
    try:
        users.reset_password(ctx, login, password)
    except FlowportError as exc:
        fail(exc.message)
    finally:
        ctx.store.dispose()
    note(f"the password of {login!r} is set; their sessions have ended")



if __name__ == "__main__":
    main(prog_name="flowport")
