"""The Sherpa Orchestrator dialect (contracts/sherpa.md): its "Test cases" one by one, then
bad input for every endpoint. Both databases, the ASGI app in process."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from fastapi.testclient import TestClient

X = "00000000-0000-4000-8000-000000000000"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def sherpa(api: TestClient) -> TestClient:
    """The account's API key as Bearer: the native `api` client speaks Sherpa as well."""
    return api


@pytest.fixture
def other_sherpa(intruder: TestClient) -> TestClient:
    return intruder


def robot_client(app, credential: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Basic {b64(credential)}"
    return client


def error(response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body


def create_process(client, name="Test Process", **fields) -> str:
    response = client.post("/api/process/create", json={"Name": name, **fields})
    assert response.status_code == 200, response.text
    return response.json()["guid"]


def create_version(client, process: str, name="Test Process Version",
                   file=("new-file.robot", b"*** Test Cases ***\nT\n    Log    hi\n")) -> str:
    response = client.post("/api/processVersion/create",
                           data={"Name": name, "ProcessGuid": process},
                           files={"ProcessFile": file})
    assert response.status_code == 200, response.text
    return response.json()["guid"]


def create_robot(client, name="Test Robot") -> tuple[str, str]:
    response = client.post("/api/robot/create", json={"Name": name,
                                                      "Description": "My first Robot"})
    assert response.status_code == 200, response.text
    return response.json()["GUID"], response.json()["Credential"]


@pytest.fixture
def world(sherpa):
    process = create_process(sherpa)
    version = create_version(sherpa, process)
    robot, credential = create_robot(sherpa)
    return process, version, robot, credential


# -- contract §12 -------------------------------------------------------------------------


def test_1_auth(app, sherpa, admin_token):
    anonymous = TestClient(app, raise_server_exceptions=False)
    error(anonymous.get("/api/robot/read"), 401, "unauthorized")
    response = anonymous.get("/api/robot/read", headers={"Authorization": "Bearer wrong"})
    error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    for header in (f"Bearer {admin_token}", f"Bearer {b64(admin_token)}",
                   f"Basic {b64(admin_token)}"):
        response = anonymous.get("/api/robot/read", headers={"Authorization": header})
        assert response.status_code == 200 and isinstance(response.json(), list)
    for header in ("Digest abc", "Basic !!!", "Bearer", "Basic " + b64("nope")):
        error(anonymous.get("/api/robot/read", headers={"Authorization": header}), 401,
              "unauthorized")


def test_2_to_4_process_create_read_update(sherpa):
    response = sherpa.post("/api/process/create", json={
        "Name": "Test Process", "Description": "My Test Process", "MinVersionToRun": 1.05,
        "ProcessType": 0})
    assert response.status_code == 200 and list(response.json()) == ["guid"]
    guid = response.json()["guid"]
    assert GUID.match(guid)
    read = sherpa.get(f"/api/process/read/{guid}").json()
    assert set(read) == {"id", "guid", "name", "description", "process_version_id",
                         "min_version_to_run", "created", "updated", "is_deleted",
                         "account_id", "process_type", "process_version_guid"}
    assert read["min_version_to_run"] == "1.05" and read["process_type"] == "0"
    assert read["is_deleted"] == "0" and read["id"].isdigit()
    assert STAMP.match(read["created"]) and read["process_version_guid"] is None
    assert sherpa.get(f"/api/process/read/{guid.upper()}/").json()["guid"] == guid
    response = sherpa.put("/api/process/update", json={"Guid": guid, "Name": "Test Process 1"})
    assert response.status_code == 200 and response.json() == []
    read = sherpa.get(f"/api/process/read/{guid}").json()
    assert read["name"] == "Test Process 1" and read["description"] == "My Test Process"
    assert sherpa.post("/api/process/update",
                       json={"guid": guid, "description": "x"}).json() == []
    assert sherpa.get(f"/api/process/read/{guid}").json()["description"] == "x"
    assert [p["guid"] for p in sherpa.get("/api/process/read").json()] == [guid]


def test_5_to_7_process_fields(sherpa):
    for body in ({"Description": "d"}, {"Name": "  "}, {"Name": None}):
        error(sherpa.post("/api/process/create", json=body), 422, "missing_field", "Name")
    for bad in ("abc", True, 1.5, None, [0], {"a": 1}):
        error(sherpa.post("/api/process/create", json={"Name": "p", "ProcessType": bad}),
              422, "invalid_type", "ProcessType")
    error(sherpa.post("/api/process/create", json={"Name": "p", "ProcessType": 2}), 422,
          "invalid_value", "ProcessType")
    assert sherpa.post("/api/process/create",
                       json={"Name": "p1", "ProcessType": "1"}).status_code == 200
    assert sherpa.post("/api/process/create",
                       data={"name": "p2", "process_type": "1"}).status_code == 200
    error(sherpa.post("/api/process/create", json={"Name": "x" * 256}), 422, "too_long",
          "Name")
    assert sherpa.post("/api/process/create", json={"Name": "x" * 255}).status_code == 200
    error(sherpa.post("/api/process/create", json={"Name": "p", "MinVersionToRun": "1.x"}),
          422, "invalid_value", "MinVersionToRun")
    error(sherpa.post("/api/process/create", json={"Name": "p", "Description": "d" * 4001}),
          422, "too_long", "Description")
    error(sherpa.post("/api/process/create", json={"Name": "p", "name": "q"}), 400,
          "duplicate_field")
    error(sherpa.post("/api/process/create", content=b"{", headers={
        "Content-Type": "application/json"}), 400, "invalid_body")
    error(sherpa.post("/api/process/create", content=b"[1]", headers={
        "Content-Type": "application/json"}), 400, "invalid_body")
    error(sherpa.post("/api/process/create", content=b"Name=x", headers={
        "Content-Type": "text/plain"}), 400, "unsupported_content_type")
    assert len(sherpa.get("/api/process/read").json()) == 3  # p1, p2 and the 255 one


def test_8_to_10_unknown_malformed_and_other_account(sherpa, other_sherpa):
    for call in (lambda: sherpa.get(f"/api/process/read/{X}"),
                 lambda: sherpa.put("/api/process/update", json={"Guid": X, "Name": "n"}),
                 lambda: sherpa.delete(f"/api/process/delete/{X}")):
        error(call(), 404, "not_found")
    p2 = create_process(sherpa, "P2")
    assert sherpa.delete(f"/api/process/delete/{p2}").json() == []
    error(sherpa.get(f"/api/process/read/{p2}"), 404, "not_found")
    error(sherpa.delete(f"/api/process/delete/{p2}"), 404, "not_found")
    for bad in ("not-a-guid", "554ab883-1f82-48e1-bb12-50490343454d70"):
        error(sherpa.get(f"/api/process/read/{bad}"), 400, "malformed_guid")
    error(sherpa.put("/api/process/update", json={"Guid": "123"}), 400, "malformed_guid",
          "Guid")
    error(sherpa.put("/api/process/update", json={"Name": "n"}), 422, "missing_field", "Guid")
    pb = create_process(other_sherpa, "PB")
    error(sherpa.get(f"/api/process/read/{pb}"), 404, "not_found")
    error(sherpa.put("/api/process/update", json={"Guid": pb, "Name": "mine"}), 404,
          "not_found")
    error(sherpa.delete(f"/api/process/delete/{pb}"), 404, "not_found")
    assert other_sherpa.get(f"/api/process/read/{pb}").json()["name"] == "PB"


def test_wrong_method_and_unknown_endpoint(sherpa):
    response = sherpa.get("/api/robot/create")
    error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]
    error(sherpa.get("/api/robot/nothing"), 404, "unknown_endpoint")
    error(sherpa.get("/api/asset/read"), 404, "unknown_endpoint")
    error(sherpa.post("/api/job/read"), 405, "method_not_allowed")


def test_11_12_versions(sherpa, other_sherpa, api):
    process = create_process(sherpa)
    version = create_version(sherpa, process)
    read = sherpa.get(f"/api/processVersion/read/{version}").json()
    assert read["process_file_name"] == "new-file.robot" and read["name"] == \
        "Test Process Version"
    assert read["process_id"] == sherpa.get(f"/api/process/read/{process}").json()["id"]
    assert sherpa.get(f"/api/process/read/{process}").json()["process_version_guid"] == version
    error(sherpa.post("/api/processVersion/create", json={"Name": "v", "ProcessGuid": process}),
          422, "missing_field", "ProcessFile")
    error(sherpa.post("/api/processVersion/create", data={"Name": "v", "ProcessGuid": process},
                      files={"ProcessFile": ("e.robot", b"")}), 422, "invalid_value",
          "ProcessFile")
    error(sherpa.post("/api/processVersion/create", data={"Name": "v", "ProcessGuid": X},
                      files={"ProcessFile": ("e.robot", b"x")}), 404, "not_found")
    error(sherpa.post("/api/processVersion/create", data={"Name": "v", "ProcessGuid": "1"},
                      files={"ProcessFile": ("e.robot", b"x")}), 400, "malformed_guid")
    assert sherpa.post("/api/processVersion/update", json={
        "Guid": version, "Name": "renamed", "Description": "d"}).json() == []
    assert sherpa.get(f"/api/processVersion/read/{version}").json()["name"] == "renamed"
    error(other_sherpa.get(f"/api/processVersion/read/{version}"), 404, "not_found")
    error(other_sherpa.delete(f"/api/processVersion/delete/{version}"), 404, "not_found")
    assert [v["guid"] for v in sherpa.get("/api/processVersion/read").json()] == [version]
    assert sherpa.delete(f"/api/processVersion/delete/{version}").json() == []
    error(sherpa.get(f"/api/processVersion/read/{version}"), 404, "not_found")
    assert sherpa.get(f"/api/process/read/{process}").json()["process_version_guid"] is None
    error(sherpa.post("/api/job/create", json={"Guid": version}), 404, "not_found")
    error(sherpa.post("/api/job/create", json={"Guid": process}), 422, "no_process_version")
    natively = api.post(f"/api/v1/processes/{read['process_id']}/instances",
                        json={"version": 1})
    assert natively.status_code == 404 and "no version 1" in natively.json()["detail"]
    # The same file again brings the version back, current once more.
    assert create_version(sherpa, process, name="again") == version
    assert sherpa.get(f"/api/processVersion/read/{version}").json()["name"] == "again"
    assert sherpa.get(f"/api/process/read/{process}").json()["process_version_guid"] == version


def test_13_14_robot(sherpa, other_sherpa):
    response = sherpa.post("/api/robot/create", json={"Name": "Test Robot",
                                                      "Description": "My first Robot"})
    body = response.json()
    assert body["Status"] == 0 and body["Credential"] and GUID.match(body["GUID"])
    robot = body["GUID"]
    read = sherpa.get(f"/api/robot/read/{robot}").json()
    assert set(read) == {"GUID", "Name", "Machine", "Status", "IP", "MAC", "Description",
                         "LicenseExpiration", "LicenseString", "CreatedAt", "UpdatedAt",
                         "LastHeartbeatAt"}
    assert read["Status"] == 0 and isinstance(read["CreatedAt"], int)
    assert robot in [r["GUID"] for r in sherpa.get("/api/robot/read").json()]
    assert sherpa.put("/api/robot/setStatus", json={"GUID": robot, "STATUS": 1}).json() == []
    assert sherpa.get(f"/api/robot/getStatus/{robot}").json() == {"Status": 1}
    error(sherpa.put("/api/robot/setStatus", json={"GUID": robot, "STATUS": 4}), 422,
          "invalid_value", "Status")
    error(sherpa.put("/api/robot/setStatus", json={"GUID": robot}), 422, "missing_field")
    assert sherpa.post("/api/robot/update", json={"GUID": robot, "Name": "R2"}).json() == []
    assert sherpa.get(f"/api/robot/read/{robot}").json()["Name"] == "R2"
    error(sherpa.post("/api/robot/create", json={"Name": "R2"}), 422, "duplicate_name")
    error(other_sherpa.get(f"/api/robot/read/{robot}"), 404, "not_found")
    error(other_sherpa.put("/api/robot/setStatus", json={"GUID": robot, "Status": 2}), 404,
          "not_found")
    error(other_sherpa.delete(f"/api/robot/delete/{robot}"), 404, "not_found")
    assert sherpa.get(f"/api/robot/getStatus/{robot}").json() == {"Status": 1}
    assert sherpa.delete(f"/api/robot/delete/{robot}").json() == []
    error(sherpa.get(f"/api/robot/read/{robot}"), 404, "not_found")


def test_15_16_create_job(sherpa, world, api):
    process, version, robot, _ = world
    response = sherpa.post("/api/job/create", json={
        "Guid": version, "RobotGuid": robot, "StopAfter": "2030-01-01 00:00:00"})
    assert response.status_code == 200, response.text
    job = response.json()["guid"]
    read = sherpa.get(f"/api/job/read/{job}").json()
    assert read["status"] == 1 and isinstance(read["robot_id"], int)
    assert read["process_version_id"].isdigit() and read["schedule_id"] is None
    assert read["stop_after"] == "2030-01-01 00:00:00"
    # The job is an instance, visible natively.
    native = api.get(f"/api/v1/instances/{job}").json()
    assert native["status"] == "pending"
    by_process = sherpa.post("/api/job/create", json={"Guid": process,
                                                      "Parameters": '{"a": 1}'}).json()["guid"]
    read = sherpa.get(f"/api/job/read/{by_process}").json()
    assert read["process_version_id"] == \
        sherpa.get(f"/api/processVersion/read/{version}").json()["id"]
    assert json.loads(read["parameters"]) == {"a": 1}
    empty = create_process(sherpa, "Empty")
    error(sherpa.post("/api/job/create", json={"Guid": empty}), 422, "no_process_version")
    error(sherpa.post("/api/job/create", json={"Guid": X}), 404, "not_found")
    error(sherpa.post("/api/job/create", json={"Guid": version, "RobotGuid": X}), 404,
          "not_found")
    error(sherpa.post("/api/job/create", json={"Guid": version, "StopAfter": "tomorrow"}),
          422, "invalid_value", "StopAfter")
    error(sherpa.post("/api/job/create", json={"Guid": version,
                                               "StopAfter": "2001-01-01 00:00:00"}),
          422, "invalid_value")
    error(sherpa.post("/api/job/create", json={"Guid": version, "Parameters": "[1]"}), 422,
          "invalid_value", "Parameters")
    error(sherpa.post("/api/job/create", json={"Guid": version,
                                               "Parameters": "x" * 70000}), 422, "too_long")
    error(sherpa.post("/api/job/create", json={}), 422, "missing_field", "Guid")
    error(sherpa.post("/api/job/create", json={"Guid": "abc"}), 400, "malformed_guid")
    assert len(sherpa.get("/api/job/read").json()) == 2


def heartbeat(client, robot: str | None = None, **fields):
    form = {"Machine": "m1", "IP": "10.0.0.5", "MAC": "aa", "Status": "2", "JobGUID": "",
            "JobName": "", "JobType": "1", **fields}
    if robot is not None:
        form["RobotGUID"] = robot
    response = client.post("/api/robot/heartbeat", data=form)
    assert response.status_code == 200, response.text
    return response.json()


def consume(client, robot: str | None = None):
    response = client.post("/api/robot/consumeNextJob",
                           data={"RobotGUID": robot} if robot else {})
    assert response.status_code == 200, response.text
    return response.json()


def test_17_18_robot_protocol_and_job_update(app, sherpa, world):
    _, version, robot, credential = world
    job = sherpa.post("/api/job/create", json={"Guid": version, "RobotGuid": robot}
                      ).json()["guid"]
    bot = robot_client(app, credential)
    assert heartbeat(bot, robot) == {"HeartbeatErrorCode": 0, "ErrorText": "", "HasNewJob": 1}
    read = sherpa.get(f"/api/robot/read/{robot}").json()
    assert read["Machine"] == "m1" and read["Status"] == 2 and read["LastHeartbeatAt"] > 0
    assert read["IP"] == "10.0.0.5" and read["MAC"] == "aa"
    got = consume(bot, robot)
    assert got["ConsumeJobErrorCode"] == 0 and json.loads(got["Job"])["GUID"] == job
    assert json.loads(got["ProcessVersion"])["Name"] == "Test Process Version"
    assert got["Task"] == "null"
    assert json.loads(consume(bot, robot)["Job"])["GUID"] == job  # a repeat: the same job
    assert bot.put("/api/job/update", data={"guid": job, "status": "8"}).json() == []
    assert sherpa.get(f"/api/job/read/{job}").json()["status"] == 8
    assert bot.get(f"/api/job/read/{job}").json()["status"] == 8
    assert consume(bot)["ConsumeJobErrorCode"] == 102  # started: no longer handed out
    assert sherpa.post("/api/job/update", json={"Guid": job, "Status": 4}).json() == []
    assert sherpa.get(f"/api/job/read/{job}").json()["status"] == 4
    error(sherpa.post("/api/job/update", json={"Guid": job, "Status": 8}), 422,
          "invalid_transition")
    error(sherpa.post("/api/job/update", json={"Status": 8}), 422, "missing_field", "Guid")
    error(sherpa.post("/api/job/update", json={"Guid": job, "Status": 9}), 422,
          "invalid_value", "Status")
    error(sherpa.post("/api/job/update", json={"Guid": job, "Status": "x"}), 422,
          "invalid_type", "Status")
    error(sherpa.post("/api/job/update", json={"Guid": X, "Status": 4}), 404, "not_found")
    assert consume(bot)["ConsumeJobErrorCode"] == 102


def test_robot_reports_its_own_end(app, sherpa, world, api):
    _, version, _, credential = world
    job = sherpa.post("/api/job/create", json={"Guid": version}).json()["guid"]
    bot = robot_client(app, credential)
    assert json.loads(consume(bot)["Job"])["GUID"] == job
    assert bot.put("/api/job/update", data={"guid": job, "status": "8"}).json() == []
    assert heartbeat(bot, JobGUID=job)["HeartbeatErrorCode"] == 0
    assert bot.put("/api/job/update", data={"guid": job, "status": "5"}).json() == []
    native = api.get(f"/api/v1/instances/{job}").json()
    assert native["status"] == "failed"
    error(bot.put("/api/job/update", data={"guid": job, "status": "4"}), 422,
          "invalid_transition")


def test_19_abort_and_stop(app, sherpa, world):
    _, version, robot, credential = world
    bot = robot_client(app, credential)
    codes = {}
    for status in (2, 6):
        job = sherpa.post("/api/job/create", json={"Guid": version, "RobotGuid": robot}
                          ).json()["guid"]
        assert json.loads(consume(bot)["Job"])["GUID"] == job
        assert bot.put("/api/job/update", data={"guid": job, "status": "8"}).json() == []
        error(sherpa.delete(f"/api/job/delete/{job}"), 422, "job_active")
        assert sherpa.put("/api/job/update", json={"Guid": job, "Status": status}).json() == []
        assert sherpa.get(f"/api/job/read/{job}").json()["status"] == status
        codes[status] = heartbeat(bot, JobGUID=job, Status="3")["HeartbeatErrorCode"]
        error(sherpa.delete(f"/api/job/delete/{job}"), 422, "job_active")
        final = 3 if status == 2 else 7
        assert bot.put("/api/job/update", data={"guid": job, "status": str(final)}).json() == []
        assert sherpa.get(f"/api/job/read/{job}").json()["status"] == final
        assert sherpa.delete(f"/api/job/delete/{job}").json() == []
        error(sherpa.get(f"/api/job/read/{job}"), 404, "not_found")
    assert codes == {2: 10, 6: 20}


def test_stopping_before_start_ends_at_once(sherpa, world):
    _, version, _, _ = world
    for status, final in ((2, 3), (6, 7)):
        job = sherpa.post("/api/job/create", json={"Guid": version}).json()["guid"]
        assert sherpa.put("/api/job/update", json={"Guid": job, "Status": status}).json() == []
        assert sherpa.get(f"/api/job/read/{job}").json()["status"] == final
    pending = sherpa.post("/api/job/create", json={"Guid": version}).json()["guid"]
    assert sherpa.delete(f"/api/job/delete/{pending}").json() == []
    error(sherpa.get(f"/api/job/read/{pending}"), 404, "not_found")
    error(sherpa.delete(f"/api/job/delete/{pending}"), 404, "not_found")


def test_20_robot_not_found(sherpa):
    for robot in (X, "not-a-guid"):
        beat = heartbeat(sherpa, robot)
        assert beat["HeartbeatErrorCode"] == 101 and beat["HasNewJob"] == 0
        assert beat["ErrorText"]
        assert consume(sherpa, robot)["ConsumeJobErrorCode"] == 101
        assert consume(sherpa, robot)["Job"] == "null"
    error(sherpa.post("/api/robot/heartbeat", data={"Status": "2"}), 422, "missing_field",
          "RobotGUID")
    error(sherpa.post("/api/robot/heartbeat", data={"RobotGUID": X}), 422, "missing_field",
          "Status")
    error(sherpa.post("/api/robot/heartbeat", data={"RobotGUID": X, "Status": "2",
                                                    "JobType": "2"}), 422, "invalid_value")


def test_21_credential_scope(app, sherpa, world):
    _, _, robot, credential = world
    bot = robot_client(app, credential)
    error(bot.post("/api/process/create", json={"Name": "n"}), 403, "forbidden")
    error(bot.get("/api/robot/read"), 403, "forbidden")
    guid_only = robot_client(app, robot)
    error(guid_only.post("/api/robot/heartbeat", data={"Status": "2"}), 401, "unauthorized")
    other, other_credential = create_robot(sherpa, "Other")
    error(bot.post("/api/robot/heartbeat", data={"RobotGUID": other, "Status": "2"}), 403,
          "forbidden")
    assert bot.get(f"/api/robot/getStatus/{robot}").status_code == 200
    error(bot.get(f"/api/robot/getStatus/{other}"), 403, "forbidden")
    assert sherpa.delete(f"/api/robot/delete/{other}").json() == []
    error(robot_client(app, other_credential).post("/api/robot/heartbeat",
                                                   data={"Status": "2"}), 401, "unauthorized")


def test_robot_cannot_touch_other_robots_jobs(app, sherpa, world):
    _, version, _, credential = world
    other, _ = create_robot(sherpa, "Other")
    job = sherpa.post("/api/job/create", json={"Guid": version, "RobotGuid": other}
                      ).json()["guid"]
    bot = robot_client(app, credential)
    assert consume(bot)["ConsumeJobErrorCode"] == 102  # targeted at the other robot
    error(bot.put("/api/job/update", data={"guid": job, "status": "8"}), 403, "forbidden")
    error(bot.get(f"/api/job/read/{job}"), 403, "forbidden")
    assert sherpa.get(f"/api/job/read/{job}").json()["status"] == 1


def test_22_robot_group(sherpa, other_sherpa, world):
    _, _, robot, _ = world
    response = sherpa.post("/api/robotGroup/create", json={"Name": "TestRobotGroup",
                                                           "Description": "d"})
    group = response.json()["GUID"]
    assert sherpa.put("/api/robotGroup/addRobot",
                      json={"RobotGroupGuid": group, "RobotGuid": robot}).json() == []
    assert sherpa.put("/api/robotGroup/addRobot",
                      json={"RobotGroupGuid": group, "RobotGuid": robot}).json() == []
    read = sherpa.get(f"/api/robotGroup/read/{group}").json()
    assert read["robots"] == [robot] and read["is_deleted"] == "0" and read["id"].isdigit()
    error(other_sherpa.get(f"/api/robotGroup/read/{group}"), 404, "not_found")
    error(other_sherpa.put("/api/robotGroup/addRobot",
                           json={"RobotGroupGuid": group, "RobotGuid": robot}), 404,
          "not_found")
    error(sherpa.put("/api/robotGroup/addRobot", json={"RobotGroupGuid": group}), 422,
          "missing_field", "RobotGuid")
    assert sherpa.put("/api/robotGroup/update", json={"GUID": group, "Name": "G2"}).json() \
        == []
    response = sherpa.request("DELETE", f"/api/robotGroup/delete/{group}",
                              json={"RobotGuid": robot})
    assert response.json() == []
    assert sherpa.get(f"/api/robotGroup/read/{group}").json()["robots"] == []
    error(sherpa.request("DELETE", "/api/robotGroup/removeRobot",
                         json={"RobotGroupGuid": group, "RobotGuid": robot}), 404, "not_found")
    assert sherpa.delete(f"/api/robotGroup/delete/{group}").json() == []
    error(sherpa.get(f"/api/robotGroup/read/{group}"), 404, "not_found")


def test_23_log(app, sherpa, other_sherpa, world):
    _, version, robot, credential = world
    job = sherpa.post("/api/job/create", json={"Guid": version}).json()["guid"]
    entry = {"RobotGUID": robot, "ProcessVersionGUID": version, "JobGUID": job, "Level": 1,
             "Message": "no message"}
    assert sherpa.post("/api/log/create", json=entry).json() == []
    assert sherpa.post("/api/log/create", json={**entry, "Level": "Warning"}).json() == []
    error(sherpa.post("/api/log/create", json={**entry, "Message": None}), 422,
          "missing_field", "Message")
    error(sherpa.post("/api/log/create", json={"RobotGUID": robot, "Message": "m"}
                      | {"Level": "loud"}), 422, "invalid_value", "Level")
    error(sherpa.post("/api/log/create", json={**entry, "JobGUID": X}), 404, "not_found")
    error(sherpa.post("/api/log/create", json={"Message": "x" * 32769}), 422, "too_long")
    bot = robot_client(app, credential)
    assert bot.post("/api/log/create", data={"Message": "from the robot"}).json() == []
    listed = sherpa.post("/api/log/list").json()
    assert len(listed) == 3 and listed[1]["Level"] == 2
    read = sherpa.get(f"/api/log/read/{listed[1]['guid']}").json()
    assert set(read) == {"id", "guid", "robot_id", "process_version_id", "job_id", "Level",
                         "Message", "created_at", "updated_at"}
    assert read["robot_id"].isdigit() and read["job_id"].isdigit()
    assert other_sherpa.post("/api/log/list").json() == []
    error(other_sherpa.get(f"/api/log/read/{listed[0]['guid']}"), 404, "not_found")
    assert sherpa.post("/api/log/list", json={"Limit": 1}).json() == listed[:1]
    error(sherpa.post("/api/log/list", json={"Limit": 1001}), 422, "invalid_value")
    assert sherpa.request("DELETE", "/api/log/purge",
                          json={"Time": str(int(time.time()) + 60)}).json() == []
    assert sherpa.post("/api/log/list").json() == []
    error(sherpa.request("DELETE", "/api/log/purge"), 422, "missing_field", "Time")


# -- triggers (§8, issue 8) ----------------------------------------------------------------


def test_25_triggers(ctx, app, sherpa, other_sherpa, world):
    from flowport.services import scheduler

    process, _, robot, credential = world
    process_id = int(sherpa.get(f"/api/process/read/{process}").json()["id"])
    response = sherpa.post("/api/schedule/create", json={
        "Name": "New Trigger", "Process": process_id, "ProcessingType": 1})
    assert response.status_code == 200, response.text
    trigger = response.json()["guid"]
    read = sherpa.get(f"/api/schedule/read/{trigger}").json()
    assert read["name"] == "New Trigger" and read["processing_type"] == 1
    assert read["process_id"] == process_id and read["status"] == 1 and read["crontab"] is None
    error(sherpa.post("/api/schedule/create", json={"Name": "t", "ProcessId": process_id,
                                                    "ProcessingType": 2}),
          422, "missing_field", "CronTab")
    error(sherpa.post("/api/schedule/create", json={"Name": "t", "ProcessingType": 1}), 422,
          "missing_field", "ProcessId")
    error(sherpa.post("/api/schedule/create", json={"Name": "t", "ProcessId": process_id}),
          422, "missing_field", "ProcessingType")
    error(sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessId": process_id, "ProcessingType": 2, "CronTab": "61 * * * *"}),
        422, "invalid_value", "CronTab")
    error(sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessId": process_id, "ProcessingType": 3}), 422, "invalid_value",
        "ProcessingType")
    error(sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessId": 999999, "ProcessingType": 1}), 404, "not_found")
    error(sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessId": process_id, "ProcessingType": 1, "RobotType": 1}), 422,
        "invalid_value", "RobotGroupId")
    error(sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessId": process_id, "ProcessingType": 1, "RobotType": 2,
        "RobotId": 999999}), 404, "not_found", "RobotId")
    error(sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessId": process_id, "ProcessingType": 1, "StartAt": "soon"}), 422,
        "invalid_value", "StartAt")
    # Another account's process and robot are unknown to it.
    error(other_sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessId": process_id, "ProcessingType": 1}), 404, "not_found")
    error(other_sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessGuid": process, "ProcessingType": 1}), 404, "not_found")
    error(other_sherpa.get(f"/api/schedule/read/{trigger}"), 404, "not_found")
    error(other_sherpa.put("/api/schedule/update", json={"Guid": trigger, "Status": 0}), 404,
          "not_found")
    error(other_sherpa.delete(f"/api/schedule/delete/{trigger}"), 404, "not_found")
    assert len(sherpa.get("/api/schedule/read").json()) == 1
    assert other_sherpa.get("/api/schedule/read").json() == []

    # Targeted at the robot (by GUID), the continuous trigger keeps one job for it.
    assert sherpa.put("/api/schedule/update", json={
        "Guid": trigger, "RobotType": 2, "RobotGuid": robot}).json() == []
    read = sherpa.get(f"/api/schedule/read/{trigger}").json()
    robot_id = read["robot_id"]
    assert read["robot_type"] == 2 and isinstance(robot_id, int)
    assert scheduler.fire_due_schedules(ctx) == 1
    jobs = [j for j in sherpa.get("/api/job/read").json() if j["schedule_id"] == int(read["id"])]
    assert len(jobs) == 1 and jobs[0]["status"] == 1 and jobs[0]["robot_id"] == robot_id
    _, other_credential = create_robot(sherpa, "Elsewhere")
    assert consume(robot_client(app, other_credential))["ConsumeJobErrorCode"] == 102
    got = consume(robot_client(app, credential))
    assert json.loads(got["Job"])["GUID"] == jobs[0]["guid"]

    error(sherpa.put("/api/schedule/update", json={"Guid": trigger, "ProcessingType": 2}),
          422, "missing_field", "CronTab")
    assert sherpa.put("/api/schedule/update", json={
        "Guid": trigger, "ProcessingType": 2, "CronTab": "0 9 * * 1", "Status": 0}).json() == []
    read = sherpa.get(f"/api/schedule/read/{trigger}").json()
    assert read["processing_type"] == 2 and read["crontab"] == "0 9 * * 1"
    assert read["status"] == 0
    error(sherpa.put("/api/schedule/update", json={"Status": 0}), 422, "missing_field", "Guid")
    error(sherpa.put("/api/schedule/update", json={"Guid": X}), 404, "not_found")
    assert sherpa.delete(f"/api/schedule/delete/{trigger}").json() == []
    error(sherpa.get(f"/api/schedule/read/{trigger}"), 404, "not_found")
    error(sherpa.delete(f"/api/schedule/delete/{trigger}"), 404, "not_found")
    error(sherpa.get("/api/schedule/read/123"), 400, "malformed_guid")


def test_trigger_targets_must_be_the_callers(sherpa, other_sherpa, world):
    process, _, robot, _ = world
    group = sherpa.post("/api/robotGroup/create", json={"Name": "G"}).json()["GUID"]
    group_id = int(sherpa.get(f"/api/robotGroup/read/{group}").json()["id"])
    theirs = create_process(other_sherpa, "Theirs")
    for target in ({"RobotType": 1, "RobotGroupId": group_id},
                   {"RobotType": 1, "RobotGroupGuid": group}, {"RobotGuid": robot}):
        error(other_sherpa.post("/api/schedule/create", json={
            "Name": "t", "ProcessGuid": theirs, "ProcessingType": 1, **target}), 404,
            "not_found")
    created = sherpa.post("/api/schedule/create", json={
        "Name": "t", "ProcessGuid": process, "ProcessingType": 1, "RobotType": 1,
        "RobotGroupId": group_id})
    assert created.status_code == 200, created.text
    assert sherpa.get(f"/api/schedule/read/{created.json()['guid']}").json()[
        "robot_group_id"] == group_id
    assert other_sherpa.get("/api/schedule/read").json() == []


ODD_VALUES = (None, True, 1.5, -1, 10**30, "", " ", "x" * 70000, "\x00", [], [1], {}, {"a": 1},
              X, X.upper(), "not-a-guid", "1", "2030-01-01 00:00:00")
FIELDS = ("Guid", "GUID", "Name", "Description", "Status", "ProcessType", "MinVersionToRun",
          "ProcessGuid", "RobotGuid", "RobotGUID", "RobotGroupGuid", "JobGUID", "StopAfter",
          "AbortAfter", "Parameters", "Level", "Message", "Limit", "Offset", "Time",
          "ProcessingType", "CronTab", "RobotType", "RobotId", "RobotGroupId", "ProcessId",
          "Process", "StartAt", "EndAt", "MaxRuns", "MaxRunningRobots", "CheckMissedTrigger",
          "Machine", "IP", "MAC", "JobType", "JobName", "ProcessVersionGUID")


def sherpa_routes(app) -> list[tuple[str, str]]:
    from fastapi.routing import APIRoute, iter_route_contexts

    routes = [(method, r.path) for r in iter_route_contexts(app.routes)
              if isinstance(r.original_route, APIRoute) and "sherpa" in r.original_route.tags
              and not r.path.endswith("/") for method in r.original_route.methods]
    assert len(routes) > 30, "the route walk lost its way"
    return routes


def test_no_odd_input_makes_a_500_or_changes_another_account(app, sherpa, other_sherpa, world):
    """Every Sherpa route, every field, odd values of every type, as JSON and as a form:
    never a 5xx; and the other account's objects stay as they were."""
    process, version, robot, _ = world
    before = [other_sherpa.get(p).json() for p in ("/api/process/read", "/api/robot/read")]
    theirs = create_process(other_sherpa, "Theirs")
    failures = []
    for method, path in sherpa_routes(app):
        url = re.sub(r"\{\w+\}", theirs, path)
        # Each field with odd values in turn (a rotating pick keeps the count sane), and each
        # odd value in every field at once.
        bodies = [{field: ODD_VALUES[(i + k) % len(ODD_VALUES)], "Name": "n", "Guid": version}
                  for i, field in enumerate(FIELDS) for k in (0, 9)]
        bodies += [dict.fromkeys(FIELDS, value) for value in ODD_VALUES]
        for body in bodies:
            response = sherpa.request(method, url, json=body)
            if response.status_code >= 500:
                failures.append((method, url, body, response.status_code))
        form = sherpa.request(method, url, data={**dict.fromkeys(FIELDS, "x" * 300),
                                                 "RobotGUID": robot})
        if form.status_code >= 500:
            failures.append((method, url, "form", form.status_code))
        for raw in (b"[]", b'"x"', b"{bad", b"\xff\xfe", b"null"):
            response = sherpa.request(method, url, content=raw,
                                      headers={"Content-Type": "application/json"})
            if response.status_code >= 500:
                failures.append((method, url, raw, response.status_code))
    assert failures == []
    assert other_sherpa.get(f"/api/process/read/{theirs}").json()["name"] == "Theirs"
    after = [other_sherpa.get(p).json() for p in ("/api/process/read", "/api/robot/read")]
    assert [len(a) for a in after] == [len(before[0]) + 1, len(before[1])]
    assert process


def test_guids_in_bodies_of_another_account_are_404_and_change_nothing(sherpa, other_sherpa,
                                                                       world):
    process, version, robot, _ = world
    job = sherpa.post("/api/job/create", json={"Guid": version}).json()["guid"]
    group = sherpa.post("/api/robotGroup/create", json={"Name": "G"}).json()["GUID"]
    reads = [f"/api/process/read/{process}", f"/api/processVersion/read/{version}",
             f"/api/job/read/{job}", f"/api/robot/read/{robot}",
             f"/api/robotGroup/read/{group}"]
    before = [sherpa.get(url).json() for url in reads]
    their_robot = other_sherpa.post("/api/robot/create", json={"Name": "theirs"}).json()["GUID"]
    their_group = other_sherpa.post("/api/robotGroup/create", json={"Name": "theirs"}
                                    ).json()["GUID"]
    calls = [
        ("PUT", "/api/process/update", {"Guid": process, "Name": "x"}),
        ("POST", "/api/processVersion/update", {"Guid": version, "Name": "x"}),
        ("POST", "/api/job/create", {"Guid": version}),
        ("POST", "/api/job/create", {"Guid": process}),
        ("PUT", "/api/job/update", {"Guid": job, "Status": 2}),
        ("PUT", "/api/robot/update", {"GUID": robot, "Name": "x"}),
        ("PUT", "/api/robot/setStatus", {"GUID": robot, "Status": 3}),
        ("PUT", "/api/robotGroup/update", {"GUID": group, "Name": "x"}),
        ("PUT", "/api/robotGroup/addRobot", {"RobotGroupGuid": group, "RobotGuid": their_robot}),
        ("PUT", "/api/robotGroup/addRobot", {"RobotGroupGuid": their_group, "RobotGuid": robot}),
        ("DELETE", "/api/robotGroup/removeRobot", {"RobotGroupGuid": group, "RobotGuid": robot}),
        ("POST", "/api/log/create", {"RobotGUID": robot, "Message": "m"}),
        ("POST", "/api/log/create", {"JobGUID": job, "Message": "m"}),
        ("POST", "/api/log/create", {"ProcessVersionGUID": version, "Message": "m"}),
        ("POST", "/api/log/list", {"JobGUID": job}),
        ("POST", "/api/processVersion/create", {"Name": "v", "ProcessGuid": process}),
    ]
    for method, url, body in calls:
        if url == "/api/processVersion/create":
            response = other_sherpa.post(url, data=body, files={"ProcessFile": ("a.py", b"1")})
        else:
            response = other_sherpa.request(method, url, json=body)
        error(response, 404, "not_found")
    beat = heartbeat(other_sherpa, robot)
    assert beat["HeartbeatErrorCode"] == 101
    assert consume(other_sherpa, robot)["ConsumeJobErrorCode"] == 101
    assert [sherpa.get(url).json() for url in reads] == before
    assert sherpa.post("/api/log/list").json() == []


def test_stop_after_and_abort_after_move_a_running_job(ctx, clock, app, sherpa, world):
    from datetime import timedelta

    from flowport.services import stopping

    _, version, _, credential = world
    bot = robot_client(app, credential)
    soon = (clock.now() + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    later = (clock.now() + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")
    job = sherpa.post("/api/job/create", json={"Guid": version, "StopAfter": soon,
                                               "AbortAfter": later}).json()["guid"]
    assert json.loads(consume(bot)["Job"])["GUID"] == job
    assert bot.put("/api/job/update", data={"guid": job, "status": "8"}).json() == []
    assert sherpa.get(f"/api/job/read/{job}").json()["abort_after"] == later
    clock.advance(timedelta(seconds=61))
    heartbeat(bot, JobGUID=job)  # keeps the lease
    stopping.run_due_jobs(ctx)
    assert sherpa.get(f"/api/job/read/{job}").json()["status"] == 6
    assert heartbeat(bot, JobGUID=job)["HeartbeatErrorCode"] == 20
    clock.advance(timedelta(seconds=60))
    heartbeat(bot, JobGUID=job)
    stopping.run_due_jobs(ctx)
    assert sherpa.get(f"/api/job/read/{job}").json()["status"] == 2
    assert heartbeat(bot, JobGUID=job)["HeartbeatErrorCode"] == 10


def test_version_labels_and_deletion_natively(sherpa, api):
    """What Sherpa needed from versions is native too: guid, label, description, delete."""
    process = create_process(sherpa, "Native")
    guid = create_version(sherpa, process, name="first")
    key = sherpa.get(f"/api/process/read/{process}").json()["id"]
    native = api.get(f"/api/v1/processes/{key}/versions/1").json()
    assert native["guid"] == guid and native["label"] == "first"
    patched = api.patch(f"/api/v1/processes/{key}/versions/1",
                        json={"label": "renamed", "description": "d"})
    assert patched.status_code == 200 and patched.json()["label"] == "renamed"
    assert sherpa.get(f"/api/processVersion/read/{guid}").json()["name"] == "renamed"
    assert api.patch(f"/api/v1/processes/{key}/versions/1",
                     json={"label": "x" * 256}).status_code == 422
    assert api.patch(f"/api/v1/processes/{key}/versions/9", json={}).status_code == 404
    assert api.delete(f"/api/v1/processes/{key}/versions/1").status_code == 204
    assert api.get(f"/api/v1/processes/{key}/versions/1").json()["deleted_at"]
    assert api.delete(f"/api/v1/processes/{key}/versions/1").status_code == 404
    error(sherpa.get(f"/api/processVersion/read/{guid}"), 404, "not_found")
    robot, _ = create_robot(sherpa)
    assert sherpa.put("/api/robot/setStatus", json={"GUID": robot, "Status": 3}).json() == []
    assert api.get(f"/api/v1/robots/{robot}").json()["reported_status"] == 3
