"""Executor steps and cleanup links through the native API, on both databases: the demo
executor's records show every hook at work."""

from __future__ import annotations

from pathlib import Path

from tests.steps_support import chain_bpmn, drain

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"


def deploy(api, key: str, content: bytes) -> None:
    assert api.post("/api/v1/processes", json={"key": key}).status_code == 201
    response = api.post(f"/api/v1/processes/{key}/versions",
                        files={"file": (f"{key}.bpmn", content)})
    assert response.status_code == 201, response.text


def resources(api) -> dict:
    deploy(api, "resources", (FLOWS / "resources.bpmn").read_bytes())
    response = api.post("/api/v1/processes/resources/instances",
                        json={"variables": {"region": "bcc"}, "name": "two resources"})
    assert response.status_code == 201, response.text
    return response.json()


def demo_records(api) -> dict[str, dict]:
    return {r["id"]: r for r in api.get("/api/v1/records/DemoResource").json()["items"]}



def test_steps_run_and_delete_cleans_up_through_the_api(ctx, api):
    instance = resources(api)
    assert instance["status"] == "waiting" and instance["name"] == "two resources"
    steps = api.get(f"/api/v1/instances/{instance['id']}/steps").json()["items"]
    assert [(s["namespace"], s["executor"], s["status"], s["inputs"]) for s in steps] == [
        ("machine", "demo.resource", "queued", {"data": {"region": "bcc"}})]
    drain(ctx)
    done = api.get(f"/api/v1/instances/{instance['id']}").json()
    assert done["status"] == "completed" and done["cleanup"] is None
    assert done["variables"]["disk"] == {"resource_id": done["variables"]["disk"]
                                         ["resource_id"]}
    made = demo_records(api)
    assert {r["state"] for r in made.values()} == {"ready"} and len(made) == 2
    assert {r["region"] for r in made.values() if "region" in r} == {"bcc"}

    deleting = api.post(f"/api/v1/instances/{instance['id']}/delete")
    assert deleting.status_code == 200
    link = deleting.json()["cleanup"]
    assert (link["kind"], link["state"]) == ("delete", "running")
    drain(ctx)
    deleted = api.get(f"/api/v1/instances/{instance['id']}").json()
    assert deleted["deleted_at"] is not None and deleted["status"] == "completed"
    assert deleted["cleanup"]["state"] == "completed"
    assert demo_records(api) == {}
    listed = [i["id"] for i in api.get("/api/v1/instances").json()["items"]]
    assert instance["id"] not in listed and link["instance_id"] not in listed
    every = api.get("/api/v1/instances", params={"cleanups": "true"}).json()["items"]
    assert [i["id"] for i in every] == [link["instance_id"]]
    linked = api.get(f"/api/v1/instances/{link['instance_id']}").json()
    assert linked["cleanup_of"] == {"kind": "delete", "instance_id": instance["id"]}
    assert linked["name"] == "two resources#delete"
    calls = api.get(f"/api/v1/instances/{link['instance_id']}/steps").json()["items"]
    assert [(c["namespace"], c["kind"], c["status"]) for c in calls] == [
        ("disk", "delete", "deleted"), ("machine", "delete", "deleted")]
    again = api.post(f"/api/v1/instances/{instance['id']}/delete")
    assert again.status_code == 200 and again.json()["cleanups"] == deleted["cleanups"]


def test_delete_of_a_running_instance_is_a_clear_409_that_changes_nothing(ctx, api):
    instance = resources(api)
    before = api.get(f"/api/v1/instances/{instance['id']}").json()
    response = api.post(f"/api/v1/instances/{instance['id']}/delete")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_transition"
    assert problem["detail"] == (f"instance {instance['id']} is waiting; only an ended "
                                 "instance can be deleted: cancel it first")
    assert api.get(f"/api/v1/instances/{instance['id']}").json() == before
    for bad in ("nope", "00000000-0000-0000-0000-000000000000"):
        assert api.post(f"/api/v1/instances/{bad}/delete").status_code == 404


def test_cancel_starts_a_cancel_instance_that_cancels_the_step_in_flight(ctx, api, scripted):
    scripted.when("run", "A", "park")
    deploy(api, "chain", chain_bpmn("A", "B"))
    instance = api.post("/api/v1/processes/chain/instances").json()
    drain(ctx)
    (step,) = api.get(f"/api/v1/instances/{instance['id']}/steps").json()["items"]
    assert step["status"] == "started"
    cancelled = api.post(f"/api/v1/instances/{instance['id']}/cancel").json()
    assert cancelled["status"] == "stopped"
    assert (cancelled["cleanup"]["kind"], cancelled["cleanup"]["state"]) == ("cancel",
                                                                             "running")
    drain(ctx)
    assert scripted.of("cancel") == ["A"]
    assert api.get(f"/api/v1/steps/{step['id']}").json()["status"] == "cancelled"
    assert api.get(f"/api/v1/instances/{instance['id']}").json()["cleanup"]["state"] == \
        "completed"


def test_finish_a_parked_step(ctx, api, scripted):
    scripted.when("run", "A", "park")
    deploy(api, "chain", chain_bpmn("A"))
    instance = api.post("/api/v1/processes/chain/instances").json()
    drain(ctx)
    (step,) = api.get(f"/api/v1/instances/{instance['id']}/steps").json()["items"]
    url = f"/api/v1/steps/{step['id']}/finish"
    for body, status in (({"outputs": {"a": 1}, "error": "x"}, 400), ({"error": ""}, 422),
                         ({"outputs": []}, 422), ({"outputs": {}, "extra": 1}, 422)):
        response = api.post(url, json=body)
        assert response.status_code == status, (body, response.text)
    assert api.get(f"/api/v1/steps/{step['id']}").json()["status"] == "started"
    finished = api.post(url, json={"outputs": {"vm": "v-9"}})
    assert finished.status_code == 200 and finished.json()["status"] == "completed"
    assert api.post(url, json={"outputs": {}}).status_code == 409
    done = api.get(f"/api/v1/instances/{instance['id']}").json()
    assert done["status"] == "completed" and done["variables"] == {"vm": "v-9"}


def test_debug_rerun_and_resume(ctx, api, scripted):
    from flowport.executors import StepFailed

    scripted.when("run", "A", StepFailed("flaky"))
    deploy(api, "chain", chain_bpmn("A", attributes='flowport:rollback="true"'))
    first = api.post("/api/v1/processes/chain/instances", json={"debug": True}).json()
    second = api.post("/api/v1/processes/chain/instances", json={"debug": True}).json()
    assert first["debug"] is True
    drain(ctx)
    (step,) = api.get(f"/api/v1/instances/{first['id']}/steps").json()["items"]
    assert (step["status"], step["reason"]) == ("failed", "flaky")
    assert api.get(f"/api/v1/instances/{first['id']}").json()["status"] == "waiting"
    scripted.when("run", "A", None)
    rerun = api.post(f"/api/v1/steps/{step['id']}/rerun")
    assert rerun.status_code == 200 and rerun.json()["status"] == "queued"
    drain(ctx)
    assert api.get(f"/api/v1/instances/{first['id']}").json()["status"] == "completed"
    assert api.post(f"/api/v1/steps/{step['id']}/rerun").status_code == 409

    (other,) = api.get(f"/api/v1/instances/{second['id']}/steps").json()["items"]
    resumed = api.post(f"/api/v1/steps/{other['id']}/resume")
    assert resumed.status_code == 200
    ended = api.get(f"/api/v1/instances/{second['id']}").json()
    assert ended["status"] == "failed" and ended["cleanup"]["kind"] == "rollback"
    for verb in ("rerun", "resume", "finish"):
        assert api.post(f"/api/v1/steps/nope/{verb}", json={}).status_code == 404
    assert api.post("/api/v1/processes/chain/instances",
                    json={"debug": "maybe"}).status_code == 422
