"""Robots over the native API (the ASGI app in process, both databases): management, the
agent protocol with its long poll, stop and abort, logs and artifacts, bad input."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def robot_client(app, api) -> Iterator[tuple[TestClient, dict]]:
    """An enrolled robot's client, and the robot."""
    created = api.post("/api/v1/robots", json={"name": "r1", "tags": ["win"], "slots": 2})
    assert created.status_code == 201, created.text
    with TestClient(app, raise_server_exceptions=False) as client:
        enrolled = client.post("/api/v1/robot/enroll", json={
            "enrollment_token": created.json()["enrollment_token"], "machine": "host-1",
            "runtime_version": "1.0"})
        assert enrolled.status_code == 200, enrolled.text
        client.headers["Authorization"] = f"Bearer {enrolled.json()['token']}"
        yield client, enrolled.json()["robot"]


def package(api, key="job", content=b"print('hi')", file_name="job.py", **fields) -> dict:
    created = api.post("/api/v1/processes", json={"key": key, "process_type": 1, **fields})
    assert created.status_code == 201, created.text
    version = api.post(f"/api/v1/processes/{key}/versions",
                       files={"file": (file_name, content)})
    assert version.status_code == 201, version.text
    return version.json()


def test_robot_management(api):
    created = api.post("/api/v1/robots", json={"name": "r1", "description": "desk 4",
                                               "tags": ["win", "excel"], "slots": 3})
    body = created.json()
    assert created.status_code == 201 and body["enrollment_token"].startswith("fpe_")
    assert body["status"] == 0 and body["status_name"] == "disconnected"
    assert body["tags"] == ["excel", "win"] and not body["enrolled"]
    robot_id = body["id"]
    listed = api.get("/api/v1/robots").json()["items"]
    assert [r["id"] for r in listed] == [robot_id] and "enrollment_token" not in listed[0]
    patched = api.patch(f"/api/v1/robots/{robot_id}", json={"slots": 1, "name": "desk-4"})
    assert patched.json()["slots"] == 1 and patched.json()["name"] == "desk-4"
    again = api.post(f"/api/v1/robots/{robot_id}/enrollment")
    assert again.status_code == 201 and again.json()["enrollment_token"] != \
        body["enrollment_token"]
    assert api.post("/api/v1/robots", json={"name": "desk-4"}).status_code == 409
    for bad in ({"name": ""}, {"name": "x", "slots": 0}, {"name": "x", "slots": 65},
                {"name": "x", "tags": "win"}, {"name": "x", "extra": 1}, {}):
        response = api.post("/api/v1/robots", json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    response = api.post("/api/v1/robots", json={"name": "x", "tags": ["has space"]})
    assert response.status_code == 400 and response.json()["field"] == "tags"
    assert api.delete(f"/api/v1/robots/{robot_id}").status_code == 204
    assert api.get(f"/api/v1/robots/{robot_id}").status_code == 404


def test_groups(api):
    robot_id = api.post("/api/v1/robots", json={"name": "r1"}).json()["id"]
    group = api.post("/api/v1/robot-groups", json={"name": "night"}).json()
    url = f"/api/v1/robot-groups/{group['id']}/robots/{robot_id}"
    assert api.put(url).json()["robots"] == [robot_id]
    assert api.put(url).json()["robots"] == [robot_id]
    assert api.get(f"/api/v1/robot-groups/{group['id']}").json()["robots"] == [robot_id]
    assert api.delete(url).json()["robots"] == []
    assert api.delete(url).status_code == 404
    assert api.put(f"/api/v1/robot-groups/{group['id']}/robots/nope").status_code == 404
    assert api.patch(f"/api/v1/robot-groups/{group['id']}",
                     json={"description": "late"}).json()["description"] == "late"
    assert api.delete(f"/api/v1/robot-groups/{group['id']}").status_code == 204
    assert api.get("/api/v1/robot-groups").json() == {"items": []}


def test_enrollment_refusals(app, api):
    token = api.post("/api/v1/robots", json={"name": "r1"}).json()["enrollment_token"]
    anonymous = TestClient(app, raise_server_exceptions=False)
    for body in ({"enrollment_token": "fpe_wrong"}, {"enrollment_token": "fpt_not_one"}):
        response = anonymous.post("/api/v1/robot/enroll", json=body)
        assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    assert anonymous.post("/api/v1/robot/enroll", json={}).status_code == 422
    assert anonymous.post("/api/v1/robot/enroll", json={
        "enrollment_token": token, "slots": 0}).status_code == 422
    ok = anonymous.post("/api/v1/robot/enroll", json={"enrollment_token": token})
    assert ok.status_code == 200 and ok.json()["token"].startswith("fpr_")
    assert anonymous.post("/api/v1/robot/enroll",
                          json={"enrollment_token": token}).status_code == 401


def test_process_robot_fields(api):
    created = api.post("/api/v1/processes", json={
        "key": "job", "process_type": 1, "min_version_to_run": "1.2", "robot_tags": ["win"],
        "max_attempts": 3, "retry_backoff": 10}).json()
    assert (created["robot_tags"], created["max_attempts"], created["retry_backoff"]) == (
        ["win"], 3, 10)
    patched = api.patch("/api/v1/processes/job", json={"max_attempts": 1}).json()
    assert patched["max_attempts"] == 1 and patched["robot_tags"] == ["win"]
    assert api.patch("/api/v1/processes/job", json={"robot_tags": []}).json()[
        "robot_tags"] == []
    for bad, status in (({"min_version_to_run": "latest"}, 400),
                        ({"max_attempts": 0}, 422), ({"retry_backoff": -1}, 422),
                        ({"robot_tags": ["a b"]}, 400)):
        response = api.patch("/api/v1/processes/job", json=bad)
        assert response.status_code == status, (bad, response.text)
    assert api.get("/api/v1/processes/job").json()["max_attempts"] == 1


def test_the_agent_protocol(api, robot_client):
    bot, _ = robot_client
    version = package(api)
    started = api.post("/api/v1/processes/job/instances", json={
        "variables": {"n": 1}, "business_key": "B-1"}).json()
    assert started["status"] == "pending"
    reasons = api.get(f"/api/v1/instances/{started['id']}/pending-reasons").json()
    assert reasons == {"status": "pending", "reasons": [
        {"code": "queued", "message": "r1 can run it and will claim it at its next poll"}]}
    beat = bot.post("/api/v1/robot/heartbeat", json={"runtime_version": "1.1"}).json()
    assert beat["robot"]["status_name"] == "ready" and beat["commands"] == []
    assert beat["heartbeat_seconds"] > 0 and beat["lease_seconds"] > beat["heartbeat_seconds"]
    claimed = bot.post("/api/v1/robot/claim", json={"max_jobs": 2}).json()["jobs"]
    assert [j["id"] for j in claimed] == [started["id"]]
    job = claimed[0]
    assert job["package"]["sha256"] == version["sha256"] and job["variables"] == {"n": 1}
    assert job["business_key"] == "B-1" and job["attempt"] == 1
    token = job["fencing_token"]
    package_bytes = bot.get(f"/api/v1/robot/packages/{job['package']['sha256']}")
    assert package_bytes.content == b"print('hi')"
    assert "job.py" in package_bytes.headers["content-disposition"]
    base = f"/api/v1/robot/jobs/{job['id']}"
    assert bot.post(f"{base}/logs", json={"fencing_token": token, "lines": [
        {"level": "INFO", "message": "started", "time": "2026-01-05T09:00:00"}]}).json() == {
        "accepted": 1}
    assert bot.post(f"{base}/progress", json={"fencing_token": token, "events": [
        {"kind": "test_started", "detail": {"name": "Login"}}]}).json() == {"accepted": 1}
    put = bot.put(f"{base}/artifacts/screens/shot-1.png?fencing_token={token}",
                  content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert put.status_code == 201 and put.json()["name"] == "screens/shot-1.png"
    stale = bot.post(f"{base}/complete", json={"fencing_token": token + 1, "outputs": {}})
    assert stale.status_code == 409 and stale.json()["code"] == "stale_lease"
    done = bot.post(f"{base}/complete", json={"fencing_token": token, "outputs": {"r": 2}})
    assert done.status_code == 200 and done.json()["changed"] is True
    assert done.json()["instance"]["outputs"] == {"r": 2}
    view = api.get(f"/api/v1/instances/{job['id']}/job").json()
    assert view["robot"]["name"] == "r1" and view["attempts"] == 1 and view["log_lines"] == 1
    logs = api.get(f"/api/v1/instances/{job['id']}/logs").json()["items"]
    assert [(x["level"], x["message"], x["time"]) for x in logs] == [
        ("INFO", "started", "2026-01-05T09:00:00+00:00")]
    artifact = api.get(f"/api/v1/instances/{job['id']}/artifacts/screens/shot-1.png")
    assert artifact.content == b"\x89PNG" and artifact.headers["content-type"] == "image/png"
    assert artifact.headers["content-disposition"].startswith("attachment")
    assert artifact.headers["content-security-policy"] == "sandbox"
    assert api.get(f"/api/v1/instances/{job['id']}/artifacts/nope.png").status_code == 404
    assert api.get(f"/api/v1/instances/{job['id']}/artifacts/..%2Fx").status_code in (400, 404)


def test_a_claim_waits_for_work_and_wakes_when_it_comes(app, api, robot_client):
    bot, _ = robot_client
    package(api)
    answers: list[tuple[float, dict]] = []

    def long_poll() -> None:
        began = time.monotonic()
        response = bot.post("/api/v1/robot/claim", json={"timeout": 20})
        answers.append((time.monotonic() - began, response.json()))

    waiter = threading.Thread(target=long_poll)
    waiter.start()
    time.sleep(0.3)  # the claim is waiting (nothing to await: it is the thing being tested)
    started = api.post("/api/v1/processes/job/instances", json={}).json()
    waiter.join(20)
    ((elapsed, body),) = answers
    assert [j["id"] for j in body["jobs"]] == [started["id"]]
    assert elapsed < 10  # woken by the start, well before its 20 s timeout


def test_a_claim_with_nothing_to_do_returns_empty_after_its_timeout(robot_client):
    bot, _ = robot_client
    began = time.monotonic()
    body = bot.post("/api/v1/robot/claim", json={"timeout": 0.3}).json()
    assert body["jobs"] == [] and time.monotonic() - began >= 0.3


def test_stop_abort_and_heartbeat_commands(api, robot_client):
    bot, _ = robot_client
    package(api)
    a = api.post("/api/v1/processes/job/instances", json={}).json()
    b = api.post("/api/v1/processes/job/instances", json={}).json()
    jobs = bot.post("/api/v1/robot/claim", json={"max_jobs": 2}).json()["jobs"]
    tokens = {j["id"]: j["fencing_token"] for j in jobs}
    assert api.post(f"/api/v1/instances/{a['id']}/stop", json={"reason": "enough"}).json()[
        "status"] == "stopping"
    assert api.post(f"/api/v1/instances/{b['id']}/abort").json()["status"] == "aborting"
    beat = bot.post("/api/v1/robot/heartbeat", json={"jobs": [
        {"id": i, "fencing_token": t} for i, t in tokens.items()]}).json()
    assert sorted((c["job_id"], c["command"]) for c in beat["commands"]) == sorted(
        [(a["id"], "stop"), (b["id"], "abort")])
    assert beat["robot"]["status_name"] == "working" and beat["robot"]["busy_slots"] == 2
    stopped = bot.post(f"/api/v1/robot/jobs/{a['id']}/fail", json={
        "fencing_token": tokens[a["id"]], "error": "stopped", "status": "stopped"})
    assert stopped.json()["instance"]["status"] == "stopped"
    aborted = bot.post(f"/api/v1/robot/jobs/{b['id']}/fail", json={
        "fencing_token": tokens[b["id"]], "error": "killed", "status": "aborted"})
    assert aborted.json()["instance"]["status"] == "aborted"
    # Stopping what ended aborted changes nothing; aborting what stopped is a conflict.
    assert api.post(f"/api/v1/instances/{b['id']}/stop").json()["status"] == "aborted"
    refused = api.post(f"/api/v1/instances/{a['id']}/abort")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    assert api.get(f"/api/v1/instances/{a['id']}/pending-reasons").json() == {
        "status": "stopped", "reasons": []}


def test_bad_input_on_robot_routes(api, robot_client, settings):
    settings.robot_max_artifact_bytes = 100
    bot, _ = robot_client
    package(api)
    started = api.post("/api/v1/processes/job/instances", json={}).json()
    job = bot.post("/api/v1/robot/claim", json={}).json()["jobs"][0]
    token = job["fencing_token"]
    base = f"/api/v1/robot/jobs/{started['id']}"
    cases = [
        ("post", "/api/v1/robot/claim", {"json": {"max_jobs": 0}}, 422),
        ("post", "/api/v1/robot/claim", {"json": {"timeout": -1}}, 422),
        ("post", "/api/v1/robot/heartbeat", {"json": {"jobs": [{"id": "x"}]}}, 422),
        ("post", "/api/v1/robot/heartbeat", {"json": {"tags": ["a b"]}}, 400),
        ("post", f"{base}/complete", {"json": {"fencing_token": token, "outputs": [1]}}, 422),
        ("post", f"{base}/complete", {"json": {"outputs": {}}}, 422),
        ("post", f"{base}/fail", {"json": {"fencing_token": token, "error": "x",
                                           "status": "exploded"}}, 400),
        ("post", f"{base}/logs", {"json": {"fencing_token": token, "lines": [
            {"level": "LOUD", "message": "x"}]}}, 400),
        ("post", f"{base}/logs", {"json": {"fencing_token": token, "lines": [
            {"level": "INFO", "message": "x", "time": "yesterday"}]}}, 422),
        ("post", f"{base}/logs", {"json": {"fencing_token": token, "lines": [
            {"level": "INFO", "message": "x"}] * 1001}}, 413),
        ("post", f"{base}/progress", {"json": {"fencing_token": token, "events": [
            {"kind": "x", "detail": {"big": "y" * 9000}}]}}, 413),
        ("put", f"{base}/artifacts/a.txt?fencing_token={token}", {"content": b"x" * 101}, 413),
        ("put", f"{base}/artifacts/a.txt", {"content": b"x"}, 422),
        ("put", f"{base}/artifacts/a.txt?fencing_token=-1", {"content": b"x"}, 422),
        ("put", f"{base}/artifacts/.hidden?fencing_token={token}", {"content": b"x"}, 400),
        ("post", f"{base}/complete", {"json": {"fencing_token": 2**70, "outputs": {}}}, 422),
        ("post", "/api/v1/robot/jobs/not-a-job/complete", {"json": {
            "fencing_token": 1, "outputs": {}}}, 404),
        ("get", "/api/v1/robot/packages/abc", {}, 404),
    ]
    for method, url, kwargs, expected in cases:
        response = getattr(bot, method)(url, **kwargs)
        assert response.status_code == expected, (url, kwargs.get("json"), response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert "FLOWPORT_ROBOT_MAX_ARTIFACT_BYTES" in bot.put(
        f"{base}/artifacts/a.txt?fencing_token={token}", content=b"x" * 101).json()["detail"]
    # Nothing of the refused requests was kept, and the job runs on.
    assert api.get(f"/api/v1/instances/{started['id']}").json()["status"] == "running"
    assert api.get(f"/api/v1/instances/{started['id']}/logs").json()["items"] == []
    assert api.get(f"/api/v1/instances/{started['id']}/artifacts").json()["items"] == []


def test_start_options_and_their_bad_input(api):
    package(api)
    robot_id = api.post("/api/v1/robots", json={"name": "r1"}).json()["id"]
    started = api.post("/api/v1/processes/job/instances", json={
        "robot_id": robot_id, "robot_tags": ["excel"], "stop_after": "2099-01-01T00:00:00Z",
        "abort_after": "2099-01-02T00:00:00"}).json()
    view = api.get(f"/api/v1/instances/{started['id']}/job").json()
    assert view["requires"]["robot"]["name"] == "r1" and view["requires"]["tags"] == ["excel"]
    assert view["stop_after"].startswith("2099-01-01T00:00:00")
    assert view["abort_after"].startswith("2099-01-02T00:00:00")
    for bad, status in (({"stop_after": "2000-01-01T00:00:00Z"}, 400),
                        ({"stop_after": "soon"}, 422), ({"robot_id": "nope"}, 404),
                        ({"robot_group_id": "nope"}, 404), ({"robot_tags": "x"}, 422)):
        response = api.post("/api/v1/processes/job/instances", json=bad)
        assert response.status_code == status, (bad, response.text)
    assert len(api.get("/api/v1/instances").json()["items"]) == 1
    assert api.get(f"/api/v1/instances/{started['id']}/pending-reasons").json()[
        "reasons"][0]["code"] == "not_enrolled"
