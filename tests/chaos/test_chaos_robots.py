"""Battery 3: robots and faults end in the documented status (docs/decisions.md, "Robots"):
- a robot killed mid-job loses its lease: the instance fails ("its lease expired"), or is
  retried when the process allows a second attempt;
- the server killed while robots claim and report: after the restart every job ends
  `completed` (a claim whose answer was lost comes back when its lease expires, and is retried);
- a report with a stale fencing token is 409 `stale_lease` and changes nothing.
None stays `running`, `stopping` or `aborting`."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowport.client import ApiError, Client
from tests.e2e.agents import FAST_ROBOTS, Agent
from tests.e2e.harness import FIXTURES, Server, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
ENDED = ("completed", "failed", "stopped", "aborted")


@pytest.fixture
def server(database_url: str, server_factory: Callable[..., Server]) -> Server:
    return server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                          env=FAST_ROBOTS).start()


def package(api: Client, key: str, **policy: Any) -> None:
    api.create_process(key, process_type=1, **policy)
    api.deploy_version(key, FIXTURES / "robots" / "sleepy.py")


def robot_credential(api: Client, server: Server, name: str) -> str:
    robot = api.create_robot(name)
    return str(Client(server.url).enroll(str(robot["enrollment_token"]), machine=name)["token"])


def ended(api: Client, instance_id: str, timeout: float = 30) -> dict[str, Any]:
    return eventually(lambda: (i := api.get_instance(instance_id))["status"] in ENDED and i,
                      timeout=timeout, what=f"{instance_id} to end")


def test_a_robot_killed_mid_job_loses_it(server: Server, tmp_path: Path) -> None:
    with server.client() as api:
        package(api, "sleepy")
        agent = Agent(server, tmp_path / "robot")
        agent.create(api)
        agent.start()
        try:
            instance = api.start("sleepy", {"seconds": 60}).instance
            eventually(lambda: api.get_instance(instance["id"])["status"] == "running",
                       what="the robot to run it")
            agent.kill()
            killed = time.monotonic()
            done = ended(api, instance["id"])
        finally:
            agent.kill()
    assert done["status"] == "failed"
    assert "lease expired" in done["error"]
    print(f"\nbattery 3: a killed robot's job failed {time.monotonic() - killed:.1f} s after "
          f"the kill (lease {FAST_ROBOTS['FLOWPORT_ROBOT_LEASE_SECONDS']} s)")


def test_a_stale_fencing_token_is_refused_and_changes_nothing(server: Server) -> None:
    with server.client() as api:
        package(api, "sleepy", max_attempts=2, retry_backoff=0)
        package(api, "once")
        with Client(server.url, robot_credential(api, server, "r1")) as robot:
            # Retried: the first holder's token is stale once the job is claimed again.
            retried = api.start("sleepy", {"seconds": 1}).instance
            first = robot.claim(timeout=5)["jobs"][0]
            eventually(lambda: api.get_instance(retried["id"])["status"] == "pending",
                       timeout=15, what="the lease to expire and the job to be queued again")
            second = robot.claim(timeout=5)["jobs"][0]
            assert second["fencing_token"] > first["fencing_token"]
            with pytest.raises(ApiError) as stale:
                robot.complete_job(retried["id"], first["fencing_token"], {"slept": 0})
            assert stale.value.status == 409 and stale.value.code == "stale_lease"
            assert api.get_instance(retried["id"])["status"] == "running"
            robot.complete_job(retried["id"], second["fencing_token"], {"slept": 1})
            assert api.get_instance(retried["id"])["status"] == "completed"

            # One attempt only: the lost lease fails it, and a late report cannot revive it.
            once = api.start("once", {"seconds": 1}).instance
            job = robot.claim(timeout=5)["jobs"][0]
            assert job["id"] == once["id"]
            done = ended(api, once["id"])
            assert done["status"] == "failed" and "lease expired" in done["error"]
            with pytest.raises(ApiError) as late:
                robot.complete_job(once["id"], job["fencing_token"], {"slept": 1})
            assert late.value.status == 409 and late.value.code == "stale_lease"
            assert api.get_instance(once["id"])["status"] == "failed"


class FakeRobot:
    """Claims with a long-poll and reports each job done at once, through any outage."""

    def __init__(self, server: Server, token: str) -> None:
        self.server, self.token = server, token
        self.stop = threading.Event()
        self.completed: set[str] = set()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with Client(self.server.url, self.token, timeout=10) as robot:
                    while not self.stop.is_set():
                        for job in robot.claim(max_jobs=4, timeout=1)["jobs"]:
                            try:
                                robot.complete_job(job["id"], job["fencing_token"], {"slept": 0})
                                self.completed.add(job["id"])
                            except ApiError as exc:
                                if exc.code != "stale_lease":
                                    raise
            except (httpx.TransportError, ApiError):
                self.stop.wait(0.2)


@pytest.fixture
def fake_robot(server: Server) -> Iterator[Callable[[str], FakeRobot]]:
    made: list[FakeRobot] = []

    def make(token: str) -> FakeRobot:
        robot = FakeRobot(server, token)
        made.append(robot)
        robot.thread.start()
        return robot

    yield make
    for robot in made:
        robot.stop.set()
        robot.thread.join(15)


def test_the_server_killed_while_robots_claim_and_report(
        server: Server, fake_robot: Callable[[str], FakeRobot]) -> None:
    with server.client() as api:
        package(api, "sleepy", max_attempts=3, retry_backoff=0)
        tokens = [robot_credential(api, server, f"r{n}") for n in range(2)]
    for token in tokens:
        fake_robot(token)
    started: list[str] = []

    def launch_until_killed() -> None:
        with server.client() as api:
            while True:
                try:
                    started.append(api.start("sleepy", {"seconds": 0}).instance["id"])
                except (httpx.TransportError, ApiError):
                    return

    launcher = threading.Thread(target=launch_until_killed)
    launcher.start()
    eventually(lambda: len(started) >= 30, timeout=30, what="30 launches")
    server.kill()
    launcher.join(15)
    server.start(same_port=True)
    with server.client() as api:
        statuses = {i: ended(api, i, timeout=60)["status"] for i in started}
        retried = [i for i in started if api.get_job(i)["attempts"] > 1]
    assert set(statuses.values()) == {"completed"}, statuses
    print(f"\nbattery 3: server killed under {len(started)} robot jobs: all completed, "
          f"{len(retried)} after a lost claim or report was retried")
