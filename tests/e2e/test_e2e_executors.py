"""Executors in a real `flowport serve`: the step workers run the cloud-host example's steps,
and its hooks clean up through the native API and the Activiti dialect."""

from __future__ import annotations

import json

import httpx
import pytest

from flowport.client import Client
from tests.e2e.harness import Server, deploy_examples, eventually

pytestmark = pytest.mark.e2e


def resources(api: Client) -> dict[str, str]:
    return {r["step"]: r["state"] for r in api.list_records("DemoResource")}


def test_steps_run_in_the_server_and_delete_cleans_up(server: Server, api: Client) -> None:
    deploy_examples(server)
    started = api.start("cloud-host", {"region": "bcc"}, wait_timeout=20)
    assert started.status_code == 200, started.instance
    instance = started.instance
    assert instance["status"] == "completed"
    assert set(instance["outputs"]) == {"network", "machine", "disk"}
    assert resources(api) == {"network": "ready", "machine": "ready", "disk": "ready"}
    assert [s["status"] for s in api.list_steps(instance["id"])] == ["completed"] * 3

    result = server.cli("delete", instance["id"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cleanup"]["kind"] == "delete"
    deleted = eventually(lambda: (i := api.get_instance(instance["id"]))["deleted_at"] and i,
                         what="the delete to finish")
    assert deleted["cleanup"]["state"] == "completed"
    assert resources(api) == {}


def test_activiti_cancel_and_rollback(server: Server, api: Client) -> None:
    deploy_examples(server)
    activiti = httpx.Client(base_url=server.url, timeout=30,
                            headers={"Authorization": f"Bearer {server.token}"})
    with activiti:
        held = activiti.post("/process", json={"key": "cloud-host", "processName": "held",
                                               "variables": {"hold": True}}).json()
        number = held["processInstanceId"]
        eventually(lambda: any(t["status"] == "start.success" for t in activiti.get(
            "/task", params={"processInstanceId": number}).json()), what="the machine to park")
        cancelling = activiti.put(f"/process/{number}/cancel").json()
        assert cancelling["processStatus"] in ("cancelling", "cancelled")
        eventually(lambda: activiti.get(f"/process/{number}").json()["processStatus"]
                   == "cancelled", what="the cancel to finish")
        assert resources(api) == {"network": "ready", "machine": "cancelled"}

        failing = activiti.post("/process", json={"key": "cloud-host", "processName": "bad",
                                                  "variables": {"fail_at": "disk"}}).json()
        done = eventually(lambda: (r := activiti.get(
            f"/process/{failing['processInstanceId']}").json())["processStatus"]
            == "rolled_back" and r, what="the rollback to finish")
        assert done["endTime"] is not None and done["rollbackProcessInstanceId"]
        statuses = [t["status"] for t in activiti.get(
            "/task", params={"processInstanceId": failing["processInstanceId"]}).json()]
        assert statuses == ["rollback.success"] * 3
        assert resources(api) == {"network": "ready", "machine": "cancelled"}


def test_a_worker_process_runs_the_steps_of_a_server_without_loops(
        database_url: str, server_factory, tmp_path) -> None:
    import secrets
    import signal

    from tests.e2e.harness import worker

    server = server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                            env={"FLOWPORT_RUN_LOOPS": "false"}).start()
    deploy_examples(server)
    with server.client() as api:
        instance = api.start("cloud-host").instance
        assert [s["status"] for s in api.list_steps(instance["id"])] == ["queued"]
        with worker(database_url, tmp_path / "worker.log",
                    FLOWPORT_STEP_POLL_SECONDS="0.2") as proc:
            eventually(lambda: api.get_instance(instance["id"])["status"] == "completed",
                       what="the worker to run the steps")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        assert resources(api) == {"network": "ready", "machine": "ready", "disk": "ready"}
