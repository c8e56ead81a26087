"""A Studio client (plain httpx, DRF conventions) against a real `flowport serve`: log in,
manage processes, save, upload, execute, follow the job log, stop, log out; bad requests on
the wire; the jobs visible natively; tokens surviving a restart."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.harness import FIXTURES, Server, eventually

pytestmark = pytest.mark.e2e
FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"
P = "/api/process/process/"


def native(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30,
                        headers={"Authorization": f"Bearer {server.token}"})


def studio_login(server: Server) -> httpx.Client:
    """A Studio user made natively, logged in the Studio way (a form, a DRF token)."""
    with native(server) as api:
        made = api.post("/api/v1/users", json={
            "login": "zhang", "password": "correct horse", "roles": ["developer"],
            "name": "san zhang"})
        assert made.status_code == 201, made.text
    client = httpx.Client(base_url=server.url, timeout=30)
    reply = client.post("/api/login/", data={"username": "zhang", "password": "correct horse"})
    assert reply.status_code == 200, reply.text
    client.headers["Authorization"] = f"Token {reply.json()['token']}"
    return client


def read_log(client: httpx.Client, job: int, row: int) -> list[str]:
    reply = client.get("/api/process/logfile", params={"jobId": job, "row": row})
    assert reply.status_code == 200, reply.text
    text = reply.json()["logcontent"]
    return text.split("\n") if text else []


def test_studio_client_end_to_end(server: Server) -> None:
    client = studio_login(server)
    made = [client.post(P, json={"name": "测试", "project": f"测试{i}", "mark": "新增测试流程"})
            for i in range(2)]
    made.append(client.post(P, data={"name": "表单", "project": "测试3"}))
    assert [r.status_code for r in made] == [201, 201, 201]
    ids = [r.json()["id"] for r in made]
    assert made[0].json()["user"] == "san zhang"

    listing = client.get(P).json()
    assert listing["count"] == 3 and [p["id"] for p in listing["results"]] == ids[::-1]
    assert client.get(P, params={"name": "测"}).json()["count"] == 2
    page = client.get(P, params={"page_size": 2, "ordering": "id"}).json()
    assert [p["id"] for p in page["results"]] == ids[:2]
    # `next` is an absolute URL of this server: a client follows it as it is.
    assert page["next"].startswith(server.url + P)
    assert parse_qs(urlsplit(page["next"]).query)["page"] == ["2"]
    assert [p["id"] for p in client.get(page["next"]).json()["results"]] == ids[2:]

    pid = ids[0]
    timer = (FIXTURES / "timer-wait.bpmn").read_text()
    assert client.post("/api/process/save/", json={"id": pid, "content": timer}).json() \
        == {"success": True}
    assert client.post("/api/process/upload/", json={"id": str(pid)}).json() == {"success": True}
    started = client.post("/api/process/execute/", json={"id": str(pid)}).json()
    assert started["success"] is True
    job = started["job_id"]

    # Poll the log as Studio clients do, advancing `row` by the lines received.
    lines: list[str] = []

    def finished() -> bool:
        lines.extend(read_log(client, job, len(lines)))
        return any("process end" in line for line in lines)

    eventually(finished, timeout=30, what="the timer job's end in its log")
    assert "process start" in lines[0]
    assert read_log(client, job, len(lines)) == []
    with native(server) as api:
        seen = api.get(f"/api/v1/instances/{job}").json()
        assert seen["status"] == "completed" and seen["variables"]["fired"] is True

    # A job waiting for a person, stopped.
    assert client.post("/api/process/save", data={
        "id": str(ids[1]), "content": (FLOWS / "approval.bpmn").read_text()}).status_code == 200
    assert client.post("/api/process/upload", data={"id": str(ids[1])}).status_code == 200
    waiting = client.post("/api/process/execute", data={"id": str(ids[1])}).json()["job_id"]
    assert waiting != job
    assert client.post(f"/api/process/stop/{waiting}/").json() == {"success": True}
    assert client.post(f"/api/process/stop/{waiting}/", json={"job_id": waiting}).status_code \
        == 200
    assert client.post(f"/api/process/stop/{job}/").json() == {
        "success": False, "detail": f"job {job} is not running"}
    with native(server) as api:
        assert api.get(f"/api/v1/instances/{waiting}").json()["status"] == "stopped"
    assert any("process stopped" in line for line in read_log(client, waiting, 0)[-2:])

    # Batch delete with a form body; jobs already run stay readable.
    deleted = client.request("DELETE", P, content=f"pk={ids[0]},{ids[1]}",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert deleted.status_code == 204
    assert [p["id"] for p in client.get(P).json()["results"]] == [ids[2]]
    assert read_log(client, job, 0)

    token = client.headers["Authorization"].split()[1]
    assert client.post("/api/logout/", json={"token": token}).json() == {}
    assert client.get(P).status_code == 401


def test_bad_requests_on_the_wire(server: Server) -> None:
    client = studio_login(server)
    before = client.get(P).json()
    checks = [
        (client.post(P, content=b"name=x", headers={"Content-Type": "text/plain"}), 415,
         {"detail": 'Unsupported media type "text/plain" in request.'}),
        (client.post(P, json={"name": "x"}), 400, {"project": ["This field is required."]}),
        (client.post(P, content=b"{", headers={"Content-Type": "application/json"}), 400,
         None),
        (client.get(f"{P}999999/"), 404, {"detail": "Not found."}),
        (client.get("/api/process/intact"), 404, {"detail": "Not found."}),
        (client.get(P, params={"page": 9}), 404, {"detail": "Invalid page."}),
        (client.delete(P), 400, {"detail": "pk or pk[] is required"}),
        (client.get("/api/process/save/"), 405,
         {"success": False, "detail": 'Method "GET" not allowed.'}),
        (client.post("/api/process/execute/", json={"id": "x"}), 400,
         {"success": False, "detail": "id must be an integer"}),
        (client.post("/api/process/save/", json={"id": 1, "content": "<bpmn"}), 400, None),
        (client.post("/api/process/save/", json={"id": 1, "content": "<a/>"}), 404,
         {"success": False, "detail": "Not found."}),
        (client.post("/api/process/stop/abc/"), 404, {"success": False, "detail": "Not found."}),
        (client.get("/api/process/logfile", params={"jobId": 1, "row": -1}), 400,
         {"detail": "row must be an integer of 0 or more"}),
        (httpx.get(f"{server.url}{P}", headers={"Authorization": "Token nope"}), 401,
         {"detail": "Invalid token."}),
    ]
    for response, status, body in checks:
        assert response.status_code == status, (response.request.url, response.text)
        if body is not None:
            assert response.json() == body, response.request.url
        else:
            assert response.json()["detail"]
    # No redirects for the slash-less form, on any method.
    for method in ("GET", "POST", "DELETE"):
        reply = client.request(method, "/api/process/process", follow_redirects=False)
        assert reply.status_code not in (301, 302, 307, 308), method
    assert client.get(P).json() == before


def test_tokens_and_jobs_survive_a_restart(server: Server) -> None:
    client = studio_login(server)
    pid = client.post(P, json={"name": "n", "project": "p"}).json()["id"]
    client.post("/api/process/save/", json={"id": pid,
                                             "content": (FLOWS / "approval.bpmn").read_text()})
    client.post("/api/process/upload/", json={"id": pid})
    job = client.post("/api/process/execute/", json={"id": pid}).json()["job_id"]
    before = read_log(client, job, 0)
    server.restart()
    client = httpx.Client(base_url=server.url, timeout=30, headers=client.headers)
    assert client.get(f"{P}{pid}/").status_code == 200
    assert read_log(client, job, 0) == before
    assert client.post(f"/api/process/stop/{job}/").json() == {"success": True}
