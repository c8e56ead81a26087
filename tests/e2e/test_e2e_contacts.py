"""The record-store contact example (contracts/creatio.md §6) end to end: natively and through
the Creatio dialect, on the processes deployed from examples/creatio by the CLI."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from flowport.client import Client
from tests.e2e.harness import EXAMPLES, Server

pytestmark = pytest.mark.e2e
ENGINE = "/0/ServiceModel/ProcessEngineService.svc"


def test_add_contacts_and_list_them(server: Server, api: Client) -> None:
    run = server.cli("deploy", str(EXAMPLES / "creatio"))
    assert run.exit_code == 0, run.output
    assert {d["key"] for d in json.loads(run.stdout)} == {"UsrAddNewExternalContact",
                                                          "UsrGetAllContacts"}

    people = [("John Johanson", "+1 111 111 1111"), ("John Johanson", "+1 111 111 1111"),
              ("Ann", "1")]
    for name, phone in people:
        added = api.start("UsrAddNewExternalContact",
                          {"ContactName": name, "ContactPhone": phone}, wait_timeout=10)
        assert added.instance["status"] == "completed"

    listed = api.start("UsrGetAllContacts", wait_timeout=10)
    assert listed.status_code == 200
    contacts = listed.instance["outputs"]["ContactList"]
    assert [(c["Name"], c["Phone"]) for c in contacts] == people  # duplicates included
    assert len({str(uuid.UUID(c["Id"])) for c in contacts}) == 3
    assert [r["id"] for r in api.list_records("Contact")] == [c["Id"] for c in contacts]

    # Creatio's own client gets the same list (JSON mode: a JSON string literal of JSON text).
    reply = httpx.get(f"{server.url}{ENGINE}/UsrGetAllContacts/Execute",
                      params={"ResultParameterName": "ContactList"},
                      headers={"Authorization": f"Bearer {server.token}",
                               "Accept": "application/json"}, timeout=30)
    assert reply.status_code == 200
    assert json.loads(json.loads(reply.text)) == contacts


def test_a_name_over_fifty_characters_adds_nothing(server: Server, api: Client) -> None:
    server.cli("deploy", str(EXAMPLES / "creatio"))
    run = server.cli("start", "UsrAddNewExternalContact", "--var", "ContactName=" + "x" * 51,
                     "--var", "ContactPhone=1", "--wait")
    assert run.exit_code == 1
    assert "ContactName" in run.stderr
    assert api.list_records("Contact") == []
    assert api.list_instances()["items"] == []
