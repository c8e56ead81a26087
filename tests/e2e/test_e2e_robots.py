"""Robots end to end: a real `flowport serve`, real `flowport robot` agents, real Robot
Framework runs and Python scripts; stops, aborts, deadlines, a robot killed mid-job, a server
restarted mid-job, a version mismatch."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowport.client import Client
from tests.e2e.agents import FAST_ROBOTS, Agent, awaited, group_alive
from tests.e2e.harness import FIXTURES, Server, deploy_examples, eventually

pytestmark = pytest.mark.e2e
PACKAGES = FIXTURES / "robots"


@pytest.fixture
def server(database_url: str, server_factory: Callable[..., Server]) -> Server:
    return server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                          env=FAST_ROBOTS).start()


@pytest.fixture
def api(server: Server) -> Iterator[Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def agents(server: Server, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    made: list[Agent] = []

    def make(name: str = "r1", workdir: Path | None = None) -> Agent:
        agent = Agent(server, workdir or tmp_path / f"robot-{name}", name)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.kill()


def package(api: Client, key: str, file_name: str, **process: Any) -> None:
    api.create_process(key, process_type=1, **process)
    api.deploy_version(key, PACKAGES / file_name)


def ready(api: Client, agent: Agent, **fields: Any) -> Agent:
    """Create the robot, start its agent, wait until it heartbeats."""
    agent.create(api, **fields)
    agent.start()
    awaited(lambda: api.get_robot(_robot_id(api, agent.name))["status_name"] != "disconnected",
            what=f"robot {agent.name} to connect", agent=agent)
    return agent


def _robot_id(api: Client, name: str) -> str:
    return str(next(r["id"] for r in api.list_robots() if r["name"] == name))


def ended(api: Client, instance_id: str, agent: Agent | None = None,
          timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        instance = api.get_instance(instance_id)
        return instance if instance["status"] in ("completed", "failed", "stopped",
                                                  "aborted") else None

    return awaited(probe, timeout=timeout, what=f"instance {instance_id} to end", agent=agent)


def status_path(api: Client, instance_id: str) -> list[str]:
    return [e["detail"]["to"] for e in api.list_events(instance_id) if e["kind"] == "status"]


def test_robot_framework_and_python_packages_run_and_report(server, api, agents):
    deploy_examples(server)
    agent = ready(api, agents(), slots=2)
    invoice = api.start("invoice-check", {"invoice_id": "INV-7", "amount": 250}).instance
    rate = api.start("exchange-rate", {"amount": "100", "currency": "GBP"}).instance
    done = ended(api, invoice["id"], agent)
    assert done["status"] == "completed", done
    assert done["outputs"] == {"approved": True, "checked_invoice": "INV-7"}
    assert ended(api, rate["id"], agent)["outputs"] == {"converted": 86.0, "rate": 0.86}

    names = {a["name"] for a in api.list_artifacts(invoice["id"])}
    assert {"output.xml", "log.html", "report.html"} <= names
    assert b"<robot" in api.get_artifact(invoice["id"], "output.xml")
    logs = [line["message"] for line in api.iter_logs(invoice["id"])]
    assert any("2 tasks, 2 passed, 0 failed" in m for m in logs), logs
    assert "Invoice INV-7 of 250: approved is True" in logs  # a keyword's log message
    progress = [(e["kind"], e["detail"].get("name"), e["detail"].get("status"))
                for e in api.list_events(invoice["id"]) if e["kind"] == "robot.test_ended"]
    assert progress == [("robot.test_ended", "Amount Is Positive", "PASS"),
                        ("robot.test_ended", "Small Invoices Are Approved", "PASS")]
    assert [line["message"] for line in api.iter_logs(rate["id"])] == [
        "100.0 EUR is 86.0 GBP"]
    view = api.get_job(invoice["id"])
    assert view["robot"]["name"] == "r1" and view["attempts"] == 1
    robot = api.get_robot(_robot_id(api, "r1"))
    assert robot["runtime_version"] and robot["machine"] and robot["enrolled"]


def test_failures_name_what_failed(api, agents):
    package(api, "failing", "failing.robot")
    package(api, "crash", "crash.py")
    agent = ready(api, agents(), slots=2)
    suite = api.start("failing").instance
    script = api.start("crash").instance
    failed = ended(api, suite["id"], agent)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("2 test(s) failed: Checkout Works (the basket is empty)")
    assert "Invoice Works (red != green)" in failed["error"]
    crashed = ended(api, script["id"], agent)
    assert crashed["status"] == "failed"
    assert "exit status 3" in crashed["error"]
    assert "something broke at step 3" in crashed["error"]
    assert {line["level"] for line in api.iter_logs(script["id"])} == {"INFO", "ERROR"}


def test_stop_interrupts_a_suite_gracefully(api, agents):
    package(api, "long", "long.robot")
    agent = ready(api, agents())
    instance = api.start("long", {"seconds": 60}).instance
    eventually(lambda: any(e["kind"] == "robot.test_started"
                           for e in api.list_events(instance["id"])), what="the test to start")
    began = time.monotonic()
    assert api.stop(instance["id"], "enough")["status"] == "stopping"
    stopped = ended(api, instance["id"], agent)
    assert stopped["status"] == "stopped", stopped
    assert time.monotonic() - began < 20
    assert status_path(api, instance["id"]) == ["running", "stopping", "stopped"]
    assert "output.xml" in {a["name"] for a in api.list_artifacts(instance["id"])}


def stubborn(api: Client, agents: Callable[..., Agent]) -> tuple[Agent, dict[str, Any]]:
    """A running script that ignores SIGINT, and its robot."""
    package(api, "stubborn", "stubborn.py")
    agent = ready(api, agents())
    instance = api.start("stubborn").instance
    eventually(lambda: list(api.iter_logs(instance["id"])), what="the script to start")
    return agent, instance


def test_abort_kills_the_run(api, agents):
    agent, instance = stubborn(api, agents)
    assert api.abort(instance["id"])["status"] == "aborting"
    aborted = ended(api, instance["id"], agent)
    assert aborted["status"] == "aborted" and "killed" in aborted["error"]
    assert status_path(api, instance["id"]) == ["running", "aborting", "aborted"]


def test_a_stop_the_run_ignores_escalates_to_an_abort(api, agents):
    agent, instance = stubborn(api, agents)
    api.stop(instance["id"])
    ended_as = ended(api, instance["id"], agent)
    assert ended_as["status"] == "aborted"
    assert status_path(api, instance["id"]) == ["running", "stopping", "aborting", "aborted"]
    reasons = [e["detail"].get("reason") for e in api.list_events(instance["id"])]
    assert any(r and "did not stop it within 2 s" in r for r in reasons), reasons


def test_stop_after_stops_it_on_time(api, agents):
    package(api, "long", "long.robot")
    agent = ready(api, agents())
    deadline = datetime.now(UTC) + timedelta(seconds=3)
    instance = api.start("long", {"seconds": 60}, stop_after=deadline.isoformat()).instance
    stopped = ended(api, instance["id"], agent)
    assert stopped["status"] == "stopped"
    assert datetime.fromisoformat(stopped["ended_at"]) >= deadline
    reasons = [e["detail"].get("reason") for e in api.list_events(instance["id"])]
    assert "stop_after passed" in reasons


def test_a_robot_killed_mid_job_loses_it_to_its_lease(api, agents):
    package(api, "long", "long.robot")
    agent = ready(api, agents())
    instance = api.start("long", {"seconds": 60}).instance
    journal = agent.workdir / "jobs" / instance["id"] / "journal.json"
    pgid = eventually(lambda: journal.exists() and json.loads(journal.read_text()).get("pgid"),
                      what="the run to start")
    agent.kill()
    # The run dies with its agent (it was started with a parent-death signal).
    eventually(lambda: not group_alive(pgid), what="the orphaned run to die")
    failed = ended(api, instance["id"], timeout=30)
    assert failed["status"] == "failed"
    assert "robot 'r1' stopped answering: its lease expired" in failed["error"]
    assert "(attempt 1 of 1)" in failed["error"]
    eventually(lambda: api.get_robot(_robot_id(api, "r1"))["status_name"] == "disconnected",
               what="the robot to show disconnected")


def test_a_lost_job_is_retried_when_the_process_allows(api, agents):
    package(api, "sleepy", "sleepy.py", max_attempts=2, retry_backoff=0)
    first = ready(api, agents("r1"))
    instance = api.start("sleepy", {"seconds": 60}).instance
    eventually(lambda: api.get_job(instance["id"])["robot"], what="a claim")
    first.kill()
    eventually(lambda: api.get_instance(instance["id"])["status"] == "pending",
               what="the job to be queued again", timeout=30)
    second = ready(api, agents("r2"))
    eventually(lambda: api.get_job(instance["id"])["robot"]["name"] == "r2",
               what="the second robot to claim it")
    api.stop(instance["id"])
    assert ended(api, instance["id"], second)["status"] == "stopped"
    view = api.get_job(instance["id"])
    assert view["attempts"] == 2


def test_a_restarted_agent_reports_the_job_it_lost(api, agents):
    package(api, "sleepy", "sleepy.py", max_attempts=2, retry_backoff=0)
    agent = ready(api, agents())
    instance = api.start("sleepy", {"seconds": 60}).instance
    eventually(lambda: (agent.workdir / "jobs" / instance["id"]).exists(), what="the run")
    agent.kill()
    agent.start()  # before the lease runs out: the journal says what was lost
    awaited(lambda: api.get_job(instance["id"])["attempts"] == 2,
            what="the job to be retried", agent=agent)
    lost = [e["detail"].get("reason") for e in api.list_events(instance["id"])
            if e["kind"] == "status" and e["detail"]["to"] == "pending"]
    assert lost and "restarted while running it" in lost[0], lost
    api.stop(instance["id"])
    assert ended(api, instance["id"], agent)["status"] == "stopped"


def test_the_server_restarts_mid_job(database_url, server_factory, tmp_path):
    # A lease long enough to outlive the restart.
    server = server_factory(database_url, tmp_path / "slow-lease",
                            token="fpt_e2e_" + secrets.token_urlsafe(24),
                            env={**FAST_ROBOTS, "FLOWPORT_ROBOT_LEASE_SECONDS": "30"})
    (tmp_path / "slow-lease").mkdir()
    server.start()
    with server.client() as api:
        package(api, "sleepy", "sleepy.py")
        agent = Agent(server, tmp_path / "robot-restart")
        ready(api, agent)
        instance = api.start("sleepy", {"seconds": 4}).instance
        eventually(lambda: api.get_instance(instance["id"])["status"] == "running",
                   what="a claim")
    try:
        server.kill()
        time.sleep(1)  # down for a moment: the agent's calls fail and are retried
        server.start(same_port=True)
        with server.client() as api:
            done = ended(api, instance["id"], agent)
            assert done["status"] == "completed", (done, agent.output())
            assert done["outputs"] == {"slept": 4}
    finally:
        agent.kill()
    assert "heartbeat failed" in agent.output()  # it was cut off, and carried on


def test_a_version_mismatch_stays_pending_with_a_reason(api, agents):
    package(api, "future", "sleepy.py", min_version_to_run="99.0")
    agent = ready(api, agents())
    instance = api.start("future", {"seconds": 0}).instance
    time.sleep(1.0)  # the agent long-polls meanwhile: it must not take the job
    assert api.get_instance(instance["id"])["status"] == "pending"
    reasons = api.pending_reasons(instance["id"])["reasons"]
    assert [r["code"] for r in reasons] == ["runtime_version"]
    assert "no connected robot has runtime version >= 99.0 (r1 0.1.0)" in reasons[0]["message"]
    api.stop(instance["id"])
    assert ended(api, instance["id"], agent)["status"] == "stopped"


def test_agent_refusals(server, api, agents, tmp_path):
    nothing = agents("nothing").start()
    assert nothing.wait() == 1
    assert "no credential" in nothing.output()
    bad = agents("bad")
    bad.enrollment = "fpe_not_a_real_token"
    bad.start()
    assert bad.wait() == 1
    assert "enrollment refused" in bad.output() and "401" in bad.output()

    agent = ready(api, agents("r1"))
    twin = Agent(server, agent.workdir, "r1-twin").start("--token", "fpr_whatever")
    assert twin.wait() == 1
    assert "another agent is running" in twin.output()
    # Deleting the robot revokes its credential: the agent stops with a clear message.
    api.delete_robot(_robot_id(api, "r1"))
    assert agent.wait(30) == 3
    assert "refuses this robot" in agent.output()


def test_graceful_shutdown_hands_running_work_back(api, agents):
    package(api, "long", "long.robot", max_attempts=2, retry_backoff=0)
    agent = ready(api, agents())
    instance = api.start("long", {"seconds": 60}).instance
    eventually(lambda: any(e["kind"] == "robot.test_started"
                           for e in api.list_events(instance["id"])), what="the test")
    assert agent.stop() == 0
    assert "stopped" in agent.output()
    eventually(lambda: api.get_instance(instance["id"])["status"] == "pending",
               what="the job to be handed back")
    reasons = [e["detail"].get("reason") for e in api.list_events(instance["id"])]
    assert any(r and "shut down while running it" in r for r in reasons), reasons
    api.stop(instance["id"])


def test_the_cli_for_robots_and_robot_work(server, api):
    package(api, "sleepy", "sleepy.py")
    created = server.cli("robots", "create", "desk-1", "--tag", "win", "--slots", "2")
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["enrollment_token"].startswith("fpe_")
    assert "flowport robot --server" in created.stderr
    listed = json.loads(server.cli("robots", "list").stdout)["items"]
    assert [(r["name"], r["tags"], r["slots"]) for r in listed] == [("desk-1", ["win"], 2)]
    instance = api.start("sleepy").instance
    why = json.loads(server.cli("why", instance["id"]).stdout)
    assert why["reasons"][0]["code"] == "not_enrolled"
    stopped = server.cli("stop", instance["id"], "--reason", "not today")
    assert json.loads(stopped.stdout)["status"] == "stopped"
    other = api.start("sleepy").instance
    assert json.loads(server.cli("abort", other["id"]).stdout)["status"] == "aborted"
    logs = server.cli("logs", instance["id"])
    assert logs.exit_code == 0 and logs.stdout == ""
    missing = server.cli("logs", "no-such-instance")
    assert missing.exit_code == 1 and "404" in missing.stderr
