"""The Activiti-style dialect against contracts/activiti.md §7, on both databases. Steps run
on a scripted executor ("test") whose calls are logged, driven by the step workers."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from tests.steps_support import Scripted, chain_bpmn, drain, fail, parallel_bpmn

from flowport.executors import Done
from flowport.services import steps as steps_svc

SEED_VARIABLES = {
    "projectId": "11111", "regionId": "bcc", "vpcId": "vpc-509A87BA", "slaveNum": "6",
    "Bingo::RS::FRONT::RSBILLING": {}, "master-1a": {"instanceType": "m2.large"},
    "slave-": {"instanceType": "m2.large"}, "SipRS::Mock": True, "名称": "主机",
}
TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
FIELDS = {"id", "processInstanceId", "modelId", "modelKey", "processName", "processType",
          "processStatus", "processContent", "startTime", "endTime", "activitiFileId",
          "outputs", "nativeOutputs", "rollbackProcessInstanceId", "cancelProcessInstanceId",
          "deleteProcessInstanceId"}
TASK_FIELDS = {"id", "processInstanceId", "taskId", "name", "namespace", "stone", "createTime",
               "endTime", "status", "reason", "params", "outputs", "progress"}
ROLLBACK = 'flowport:rollback="true"'



def model(api, key: str, content: bytes, **data) -> dict:
    if api.get(f"/api/v1/processes/{key}").status_code == 404:
        assert api.post("/api/v1/processes", json={"key": key}).status_code == 201
    response = api.post(f"/api/v1/processes/{key}/versions",
                        files={"file": (f"{key}.bpmn", content)}, data=data)
    assert response.status_code == 201, response.text
    # the version has a guid of its own; Activiti's modelId is the process's
    return {**response.json(), "guid": api.get(f"/api/v1/processes/{key}").json()["guid"]}


def launch(api, key: str = "cloud-host", variables=None, **extra) -> dict:
    response = api.post("/process", json={"key": key, "processName": "test",
                                          "variables": variables or {}, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def record(api, process: dict) -> dict:
    response = api.get(f"/process/{process['processInstanceId']}")
    assert response.status_code == 200, response.text
    return response.json()


def tasks(api, process: dict) -> list[dict]:
    response = api.get("/task", params={"processInstanceId": process["processInstanceId"]})
    assert response.status_code == 200, response.text
    return response.json()


def task_statuses(api, process: dict) -> dict[str, str]:
    return {t["namespace"]: t["status"] for t in tasks(api, process)}


def put(api, process: dict, operate: str):
    return api.put(f"/process/{process['processInstanceId']}/{operate}")


def spring_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"timestamp", "status", "error", "message", "path"}
    assert body["status"] == status and TIME.match(body["timestamp"]) and body["message"]
    return body


# 1
def test_start_with_the_seed_body(api, scripted):
    deployed = model(api, "cloud-host", chain_bpmn("A"))
    response = api.post("/process", json={"modelId": deployed["guid"], "processName": "test",
                                          "variables": SEED_VARIABLES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == FIELDS
    assert body["processStatus"] == "running"
    assert body["processInstanceId"].isdigit() and uuid.UUID(body["id"]).version == 4
    assert TIME.match(body["startTime"]) and body["endTime"] is None
    assert body["nativeOutputs"] == "" and body["outputs"] is None
    assert body["processContent"] == json.dumps(SEED_VARIABLES, separators=(",", ":"),
                                                ensure_ascii=False)
    assert '"Bingo::RS::FRONT::RSBILLING":{}' in body["processContent"]
    assert '"slave-":{"instanceType":"m2.large"}' in body["processContent"]
    assert (body["modelId"], body["modelKey"], body["processName"]) == (
        deployed["guid"], "cloud-host", "test")
    assert body["processType"] is None and body["activitiFileId"] is None
    assert [body[f"{k}ProcessInstanceId"] for k in ("rollback", "cancel", "delete")] == [
        None, None, None]
    native = api.get(f"/api/v1/instances/{body['id']}").json()  # visible natively too
    assert native["name"] == "test" and native["variables"]["SipRS::Mock"] is True


# 2
def test_start_by_key_runs_the_latest_and_by_deployment_that_version(api, scripted):
    first = model(api, "cloud-host", chain_bpmn("A"))
    model(api, "cloud-host", chain_bpmn("A", "B"))
    latest = launch(api)
    assert api.get(f"/api/v1/instances/{latest['id']}").json()["version"] == 2
    pinned = api.post("/process", json={"deploymentId": str(first["id"]), "processName": "p",
                                        "variables": {}}).json()
    assert api.get(f"/api/v1/instances/{pinned['id']}").json()["version"] == 1
    assert pinned["modelKey"] == "cloud-host"


# 3, 4
@pytest.mark.parametrize(("body", "status", "words"), [
    ({"processName": "t", "variables": {}}, 400, "exactly one"),
    ({"modelId": "MODEL", "key": "cloud-host", "processName": "t", "variables": {}}, 400,
     "exactly one"),
    ({"modelId": None, "deploymentId": "", "processName": "t", "variables": {}}, 400,
     "exactly one"),
    ({"key": "cloud-host", "variables": {}}, 400, "processName"),
    ({"key": "cloud-host", "processName": "  ", "variables": {}}, 400, "processName"),
    ({"key": "cloud-host", "processName": "t", "variables": []}, 400, "variables"),
    ({"key": "cloud-host", "processName": "t", "variables": "x"}, 400, "variables"),
    ({"key": "cloud-host", "processName": "t"}, 400, "variables"),
    ({"key": "cloud-host", "processName": "t", "variables": {}, "debug": "yes"}, 400, "debug"),
    ({"key": True, "processName": "t", "variables": {}}, 400, "key must be a string"),
    ({"modelId": "d4888443-857e-11e8-bef7-d00dd670a106", "processName": "t",
      "variables": {}}, 404, "no process"),
    ({"modelId": "not-a-uuid", "processName": "t", "variables": {}}, 404, "no model"),
    ({"deploymentId": "999999", "processName": "t", "variables": {}}, 404, "no version"),
    ({"deploymentId": "v1", "processName": "t", "variables": {}}, 404, "no deployment"),
    ({"key": "nope", "processName": "t", "variables": {}}, 404, "no process"),
    ({"key": "empty", "processName": "t", "variables": {}}, 409, "no published version"),
    ({"key": "needs-region", "processName": "t", "variables": {}}, 400, "'region'"),
])
def test_bad_starts_are_clear_errors_that_change_nothing(api, scripted, body, status, words):
    model(api, "cloud-host", chain_bpmn("A"))
    model(api, "needs-region", chain_bpmn("A"),
          parameters=json.dumps([{"name": "region", "required": True}]))
    api.post("/api/v1/processes", json={"key": "empty"})
    response = api.post("/process", json=body)
    assert words in spring_error(response, status)["message"]
    assert spring_error(response, status)["path"] == "/process"
    assert api.get("/api/v1/instances").json()["items"] == []


def test_empty_model_id_counts_as_absent(api, scripted):
    model(api, "cloud-host", chain_bpmn("A"))
    response = api.post("/process", json={"modelId": "", "key": "cloud-host",
                                          "processName": "t", "variables": {}})
    assert response.status_code == 200


def test_body_must_be_a_json_object(api, scripted):
    model(api, "cloud-host", chain_bpmn("A"))
    spring_error(api.post("/process", content=b"key=cloud-host",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    spring_error(api.post("/process", content=b"{nope",
                          headers={"Content-Type": "application/json"}), 400)
    spring_error(api.post("/process", json=[1]), 400)
    assert api.get("/api/v1/instances").json()["items"] == []


# 5, 19
def test_read_by_number_or_id_and_auth(app, api, scripted):
    model(api, "cloud-host", chain_bpmn("A"))
    started = launch(api)
    by_number = api.get(f"/process/{started['processInstanceId']}").json()
    assert by_number == api.get(f"/process/{started['id']}").json() == started
    for unknown in ("99999999", "00000000-0000-0000-0000-000000000000", "nope"):
        assert spring_error(api.get(f"/process/{unknown}"), 404)["path"] == \
            f"/process/{unknown}"
    anonymous = TestClient(app, raise_server_exceptions=False)
    spring_error(anonymous.get(f"/process/{started['id']}"), 401)
    spring_error(anonymous.post("/process", json={}), 401)
    spring_error(anonymous.get("/task", params={"processInstanceId": "1"}), 401)


def test_another_account_sees_nothing(api, intruder, scripted):
    model(api, "cloud-host", chain_bpmn("A"))
    started = launch(api)
    (task,) = tasks(api, started)
    for response in (intruder.get(f"/process/{started['processInstanceId']}"),
                     intruder.get(f"/process/{started['id']}"),
                     put(intruder, started, "cancel"),
                     intruder.get("/task", params={"processInstanceId": started["id"]}),
                     intruder.get(f"/task/{task['taskId']}"),
                     intruder.put(f"/task/{task['taskId']}/reRun"),
                     intruder.post("/process", json={"key": "cloud-host", "processName": "x",
                                                     "variables": {}})):
        spring_error(response, 404)
    assert record(api, started)["processStatus"] == "running"


# 6
def test_normal_completion(ctx, api, scripted, clock):
    scripted.when("run", "C", Done({"machineId": "d39c06db"}))
    model(api, "cloud-host", chain_bpmn("A", "B", "C"),
          outputs=json.dumps([{"name": "machine", "variable": "machineId"}]))
    model(api, "plain", chain_bpmn("A"))
    started = launch(api, variables={"projectId": "11111"})
    plain = launch(api, "plain")
    clock.advance(timedelta(minutes=5))
    drain(ctx)
    done = record(api, started)
    assert done["processStatus"] == "completed"
    assert TIME.match(done["endTime"]) and done["endTime"] > done["startTime"]
    assert json.loads(done["nativeOutputs"]) == {"projectId": "11111", "A": 1, "B": 1,
                                                 "machineId": "d39c06db"}
    assert done["nativeOutputs"] == json.dumps(json.loads(done["nativeOutputs"]),
                                               separators=(",", ":"))
    assert done["outputs"] == '{"machine":"d39c06db"}'
    assert record(api, plain)["outputs"] is None
    assert record(api, plain)["processStatus"] == "completed"


# 7
def test_step_failure_without_rollback(ctx, api, scripted):
    scripted.when("run", "C", fail("no capacity in bcc"))
    model(api, "cloud-host", chain_bpmn("A", "B", "C"))
    started = launch(api)
    drain(ctx)
    done = record(api, started)
    assert done["processStatus"] == "failed" and done["endTime"] is not None
    assert done["rollbackProcessInstanceId"] is None and done["outputs"] is None
    failing = tasks(api, started)[-1]
    assert failing["status"] in ("start.failed", "monitor.failed")
    assert failing["reason"] == "no capacity in bcc"


# 8
def test_step_failure_with_rollback(ctx, api, scripted, clock):
    scripted.when("run", "C", fail())
    model(api, "cloud-host", chain_bpmn("A", "B", "C", attributes=ROLLBACK))
    started = launch(api)
    for _ in range(3):
        steps_svc.run_one(ctx)
        clock.advance(timedelta(seconds=1))
    rolling = record(api, started)
    assert rolling["processStatus"] == "rolling_back" and rolling["endTime"] is None
    assert rolling["rollbackProcessInstanceId"].isdigit()
    drain(ctx)
    done = record(api, started)
    assert done["processStatus"] == "rolled_back" and done["endTime"] is not None
    assert scripted.of("rollback") == ["C", "B", "A"]
    assert set(task_statuses(api, started).values()) == {"rollback.success"}
    linked = api.get(f"/process/{done['rollbackProcessInstanceId']}").json()
    assert linked["processStatus"] == "completed" and linked["processName"] == "test#rollback"
    assert linked["processContent"] == json.dumps(
        {"targetProcessInstanceId": started["processInstanceId"]}, separators=(",", ":"))
    assert [(t["namespace"], t["stone"], t["status"]) for t in tasks(api, linked)] == [
        ("C", "test", "rollback.success"), ("B", "test", "rollback.success"),
        ("A", "test", "rollback.success")]


# 9, 10
def test_cancel_a_running_instance(ctx, api, scripted):
    scripted.when("run", "A", "park")
    model(api, "cloud-host", parallel_bpmn("A", "B"))
    started = launch(api)
    steps_svc.run_one(ctx)
    assert task_statuses(api, started) == {"A": "start.success", "B": "produce.success"}
    response = put(api, started, "cancel")
    assert response.status_code == 200
    cancelling = response.json()
    assert cancelling["processStatus"] == "cancelling"
    assert cancelling["cancelProcessInstanceId"].isdigit() and cancelling["endTime"] is None
    assert put(api, started, "CANCEL").json()["cancelProcessInstanceId"] == \
        cancelling["cancelProcessInstanceId"]
    drain(ctx)
    assert scripted.of("cancel") == ["A"]
    assert task_statuses(api, started) == {"A": "cancel.success", "B": "canceled"}
    done = record(api, started)
    assert done["processStatus"] == "cancelled" and done["endTime"] is not None
    again = put(api, started, "cancel")
    assert again.status_code == 200 and again.json() == done
    linked = api.get(f"/process/{done['cancelProcessInstanceId']}").json()
    assert linked["processName"] == "test#cancel" and linked["processStatus"] == "completed"
    # 14: the linked instance takes neither operation.
    spring_error(put(api, linked, "cancel"), 409)
    spring_error(put(api, linked, "delete"), 409)


def test_cancel_of_a_completed_instance_is_a_conflict(ctx, api, scripted):
    model(api, "cloud-host", chain_bpmn("A"))
    started = launch(api)
    drain(ctx)
    spring_error(put(api, started, "cancel"), 409)
    assert record(api, started)["processStatus"] == "completed"


# 11
def test_delete_a_completed_instance(ctx, api, scripted, clock):
    model(api, "cloud-host", chain_bpmn("A", "B", "C"))
    started = launch(api)
    for _ in range(3):
        steps_svc.run_one(ctx)
        clock.advance(timedelta(seconds=1))
    completed = record(api, started)
    response = put(api, started, "delete")
    assert response.status_code == 200
    deleting = response.json()
    assert deleting["processStatus"] == "deleting" and deleting["deleteProcessInstanceId"]
    assert deleting["endTime"] == completed["endTime"]
    drain(ctx)
    assert scripted.of("delete") == ["C", "B", "A"]
    deleted = record(api, started)  # still readable
    assert deleted["processStatus"] == "deleted"
    assert set(task_statuses(api, started).values()) == {"delete.success"}
    assert put(api, started, "delete").json() == deleted


# 12
def test_delete_refusals_failures_and_retry(ctx, api, scripted):
    ctx.settings.hook_attempts = 1
    model(api, "cloud-host", chain_bpmn("A", "B", "C"))
    running = launch(api)
    body = spring_error(put(api, running, "delete"), 409)
    assert "cancel it first" in body["message"]
    assert record(api, running)["processStatus"] == "running"
    drain(ctx)
    scripted.when("delete", "B", fail("volume busy"))
    put(api, running, "delete")
    drain(ctx)
    failed = record(api, running)
    assert failed["processStatus"] == "delete_failed"
    assert scripted.of("delete") == ["C", "B"]
    assert task_statuses(api, running) == {"A": "monitor.success", "B": "delete.failed",
                                           "C": "delete.success"}
    scripted.when("delete", "B", None)
    retry = put(api, running, "delete").json()
    assert retry["processStatus"] == "deleting"
    assert retry["deleteProcessInstanceId"] != failed["deleteProcessInstanceId"]
    drain(ctx)
    assert record(api, running)["processStatus"] == "deleted"
    assert scripted.of("delete") == ["C", "B", "B", "A"]


# 13
def test_executor_without_delete_handler(ctx, api):
    ctx.executors.add("test", Scripted(hooks=("cancel",)))
    model(api, "cloud-host", chain_bpmn("A"))
    started = launch(api)
    drain(ctx)
    put(api, started, "delete")
    drain(ctx)
    (task,) = tasks(api, started)
    assert (task["status"], task["reason"]) == ("delete.success", "no delete handler")
    assert record(api, started)["processStatus"] == "deleted"


# 14
def test_unknown_operations(ctx, api, scripted):
    model(api, "cloud-host", chain_bpmn("A"))
    started = launch(api)
    assert "operate must be one of cancel, delete" in spring_error(
        put(api, started, "pause"), 400)["message"]
    spring_error(api.put("/process/99999999/pause"), 404)
    assert record(api, started)["processStatus"] == "running"


# 15
def test_task_list(ctx, api, scripted, clock):
    xml = chain_bpmn("A", "B").replace(
        b"<bpmn:extensionElements></bpmn:extensionElements></bpmn:serviceTask>",
        b'<bpmn:extensionElements><flowport:input name="regionId">regionId</flowport:input>'
        b"</bpmn:extensionElements></bpmn:serviceTask>", 1)
    model(api, "cloud-host", xml)
    started = launch(api, variables={"regionId": "701"})
    clock.advance(timedelta(seconds=1))
    steps_svc.run_one(ctx)  # A runs; B is created a second after A
    steps_svc.run_one(ctx)
    listed = tasks(api, started)
    assert [t["namespace"] for t in listed] == ["A", "B"]
    assert all(set(t) == TASK_FIELDS for t in listed)
    first = listed[0]
    assert first["processInstanceId"] == started["processInstanceId"]
    assert first["taskId"].isdigit() and int(first["taskId"]) < int(listed[1]["taskId"])
    assert (first["name"], first["stone"], first["status"]) == ("A", "test", "monitor.success")
    assert first["params"] == '{"regionId":"701"}' and first["outputs"] == '{"A":1}'
    assert listed[0]["createTime"] < listed[1]["createTime"]
    assert TIME.match(first["endTime"]) and first["progress"] is None
    assert api.get(f"/task/{first['taskId']}").json() == first
    assert api.get(f"/task/{first['id']}").json() == first
    assert api.get("/task", params={"processInstanceId": started["id"]}).json() == listed
    spring_error(api.get("/task"), 400)
    spring_error(api.get("/task", params={"processInstanceId": "99999999"}), 404)
    spring_error(api.get("/task/99999999"), 404)
    queued = launch(api, variables={"regionId": "702"})
    assert [t["status"] for t in tasks(api, queued)] == ["produce.success"]
    unresolved = launch(api)  # no regionId: A's input cannot be worked out
    assert unresolved["processStatus"] == "failed"
    (task,) = tasks(api, unresolved)
    assert task["status"] == "produce.failed" and "regionId" in task["reason"]


def test_an_instance_without_executor_steps_has_no_tasks(api):
    model(api, "plain-script", b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"
  targetNamespace="http://flowport.dev/tests"><bpmn:process id="p" isExecutable="true">
  <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f" sourceRef="S" targetRef="E" />
  <bpmn:endEvent id="E" /></bpmn:process></bpmn:definitions>""")
    started = launch(api, "plain-script")
    assert started["processStatus"] == "completed" and tasks(api, started) == []


# 16
def test_debug_rerun(ctx, api, scripted):
    scripted.when("run", "B", fail("disk full"))
    model(api, "cloud-host", chain_bpmn("A", "B", "C"))
    started = launch(api, debug=True)
    assert started["processStatus"] == "debug"
    drain(ctx)
    assert record(api, started)["processStatus"] == "debug"
    failing = tasks(api, started)[-1]
    assert (failing["status"], failing["reason"]) == ("monitor.failed", "disk full")
    scripted.when("run", "B", None)  # the fault is fixed
    response = api.put(f"/task/{failing['taskId']}/reRun")
    assert response.status_code == 200
    rerun = response.json()
    assert rerun["taskId"] == failing["taskId"] and rerun["status"] == "produce.success"
    assert rerun["reason"] is None and rerun["endTime"] is None
    assert rerun["params"] == failing["params"]
    drain(ctx)
    assert record(api, started)["processStatus"] == "completed"
    assert scripted.of("run") == ["A", "B", "B", "C"]


# 17
@pytest.mark.parametrize(("attributes", "status"), [(ROLLBACK, "rolling_back"), ("", "failed")])
def test_debug_resume(ctx, api, scripted, attributes, status):
    scripted.when("run", "B", fail())
    model(api, "cloud-host", chain_bpmn("A", "B", attributes=attributes))
    started = launch(api, debug=True)
    drain(ctx)
    failing = tasks(api, started)[-1]
    response = api.put(f"/task/{failing['taskId']}/RESUME")
    assert response.status_code == 200
    assert record(api, started)["processStatus"] == status
    drain(ctx)
    if attributes:
        assert record(api, started)["processStatus"] == "rolled_back"
        assert scripted.of("rollback") == ["B", "A"]


# 18
def test_rerun_refusals(ctx, api, scripted):
    scripted.when("run", "B", fail())
    model(api, "cloud-host", chain_bpmn("A", "B"))
    debug = launch(api, debug=True)
    plain = launch(api)
    drain(ctx)
    done, _ = tasks(api, debug)
    _, failed_plain = tasks(api, plain)
    spring_error(api.put(f"/task/{done['taskId']}/reRun"), 409)
    spring_error(api.put(f"/task/{failed_plain['taskId']}/reRun"), 409)
    spring_error(api.put(f"/task/{done['taskId']}/foo"), 400)
    spring_error(api.put("/task/99999999/reRun"), 404)
    assert tasks(api, debug)[0] == done
