"""Schedules end to end: the CLI against a live server whose loop fires them, and three worker
processes on one database serving every fire time exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flowport.config import Settings
from flowport.services import auth, schedules
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services.context import Context
from tests.e2e.harness import Server, clean_env, deploy_examples, eventually

pytestmark = pytest.mark.e2e
FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"


def cli_json(server: Server, *args: str) -> dict:
    result = server.cli(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_schedules_from_the_command_line(server: Server) -> None:
    deploy_examples(server)
    created = cli_json(server, "schedules", "create", "order-routing", "--cron", "* * * * * *",
                       "--var", "order_id=S-1", "--var", "amount=5", "--max-runs", "3",
                       "--name", "every second")
    sid = str(created["id"])
    assert created["cron"] == "* * * * * *" and created["max_runs"] == 3
    with server.client() as api:
        eventually(lambda: api.get_schedule(created["id"])["runs"] == 3, timeout=30,
                   what="three runs")
    runs = cli_json(server, "schedules", "runs", sid)["items"]
    assert [r["outcome"] for r in runs] == ["started"] * 3
    listed = cli_json(server, "instances", "--schedule", sid)["items"]
    assert sorted(i["id"] for i in listed) == sorted(r["instance_id"] for r in runs)
    assert {(i["status"], i["schedule_id"]) for i in listed} == {("completed", created["id"])}
    shown = cli_json(server, "schedules", "show", sid)
    assert shown["schedule"]["next_fire_at"] is None and shown["upcoming"] == []

    changed = cli_json(server, "schedules", "update", sid, "--cron", "0 9 * * mon-fri",
                       "--tz", "Europe/Berlin", "--clear", "max_runs", "--window", "08:00-10:00")
    assert changed["max_runs"] is None and changed["window"] == {"start": "08:00",
                                                                 "end": "10:00"}
    berlin = [datetime.fromisoformat(t).astimezone(ZoneInfo("Europe/Berlin"))
              for t in cli_json(server, "schedules", "upcoming", sid, "--count", "5")]
    assert len(berlin) == 5
    assert all(t.hour == 9 and t.minute == 0 and t.isoweekday() <= 5 for t in berlin)

    bad = server.cli("schedules", "create", "order-routing", "--cron", "61 * * * *")
    assert bad.exit_code == 1 and "422" in bad.output and "[field: cron]" in bad.output
    assert len(cli_json(server, "schedules", "list")["items"]) == 1

    assert cli_json(server, "schedules", "delete", sid) == {"deleted": created["id"]}
    gone = server.cli("schedules", "show", sid)
    assert gone.exit_code == 1 and "404" in gone.output


def _worker(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flowport.cli", "worker", "--log-level", "warning"],
            env=clean_env(FLOWPORT_DATABASE_URL=database_url,
                          FLOWPORT_SCHEDULE_POLL_SECONDS="0.2"),
            stdout=out, stderr=subprocess.STDOUT)


def test_three_workers_serve_every_fire_time_exactly_once(database_url: str,
                                                          tmp_path: Path) -> None:
    ctx = Context.build(Settings(database_url=database_url, run_loops=False))
    try:
        _check_exactly_once(ctx, database_url, tmp_path)
    finally:
        ctx.store.dispose()


def _check_exactly_once(ctx: Context, database_url: str, tmp_path: Path) -> None:
    workers = [_worker(database_url, tmp_path / f"worker-{n}.log") for n in range(3)]
    try:
        _, token = auth.create_account_with_admin(ctx, "acme", "alice")
        admin = auth.authenticate(ctx, token)
        deploy.create_process(ctx, admin, deploy.CreateProcess(key="straight"))
        deploy.deploy_version(ctx, admin, "straight", deploy.DeployVersion(
            "straight.bpmn", (FLOWS / "straight.bpmn").read_bytes()))
        schedule = schedules.create_schedule(ctx, admin, schedules.CreateSchedule(
            process_key="straight", cron="* * * * * *", variables={"amount": 1},
            start_at=datetime.now(UTC) + timedelta(seconds=3)))
        eventually(lambda: schedules.get_schedule(ctx, admin, schedule.id).runs >= 12,
                   timeout=90, what="twelve fire times served")
        schedules.update_schedule(ctx, admin, schedule.id,
                                  schedules.UpdateSchedule({"enabled": False}))
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        assert [worker.wait(30) for worker in workers] == [0, 0, 0]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)

    history = schedules.list_runs(ctx, admin, schedule.id, limit=500).items
    assert {r.outcome.value for r in history} == {"started"}, history
    fire_times = sorted(r.fire_time for r in history)
    # No fire time missed between the first and the last one served ...
    assert fire_times == [fire_times[0] + timedelta(seconds=n) for n in range(len(fire_times))]
    # ... and each produced exactly one instance, whose event names it.
    started = run.list_instances(ctx, admin, run.ListInstances(schedule_id=schedule.id,
                                                               limit=500)).items
    served = Counter(run.list_events(ctx, admin, i.id)[0].detail["fire_time"] for i in started)
    assert served == Counter(t.isoformat() for t in fire_times)
    assert {i.status.value for i in started} == {"completed"}
    # The three processes really competed for the claims.
    assert len({r.detail["served_by"] for r in history}) >= 2
