"""The native API through the ASGI app, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"


def deploy(api, name: str, key: str | None = None, **extra) -> dict:
    key = key or name
    assert api.post("/api/v1/processes", json={"key": key}).status_code == 201
    response = api.post(f"/api/v1/processes/{key}/versions",
                        files={"file": (f"{name}.bpmn", (FLOWS / f"{name}.bpmn").read_bytes())},
                        data={k: v for k, v in extra.items()})
    assert response.status_code == 201, response.text
    return response.json()


def test_health_needs_no_token(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/api/v1/openapi.json").status_code == 200
        response = client.get("/api/v1/processes")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


def test_bad_token(api):
    response = api.get("/api/v1/processes", headers={"Authorization": "Bearer fpt_nope"})
    assert response.status_code == 401


def test_process_crud(api):
    created = api.post("/api/v1/processes", json={"key": "invoice", "name": "Invoice"})
    assert created.status_code == 201
    body = created.json()
    assert body["key"] == "invoice" and body["process_type"] == 0 and body["guid"]
    assert api.post("/api/v1/processes", json={"key": "invoice"}).status_code == 409
    patched = api.patch("/api/v1/processes/invoice", json={"description": "Pays bills"})
    assert patched.json()["description"] == "Pays bills"
    assert patched.json()["name"] == "Invoice"
    assert api.get("/api/v1/processes/invoice").json()["description"] == "Pays bills"
    assert api.delete("/api/v1/processes/invoice").status_code == 204
    assert api.get("/api/v1/processes/invoice").status_code == 404
    assert api.get("/api/v1/processes").json() == {"items": [], "next_cursor": None}


def test_process_list_search_and_pages(api):
    for key in ("alpha", "beta", "gamma", "delta"):
        api.post("/api/v1/processes", json={"key": key, "name": key.upper()})
    page = api.get("/api/v1/processes", params={"limit": 3, "order": "-key"}).json()
    assert [p["key"] for p in page["items"]] == ["gamma", "delta", "beta"]
    rest = api.get("/api/v1/processes", params={"limit": 3, "order": "-key",
                                                "cursor": page["next_cursor"]}).json()
    assert [p["key"] for p in rest["items"]] == ["alpha"] and rest["next_cursor"] is None
    found = api.get("/api/v1/processes", params={"search": "ELT"}).json()
    assert [p["key"] for p in found["items"]] == ["delta"]


def test_process_search_takes_wildcards_literally(api):
    api.post("/api/v1/processes", json={"key": "pay_run", "name": "100% pay run"})
    api.post("/api/v1/processes", json={"key": "payXrun", "name": "1000 pay runs"})
    for search, keys in (("_", ["pay_run"]), ("%", ["pay_run"]), ("pay_r", ["pay_run"]),
                         ("pay", ["payXrun", "pay_run"])):
        found = api.get("/api/v1/processes", params={"search": search}).json()
        assert sorted(p["key"] for p in found["items"]) == keys, search


def test_upload_json_and_identical_content(api):
    api.post("/api/v1/processes", json={"key": "straight"})
    content = (FLOWS / "straight.bpmn").read_text()
    body = {"file_name": "straight.bpmn", "content": content,
            "parameters": [{"name": "amount", "type": "integer", "required": True}],
            "outputs": ["size"]}
    first = api.post("/api/v1/processes/straight/versions", json=body)
    assert first.status_code == 201
    assert first.json()["number"] == 1 and len(first.json()["sha256"]) == 64
    again = api.post("/api/v1/processes/straight/versions", json=body)
    assert again.status_code == 200 and again.json()["number"] == 1
    assert api.get("/api/v1/processes/straight/versions/1").json()["parameters"][0]["name"] \
        == "amount"
    assert api.get("/api/v1/processes/straight/versions/1/content").text == content


def test_start_with_and_without_wait(api):
    deploy(api, "straight", outputs='["size"]')
    fire = api.post("/api/v1/processes/straight/instances", json={"variables": {"amount": 1}})
    assert fire.status_code == 201
    assert fire.headers["location"] == f"/api/v1/instances/{fire.json()['id']}"
    waited = api.post("/api/v1/processes/straight/instances",
                      json={"variables": {"amount": 80}, "wait": {"timeout": 5}})
    assert waited.status_code == 200
    assert waited.json()["outputs"] == {"size": "large"}
    assert waited.json()["status"] == "completed"


def test_wait_times_out_with_202(api):
    deploy(api, "approval")
    response = api.post("/api/v1/processes/approval/instances",
                        json={"wait": {"timeout": 0.2}})
    assert response.status_code == 202
    assert response.json()["status"] == "waiting"
    assert api.get(response.headers["location"]).json()["status"] == "waiting"


def test_wait_for_a_variable_set_by_a_later_completion(api):
    import threading

    deploy(api, "approval")
    started = api.post("/api/v1/processes/approval/instances").json()
    assert "id" in started, started
    elements = api.get(f"/api/v1/instances/{started['id']}/elements").json()["items"]
    uid = next(e["uid"] for e in elements if e["element_id"] == "Approve")
    # A second start waits for `decision` while this thread completes the first one's task
    # through the API; the waiter must be woken by the completion, not time out.
    second = api.post("/api/v1/processes/approval/instances").json()
    second_uid = next(e["uid"] for e in api.get(
        f"/api/v1/instances/{second['id']}/elements").json()["items"]
        if e["element_id"] == "Approve")
    timer = threading.Timer(0.3, lambda: api.post(
        f"/api/v1/instances/{second['id']}/elements/{second_uid}/complete",
        json={"data": {"approved": True}}))
    timer.start()
    try:
        done = api.post(f"/api/v1/instances/{started['id']}/elements/{uid}/complete",
                        json={"data": {"approved": False}})
        assert done.json()["instance"]["variables"]["decision"] == "rejected"
    finally:
        timer.join()
    assert api.get(f"/api/v1/instances/{second['id']}").json()["variables"]["decision"] \
        == "approved"


def test_idempotency_key_header(api):
    deploy(api, "approval")
    headers = {"Idempotency-Key": "abc"}
    first = api.post("/api/v1/processes/approval/instances", headers=headers)
    second = api.post("/api/v1/processes/approval/instances", headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


def test_complete_element_and_repeat(api):
    deploy(api, "approval")
    instance = api.post("/api/v1/processes/approval/instances").json()
    elements = api.get(f"/api/v1/instances/{instance['id']}/elements").json()["items"]
    approve = next(e for e in elements if e["element_id"] == "Approve")
    assert approve["state"] == "waiting" and approve["type"] == "userTask"
    url = f"/api/v1/instances/{instance['id']}/elements/{approve['uid']}/complete"
    first = api.post(url, json={"data": {"approved": True}})
    assert first.status_code == 200 and first.json()["changed"] is True
    assert first.json()["instance"]["status"] == "completed"
    second = api.post(url, json={"data": {"approved": False}})
    assert second.status_code == 200 and second.json()["changed"] is False
    assert second.json()["instance"]["variables"]["decision"] == "approved"
    events = api.get(f"/api/v1/instances/{instance['id']}/events").json()["items"]
    assert [e["kind"] for e in events] == ["created", "status", "element_completed", "status"]


def test_cancel_then_complete_is_409(api):
    deploy(api, "approval")
    instance = api.post("/api/v1/processes/approval/instances").json()
    elements = api.get(f"/api/v1/instances/{instance['id']}/elements").json()["items"]
    uid = next(e["uid"] for e in elements if e["element_id"] == "Approve")
    cancelled = api.post(f"/api/v1/instances/{instance['id']}/cancel",
                         json={"reason": "duplicate"})
    assert cancelled.json()["status"] == "stopped"
    response = api.post(f"/api/v1/instances/{instance['id']}/elements/{uid}/complete")
    assert response.status_code == 409
    assert response.json()["code"] == "element_not_waiting"


def test_instance_list_filters_and_pages(api):
    deploy(api, "approval")
    deploy(api, "straight")
    ids = [api.post("/api/v1/processes/approval/instances",
                    json={"business_key": f"bk{i}"}).json()["id"] for i in range(5)]
    api.post("/api/v1/processes/straight/instances", json={"variables": {"amount": 1}})
    page = api.get("/api/v1/instances", params={"process_key": "approval", "limit": 2}).json()
    seen = [i["id"] for i in page["items"]]
    while page["next_cursor"]:
        page = api.get("/api/v1/instances", params={"process_key": "approval", "limit": 2,
                                                    "cursor": page["next_cursor"]}).json()
        seen += [i["id"] for i in page["items"]]
    assert seen == ids[::-1]
    done = api.get("/api/v1/instances", params={"status": "completed"}).json()["items"]
    assert [i["process_key"] for i in done] == ["straight"]
    by_key = api.get("/api/v1/instances", params={"business_key": "bk3"}).json()["items"]
    assert [i["id"] for i in by_key] == [ids[3]]


def test_records_crud(api):
    created = api.post("/api/v1/records/Contact", json={"name": "Ann"})
    assert created.status_code == 201
    record_id = created.json()["id"]
    assert api.get(f"/api/v1/records/Contact/{record_id}").json() == {"id": record_id,
                                                                      "name": "Ann"}
    assert api.put(f"/api/v1/records/Contact/{record_id}", json={"name": "Bo"}).status_code \
        == 200
    assert api.get("/api/v1/records/Contact").json()["items"] == [{"id": record_id,
                                                                   "name": "Bo"}]
    assert api.delete(f"/api/v1/records/Contact/{record_id}").status_code == 204
    assert api.get(f"/api/v1/records/Contact/{record_id}").status_code == 404
    # Ids are the server's: a PUT never creates, so an unknown id is a 404 and writes nothing.
    assert api.put(f"/api/v1/records/Contact/{record_id}", json={"name": "Cy"}).status_code \
        == 404
    assert api.get("/api/v1/records/Contact").json()["items"] == []


def test_other_account_gets_404_everywhere(api, intruder):
    deploy(api, "approval")
    instance = api.post("/api/v1/processes/approval/instances").json()
    uid = api.get(f"/api/v1/instances/{instance['id']}/elements").json()["items"][0]["uid"]
    record = api.post("/api/v1/records/Contact", json={"name": "Ann"}).json()
    probes = [
        ("get", "/api/v1/processes/approval", None),
        ("patch", "/api/v1/processes/approval", {"name": "x"}),
        ("delete", "/api/v1/processes/approval", None),
        ("get", "/api/v1/processes/approval/versions", None),
        ("get", "/api/v1/processes/approval/versions/1", None),
        ("get", "/api/v1/processes/approval/versions/1/content", None),
        ("post", "/api/v1/processes/approval/instances", {}),
        ("get", f"/api/v1/instances/{instance['id']}", None),
        ("get", f"/api/v1/instances/{instance['id']}/events", None),
        ("get", f"/api/v1/instances/{instance['id']}/elements", None),
        ("post", f"/api/v1/instances/{instance['id']}/elements/{uid}/complete", {}),
        ("post", f"/api/v1/instances/{instance['id']}/cancel", {}),
        ("post", f"/api/v1/instances/{instance['id']}/messages", {"name": "m"}),
        ("get", f"/api/v1/records/Contact/{record['id']}", None),
        ("put", f"/api/v1/records/Contact/{record['id']}", {"name": "x"}),
        ("delete", f"/api/v1/records/Contact/{record['id']}", None),
    ]
    for method, url, body in probes:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(intruder, method)(url, **kwargs)
        assert response.status_code == 404, (method, url, response.status_code)
    # ... and nothing changed for the owner.
    assert api.get(f"/api/v1/instances/{instance['id']}").json()["status"] == "waiting"
    assert api.get("/api/v1/processes/approval").json()["name"] == "approval"
    # A PUT to an unknown record creates it in the intruder's own account, never the owner's.
    assert api.get(f"/api/v1/records/Contact/{record['id']}").json()["name"] == "Ann"


BAD_REQUESTS = [
    ("post", "/api/v1/processes", {"json": {"key": "bad key"}}, 400),
    ("post", "/api/v1/processes", {"json": {}}, 422),
    ("post", "/api/v1/processes", {"json": {"key": "k", "process_type": 7}}, 422),
    ("post", "/api/v1/processes", {"json": {"key": "k", "name": "x" * 256}}, 422),
    ("post", "/api/v1/processes", {"content": b"{not json", "headers": {
        "content-type": "application/json"}}, 422),
    ("post", "/api/v1/processes", {"content": b"key=a", "headers": {
        "content-type": "text/plain"}}, 422),
    ("get", "/api/v1/processes", {"params": {"limit": 0}}, 422),
    ("get", "/api/v1/processes", {"params": {"limit": 100000}}, 422),
    ("get", "/api/v1/processes", {"params": {"order": "colour"}}, 400),
    ("get", "/api/v1/processes", {"params": {"cursor": "garbage"}}, 400),
    ("get", "/api/v1/instances", {"params": {"cursor": "WzEsMl0"}}, 400),
    ("get", "/api/v1/instances", {"params": {"status": "sleepy"}}, 400),
    ("get", "/api/v1/processes/nope", {}, 404),
    ("get", "/api/v1/processes/straight/versions/99", {}, 404),
    ("get", "/api/v1/processes/straight/versions/abc", {}, 422),
    ("post", "/api/v1/processes/straight/versions", {"content": b"x", "headers": {
        "content-type": "text/xml"}}, 400),
    ("post", "/api/v1/processes/straight/versions", {"files": {"other": ("a", b"b")}}, 400),
    ("post", "/api/v1/processes/straight/versions", {"files": {"file": ("a.exe", b"b")}}, 400),
    ("post", "/api/v1/processes/straight/versions", {"files": {
        "file": ("a.bpmn", b"<bpmn")}}, 400),
    ("post", "/api/v1/processes/straight/versions", {"json": {
        "file_name": "a.zip", "content": "!!", "encoding": "base64"}}, 400),
    ("post", "/api/v1/processes/straight/versions", {"files": {
        "file": ("a.bpmn", (FLOWS / "straight.bpmn").read_bytes())},
        "data": {"parameters": "[{"}}, 400),
    ("post", "/api/v1/processes/straight/versions", {"files": {
        "file": ("a.bpmn", (FLOWS / "straight.bpmn").read_bytes())},
        "data": {"parameters": '[{"name": "a", "type": "colour"}]'}}, 400),
    ("post", "/api/v1/processes/straight/instances", {"json": {"variables": []}}, 422),
    ("post", "/api/v1/processes/straight/instances", {"json": {"variables": {}}}, 422),
    ("post", "/api/v1/processes/straight/instances", {"json": {
        "variables": {"amount": "many"}}}, 422),
    ("post", "/api/v1/processes/straight/instances", {"json": {"version": 0}}, 422),
    ("post", "/api/v1/processes/straight/instances", {"json": {"version": 5}}, 404),
    ("post", "/api/v1/processes/straight/instances", {"json": {
        "wait": {"timeout": -1}}}, 422),
    ("post", "/api/v1/processes/straight/instances", {"json": {"surprise": 1}}, 422),
    ("get", "/api/v1/instances/not-a-uuid", {}, 404),
    ("get", "/api/v1/instances/00000000-0000-0000-0000-000000000000", {}, 404),
    ("post", "/api/v1/instances/00000000-0000-0000-0000-000000000000/cancel", {}, 404),
    ("post", "/api/v1/instances/x/elements/y/complete", {"json": {"data": 1}}, 422),
    ("post", "/api/v1/records/Contact", {"json": [1, 2]}, 422),
    ("post", "/api/v1/records/bad entity!", {"json": {}}, 400),
    ("put", "/api/v1/records/Contact/not-a-uuid", {"json": {}}, 400),
    ("delete", "/api/v1/records/Contact/abc", {}, 404),
    ("put", "/api/v1/processes", {}, 405),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status"), BAD_REQUESTS)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(api, method, url, kwargs, status):
    deploy(api, "straight", parameters='[{"name": "amount", "type": "integer", '
                                       '"required": true}]')
    before = (api.get("/api/v1/processes").json(), api.get("/api/v1/instances").json(),
              api.get("/api/v1/processes/straight/versions").json())
    response = getattr(api, method)(url, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]
    after = (api.get("/api/v1/processes").json(), api.get("/api/v1/instances").json(),
             api.get("/api/v1/processes/straight/versions").json())
    assert after == before
