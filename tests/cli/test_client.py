"""The typed client against the ASGI app in process (the e2e suite covers real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flowport.api.app import create_app
from flowport.client import ApiError, Client

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


@pytest.fixture
def client(ctx, admin_token) -> Iterator[Client]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as http:
        yield Client("http://unused", admin_token, http=http)


def test_round_trip(client: Client) -> None:
    assert client.health()["status"] == "ok"
    assert client.create_process("order-routing", "Order routing")["key"] == "order-routing"
    with pytest.raises(ApiError) as exists:
        client.create_process("order-routing")
    assert exists.value.status == 409 and exists.value.field == "key"

    params = [{"name": "order_id", "type": "text", "required": True},
              {"name": "amount", "type": "integer", "required": True},
              {"name": "country", "type": "text", "default": "DE"}]
    deployed = client.deploy_version("order-routing", EXAMPLES / "order-routing.bpmn",
                                     parameters=params, outputs=["route"])
    assert deployed.created and deployed.version["number"] == 1
    same = client.deploy_version("order-routing", (EXAMPLES / "order-routing.bpmn").read_bytes(),
                                 "order-routing.bpmn")
    assert not same.created and same.version["number"] == 1
    assert [v["number"] for v in client.list_versions("order-routing")] == [1]

    started = client.start("order-routing", {"order_id": "A", "amount": 1}, wait_timeout=5,
                           idempotency_key="k-1")
    assert started.status_code == 200 and not started.timed_out
    assert started.instance["outputs"] == {"route": "standard"}
    repeat = client.start("order-routing", {"order_id": "A", "amount": 1},
                          idempotency_key="k-1")
    assert repeat.instance["id"] == started.instance["id"] and not repeat.created

    with pytest.raises(ApiError) as invalid:
        client.start("order-routing", {"order_id": "A"})
    assert invalid.value.status == 422 and invalid.value.code == "invalid_parameters"
    assert "amount" in invalid.value.detail

    instance_id = started.instance["id"]
    assert client.get_instance(instance_id)["status"] == "completed"
    assert [i["id"] for i in client.iter_instances(page_size=1)] == [instance_id]
    assert client.list_elements(instance_id)
    assert client.list_events(instance_id)
    with pytest.raises(ApiError) as missing:
        client.cancel("00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404


def test_records_and_tokens(client: Client) -> None:
    record = client.add_record("Contact", {"Name": "Ann"})
    assert client.get_record("Contact", record["id"])["Name"] == "Ann"
    client.put_record("Contact", record["id"], {"Name": "Bo"})
    assert [r["Name"] for r in client.list_records("Contact")] == ["Bo"]
    client.delete_record("Contact", record["id"])
    assert client.list_records("Contact") == []

    token = client.create_token("robot")
    assert token["token"] and token["name"] == "robot"


def test_a_missing_token_is_a_401_problem(ctx) -> None:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as http:
        anonymous = Client("http://unused", None, http=http)
        with pytest.raises(ApiError) as refused:
            anonymous.list_processes()
    assert refused.value.status == 401
    assert refused.value.problem["status"] == 401
