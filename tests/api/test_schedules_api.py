"""/api/v1/schedules through the ASGI app, on both databases. The loops are off here; tests
move the clock and fire due schedules through the scheduler service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flowport.services import scheduler

FLOWS = Path(__file__).parent.parent / "fixtures" / "flows"


@pytest.fixture
def straight(api):
    assert api.post("/api/v1/processes", json={"key": "straight"}).status_code == 201
    response = api.post("/api/v1/processes/straight/versions", files={
        "file": ("straight.bpmn", (FLOWS / "straight.bpmn").read_bytes())},
        data={"parameters": '[{"name": "amount", "type": "integer", "required": true}]'})
    assert response.status_code == 201, response.text
    return "straight"


BODY = {"process_key": "straight", "cron": "0 30 9 * * mon-fri", "timezone": "Europe/Berlin",
        "variables": {"amount": 4}}


def test_create_read_change_delete(api, straight):
    created = api.post("/api/v1/schedules", json={
        **BODY, "name": "morning", "window": {"start": "08:00", "end": "18:00"},
        "calendar": ["2026-01-06"], "start_at": "2026-01-01T00:00:00Z", "max_runs": 10,
        "max_concurrency": 2, "misfire": "catch_up", "catch_up_limit": 3, "stop_after": 600,
        "abort_after": 900, "robot_group_id": 7, "robot_type": 1})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/api/v1/schedules/{body['id']}"
    assert body["cron"] == "0 30 9 * * mon-fri" and body["enabled"] is True
    assert body["window"] == {"start": "08:00", "end": "18:00"}
    assert body["calendar"] == ["2026-01-06"] and body["guid"]
    assert body["start_at"] == "2026-01-01T00:00:00+00:00"
    # 09:00 UTC on Monday 5 January (the test clock) is 10:00 in Berlin: next is Wednesday
    # (Tuesday is a holiday) at 09:30 CET = 08:30 UTC
    assert body["next_fire_at"] == "2026-01-07T08:30:00+00:00"
    assert body["misfire"] == "catch_up" and body["robot_group_id"] == 7 and body["runs"] == 0
    url = f"/api/v1/schedules/{body['id']}"
    assert api.get(url).json() == body
    upcoming = api.get(f"{url}/upcoming", params={"count": 3}).json()["items"]
    assert upcoming == ["2026-01-07T08:30:00+00:00", "2026-01-08T08:30:00+00:00",
                        "2026-01-09T08:30:00+00:00"]
    patched = api.patch(url, json={"name": "evening", "calendar": None,
                                   "window": None, "cron": "0 18 * * *"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "evening" and patched.json()["calendar"] == []
    assert patched.json()["next_fire_at"] == "2026-01-05T17:00:00+00:00"
    assert patched.json()["max_runs"] == 10  # untouched
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404
    assert api.get("/api/v1/schedules").json() == {"items": [], "next_cursor": None}


def test_fired_runs_are_listed_with_their_instances(api, ctx, clock, straight):
    schedule = api.post("/api/v1/schedules", json={
        **BODY, "cron": "*/20 * * * * *", "timezone": "UTC"}).json()
    for _ in range(3):
        clock.advance(timedelta(seconds=20))
        assert scheduler.fire_due_schedules(ctx) == 1
    runs = api.get(f"/api/v1/schedules/{schedule['id']}/runs", params={"limit": 2}).json()
    assert [r["fire_time"] for r in runs["items"]] == [
        "2026-01-05T09:01:00+00:00", "2026-01-05T09:00:40+00:00"]
    more = api.get(f"/api/v1/schedules/{schedule['id']}/runs",
                   params={"cursor": runs["next_cursor"]}).json()
    assert [r["fire_time"] for r in more["items"]] == ["2026-01-05T09:00:20+00:00"]
    assert more["next_cursor"] is None
    instances = api.get("/api/v1/instances", params={"schedule_id": schedule["id"]}).json()
    assert [i["id"] for i in instances["items"]] == [
        r["instance_id"] for r in runs["items"] + more["items"]]
    assert {i["schedule_id"] for i in instances["items"]} == {schedule["id"]}
    assert {i["outputs"] == {} and i["status"] for i in instances["items"]} == {"completed"}
    other = api.post("/api/v1/schedules", json=BODY).json()
    assert api.get("/api/v1/instances",
                   params={"schedule_id": other["id"]}).json()["items"] == []
    assert len(api.get("/api/v1/instances").json()["items"]) == 3
    assert api.get(f"/api/v1/schedules/{schedule['id']}").json()["runs"] == 3


@pytest.mark.parametrize(("change", "field"), [
    ({"cron": "0 0 * * * * *"}, "cron"),
    ({"cron": "*/0 * * * *"}, "cron"),
    ({"cron": None}, "cron"),
    ({"timezone": "Europe/Nowhere"}, "timezone"),
    ({"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, "end_at"),
    ({"start_at": "2026-02-01T00:00:00"}, "start_at"),
    ({"window": {"start": "17:00", "end": "08:00"}}, "window.end"),
    ({"window": {"start": "25:00", "end": "26:00"}}, "window.start"),
    ({"calendar": ["2026-02-30"]}, "calendar"),
    ({"max_runs": -1}, "max_runs"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"stop_after": -60}, "stop_after"),
    ({"misfire": "catch_up", "catch_up_limit": -3}, "catch_up_limit"),
    ({"misfire": "sometimes"}, "misfire"),
    ({"robot_id": 1, "robot_group_id": 1}, "robot_group_id"),
    ({"variables": {"amount": "many"}}, None),  # the declared parameter is an integer
    ({"max_runs": "lots"}, "max_runs"),  # caught by the request schema
    ({"extra": 1}, "extra"),
])
def test_bad_input_is_422_naming_the_field_and_creates_nothing(api, straight, change, field):
    response = api.post("/api/v1/schedules", json={**BODY, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert response.json()["field"] == field
    assert api.get("/api/v1/schedules").json()["items"] == []


def test_bad_change_is_422_and_changes_nothing(api, straight):
    schedule = api.post("/api/v1/schedules", json=BODY).json()
    url = f"/api/v1/schedules/{schedule['id']}"
    for change, field in [({"cron": "* * *"}, "cron"), ({"timezone": "Mars"}, "timezone"),
                          ({"max_runs": -2}, "max_runs"), ({"process_key": None}, "process_key")]:
        response = api.patch(url, json=change)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    assert api.get(url).json() == schedule


def test_unknown_process_or_version_is_404(api, straight):
    assert api.post("/api/v1/schedules", json={**BODY, "process_key": "nope"}).status_code == 404
    response = api.post("/api/v1/schedules", json={**BODY, "version": 9})
    assert response.status_code == 404 and response.json()["field"] == "version"


def test_another_account_gets_404(api, intruder, straight):
    schedule = api.post("/api/v1/schedules", json=BODY).json()
    url = f"/api/v1/schedules/{schedule['id']}"
    for method, path in [("GET", url), ("PATCH", url), ("DELETE", url),
                         ("GET", f"{url}/upcoming"), ("GET", f"{url}/runs")]:
        assert intruder.request(method, path, json={"name": "x"}).status_code == 404
    assert intruder.get("/api/v1/schedules").json()["items"] == []
    assert api.get(url).json() == schedule


def test_list_filters_and_pages(api, straight):
    ids = [api.post("/api/v1/schedules", json={**BODY, "enabled": i % 2 == 0}).json()["id"]
           for i in range(5)]
    page = api.get("/api/v1/schedules", params={"limit": 2}).json()
    rest = api.get("/api/v1/schedules", params={"cursor": page["next_cursor"]}).json()
    assert [s["id"] for s in page["items"] + rest["items"]] == ids[::-1]
    disabled = api.get("/api/v1/schedules", params={"enabled": "false"}).json()["items"]
    assert sorted(s["id"] for s in disabled) == [ids[1], ids[3]]
    assert all(s["next_fire_at"] is None for s in disabled)
    assert api.get("/api/v1/schedules", params={"process_key": "straight"}).json()["items"]
    assert api.get("/api/v1/schedules", params={"cursor": "garbage"}).status_code == 400
    assert api.get(f"/api/v1/schedules/{ids[0]}/upcoming",
                   params={"count": 0}).status_code == 422


def test_viewer_reads_but_cannot_schedule(api, app, straight):
    from fastapi.testclient import TestClient

    token = api.post("/api/v1/tokens", json={"name": "v", "roles": ["viewer"]}).json()["token"]
    schedule = api.post("/api/v1/schedules", json=BODY).json()
    with TestClient(app) as viewer:
        viewer.headers["Authorization"] = f"Bearer {token}"
        assert viewer.get(f"/api/v1/schedules/{schedule['id']}").status_code == 200
        assert viewer.post("/api/v1/schedules", json=BODY).status_code == 403
        assert viewer.delete(f"/api/v1/schedules/{schedule['id']}").status_code == 403
