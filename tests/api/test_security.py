"""The security battery: every route declares a permission, each role is refused exactly the
routes it lacks, another account's objects are 404 on every route that takes an id, and no
unsafe route takes a cookie-authenticated request without the session's CSRF token. New
routes are picked up automatically: a route this file cannot probe fails the test."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from flowport.api.auth import SAFE_METHODS
from flowport.domain.accounts import ROLE_PERMISSIONS, Permission, Role
from flowport.services import auth

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"
# Enrollment authenticates with the one-time token in its body.
PUBLIC = {"/healthz", "/api/v1/auth/login", "/api/v1/auth/token", "/login",
          "/api/v1/robot/enroll"} | {
    f"{prefix}/ServiceModel/AuthService.svc/{verb}" for prefix in ("", "/0")
    for verb in ("Login", "Logout")} | {
    f"/api/{verb}{slash}" for verb in ("login", "logout") for slash in ("", "/")}


def declared_permission(route) -> tuple[bool, Permission | None]:
    """(declared?, permission) from the route's `requires(...)` dependency."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if hasattr(dependency.call, "permission"):
            return True, dependency.call.permission
        stack.extend(dependency.dependencies)
    return False, None


def api_routes(app) -> list:
    """Every API route as served, with its full path. FastAPI keeps included routers as
    branches of `app.routes` (not flattened), so walking `app.routes` alone sees none of them."""
    routes = [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]
    assert len(routes) > 20, "the route walk found too few routes: it has lost its way"
    return routes


def test_every_route_declares_a_permission(app):
    missing = [r.path for r in api_routes(app)
               if r.path not in PUBLIC and not declared_permission(r)[0]]
    assert missing == []


@pytest.fixture
def world(ctx, app, admin_token):
    """Objects of every kind in account `acme`, and a user of each role there."""
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {admin_token}"
    process = client.post("/api/v1/processes", json={"key": "approval"}).json()
    client.post("/api/v1/processes/approval/versions", files={
        "file": ("approval.bpmn", (FLOWS / "approval.bpmn").read_bytes())})
    instance = client.post("/api/v1/processes/approval/instances").json()
    uid = client.get(f"/api/v1/instances/{instance['id']}/elements").json()["items"][-1]["uid"]
    client.post("/api/v1/processes", json={"key": "resources"})
    client.post("/api/v1/processes/resources/versions", files={
        "file": ("resources.bpmn", (FLOWS / "resources.bpmn").read_bytes())})
    resources = client.post("/api/v1/processes/resources/instances",
                            json={"variables": {"region": "bcc"}}).json()
    step = client.get(f"/api/v1/instances/{resources['id']}/steps").json()["items"][0]
    record = client.post("/api/v1/records/Contact", json={"name": "Ann"}).json()
    schedule = client.post("/api/v1/schedules", json={"process_key": "approval",
                                                      "cron": "0 0 1 1 *"}).json()
    robot = client.post("/api/v1/robots", json={"name": "r1"}).json()
    group = client.post("/api/v1/robot-groups", json={"name": "g1"}).json()
    client.post("/api/v1/processes", json={"key": "job", "process_type": 1})
    package = client.post("/api/v1/processes/job/versions", files={
        "file": ("job.py", b"print('hi')")}).json()
    tokens = {}
    for role in Role:
        user = client.post("/api/v1/users", json={
            "login": f"user-{role.value}", "password": "correct horse", "roles": [role.value]})
        assert user.status_code == 201, user.text
        tokens[role] = client.post("/api/v1/tokens", json={"name": role.value}).json()
    token_id = client.post("/api/v1/tokens", json={"name": "probe"}).json()["id"]
    values = {"key": "approval", "number": "1", "instance_id": instance["id"], "uid": uid,
              "entity": "Contact", "record_id": record["id"], "user_id": str(user.json()["id"]),
              "token_id": str(token_id), "schema": "approval",
              "schedule_id": str(schedule["id"]), "pk": str(process["id"]),
              "job_id": str(instance["seq"]), "step_id": step["id"],
              "processInstanceId": instance["id"], "operate": "cancel",
              "taskId": str(step["number"]), "robot_id": robot["id"],
              "group_id": group["id"], "sha256": package["sha256"], "name": "output.xml"}
    values.update(sherpa_values(client, process, instance, robot, group),
                  schedule_guid=schedule["guid"])
    return client, values


def sherpa_values(client, process, instance, robot, group) -> dict[str, str]:
    """The Sherpa dialect's path GUIDs: one object of each kind (versions and logs have their
    own guids, read back through the dialect)."""
    versions = client.get("/api/processVersion/read").json()
    assert client.post("/api/log/create", json={"RobotGUID": robot["id"],
                                                "Message": "probe"}).json() == []
    log = client.post("/api/log/list").json()[0]
    return {"process_guid": process["guid"], "version_guid": versions[0]["guid"],
            "job_guid": instance["id"], "robot_guid": robot["id"], "group_guid": group["id"],
            "log_guid": log["guid"]}


def role_token(ctx, role: Role) -> str:
    """A token of a user of `acme` holding only `role` (a robot user cannot make its own)."""
    now, secret = ctx.clock.now(), auth.new_token()
    with ctx.store.transaction() as tx:
        account = tx.find_account("acme")
        user_id = tx.create_user(account.id, f"only-{role.value}", [role], now)
        tx.create_token(account.id, user_id, "r", auth.hash_token(secret), [role], now)
    return secret


def fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"the battery does not know path parameter {name!r}: add it"
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def probes(app, values):
    for route in api_routes(app):
        if route.path in PUBLIC:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            yield route, method, fill(route.path, values)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_refused_exactly_what_it_lacks(ctx, app, world, role):
    _, values = world
    token = role_token(ctx, role)
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    wrong = []
    for route, method, url in probes(app, values):
        _, permission = declared_permission(route)
        response = client.request(method, url, json={})
        assert response.status_code < 500, (method, url, response.text)
        if permission is None or route.path == "/api/v1/accounts":
            continue  # the service decides (own user; system administrators)
        allowed = permission in ROLE_PERMISSIONS[role]
        if allowed == (response.status_code == 403):
            wrong.append((method, route.path, response.status_code))
    assert wrong == []


def test_another_account_gets_404_on_every_route_with_an_id(app, world, other_token):
    """Another account's object answers exactly as an unknown one does: a 404 wherever an
    unknown id is one (a request refused for its shape first, 422, is refused alike for both
    and tells nothing)."""
    owner, values = world
    intruder = TestClient(app, raise_server_exceptions=False)
    intruder.headers["Authorization"] = f"Bearer {other_token}"
    before = snapshot(owner, values)
    unknown = dict(values, key="no-such-process", number="999", instance_id=str(uuid.uuid4()),
                   uid=str(uuid.uuid4()), record_id=str(uuid.uuid4()), user_id="999999",
                   schema="NoSuchSchema", robot_id=str(uuid.uuid4()),
                   group_id=str(uuid.uuid4()), sha256="0" * 64, name="no-such-file.xml",
                   **{f"{kind}_guid": str(uuid.uuid4())
                      for kind in ("process", "version", "job", "robot", "group", "log",
                                   "schedule")})
    leaks = []
    for route, method, url in probes(app, values):
        names = set(re.findall(r"\{(\w+)\}", route.path))
        # An entity names the caller's own record collection, not an object of the owner.
        if not names - {"entity"} or route.path.startswith("/api/v1/tokens"):
            continue
        response = intruder.request(method, url, json={})
        if response.status_code == 404:
            continue
        # A refusal that does not depend on the object (the body is malformed whatever the id
        # names) reveals nothing; anything else does.
        blind = intruder.request(method, fill(route.path, unknown), json={})
        if response.status_code < 400 or response.status_code != blind.status_code:
            leaks.append((method, url, response.status_code))
    assert leaks == [], leaks
    assert snapshot(owner, values) == before


def test_a_token_id_of_another_account_cannot_be_revoked(app, world, other_token):
    owner, values = world
    intruder = TestClient(app, raise_server_exceptions=False)
    intruder.headers["Authorization"] = f"Bearer {other_token}"
    assert intruder.delete(f"/api/v1/tokens/{values['token_id']}").status_code == 404
    assert any(t["id"] == int(values["token_id"]) and t["revoked_at"] is None
               for t in owner.get("/api/v1/tokens").json()["items"])


@pytest.mark.parametrize("header", [None, "wrong"])
def test_no_unsafe_route_takes_a_cookie_request_without_its_csrf_token(app, world, header):
    owner, values = world
    assert owner.post("/api/v1/users", json={
        "login": "browser", "password": "correct horse", "roles": ["admin"]}).status_code == 201
    # Signed in both ways a browser can be: the native session and Creatio's cookies.
    browser = TestClient(app, raise_server_exceptions=False)
    assert browser.post("/api/v1/auth/login", json={
        "login": "browser", "password": "correct horse"}).status_code == 200
    assert browser.post("/ServiceModel/AuthService.svc/Login", json={
        "UserName": "browser", "UserPassword": "correct horse"}).json()["Code"] == 0
    headers = {} if header is None else {"X-CSRF-Token": header, "BPMCSRF": header}
    before = snapshot(owner, values)
    accepted = []
    for _route, method, url in probes(app, values):
        if method in SAFE_METHODS:
            continue
        response = browser.request(method, url, json={}, headers=headers)
        # 403 natively; Creatio answers its own 401 CsrfTokenInvalid; dialects that take no
        # cookies at all (Studio, Activiti) answer 401: the cookie authenticates nothing.
        refused = response.status_code == 401 or (
            response.status_code == 403 and "csrf" in response.text.lower())
        if not refused:
            accepted.append((method, url, response.status_code))
    assert accepted == []
    assert snapshot(owner, values) == before
    # The session itself works: with its token the same kind of request goes through.
    good = browser.post("/api/v1/processes", json={"key": "by-cookie"},
                        headers={"X-CSRF-Token": browser.cookies["flowport_csrf"]})
    assert good.status_code == 201


def snapshot(client, values):
    return (client.get("/api/v1/processes").json(), client.get("/api/v1/instances").json(),
            client.get(f"/api/v1/instances/{values['instance_id']}/elements").json(),
            client.get("/api/v1/records/Contact").json(), client.get("/api/v1/users").json(),
            client.get("/api/v1/schedules").json(),
            client.get(f"/api/v1/schedules/{values['schedule_id']}/runs").json(),
            client.get("/api/v1/robots").json(), client.get("/api/v1/robot-groups").json())
