"""The `flowport` command.

Server side (`serve`, `worker`, `db upgrade`) lives in `cli_server`. Everything else talks to
a running server through `flowport.client`, with the server URL and token from `--server` /
`--token` or FLOWPORT_URL/FLOWPORT_TOKEN, and prints JSON. Errors go to stderr as the server's
problem detail, with exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from flowport import __version__, bundles
from flowport.cli_common import Remote, describe, emit, fail, note, parse_pairs
from flowport.cli_schedules import schedules
from flowport.cli_server import build_settings, database_option, db, migrate, serve, worker
from flowport.client import ApiError, Client
from flowport.robot.start import command as robot_command

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


for _command in (db, serve, worker):
    main.add_command(_command)



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
