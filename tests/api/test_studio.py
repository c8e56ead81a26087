"""The Studio dialect against contracts/studio.md §11, and bad input on every endpoint: each a
clear error in DRF's shape that changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from flowport.domain.accounts import Role
from flowport.services import auth

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"
P = "/api/process/process/"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S")


def flow(name: str) -> str:
    return (FLOWS / f"{name}.bpmn").read_text()


@pytest.fixture
def studio_user(ctx, admin_token):
    """The seed's `admin`/`admin` (shorter than a native password may be: made in the store),
    in account acme, with a display name."""
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        account = tx.find_account("acme")
        return tx.create_user(account.id, "admin", [Role.DEVELOPER], now,
                              auth.hash_password("admin"), name="san zhang")


def login(client: TestClient, username: str = "admin", password: str = "admin") -> str:
    response = client.post("/api/login/", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def studio(app, admin_token, studio_user):
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Token {login(client)}"
    return client


@pytest.fixture
def native(api):
    return api


def create(studio, name="测试", project="测试", mark="新增测试流程") -> dict:
    response = studio.post(P, json={"name": name, "project": project, "mark": mark})
    assert response.status_code == 201, response.text
    return response.json()


def ids(studio, **params) -> list[int]:
    response = studio.get(P, params=params)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["results"]]


def publish(studio, pid: int, name: str = "straight") -> None:
    assert studio.post("/api/process/save/", json={"id": pid, "content": flow(name)}).json() \
        == {"success": True}
    assert studio.post("/api/process/upload/", json={"id": str(pid)}).json() == {"success": True}


def execute(studio, pid: int, **extra) -> int:
    response = studio.post("/api/process/execute/", json={"id": str(pid), **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and isinstance(body["job_id"], int)
    return body["job_id"]


# -- §11 test cases ------------------------------------------------------------------------

def test_1_login_token_authorises_the_list(app, studio_user):
    client = TestClient(app, raise_server_exceptions=False)
    token = login(client)
    assert token
    assert client.get(P, headers={"Authorization": f"Token {token}"}).status_code == 200
    assert client.get(P, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert login(client) != token  # each login a new token; the first stays valid
    assert client.get(P, headers={"Authorization": f"Token {token}"}).status_code == 200


def test_2_login_failures(app, studio_user):
    client = TestClient(app, raise_server_exceptions=False)
    wrong = client.post("/api/login/", json={"username": "admin", "password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": "The username or password is not correct"}
    assert client.post("/api/login/", json={"username": "nobody", "password": "admin"}).json() \
        == {"detail": "The username or password is not correct"}
    for body in ({}, {"username": "admin"}, {"password": "admin"},
                 {"username": ["admin"], "password": "admin"},
                 {"username": "admin", "password": 12345}, {"username": "", "password": ""}):
        missing = client.post("/api/login/", json=body)
        assert missing.status_code == 400, body
        assert missing.json() == {"detail": "username and password are required"}
    for name in ("ad\x00min", "a" * 256):
        odd = client.post("/api/login/", json={"username": name, "password": "admin"})
        assert odd.status_code == 400 and odd.json()["detail"].startswith("The username")
    form = client.post("/api/login", data={"username": "admin", "password": "admin"})
    assert form.status_code == 200 and form.json()["token"]
    plain = client.post("/api/login/", content=b"admin:admin",
                        headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert client.get("/api/login/").status_code == 405


def test_login_is_throttled_after_repeated_failures(app, studio_user):
    client = TestClient(app, raise_server_exceptions=False)
    statuses = [client.post("/api/login/", json={"username": "admin", "password": "x"})
                for _ in range(12)]
    throttled = [r for r in statuses if r.status_code == 429]
    assert throttled, [r.status_code for r in statuses]
    assert throttled[0].json()["detail"].startswith("Request was throttled.")
    assert int(throttled[0].headers["retry-after"]) > 0


def test_3_credentials(app, studio, studio_user):
    client = TestClient(app, raise_server_exceptions=False)
    missing = client.get(P)
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert missing.headers["www-authenticate"] == "Token"
    token = login(client)
    assert client.post("/api/logout/", json={"token": token}).status_code == 200
    revoked = client.get(P, headers={"Authorization": f"Token {token}"})
    assert revoked.status_code == 401 and revoked.json() == {"detail": "Invalid token."}
    for header, detail in (("Token", "Invalid token header. No credentials provided."),
                           ("Token a b", "Invalid token header. Token string should not "
                                         "contain spaces."),
                           ("Basic YWRtaW46YWRtaW4=", "Authentication credentials were not "
                                                      "provided."),
                           ("Token nope", "Invalid token.")):
        response = client.get(P, headers={"Authorization": header})
        assert (response.status_code, response.json()) == (401, {"detail": detail}), header
    # Action endpoints answer in their own shape.
    action = client.post("/api/process/execute/", json={"id": 1})
    assert action.status_code == 401
    assert action.json() == {"success": False,
                             "detail": "Authentication credentials were not provided."}


def test_4_create_json(studio, clock, studio_user):
    body = create(studio)
    now = int(clock.now().timestamp())
    assert body == {"id": body["id"], "name": "测试", "cuser": studio_user, "user": "san zhang",
                    "ctime": now, "utime": now, "project": "测试", "mark": "新增测试流程"}
    assert isinstance(body["id"], int) and body["id"] > 0
    assert studio.get(f"{P}{body['id']}/").json() == body


def test_5_create_form_multipart_and_media_types(studio):
    form = studio.post(P, data={"name": "测试", "project": "测试", "mark": "新增测试流程"})
    assert form.status_code == 201 and form.json()["project"] == "测试"
    multipart = studio.post(P, files={"name": (None, "m"), "project": (None, "p")})
    assert multipart.status_code == 201 and multipart.json()["mark"] == ""
    plain = studio.post(P, content=b"name=x&project=y", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert plain.json() == {"detail": 'Unsupported media type "text/plain" in request.'}
    xml = studio.post(P, content=b"<x/>", headers={"Content-Type": "application/xml"})
    assert xml.status_code == 415
    assert studio.get(P).json()["count"] == 2


@pytest.mark.parametrize(("body", "errors"), [
    ({"name": "测试", "mark": "m"}, {"project": ["This field is required."]}),
    ({}, {"name": ["This field is required."], "project": ["This field is required."]}),
    ({"name": "", "project": "p"}, {"name": ["This field may not be blank."]}),
    ({"name": "   ", "project": "p"}, {"name": ["This field may not be blank."]}),
    ({"name": "x" * 101, "project": "p"},
     {"name": ["Ensure this field has no more than 100 characters."]}),
    ({"name": "n", "project": "p" * 256},
     {"project": ["Ensure this field has no more than 255 characters."]}),
    ({"name": "n", "project": "p", "mark": "m" * 501},
     {"mark": ["Ensure this field has no more than 500 characters."]}),
    ({"name": ["n"], "project": {"a": 1}},
     {"name": ["Not a valid string."], "project": ["Not a valid string."]}),
    ({"name": True, "project": "p"}, {"name": ["Not a valid string."]}),
    ({"name": None, "project": "p"}, {"name": ["This field may not be null."]}),
    ({"name": "a\x00b", "project": "p"}, {"name": ["Null characters are not allowed."]}),
    ({"name": "n", "project": "p", "mark": None}, {"mark": ["This field may not be null."]}),
])
def test_6_create_field_errors(studio, body, errors):
    response = studio.post(P, json=body)
    assert response.status_code == 400
    assert response.json() == errors
    assert studio.get(P).json()["count"] == 0


def test_create_body_errors(studio):
    broken = studio.post(P, content=b"{nope", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error")
    deep = studio.post(P, content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert deep.status_code == 400
    listed = studio.post(P, json=["name", "project"])
    assert listed.status_code == 400
    assert listed.json() == {"non_field_errors": [
        "Invalid data. Expected a dictionary, but got list."]}
    latin = studio.post(P, content="name=é".encode("latin-1"),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert latin.status_code == 400
    # Numbers are text to DRF; read-only and unknown keys are ignored.
    odd = studio.post(P, json={"name": 42, "project": "p", "id": 7, "cuser": 9, "ctime": 1,
                               "extra": "x"})
    assert odd.status_code == 201
    assert odd.json()["name"] == "42" and odd.json()["cuser"] != 9 and odd.json()["ctime"] != 1
    assert studio.get(P).json()["count"] == 1


def test_7_ordering(studio, clock):
    first = create(studio, name="b")["id"]
    clock.advance(timedelta(seconds=1))
    second = create(studio, name="a")["id"]
    clock.advance(timedelta(seconds=1))
    third = create(studio, name="a")["id"]
    assert ids(studio) == [third, second, first]
    assert ids(studio, ordering="id") == [first, second, third]
    assert ids(studio, ordering="name,-id") == [third, second, first]
    assert ids(studio, ordering="-name,id") == [first, second, third]
    assert ids(studio, ordering="-ctime") == [third, second, first]
    assert ids(studio, ordering="utime") == [first, second, third]
    assert ids(studio, ordering="name") == [second, third, first]  # id breaks the tie
    assert ids(studio, ordering="cuser,-id") == [third, second, first]
    for ignored in ("bogus", "", ",,", "-", "password", "name;drop"):
        assert ids(studio, ordering=ignored) == [third, second, first], ignored
    assert ids(studio, ordering="bogus, id") == [first, second, third]


def test_8_pages(studio):
    made = [create(studio, name=f"p{i}")["id"] for i in range(3)]
    page = studio.get(P, params={"page_size": 2, "ordering": "id"}).json()
    assert page["count"] == 3 and [p["id"] for p in page["results"]] == made[:2]
    assert page["previous"] is None
    following = urlsplit(page["next"])
    assert following.scheme == "http" and following.netloc == "testserver"
    assert following.path == P
    assert parse_qs(following.query) == {"page": ["2"], "page_size": ["2"], "ordering": ["id"]}
    second = studio.get(page["next"]).json()
    assert [p["id"] for p in second["results"]] == made[2:] and second["next"] is None
    assert parse_qs(urlsplit(second["previous"]).query) == {"page_size": ["2"],
                                                           "ordering": ["id"]}
    for bad in ({"page": 3, "page_size": 2}, {"page": 0}, {"page": "abc"}, {"page": "-1"},
                {"page": "9" * 40}, {"page": "1.5"}):
        response = studio.get(P, params=bad)
        assert response.status_code == 404, bad
        assert response.json() == {"detail": "Invalid page."}
    # page_size: invalid means the default (10), too large means the maximum (100).
    for size in ("abc", "0", "-3", "9" * 40):
        assert len(studio.get(P, params={"page_size": size}).json()["results"]) == 3
    assert studio.get(P, params={"page_size": 100_000}).json()["count"] == 3


def test_page_size_defaults_and_caps(studio):
    for i in range(12):
        create(studio, name=f"n{i}")
    assert len(studio.get(P).json()["results"]) == 10
    third = studio.get(P, params={"page": 3, "page_size": 5}).json()
    assert len(third["results"]) == 2
    assert parse_qs(urlsplit(third["previous"]).query) == {"page": ["2"], "page_size": ["5"]}
    assert len(studio.get(P, params={"page_size": 1000}).json()["results"]) == 12


def test_9_name_filter(studio):
    for project in ("测试", "测试2", "测试3"):
        create(studio, name="测试", project=project)
    create(studio, name="Alpha_1")
    assert studio.get(P, params={"name": "测"}).json()["count"] == 3
    assert studio.get(P, params={"name": "zzz"}).json() == {
        "count": 0, "next": None, "previous": None, "results": []}
    assert studio.get(P, params={"name": "alp"}).json()["count"] == 1
    assert studio.get(P, params={"name": ""}).json()["count"] == 4
    # LIKE wildcards are plain characters here.
    assert studio.get(P, params={"name": "%"}).json()["count"] == 0
    assert studio.get(P, params={"name": "l_"}).json()["count"] == 0
    assert studio.get(P, params={"name": "a_1"}).json()["count"] == 1
    assert studio.get(P, params={"name": "x" * 5000}).json()["count"] == 0


def test_10_patch_and_put(studio, clock):
    made = create(studio)
    url = f"{P}{made['id']}/"
    clock.advance(timedelta(seconds=5))
    patched = studio.patch(url, json={"mark": "x"})
    assert patched.status_code == 200
    assert patched.json()["mark"] == "x" and patched.json()["utime"] == made["utime"] + 5
    clock.advance(timedelta(seconds=5))
    put = studio.put(url, data={"name": "新"})
    assert put.status_code == 200
    assert put.json()["name"] == "新" and put.json()["project"] == "测试"
    assert put.json()["utime"] == made["utime"] + 10
    clock.advance(timedelta(seconds=5))
    same = studio.patch(url, json={"name": "新", "mark": "x", "id": 999, "ctime": 1})
    assert same.json() == put.json()  # nothing changed: utime stays, read-only keys ignored
    assert studio.put(url, json={}).json() == put.json()
    assert studio.patch(url, json={"mark": ""}).json()["mark"] == ""


@pytest.mark.parametrize(("body", "errors"), [
    ({"name": ""}, {"name": ["This field may not be blank."]}),
    ({"project": ""}, {"project": ["This field may not be blank."]}),
    ({"name": "x" * 101}, {"name": ["Ensure this field has no more than 100 characters."]}),
    ({"mark": ["x"]}, {"mark": ["Not a valid string."]}),
    ({"name": None}, {"name": ["This field may not be null."]}),
])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_field_errors(studio, method, body, errors):
    made = create(studio)
    response = studio.request(method, f"{P}{made['id']}/", json=body)
    assert response.status_code == 400 and response.json() == errors
    assert studio.get(f"{P}{made['id']}/").json() == made


def test_item_unknown_ids(studio):
    made = create(studio)
    for pk in ("999999", "0", "abc", "-1", "1.0", "9" * 30, " 1"):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = studio.request(method, f"{P}{pk}/", json={"name": "x"})
            assert response.status_code == 404, (method, pk)
            assert response.json() == {"detail": "Not found."}
    assert studio.get(f"{P}{made['id']}/").json() == made


def test_item_delete(studio, native):
    made = create(studio)
    publish(studio, made["id"])
    assert studio.delete(f"{P}{made['id']}").status_code == 204
    assert studio.get(f"{P}{made['id']}/").status_code == 404
    assert studio.delete(f"{P}{made['id']}/").status_code == 404
    assert native.get(f"/api/v1/processes/{made['id']}").status_code == 404


def test_11_batch_delete(studio):
    a, b, c, d, e = (create(studio, name=n)["id"] for n in "abcde")
    response = studio.request("DELETE", P, data={"pk": f"{a},{b}"})
    assert response.status_code == 204 and response.content == b""
    assert sorted(ids(studio)) == [c, d, e]
    assert studio.request("DELETE", P, json={"pk[]": [c]}).status_code == 204
    assert sorted(ids(studio)) == [d, e]
    # pk and pk[] together: the union; spaces ignored; the query string as a fallback.
    f, g = create(studio, name="f")["id"], create(studio, name="g")["id"]
    assert studio.request("DELETE", P, json={"pk": f" {d} ", "pk[]": [str(f)]}).status_code \
        == 204
    assert studio.request("DELETE", P, content=f"pk[]={e}&pk[]={g}",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}
                          ).status_code == 204
    assert ids(studio) == []
    h = create(studio, name="h")["id"]
    assert studio.delete(P, params={"pk": str(h)}).status_code == 204
    assert ids(studio) == []


def test_12_batch_delete_all_or_nothing(studio, intruder):
    kept = create(studio)["id"]
    unknown = studio.request("DELETE", P, json={"pk": f"{kept},999999"})
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Not found: 999999"}
    for body in ({}, {"pk": ""}, {"pk": " , "}, {"pk[]": []}):
        empty = studio.request("DELETE", P, json=body)
        assert empty.status_code == 400, body
        assert empty.json() == {"detail": "pk or pk[] is required"}
    assert studio.delete(P).status_code == 400
    for body in ({"pk": f"{kept},abc"}, {"pk[]": [kept, True]}, {"pk[]": [{"id": kept}]},
                 {"pk": "1.5"}):
        bad = studio.request("DELETE", P, json=body)
        assert bad.status_code == 400 and "not one" in bad.json()["detail"], body
    many = studio.request("DELETE", P, json={"pk[]": list(range(1, 1002))})
    assert many.status_code == 400
    # Another account's id is unknown to the caller.
    theirs = intruder.post("/api/v1/processes", json={"key": "theirs"}).json()["id"]
    cross = studio.request("DELETE", P, json={"pk[]": [kept, theirs]})
    assert cross.status_code == 404 and cross.json() == {"detail": f"Not found: {theirs}"}
    assert ids(studio) == [kept]
    assert intruder.get(f"/api/v1/processes/{theirs}").status_code == 200


def test_13_save(studio, native):
    pid = create(studio)["id"]
    saved = studio.post("/api/process/save/", json={"id": pid, "content": flow("straight")})
    assert saved.status_code == 200 and saved.json() == {"success": True}
    draft = native.get(f"/api/v1/processes/{pid}/draft").json()
    assert draft["kind"] == "bpmn" and draft["content"] == flow("straight")
    broken = studio.post("/api/process/save/", json={"id": pid, "content": "<bpmn"})
    assert broken.status_code == 400
    assert broken.json()["success"] is False
    assert broken.json()["detail"].startswith("content is not well-formed XML or JSON")
    assert native.get(f"/api/v1/processes/{pid}/draft").json() == draft  # unchanged
    # JSON content: an object, or its text; form and multipart bodies too.
    assert studio.post("/api/process/save/", json={"id": pid, "content": {"a": 1}}).json() \
        == {"success": True}
    assert native.get(f"/api/v1/processes/{pid}/draft").json()["kind"] == "json"
    assert studio.post("/api/process/save", data={"id": str(pid),
                                                  "content": '{"b": 2}'}).status_code == 200
    upload = studio.post("/api/process/save/", data={"id": str(pid)},
                         files={"content": ("flow.bpmn", flow("straight").encode())})
    assert upload.status_code == 200
    assert native.get(f"/api/v1/processes/{pid}/draft").json()["content"] == flow("straight")


@pytest.mark.parametrize(("body", "status", "detail"), [
    ({"content": "<a/>"}, 400, "id is required"),
    ({"id": "", "content": "<a/>"}, 400, "id is required"),
    ({"id": "abc", "content": "<a/>"}, 400, "id must be an integer"),
    ({"id": True, "content": "<a/>"}, 400, "id must be an integer"),
    ({"id": [1], "content": "<a/>"}, 400, "id must be an integer"),
    ({"id": 999999, "content": "<a/>"}, 404, "Not found."),
    ({"id": -1, "content": "<a/>"}, 404, "Not found."),
    ({"id": 10**30, "content": "<a/>"}, 404, "Not found."),
    ({"id": "PID"}, 400, "content is not well-formed XML or JSON"),
    ({"id": "PID", "content": ""}, 400, "content is not well-formed XML or JSON"),
    ({"id": "PID", "content": 42}, 400, "content is not well-formed XML or JSON"),
    ({"id": "PID", "content": ["<a/>"]}, 400, "content is not well-formed XML or JSON"),
    ({"id": "PID", "content": "[1, 2]"}, 400, "content is not well-formed XML or JSON"),
    ({"id": "PID", "content": "{nope"}, 400, "content is not well-formed XML or JSON"),
    ({"id": "PID", "content": "<a>\x00</a>"}, 400, "content is not well-formed XML or JSON"),
    ({"id": "PID", "content": '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'},
     200, None),
])
def test_save_bad_input(studio, native, body, status, detail):
    pid = create(studio)["id"]
    body = {k: (pid if v == "PID" else v) for k, v in body.items()}
    response = studio.post("/api/process/save/", json=body)
    assert response.status_code == status, response.text
    if detail is None:
        # Well-formed is all a draft needs; its entity is never resolved.
        draft = native.get(f"/api/v1/processes/{pid}/draft").json()
        assert "root:" not in draft["content"]
        return
    assert response.json()["success"] is False
    assert response.json()["detail"].startswith(detail)
    assert native.get(f"/api/v1/processes/{pid}/draft").status_code == 404


def test_14_execute_before_upload(studio):
    pid = create(studio)["id"]
    response = studio.post("/api/process/execute/", json={"id": str(pid)})
    assert response.status_code == 409
    assert response.json() == {"success": False,
                                "detail": f"process {pid} has no published version"}
    studio.post("/api/process/save/", json={"id": pid, "content": flow("straight")})
    assert studio.post("/api/process/execute/", json={"id": pid}).status_code == 409


def test_15_save_upload_execute(studio, native):
    pid = create(studio)["id"]
    publish(studio, pid)
    first = execute(studio, pid, variables={"amount": 70})
    second = execute(studio, pid, variables={"amount": 1})
    assert first != second
    seen = native.get(f"/api/v1/instances/{first}").json()
    assert seen["seq"] == first and seen["status"] == "completed"
    assert seen["variables"]["size"] == "large"
    assert native.get(f"/api/v1/instances/{seen['id']}").json()["seq"] == first
    form = studio.post("/api/process/execute", data={"id": str(pid),
                                                     "variables": '{"amount": 2}'})
    assert form.status_code == 200
    job = native.get(f"/api/v1/instances/{form.json()['job_id']}").json()
    assert job["variables"]["total"] == 4
    listed = native.get("/api/v1/instances").json()["items"]
    assert len(listed) == 3 and {i["seq"] for i in listed} >= {first, second}


@pytest.mark.parametrize(("body", "status", "detail"), [
    ({}, 400, "id is required"),
    ({"id": "x"}, 400, "id must be an integer"),
    ({"id": 999999}, 404, "Not found."),
    ({"id": "PID", "variables": [1]}, 400, "variables must be a JSON object"),
    ({"id": "PID", "variables": "[1]"}, 400, "variables must be a JSON object"),
    ({"id": "PID", "variables": "{nope"}, 400, "variables must be a JSON object"),
    ({"id": "PID", "variables": 3}, 400, "variables must be a JSON object"),
    ({"id": "PID", "variables": {"amount": "x" * (1536 * 1024)}}, 413, "variables"),
])
def test_execute_bad_input(studio, native, body, status, detail):
    pid = create(studio)["id"]
    publish(studio, pid)
    body = {k: (pid if v == "PID" else v) for k, v in body.items()}
    response = studio.post("/api/process/execute/", json=body)
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    assert response.json()["detail"].startswith(detail)
    assert native.get("/api/v1/instances").json()["items"] == []


def test_execute_with_declared_parameters(studio, native):
    """A version's declared parameters still apply: a wrong type is a plain 400 here."""
    pid = create(studio)["id"]
    publish(studio, pid)
    versions = native.get(f"/api/v1/processes/{pid}/versions").json()["items"]
    key = versions[0]["process_key"]
    native.post(f"/api/v1/processes/{key}/versions", files={
        "file": ("straight.bpmn", flow("straight").replace("Straight", "S2").encode())},
        data={"parameters": '[{"name": "amount", "type": "integer", "required": true}]'})
    response = studio.post("/api/process/execute/", json={"id": pid,
                                                          "variables": {"amount": "many"}})
    assert response.status_code == 400 and response.json()["success"] is False
    assert "amount" in response.json()["detail"]
    assert native.get("/api/v1/instances").json()["items"] == []


def test_16_upload_is_idempotent(studio, native):
    pid = create(studio)["id"]
    publish(studio, pid)
    assert studio.post("/api/process/upload/", json={"id": str(pid)}).json() == {"success": True}
    versions = native.get(f"/api/v1/processes/{pid}/versions").json()["items"]
    assert [v["number"] for v in versions] == [1]
    # A new draft is a new version; saving the first content again makes version 1 current.
    publish(studio, pid, "approval")
    assert native.get(f"/api/v1/processes/{pid}").json()["current_version"] == 2
    publish(studio, pid, "straight")
    process = native.get(f"/api/v1/processes/{pid}").json()
    assert process["current_version"] == 1
    assert len(native.get(f"/api/v1/processes/{pid}/versions").json()["items"]) == 2


@pytest.mark.parametrize(("content", "status", "detail"), [
    (None, 409, "process PID has no saved draft"),
    ("<a/>", 400, "not a BPMN 2.0 file"),
    ({"flow": []}, 400, "a JSON draft cannot be published"),
    (flow("straight").replace("scriptTask", "fancyTask"), 400, ""),
])
def test_upload_bad_drafts(studio, native, content, status, detail):
    pid = create(studio)["id"]
    if content is not None:
        assert studio.post("/api/process/save/", json={"id": pid, "content": content}
                           ).status_code == 200
    response = studio.post("/api/process/upload/", json={"id": str(pid)})
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    assert response.json()["detail"].startswith(detail.replace("PID", str(pid)))
    assert native.get(f"/api/v1/processes/{pid}/versions").json()["items"] == []


def test_upload_bad_ids(studio):
    assert studio.post("/api/process/upload/", json={}).json() == {
        "success": False, "detail": "id is required"}
    assert studio.post("/api/process/upload/", json={"id": "1,2"}).status_code == 400
    assert studio.post("/api/process/upload/", json={"id": 999999}).json() == {
        "success": False, "detail": "Not found."}


def test_17_stop(studio, native):
    pid = create(studio)["id"]
    publish(studio, pid, "approval")
    job = execute(studio, pid)
    assert native.get(f"/api/v1/instances/{job}").json()["status"] == "waiting"
    stopped = studio.post(f"/api/process/stop/{job}/")
    assert stopped.status_code == 200 and stopped.json() == {"success": True}
    assert native.get(f"/api/v1/instances/{job}").json()["status"] == "stopped"
    assert studio.post(f"/api/process/stop/{job}/", json={"job_id": job}).json() == {
        "success": True}
    publish(studio, pid, "straight")
    done = execute(studio, pid, variables={"amount": 1})
    finished = studio.post(f"/api/process/stop/{done}/")
    assert finished.status_code == 409
    assert finished.json() == {"success": False, "detail": f"job {done} is not running"}
    missing = studio.post("/api/process/stop/999999/")
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "detail": "Not found."}


def test_stop_bad_input(studio, native, intruder):
    pid = create(studio)["id"]
    publish(studio, pid, "approval")
    job = execute(studio, pid)
    for path in ("abc", "0", "-1", "9" * 40, "1.0"):
        response = studio.post(f"/api/process/stop/{path}/")
        assert response.status_code == 404, path
    for body in ({"job_id": job + 1}, {"job_id": "abc"}, {"job_id": [job]}):
        mismatch = studio.post(f"/api/process/stop/{job}/", json=body)
        assert mismatch.status_code == 400, body
        assert mismatch.json()["success"] is False
    assert studio.post(f"/api/process/stop/{job}/", data={"job_id": str(job + 1)}
                       ).status_code == 400
    assert studio.get(f"/api/process/stop/{job}/").json() == {
        "success": False, "detail": 'Method "GET" not allowed.'}
    theirs = intruder.post(f"/api/v1/instances/{job}/cancel")
    assert theirs.status_code == 404
    assert native.get(f"/api/v1/instances/{job}").json()["status"] == "waiting"


def test_18_logfile(studio, native):
    pid = create(studio)["id"]
    publish(studio, pid, "approval")
    job = execute(studio, pid)
    first = studio.get("/api/process/logfile", params={"jobId": job, "row": 0})
    assert first.status_code == 200
    lines = first.json()["logcontent"].split("\n")
    assert len(lines) >= 2 and all(LINE.match(line) for line in lines)
    assert "process start" in lines[0]
    again = studio.get("/api/process/logfile/", params={"jobId": job, "row": len(lines)})
    assert again.json() == {"logcontent": ""}
    assert studio.get("/api/process/logfile", params={"jobId": job}).json() == first.json()
    studio.post(f"/api/process/stop/{job}/")
    new = studio.get("/api/process/logfile", params={"jobId": job, "row": len(lines)}).json()
    added = new["logcontent"].split("\n")  # the stop, then the cancel cleanup it started
    assert "process stopped" in added[0] and all(LINE.match(line) for line in added)
    assert studio.get("/api/process/logfile", params={"jobId": job, "row": 10**25}).json() \
        == {"logcontent": ""}


def test_failed_job_log_ends_with_the_reason(studio):
    pid = create(studio)["id"]
    publish(studio, pid, "failing")
    job = execute(studio, pid)
    log = studio.get("/api/process/logfile", params={"jobId": job}).json()["logcontent"]
    last = log.split("\n")[-1]
    assert "process failed at Boom" in last and "undefined_name" in last


@pytest.mark.parametrize(("params", "status", "detail"), [
    ({}, 400, "jobId is required"),
    ({"jobId": ""}, 400, "jobId is required"),
    ({"jobId": "x"}, 400, "jobId must be an integer"),
    ({"jobId": 999999}, 404, "Not found."),
    ({"jobId": -4}, 404, "Not found."),
    ({"jobId": "9" * 25}, 404, "Not found."),
    ({"jobId": "JOB", "row": -1}, 400, "row must be an integer of 0 or more"),
    ({"jobId": "JOB", "row": "abc"}, 400, "row must be an integer of 0 or more"),
])
def test_logfile_bad_input(studio, params, status, detail):
    pid = create(studio)["id"]
    publish(studio, pid)
    job = execute(studio, pid, variables={"amount": 1})
    params = {k: (job if v == "JOB" else v) for k, v in params.items()}
    response = studio.get("/api/process/logfile", params=params)
    assert response.status_code == status
    assert response.json() == {"detail": detail}


def test_19_logout(app, studio_user):
    client = TestClient(app, raise_server_exceptions=False)
    token = login(client)
    other = login(client)
    out = client.post("/api/logout/", json={"token": token})
    assert out.status_code == 200 and out.json() == {}
    assert client.get(P, headers={"Authorization": f"Token {token}"}).status_code == 401
    again = client.post("/api/logout/", json={"token": token})
    assert again.status_code == 401 and again.json() == {"detail": "Invalid token."}
    assert client.get(P, headers={"Authorization": f"Token {other}"}).status_code == 200
    assert client.post("/api/logout", data={"token": other}).json() == {}
    for body in ({}, {"token": ""}, {"token": 5}):
        assert client.post("/api/logout/", json=body).status_code == 400
    assert client.post("/api/logout/", json={"token": "nope"}).status_code == 401


def test_login_tokens_expire_when_the_deployment_says(app, ctx, clock, studio_user):
    ctx.settings.login_token_hours = 1
    client = TestClient(app, raise_server_exceptions=False)
    token = login(client)
    assert client.get(P, headers={"Authorization": f"Token {token}"}).status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    assert client.get(P, headers={"Authorization": f"Token {token}"}).status_code == 401
    assert client.post("/api/logout/", json={"token": token}).status_code == 401


def test_20_without_trailing_slash(studio):
    made = studio.post("/api/process/process", json={"name": "n", "project": "p"})
    assert made.status_code == 201
    pid = made.json()["id"]
    for method, path, kw in (
        ("GET", "/api/process/process", {}),
        ("GET", f"/api/process/process/{pid}", {}),
        ("PATCH", f"/api/process/process/{pid}", {"json": {"mark": "m"}}),
        ("PUT", f"/api/process/process/{pid}", {"json": {"mark": "m"}}),
        ("POST", "/api/process/save", {"json": {"id": pid, "content": flow("straight")}}),
        ("POST", "/api/process/upload", {"json": {"id": pid}}),
        ("POST", "/api/process/execute", {"json": {"id": pid, "variables": {"amount": 1}}}),
    ):
        response = studio.request(method, path, follow_redirects=False, **kw)
        assert response.status_code in (200, 201), (method, path, response.status_code)
    assert studio.get("/api/process/process").json() == studio.get(P).json()
    gone = studio.request("DELETE", f"/api/process/process/{pid}", follow_redirects=False)
    assert gone.status_code == 204


def test_not_provided_and_wrong_methods(studio):
    for path in ("/api/process/intact", "/api/process/file/list/", "/api/process/file/save/",
                 "/api/process/package/", "/api/process/nothing"):
        response = studio.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}
    wrong = studio.post("/api/process/logfile", json={})
    assert wrong.status_code == 405 and wrong.json() == {"detail": 'Method "POST" not allowed.'}
    action = studio.get("/api/process/save/")
    assert action.status_code == 405
    assert action.json() == {"success": False, "detail": 'Method "GET" not allowed.'}
    assert studio.put(P, json={}).status_code == 405
    # Native paths keep their own error shape.
    assert studio.get("/api/v1/nothing").headers["content-type"] == "application/problem+json"


def test_roles(app, ctx, studio):
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        account = tx.find_account("acme")
        tx.create_user(account.id, "viewer", [Role.VIEWER], now, auth.hash_password("viewer"))
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Token {login(client, 'viewer', 'viewer')}"
    assert client.get(P).status_code == 200
    refused = client.post(P, json={"name": "n", "project": "p"})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}
    assert client.post("/api/process/execute/", json={"id": 1}).json() == {
        "success": False, "detail": "You do not have permission to perform this action."}
    assert studio.get(P).json()["count"] == 0


def test_another_account_sees_nothing(studio, app, other_token, native):
    made = create(studio)
    publish(studio, made["id"], "approval")
    job = execute(studio, made["id"])
    intruder = TestClient(app, raise_server_exceptions=False)
    intruder.headers["Authorization"] = f"Token {other_token}"
    assert intruder.get(P).json()["count"] == 0
    pid = made["id"]
    for method, path, kw in (
        ("GET", f"{P}{pid}/", {}), ("PUT", f"{P}{pid}/", {"json": {"name": "x"}}),
        ("PATCH", f"{P}{pid}/", {"json": {"name": "x"}}), ("DELETE", f"{P}{pid}/", {}),
        ("DELETE", P, {"json": {"pk": str(pid)}}),
        ("POST", "/api/process/save/", {"json": {"id": pid, "content": "<a/>"}}),
        ("POST", "/api/process/upload/", {"json": {"id": pid}}),
        ("POST", "/api/process/execute/", {"json": {"id": pid}}),
        ("POST", f"/api/process/stop/{job}/", {}),
        ("GET", "/api/process/logfile", {"params": {"jobId": job}}),
    ):
        response = intruder.request(method, path, **kw)
        assert response.status_code == 404, (method, path, response.text)
    assert studio.get(f"{P}{pid}/").json()["name"] == made["name"]
    assert native.get(f"/api/v1/instances/{job}").json()["status"] == "waiting"
    assert native.get(f"/api/v1/processes/{pid}/draft").json()["kind"] == "bpmn"
    assert len(native.get("/api/v1/instances").json()["items"]) == 1


def test_native_view_of_studio_processes(studio, native, studio_user):
    made = create(studio, project="svn://repo/robots")
    seen = native.get(f"/api/v1/processes/{made['id']}").json()
    assert seen["id"] == made["id"] and seen["project"] == "svn://repo/robots"
    assert seen["created_by"] == studio_user and seen["creator"] == "san zhang"
    assert seen["key"].startswith("p_") and seen["description"] == "新增测试流程"
    assert native.patch(f"/api/v1/processes/{seen['key']}", json={"project": "git"}).json()[
        "project"] == "git"
    assert studio.get(f"{P}{made['id']}/").json()["project"] == "git"
    # Drafts natively: save, read, publish (201 new, 200 identical).
    url = f"/api/v1/processes/{seen['key']}/draft"
    assert native.put(url, json={"content": flow("straight")}).status_code == 200
    assert native.post(f"{url}/publish").status_code == 201
    assert native.post(f"{url}/publish").status_code == 200
    assert native.put(url, json={"content": "<nope"}).status_code == 400
    job = execute(studio, made["id"], variables={"amount": 3})
    log = native.get(f"/api/v1/instances/{job}/log", params={"start": 1}).json()
    assert log["lines"] and log["next_start"] == 1 + len(log["lines"])
    assert native.get(f"/api/v1/instances/{job}/log", params={"start": -1}).status_code == 422


def test_native_token_login(app, studio_user):
    client = TestClient(app, raise_server_exceptions=False)
    issued = client.post("/api/v1/auth/token", json={"login": "admin", "password": "admin"})
    assert issued.status_code == 201 and issued.json()["token"]
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {issued.json()['token']}"})
    assert me.json()["login"] == "admin"
    wrong = client.post("/api/v1/auth/token", json={"login": "admin", "password": "x"})
    assert wrong.status_code == 401
