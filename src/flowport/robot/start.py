"""Starting an agent (`flowport robot`): its credential (given, kept in the work directory,
or bought with an enrollment token), then the agent in a thread while this thread answers
signals: the first SIGINT or SIGTERM shuts it down gracefully, the second quits at once."""

from __future__ import annotations

import logging
import platform
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import httpx

from flowport import __version__
from flowport.client import ApiError, Client
from flowport.robot.agent import Agent, Fatal
from flowport.robot.workdir import Workdir, WorkdirError

Say = Callable[[str], None]


class StartError(Exception):
    """The agent cannot start, or stopped for a reason its user must hear (exit `code`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def start(server: str, workdir: Path, *, enrollment_token: str | None,
          robot_token: str | None, tags: list[str] | None, slots: int | None,
          timeout: float, say: Say) -> None:
    place = Workdir(workdir)
    try:
        place.open()
    except WorkdirError as exc:
        raise StartError(str(exc)) from None
    try:
        credential = robot_token or place.credential()
        if credential is None:
            if not enrollment_token:
                raise StartError("no credential: pass --enroll TOKEN (from `flowport robots "
                                 "create`) or --token")
            credential = enroll(server, enrollment_token, place, tags, slots, timeout, say)
        elif enrollment_token and not robot_token:
            say(f"flowport robot: using the credential kept in {workdir}; --enroll is unused")
        with Client(server, credential, timeout) as api:
            failure = run(Agent(api, place, slots=slots, tags=tags), say)
    finally:
        place.close()
    if isinstance(failure, Fatal):
        raise StartError(str(failure), code=3)
    if failure is not None:
        raise failure


def enroll(server: str, token: str, place: Workdir, tags: list[str] | None,
           slots: int | None, timeout: float, say: Say) -> str:
    try:
        with Client(server, None, timeout) as api:
            answer = api.enroll(token, platform.node()[:255], __version__, tags, slots)
    except ApiError as exc:
        raise StartError(f"enrollment refused: {exc}") from None
    except httpx.TransportError as exc:
        raise StartError(f"cannot reach {server}: {exc}") from None
    place.save_credential(answer["token"], answer["robot"])
    say(f"flowport robot: enrolled as {answer['robot']['name']}; credential kept in "
        f"{place.root}")
    credential: str = answer["token"]
    return credential


def run(agent: Agent, say: Say) -> BaseException | None:
    """Run the agent until it stops; what ended it, if anything went wrong."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            agent.run()
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)

    def on_signal(_signum: int, _frame: object) -> None:
        if agent.stopping.is_set():
            agent.killed.set()
        else:
            say("flowport robot: stopping; running jobs are handed back (again to quit now)")
            agent.shutdown()

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, on_signal)
    worker = threading.Thread(target=work, name="agent", daemon=True)
    worker.start()
    while worker.is_alive() and not agent.killed.is_set():
        worker.join(0.2)
    say("flowport robot stopped")
    return failure[0] if failure else None


@click.command("robot")
@click.option("--server", "robot_server", help="Server URL (default: the global --server, "
              "env FLOWPORT_URL).")
@click.option("--enroll", "enrollment_token", metavar="TOKEN",
              help="One-time enrollment token (from creating the robot); the credential it "
                   "buys is kept in the work directory for later starts.")
@click.option("--token", "robot_token", envvar="FLOWPORT_ROBOT_TOKEN",
              help="The robot's credential, if not kept in the work directory "
                   "(env FLOWPORT_ROBOT_TOKEN).")
@click.option("--tags", multiple=True, metavar="A,B",
              help="Tags this robot offers, comma-separated or repeated (default: the server's).")
@click.option("--slots", type=click.IntRange(1, 64),
              help="Jobs it runs at once (default: the server's, 1 when created).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("flowport-robot"), show_default=True,
              help="Credential, package cache and the journal of running jobs.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_obj
def command(remote: Any, robot_server: str | None, enrollment_token: str | None,
            robot_token: str | None, tags: tuple[str, ...], slots: int | None, workdir: Path,
            log_level: str) -> None:
    """Run a robot agent: claim package work, run it (Robot Framework suites and Python
    scripts), report the result. Stop it with Ctrl-C or SIGTERM: running jobs are
    interrupted and handed back; a second signal quits at once."""
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level != "debug":
        logging.getLogger("httpx").setLevel(logging.WARNING)

    def say(message: str) -> None:
        click.echo(message, err=True)

    offered = [t.strip() for value in tags for t in value.split(",") if t.strip()]
    try:
        start(robot_server or remote.server, workdir, enrollment_token=enrollment_token,
              robot_token=robot_token, tags=offered if tags else None, slots=slots,
              timeout=remote.timeout, say=say)
    except StartError as exc:
        say(f"flowport: {exc}")
        raise click.exceptions.Exit(exc.code) from None
