"""The Creatio dialect against contracts/creatio.md §7."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from flowport.domain.accounts import Role
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services import records
from flowport.services import users as users_svc

FIXTURES = Path(__file__).parent.parent / "fixtures"
ENGINE = "/0/ServiceModel/ProcessEngineService.svc"
NS = "{http://schemas.microsoft.com/2003/10/Serialization/}"


@pytest.fixture
def contacts(ctx, admin):
    for key, params, outputs in (
        ("UsrAddNewExternalContact", [
            {"name": "ContactName", "type": "text", "max_length": 50},
            {"name": "ContactPhone", "type": "text", "max_length": 50}], None),
        ("UsrGetAllContacts", [{"name": "ContactList", "type": "text", "direction": "out"}],
         ["ContactList"]),
    ):
        deploy.create_process(ctx, admin, deploy.CreateProcess(key=key))
        deploy.deploy_version(ctx, admin, key, deploy.DeployVersion(
            f"{key}.bpmn", (FIXTURES / "creatio" / f"{key}.bpmn").read_bytes(), params,
            outputs))
    users_svc.create_user(ctx, admin, users_svc.CreateUser(
        "Supervisor", "Supervisor1", frozenset({Role.OPERATOR})))


@pytest.fixture
def creatio(app, contacts):
    """A logged-in client, like the seed's console client: cookie jar plus BPMCSRF header."""
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/ServiceModel/AuthService.svc/Login",
                           json={"UserName": "Supervisor", "UserPassword": "Supervisor1"})
    assert response.json()["Code"] == 0
    client.headers["BPMCSRF"] = client.cookies["BPMCSRF"]
    return client


def unwrap(response) -> str | None:
    root = ElementTree.fromstring(response.text)
    assert root.tag == f"{NS}string"
    if root.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
        return None
    return root.text or ""


def contact_names(ctx, admin):
    return [(c["Name"], c["Phone"]) for c in records.list_records(ctx, admin, "Contact")]


def test_login_sets_the_four_cookies(app, contacts):
    client = TestClient(app)
    response = client.post("/ServiceModel/AuthService.svc/Login",
                           json={"UserName": "Supervisor", "UserPassword": "Supervisor1"})
    assert response.status_code == 200 and response.json()["Code"] == 0
    cookies = {c.split("=")[0]: c for c in response.headers.get_list("set-cookie")}
    assert set(cookies) == {".ASPXAUTH", "BPMCSRF", "BPMLOADER", "UserName"}
    assert "HttpOnly" not in cookies["BPMCSRF"] and "HttpOnly" in cookies[".ASPXAUTH"]
    assert client.cookies["UserName"] == "|".join(str(ord(c)) for c in "Supervisor")


def test_login_failures(app, contacts):
    client = TestClient(app)
    wrong = client.post("/ServiceModel/AuthService.svc/Login",
                        json={"UserName": "Supervisor", "UserPassword": "nope"})
    assert wrong.status_code == 200 and wrong.json()["Code"] == 1 and wrong.json()["Message"]
    assert "set-cookie" not in wrong.headers
    bad = client.post("/ServiceModel/AuthService.svc/Login", content=b"not json")
    assert bad.status_code == 400 and bad.json()["Code"] == 1


@pytest.mark.parametrize("header", [None, "wrong"])
def test_csrf_required(app, creatio, ctx, admin, header):
    if header is None:
        del creatio.headers["BPMCSRF"]
    else:
        creatio.headers["BPMCSRF"] = header
    response = creatio.get(f"{ENGINE}/UsrAddNewExternalContact/Execute",
                           params={"ContactName": "A", "ContactPhone": "1"})
    assert response.status_code == 401
    assert response.json()["errorInfo"]["errorCode"] == "CsrfTokenInvalid"
    assert contact_names(ctx, admin) == []


def test_credentials(app, contacts, admin_token):
    client = TestClient(app, raise_server_exceptions=False)
    url = f"{ENGINE}/UsrAddNewExternalContact/Execute?ContactName=A&ContactPhone=1"
    assert client.get(url).json()["errorInfo"]["errorCode"] == "Unauthorized"
    assert client.get(url, headers={"Authorization": f"Bearer {admin_token}"}).status_code \
        == 200


def test_seed_scenario(creatio, ctx, admin):
    """The seed's console client: add a contact twice, then list them."""
    add = (f"{ENGINE}/UsrAddNewExternalContact/Execute"
           "?ContactName=John%20Johanson&ContactPhone=+1%20111%20111%201111")
    for _ in range(2):
        response = creatio.get(add)
        assert response.status_code == 200 and response.content == b""
        assert response.headers["x-flowport-instance-id"]
        assert "content-type" not in response.headers
    listed = creatio.get(f"{ENGINE}/UsrGetAllContacts/Execute?ResultParameterName=ContactList")
    assert listed.headers["content-type"].startswith("application/xml")
    contacts = json.loads(unwrap(listed) or "")
    assert [(c["Name"], c["Phone"]) for c in contacts] == [("John Johanson",
                                                           " 1 111 111 1111")] * 2
    assert all(re.fullmatch(r"[0-9a-f-]{36}", c["Id"]) for c in contacts)
    as_json = creatio.get(f"{ENGINE}/UsrGetAllContacts/Execute?ResultParameterName=ContactList",
                          headers={"Accept": "application/json"})
    assert json.loads(json.loads(as_json.text)) == contacts


def test_plus_sign_encoding(creatio, ctx, admin):
    creatio.get(f"{ENGINE}/UsrAddNewExternalContact/Execute?ContactName=a&ContactPhone=%2B1%20111")
    creatio.get(f"{ENGINE}/UsrAddNewExternalContact/Execute?ContactName=b&ContactPhone=+1%20111")
    assert contact_names(ctx, admin) == [("a", "+1 111"), ("b", " 1 111")]


def test_text_length(creatio, ctx, admin):
    url = f"{ENGINE}/UsrAddNewExternalContact/Execute"
    long = creatio.get(url, params={"ContactName": "x" * 51, "ContactPhone": "1"})
    assert long.status_code == 400
    assert long.json()["errorInfo"]["errorCode"] == "InvalidParameterValue"
    assert long.json()["errorInfo"]["parameterName"] == "ContactName"
    assert contact_names(ctx, admin) == []
    assert creatio.get(url, params={"ContactName": "x" * 50, "ContactPhone": "1"}).status_code \
        == 200


def test_unknown_result_parameter_is_null(creatio):
    response = creatio.get(f"{ENGINE}/UsrGetAllContacts/Execute",
                           params={"ResultParameterName": "NoSuchParam"})
    assert response.status_code == 200 and unwrap(response) is None
    as_json = creatio.get(f"{ENGINE}/UsrGetAllContacts/Execute",
                          params={"ResultParameterName": "NoSuchParam"},
                          headers={"Accept": "application/json"})
    assert as_json.text == "null"


def test_post_bodies(creatio, ctx, admin):
    url = "/ServiceModel/ProcessEngineService.svc/UsrAddNewExternalContact/Execute"
    assert creatio.post(url, json={"ContactName": "Ann", "ContactPhone": "1"}).status_code == 200
    assert creatio.post(url, data={"ContactName": "Bo", "ContactPhone": "2"}).status_code == 200
    plain = creatio.post(url, content=b"x", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert contact_names(ctx, admin) == [("Ann", "1"), ("Bo", "2")]


def test_unknown_schema_and_ignored_keys(creatio):
    missing = creatio.get(f"{ENGINE}/UsrNope/Execute")
    assert missing.status_code == 404
    assert missing.json()["errorInfo"]["errorCode"] == "ProcessSchemaNotFound"
    extra = creatio.get(f"{ENGINE}/UsrAddNewExternalContact/Execute",
                        params={"ContactName": "A", "ContactPhone": "1", "Foo": "1"})
    assert extra.status_code == 200
    assert extra.headers["x-flowport-ignored-parameters"] == "Foo"


def test_failed_process_with_result(creatio, ctx, admin):
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="failing"))
    deploy.deploy_version(ctx, admin, "failing", deploy.DeployVersion(
        "failing.bpmn", (FIXTURES / "flows" / "failing.bpmn").read_bytes()))
    response = creatio.get(f"{ENGINE}/failing/Execute?ResultParameterName=x")
    assert response.status_code == 500
    assert response.json()["errorInfo"]["errorCode"] == "ProcessFailed"


def test_timeout_leaves_the_instance_running(creatio, ctx, admin):
    ctx.settings.creatio_wait_seconds = 0.2
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="approval"))
    deploy.deploy_version(ctx, admin, "approval", deploy.DeployVersion(
        "approval.bpmn", (FIXTURES / "flows" / "approval.bpmn").read_bytes()))
    response = creatio.get(f"{ENGINE}/approval/Execute?ResultParameterName=decision")
    assert response.status_code == 504
    assert response.json()["errorInfo"]["errorCode"] == "ExecutionTimeout"
    instance_id = response.json()["errorInfo"]["message"].split()[-1]
    assert run.get_instance(ctx, admin, instance_id).status.value == "waiting"


def waiting_approval(ctx, admin):
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="approval"))
    deploy.deploy_version(ctx, admin, "approval", deploy.DeployVersion(
        "approval.bpmn", (FIXTURES / "flows" / "approval.bpmn").read_bytes()))
    instance = run.start_instance(ctx, admin, run.StartInstance("approval")).instance
    uid = next(e.uid for e in run.list_elements(ctx, admin, instance.id)
               if e.element_id == "Approve")
    return instance, uid


def test_exec_element(creatio, ctx, admin):
    instance, uid = waiting_approval(ctx, admin)
    first = creatio.get(f"{ENGINE}/ExecProcElByUId/{uid}", params={"approved": "true"})
    assert first.status_code == 200 and first.content == b""
    assert run.get_instance(ctx, admin, instance.id).status.value == "completed"
    again = creatio.get(f"{ENGINE}/ExecProcElByUId", params={"ProcessElementUID": uid})
    assert again.status_code == 200
    assert len(records.list_records(ctx, admin, "Decision")) == 1


def test_exec_element_concurrently_runs_once(creatio, ctx, admin):
    _, uid = waiting_approval(ctx, admin)
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(creatio.get(
        f"{ENGINE}/ExecProcElByUId/{uid}", params={"approved": "true"}).status_code))
        for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert codes == [200, 200, 200]
    assert len(records.list_records(ctx, admin, "Decision")) == 1


def test_exec_element_errors(creatio, ctx, admin):
    bad = creatio.get(f"{ENGINE}/ExecProcElByUId/not-a-guid")
    assert bad.status_code == 400 and bad.json()["errorInfo"]["errorCode"] == "InvalidElementUid"
    unknown = creatio.get(f"{ENGINE}/ExecProcElByUId/6f1c2a8e-3b7d-4c55-9a0e-1d2f3a4b5c6d")
    assert unknown.status_code == 404
    assert unknown.json()["errorInfo"]["errorCode"] == "ElementNotFound"
    instance, uid = waiting_approval(ctx, admin)
    run.cancel_instance(ctx, admin, instance.id)
    stopped = creatio.get(f"{ENGINE}/ExecProcElByUId/{uid}")
    assert stopped.status_code == 409
    assert stopped.json()["errorInfo"]["errorCode"] == "ProcessNotRunning"


def test_run_process(creatio, ctx, admin):
    creatio.get(f"{ENGINE}/UsrAddNewExternalContact/Execute?ContactName=A&ContactPhone=1")
    reply = creatio.post(f"{ENGINE}/RunProcess", json={
        "schemaName": "UsrGetAllContacts", "parameterValues": [],
        "resultParameterNames": ["ContactList"]}).json()
    assert reply["success"] is True and reply["processStatus"] == 2
    assert json.loads(reply["resultParameterValues"]["ContactList"])[0]["Name"] == "A"
    started = creatio.post(f"{ENGINE}/RunProcess", json={
        "schemaName": "UsrAddNewExternalContact",
        "parameterValues": [{"name": "ContactName", "value": "B"},
                            {"name": "ContactPhone", "value": "2"}]}).json()
    assert started["processStatus"] == 2 and started["resultParameterValues"] == {}


def test_paths_without_the_0_prefix(creatio):
    response = creatio.get("/ServiceModel/ProcessEngineService.svc/UsrGetAllContacts/Execute",
                           params={"ResultParameterName": "ContactList"})
    assert response.status_code == 200 and unwrap(response) == "[]"


def test_an_idle_session_expires(creatio, ctx, admin, clock):
    url = f"{ENGINE}/UsrAddNewExternalContact/Execute?ContactName=A&ContactPhone=1"
    clock.advance(timedelta(minutes=ctx.settings.session_idle_minutes + 1))
    expired = creatio.get(url)
    assert expired.status_code == 401
    assert expired.json()["errorInfo"]["errorCode"] == "Unauthorized"
    assert contact_names(ctx, admin) == []


def test_logout_ends_the_session(creatio, ctx):
    url = f"{ENGINE}/UsrAddNewExternalContact/Execute?ContactName=A&ContactPhone=1"
    out = creatio.post("/ServiceModel/AuthService.svc/Logout")
    assert out.status_code == 200 and out.content == b""
    assert creatio.get(url).status_code == 401
    assert creatio.post("/ServiceModel/AuthService.svc/Logout").status_code == 200  # no-op


def test_another_accounts_element_is_not_found(app, ctx, admin, other_token):
    instance, uid = waiting_approval(ctx, admin)
    intruder = TestClient(app, raise_server_exceptions=False)
    intruder.headers["Authorization"] = f"Bearer {other_token}"
    response = intruder.get(f"{ENGINE}/ExecProcElByUId/{uid}", params={"approved": "true"})
    assert response.status_code == 404
    assert response.json()["errorInfo"]["errorCode"] == "ElementNotFound"
    assert run.get_instance(ctx, admin, instance.id).status.value == "waiting"
    # ... and its processes are unknown schemas.
    assert intruder.get(f"{ENGINE}/approval/Execute").status_code == 404


def test_wrong_methods_and_unpublished_processes(creatio, ctx, admin):
    assert creatio.put(f"{ENGINE}/UsrGetAllContacts/Execute").status_code == 405
    assert creatio.delete(f"{ENGINE}/ExecProcElByUId/{uuid.uuid4()}").status_code == 405
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="Draft"))
    draft = creatio.get(f"{ENGINE}/Draft/Execute")
    assert draft.status_code == 409
    assert draft.json()["errorInfo"]["errorCode"] == "ProcessNotPublished"
    assert run.list_instances(ctx, admin, run.ListInstances()).items == []


@pytest.mark.parametrize("body", [
    {}, {"schemaName": 5}, {"schemaName": "UsrGetAllContacts", "parameterValues": "x"},
    {"schemaName": "UsrGetAllContacts", "parameterValues": [{"value": 1}]},
    {"schemaName": "UsrGetAllContacts", "resultParameterNames": [1]},
])
def test_run_process_bad_requests(creatio, ctx, admin, body):
    response = creatio.post(f"{ENGINE}/RunProcess", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert run.list_instances(ctx, admin, run.ListInstances()).items == []


TYPED = [{"name": "n", "type": "integer"}, {"name": "d", "type": "decimal"},
         {"name": "b", "type": "boolean"}, {"name": "t", "type": "datetime"},
         {"name": "g", "type": "uuid"}]


@pytest.mark.parametrize(("name", "text", "stored"), [
    ("n", "-15", -15), ("n", "2147483647", 2147483647), ("d", "3.5", "3.5"),
    ("b", "TRUE", True), ("b", "0", False),
    ("g", "6F1C2A8E-3B7D-4C55-9A0E-1D2F3A4B5C6D", "6f1c2a8e-3b7d-4c55-9a0e-1d2f3a4b5c6d"),
])
def test_typed_parameters(creatio, ctx, admin, name, text, stored):
    typed_process(ctx, admin)
    response = creatio.get(f"{ENGINE}/typed/Execute", params={name: text})
    assert response.status_code == 200, response.text
    instance = run.get_instance(ctx, admin, response.headers["x-flowport-instance-id"])
    value = instance.variables[name]
    assert (str(value) if name == "d" else value) == stored


@pytest.mark.parametrize(("name", "text"), [
    ("n", "2147483648"), ("n", "1.5"), ("n", "abc"), ("d", "1,5"), ("b", "yes"),
    ("t", "yesterday"), ("g", "not-a-guid"),
])
def test_badly_typed_parameters_start_nothing(creatio, ctx, admin, name, text):
    typed_process(ctx, admin)
    response = creatio.get(f"{ENGINE}/typed/Execute", params={name: text})
    assert response.status_code == 400, response.text
    assert response.json()["errorInfo"] == {
        "errorCode": "InvalidParameterValue", "parameterName": name,
        "message": response.json()["errorInfo"]["message"]}
    assert run.list_instances(ctx, admin, run.ListInstances()).items == []


def typed_process(ctx, admin):
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="typed"))
    deploy.deploy_version(ctx, admin, "typed", deploy.DeployVersion(
        "straight.bpmn", (FIXTURES / "flows" / "straight.bpmn").read_bytes(), TYPED))
