"""The dashboard's numbers, the task inbox and laid-out diagrams over the native API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lxml import etree

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"


def deploy(api, key: str, name: str) -> None:
    assert api.post("/api/v1/processes", json={"key": key}).status_code == 201
    response = api.post(f"/api/v1/processes/{key}/versions",
                        files={"file": (name, (FLOWS / name).read_bytes())})
    assert response.status_code == 201, response.text


def test_the_inbox_lists_waiting_user_tasks_oldest_first(api, intruder):
    deploy(api, "approval", "approval.bpmn")
    deploy(api, "straight", "straight.bpmn")
    ids = [api.post("/api/v1/processes/approval/instances", json={"business_key": f"B{n}"}
                    ).json()["id"] for n in range(3)]
    api.post("/api/v1/processes/straight/instances", json={"variables": {"amount": 1}})
    api.post(f"/api/v1/instances/{ids[1]}/cancel")
    page = api.get("/api/v1/tasks", params={"limit": 1}).json()
    assert [t["instance_id"] for t in page["items"]] == [ids[0]]
    task = page["items"][0]
    assert (task["element_id"], task["name"], task["type"], task["process_key"],
            task["business_key"]) == ("Approve", "Approve request", "userTask", "approval", "B0")
    rest = api.get("/api/v1/tasks", params={"cursor": page["next_cursor"]}).json()
    assert [t["instance_id"] for t in rest["items"]] == [ids[2]]
    assert rest["next_cursor"] is None
    done = api.post(f"/api/v1/elements/{task['uid']}/complete", json={"data": {"approved": 1}})
    assert done.status_code == 200
    assert [t["instance_id"] for t in api.get("/api/v1/tasks").json()["items"]] == [ids[2]]
    assert api.get("/api/v1/tasks?process_key=straight").json()["items"] == []
    assert api.get("/api/v1/tasks?process_key=nope").json()["items"] == []
    assert intruder.get("/api/v1/tasks").json()["items"] == []
    assert api.get("/api/v1/tasks?cursor=junk").status_code == 400


def test_the_overview_counts_by_status_and_lists_recent_failures(api, intruder, clock):
    deploy(api, "approval", "approval.bpmn")
    deploy(api, "failing", "failing.bpmn")
    api.post("/api/v1/processes/approval/instances")
    failed = api.post("/api/v1/processes/failing/instances").json()
    seen = api.get("/api/v1/overview").json()
    assert seen["instances_by_status"]["waiting"] == 1
    assert seen["instances_by_status"]["failed"] == 1
    assert seen["instances_by_status"]["completed"] == 0
    assert [i["id"] for i in seen["recent_failures"]] == [failed["id"]]
    assert "undefined_name" in seen["recent_failures"][0]["error"]
    assert seen["waiting_tasks"] == 1
    clock.advance(timedelta(hours=25))
    assert api.get("/api/v1/overview").json()["recent_failures"] == []
    other = intruder.get("/api/v1/overview").json()
    assert set(other["instances_by_status"].values()) == {0} and other["waiting_tasks"] == 0


def test_a_file_without_a_layout_gets_one(api):
    deploy(api, "approval", "approval.bpmn")
    response = api.get("/api/v1/processes/approval/versions/1/diagram")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(response.content)
    shapes = {s.get("bpmnElement") for s in root.iter(f"{DI}BPMNShape")}
    edges = {e.get("bpmnElement") for e in root.iter(f"{DI}BPMNEdge")}
    assert shapes == {"Start", "Approve", "Late", "Record", "End", "Escalate", "EndLate"}
    assert edges == {"f1", "f2", "f3", "f4", "f5"}
    content = api.get("/api/v1/processes/approval/versions/1/content").content
    assert b"BPMNShape" not in content  # the stored file is untouched


def test_a_package_has_no_diagram(api, intruder):
    api.post("/api/v1/processes", json={"key": "bot", "process_type": 1})
    api.post("/api/v1/processes/bot/versions", files={"file": ("bot.py", b"print(1)\n")})
    response = api.get("/api/v1/processes/bot/versions/1/diagram")
    assert response.status_code == 404 and "robot package" in response.json()["detail"]
    deploy(api, "approval", "approval.bpmn")
    assert intruder.get("/api/v1/processes/approval/versions/1/diagram").status_code == 404
