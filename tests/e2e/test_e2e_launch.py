"""Deploy the examples with the CLI, launch them over HTTP, complete a person's step."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowport.client import ApiError, Client
from tests.e2e.harness import EXAMPLES, Server, clean_env, deploy_examples

pytestmark = pytest.mark.e2e

EXAMPLE_KEYS = {"order-routing", "expense-approval", "UsrAddNewExternalContact",
                "UsrGetAllContacts", "cloud-host", "invoice-check", "exchange-rate",
                "invoice-approval", "invoice-entry"}


def waiting_element(api: Client, instance_id: str, element_id: str) -> dict:
    elements = [e for e in api.list_elements(instance_id)
                if e["element_id"] == element_id and e["state"] == "waiting"]
    assert len(elements) == 1, api.list_elements(instance_id)
    return elements[0]


def test_deploy_a_directory_twice(server: Server) -> None:
    first = deploy_examples(server)
    assert {d["key"] for d in first} == EXAMPLE_KEYS
    assert all(d["created"] and d["version"] == 1 for d in first)

    again = deploy_examples(server)
    assert all(not d["created"] and d["version"] == 1 for d in again)

    with server.client() as api:
        routing = api.get_process("order-routing")
        assert routing["name"] == "Order routing"
        assert routing["current_version"] == 1
        version = api.get_version("order-routing", 1)
        assert [p["name"] for p in version["parameters"]] == ["order_id", "amount", "country"]
        assert [o["name"] for o in version["outputs"]] == ["route", "eta_days", "message"]


def test_straight_through_with_and_without_wait(server: Server, api: Client) -> None:
    deploy_examples(server)

    waited = api.start("order-routing", {"order_id": "A-1", "amount": 120, "country": "FR"},
                       wait_timeout=10)
    assert waited.status_code == 200
    assert waited.instance["status"] == "completed"
    assert waited.instance["outputs"] == {
        "route": "export", "eta_days": 7, "message": "Order A-1 goes export, ready in 7 days"}

    big = api.start("order-routing", {"order_id": "A-2", "amount": 9000}, wait_timeout=10)
    assert big.instance["outputs"]["route"] == "manual-review"
    home = api.start("order-routing", {"order_id": "A-3", "amount": 10}, wait_timeout=10)
    assert home.instance["outputs"]["route"] == "standard"  # country defaults to DE

    fired = api.start("order-routing", {"order_id": "A-4", "amount": 10})
    assert fired.status_code == 201
    assert fired.location == f"/api/v1/instances/{fired.instance['id']}"
    assert api.get_instance(fired.instance["id"])["status"] == "completed"


def test_cli_start_wait_complete_show_cancel(server: Server) -> None:
    deploy_examples(server)

    run = server.cli("start", "order-routing", "--var", "order_id=B-1", "--var", "amount=7",
                     "--var", "country=NL", "--wait", "--timeout", "10")
    assert run.exit_code == 0, run.output
    instance = json.loads(run.stdout)
    assert instance["status"] == "completed"
    assert instance["outputs"]["route"] == "export"

    # A person's step: the wait times out (exit 2) and the instance keeps waiting.
    run = server.cli("start", "expense-approval", "--json-vars",
                     '{"employee": "Ann", "amount": 42, "reason": "train"}',
                     "--wait", "--timeout", "0.5")
    assert run.exit_code == 2, run.output
    waiting = json.loads(run.stdout)
    assert waiting["status"] == "waiting"
    assert waiting["variables"]["summary"] == "Ann asks for 42: train"

    shown = json.loads(server.cli("show", waiting["id"]).stdout)
    assert shown["instance"]["id"] == waiting["id"]
    task = next(e for e in shown["elements"] if e["element_id"] == "Approve")
    assert task["state"] == "waiting"
    assert shown["events"], "every transition writes an event"

    run = server.cli("complete", waiting["id"], task["uid"], "--data", "approved=true")
    assert run.exit_code == 0, run.output
    done = json.loads(run.stdout)
    assert done["changed"] is True
    assert done["instance"]["status"] == "completed"
    assert done["instance"]["outputs"] == {"decision": "approved",
                                           "summary": "Ann asks for 42: train"}
    again = json.loads(server.cli("complete", waiting["id"], task["uid"]).stdout)
    assert again["changed"] is False

    other = json.loads(server.cli("start", "expense-approval", "--var", "employee=Bo",
                                  "--var", "amount=5").stdout)
    assert other["status"] == "waiting"
    cancelled = json.loads(server.cli("cancel", other["id"], "--reason", "withdrawn").stdout)
    assert cancelled["status"] == "stopped"

    listed = json.loads(server.cli("instances", "--process", "expense-approval",
                                   "--status", "completed").stdout)
    assert [i["id"] for i in listed["items"]] == [waiting["id"]]
    every = json.loads(server.cli("instances", "--all", "--limit", "2").stdout)
    assert len(every["items"]) == 3 and every["next_cursor"] is None


def test_cli_errors_are_problem_details_on_stderr(server: Server) -> None:
    deploy_examples(server)
    run = server.cli("start", "no-such-process")
    assert run.exit_code == 1
    assert "404" in run.stderr and "no-such-process" in run.stderr
    assert run.stdout == ""

    run = server.cli("start", "order-routing", "--var", "order_id=X", "--var", "amount=lots")
    assert run.exit_code == 1
    assert "422" in run.stderr and "amount" in run.stderr

    run = server.cli("processes", token="fpt_wrong")
    assert run.exit_code == 1 and "401" in run.stderr


def test_approval_waits_at_the_user_task_and_completes(server: Server, api: Client) -> None:
    deploy_examples(server)
    started = api.start("expense-approval", {"employee": "Cy", "amount": 300},
                        wait_timeout=0.3)
    assert started.timed_out and started.status_code == 202
    instance_id = started.instance["id"]
    assert api.get_instance(instance_id)["status"] == "waiting"

    task = waiting_element(api, instance_id, "Approve")
    done = api.complete_element(instance_id, task["uid"], {"approved": False})
    assert done["instance"]["outputs"]["decision"] == "rejected"
    with pytest.raises(ApiError) as refused:
        api.complete_element(instance_id, "no-such-uid")
    assert refused.value.status == 404


def test_token_create_and_module_entry_point(server: Server) -> None:
    run = server.cli("token", "create", "ci-bot")
    assert run.exit_code == 0, run.output
    created = json.loads(run.stdout)
    assert created["name"] == "ci-bot" and created["token"]

    # `python -m flowport.cli` works, and the new token authenticates.
    process = subprocess.run(
        [sys.executable, "-m", "flowport.cli", "processes"], capture_output=True, text=True,
        env=clean_env(FLOWPORT_URL=server.url, FLOWPORT_TOKEN=created["token"]), timeout=60,
        check=False)
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout)["items"] == []


def test_deploy_a_single_file_with_a_key_override(server: Server, tmp_path) -> None:
    source = (EXAMPLES / "order-routing.bpmn").read_bytes()
    lone = tmp_path / "routing.bpmn"  # no sidecar: the key comes from the BPMN process id
    lone.write_bytes(source)
    run = server.cli("deploy", str(lone))
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)[0]["key"] == "order_routing"

    run = server.cli("deploy", str(lone), "--key", "routing-copy", "--name", "Copy")
    assert json.loads(run.stdout)[0] == {"key": "routing-copy", "version": 1, "created": True,
                                         "file": str(lone)}
    with server.client() as api:
        assert api.get_process("routing-copy")["name"] == "Copy"
