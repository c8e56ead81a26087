"""Users, sessions, CSRF, tokens and audit through the ASGI app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from flowport.services import auth


@pytest.fixture
def root_token(ctx) -> str:
    token = auth.bootstrap_admin(ctx)
    assert token is not None
    return token


@pytest.fixture
def root(app, root_token):
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {root_token}"
        yield client


def make_user(root, login: str, roles: list[str], password: str = "correct horse") -> dict:
    response = root.post("/api/v1/users", json={"login": login, "password": password,
                                                "roles": roles})
    assert response.status_code == 201, response.text
    return response.json()


def login(app, login: str, password: str = "correct horse") -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/api/v1/auth/login", json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    return client


def test_bootstrap_happens_once(ctx, root_token):
    assert auth.bootstrap_admin(ctx) is None
    assert auth.authenticate(ctx, root_token).system_admin


def test_users_never_show_passwords(root):
    user = make_user(root, "dana", ["operator"])
    assert "password" not in str(user) and "hash" not in str(user)
    listed = root.get("/api/v1/users").json()["items"]
    assert {u["login"] for u in listed} == {"admin", "dana"}
    assert "argon2" not in root.get(f"/api/v1/users/{user['id']}").text


def test_session_login_me_logout(app, root):
    make_user(root, "erin", ["viewer"])
    client = login(app, "erin")
    cookies = client.cookies
    assert cookies.get("flowport_session") and cookies.get("flowport_csrf")
    me = client.get("/api/v1/auth/me").json()
    assert me["login"] == "erin" and me["roles"] == ["viewer"]
    csrf = {"X-CSRF-Token": cookies["flowport_csrf"]}
    assert client.post("/api/v1/auth/logout", headers=csrf).status_code == 204
    client.cookies.set("flowport_session", cookies.get("flowport_session") or "")
    assert client.get("/api/v1/auth/me").status_code == 401


def test_session_cookie_is_httponly_and_lax(app, root):
    make_user(root, "fay", ["viewer"])
    client = TestClient(app)
    response = client.post("/api/v1/auth/login", json={"login": "fay",
                                                       "password": "correct horse"})
    headers = response.headers.get_list("set-cookie")
    session = next(h for h in headers if h.startswith("flowport_session="))
    csrf = next(h for h in headers if h.startswith("flowport_csrf="))
    assert "HttpOnly" in session and "samesite=lax" in session.lower()
    assert "HttpOnly" not in csrf


@pytest.mark.parametrize("header", [None, "wrong"])
def test_csrf_is_required_for_unsafe_cookie_requests(app, root, header):
    make_user(root, "gus", ["developer"])
    client = login(app, "gus")
    headers = {"X-CSRF-Token": header} if header else {}
    response = client.post("/api/v1/processes", json={"key": "p"}, headers=headers)
    assert response.status_code == 403
    assert root.get("/api/v1/processes/p").status_code == 404
    # The right token works, and GETs need none.
    good = {"X-CSRF-Token": client.cookies["flowport_csrf"]}
    assert client.post("/api/v1/processes", json={"key": "p"}, headers=good).status_code == 201
    assert client.get("/api/v1/processes/p").status_code == 200


def test_bearer_requests_need_no_csrf(root):
    assert root.post("/api/v1/processes", json={"key": "p"}).status_code == 201


def test_wrong_password_is_throttled_and_audited(app, root):
    make_user(root, "hal", ["viewer"])
    client = TestClient(app, raise_server_exceptions=False)
    codes = [client.post("/api/v1/auth/login", json={"login": "hal", "password": "nope nope"})
             .status_code for _ in range(7)]
    assert codes[:5] == [401] * 5
    assert 429 in codes[5:]
    blocked = client.post("/api/v1/auth/login", json={"login": "hal",
                                                      "password": "correct horse"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    kinds = [e["kind"] for e in root.get("/api/v1/audit").json()["items"]]
    assert kinds.count("auth.login_failed") == 5


def test_a_client_address_spraying_logins_is_throttled_too(app, root, caplog):
    """One guess at each of many logins: each login's own count stays low, the address's does
    not, and a successful login to one's own account does not wipe it."""
    make_user(root, "own", ["viewer"])
    client = TestClient(app, raise_server_exceptions=False)
    codes = []
    for n in range(5):
        codes.append(client.post("/api/v1/auth/login", json={
            "login": f"victim-{n}", "password": "guess guess"}).status_code)
        if n == 2:
            assert client.post("/api/v1/auth/login", json={
                "login": "own", "password": "correct horse"}).status_code == 200
    assert codes == [401] * 5
    refused = client.post("/api/v1/auth/login", json={"login": "victim-9",
                                                      "password": "guess guess"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    # Unknown logins have no account to audit in: the server log has them, without passwords.
    failures = [r.getMessage() for r in caplog.records if r.name == "flowport.auth"]
    assert len(failures) == 5 and all("(no such login)" in m for m in failures)
    assert not any("guess" in m for m in failures)


def test_logout_is_audited(app, root):
    make_user(root, "lou", ["viewer"])
    client = login(app, "lou")
    assert client.post("/api/v1/auth/logout", headers={
        "X-CSRF-Token": client.cookies["flowport_csrf"]}).status_code == 204
    events = root.get("/api/v1/audit").json()["items"]
    assert [(e["kind"], e["actor"]) for e in events][:2] == [("auth.logout", "lou"),
                                                           ("auth.login", "lou")]


def test_throttle_lifts_after_the_delay(app, root, ctx, clock):
    make_user(root, "ida", ["viewer"])
    client = TestClient(app, raise_server_exceptions=False)
    for _ in range(6):
        client.post("/api/v1/auth/login", json={"login": "ida", "password": "bad password"})
    clock.advance(timedelta(minutes=16))
    ok = client.post("/api/v1/auth/login", json={"login": "ida", "password": "correct horse"})
    assert ok.status_code == 200


def test_disabled_user_loses_sessions_and_tokens(app, root):
    user = make_user(root, "jo", ["developer"])
    client = login(app, "jo")
    csrf = {"X-CSRF-Token": client.cookies["flowport_csrf"]}
    token = client.post("/api/v1/tokens", json={"name": "ci"}, headers=csrf).json()["token"]
    assert root.patch(f"/api/v1/users/{user['id']}", json={"disabled": True}).json()["disabled"]
    assert client.get("/api/v1/auth/me").status_code == 401
    bearer = TestClient(app, raise_server_exceptions=False)
    assert bearer.get("/api/v1/processes",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert TestClient(app, raise_server_exceptions=False).post(
        "/api/v1/auth/login", json={"login": "jo", "password": "correct horse"}
    ).status_code == 401


def test_password_reset(app, root):
    user = make_user(root, "kim", ["viewer"])
    root.patch(f"/api/v1/users/{user['id']}", json={"password": "a new secret"})
    login(app, "kim", "a new secret")
    bad = TestClient(app, raise_server_exceptions=False).post(
        "/api/v1/auth/login", json={"login": "kim", "password": "correct horse"})
    assert bad.status_code == 401


def test_tokens_shown_once_revocable_and_bounded(app, root):
    user = make_user(root, "lee", ["operator"])
    client = login(app, "lee")
    csrf = {"X-CSRF-Token": client.cookies["flowport_csrf"]}
    too_much = client.post("/api/v1/tokens", json={"name": "x", "roles": ["admin"]},
                           headers=csrf)
    assert too_much.status_code == 403
    created = client.post("/api/v1/tokens", json={"name": "robot", "roles": ["viewer"]},
                          headers=csrf)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("fpt_")
    listed = client.get("/api/v1/tokens").json()["items"]
    assert [t["name"] for t in listed] == ["robot"] and "token" not in listed[0]
    bearer = {"Authorization": f"Bearer {secret}"}
    viewer = TestClient(app, raise_server_exceptions=False)
    assert viewer.get("/api/v1/processes", headers=bearer).status_code == 200
    assert viewer.post("/api/v1/processes", json={"key": "p"}, headers=bearer).status_code \
        == 403
    token_id = created.json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=csrf).status_code == 204
    assert viewer.get("/api/v1/processes", headers=bearer).status_code == 401
    assert user["roles"] == ["operator"]


def test_a_token_never_grants_more_than_its_user_holds_today(app, root, ctx):
    user = make_user(root, "uma", ["developer"])
    client = login(app, "uma")
    csrf = {"X-CSRF-Token": client.cookies["flowport_csrf"]}
    secret = client.post("/api/v1/tokens", json={"name": "ci"}, headers=csrf).json()["token"]
    bearer = TestClient(app, raise_server_exceptions=False)
    bearer.headers["Authorization"] = f"Bearer {secret}"
    assert bearer.post("/api/v1/processes", json={"key": "p1"}).status_code == 201
    # The token still says "developer"; its user is a viewer now, and so is the token.
    assert root.patch(f"/api/v1/users/{user['id']}", json={"roles": ["viewer"]}).status_code \
        == 200
    assert bearer.post("/api/v1/processes", json={"key": "p2"}).status_code == 403
    assert bearer.get("/api/v1/processes/p1").status_code == 200
    # Nor can it mint a token with the role its user lost.
    assert bearer.post("/api/v1/tokens", json={"name": "x", "roles": ["developer"]}) \
        .status_code == 403
    assert [t["name"] for t in root.get("/api/v1/tokens").json()["items"]
            if t["user_id"] == user["id"]] == ["ci"]


def test_expired_token(app, root, clock):
    created = root.post("/api/v1/tokens", json={
        "name": "short", "expires_at": (clock.now() + timedelta(minutes=5)).isoformat()})
    assert created.status_code == 201, created.text
    bearer = {"Authorization": f"Bearer {created.json()['token']}"}
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/api/v1/processes", headers=bearer).status_code == 200
    clock.advance(timedelta(minutes=6))
    assert client.get("/api/v1/processes", headers=bearer).status_code == 401


def test_accounts_only_by_system_admin(app, root):
    created = root.post("/api/v1/accounts", json={"name": "initech"})
    assert created.status_code == 201
    assert root.post("/api/v1/accounts", json={"name": "initech"}).status_code == 409
    account_id = created.json()["id"]
    peter = root.post("/api/v1/users", json={"login": "peter", "password": "correct horse",
                                             "roles": ["admin"], "account_id": account_id})
    assert peter.status_code == 201 and peter.json()["account_id"] == account_id
    client = login(app, "peter")
    csrf = {"X-CSRF-Token": client.cookies["flowport_csrf"]}
    assert client.post("/api/v1/accounts", json={"name": "x"}, headers=csrf).status_code == 403
    # An account admin cannot reach into another account.
    sneaky = client.post("/api/v1/users", headers=csrf, json={
        "login": "sneak", "password": "correct horse", "roles": ["admin"], "account_id": 1})
    assert sneaky.status_code == 404
    assert client.get("/api/v1/users/1").status_code == 404


@pytest.mark.parametrize(("body", "status"), [
    ({"login": "x y", "password": "correct horse", "roles": ["viewer"]}, 400),
    ({"login": "ok", "password": "short", "roles": ["viewer"]}, 422),
    ({"login": "ok", "password": "correct horse", "roles": []}, 422),
    ({"login": "ok", "password": "correct horse", "roles": ["king"]}, 422),
    ({"login": "admin", "password": "correct horse", "roles": ["viewer"]}, 409),
    ({"login": "ok", "password": "correct horse", "roles": ["viewer"], "account_id": 999}, 404),
])
def test_bad_users(root, body, status):
    response = root.post("/api/v1/users", json=body)
    assert response.status_code == status, response.text
    assert [u["login"] for u in root.get("/api/v1/users").json()["items"]] == ["admin"]


def test_audit_is_for_admins(app, root):
    make_user(root, "max", ["developer"])
    client = login(app, "max")
    assert client.get("/api/v1/audit").status_code == 403
    kinds = {e["kind"] for e in root.get("/api/v1/audit").json()["items"]}
    assert {"admin.bootstrapped", "user.created", "auth.login"} <= kinds


def test_an_admin_cannot_take_away_their_own_admin_role(app, root):
    me = make_user(root, "ada", ["admin"])
    ada = login(app, "ada")
    csrf = {"X-CSRF-Token": ada.cookies["flowport_csrf"]}
    refused = ada.patch(f"/api/v1/users/{me['id']}", json={"roles": ["viewer"]}, headers=csrf)
    assert refused.status_code == 409 and "own admin role" in refused.json()["detail"]
    assert ada.get(f"/api/v1/users/{me['id']}").json()["roles"] == ["admin"]
    other = make_user(root, "bo", ["admin"])  # another admin's role is theirs to lose
    changed = ada.patch(f"/api/v1/users/{other['id']}", json={"roles": ["viewer"]}, headers=csrf)
    assert changed.status_code == 200 and changed.json()["roles"] == ["viewer"]


def test_a_session_ends_when_idle_and_at_its_absolute_lifetime(app, root, ctx, clock):
    make_user(root, "noa", ["viewer"])
    idle = login(app, "noa")
    clock.advance(timedelta(minutes=ctx.settings.session_idle_minutes + 1))
    assert idle.get("/api/v1/auth/me").status_code == 401

    busy = login(app, "noa")
    lifetime = timedelta(hours=ctx.settings.session_max_hours)
    step = timedelta(minutes=ctx.settings.session_idle_minutes - 1)
    used = timedelta(0)
    while used + step < lifetime:  # used often enough never to be idle
        assert busy.get("/api/v1/auth/me").status_code == 200
        clock.advance(step)
        used += step
    clock.advance(lifetime - used)
    expired = busy.get("/api/v1/auth/me")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
