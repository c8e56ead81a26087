"""The schedules page: the list with next fire times, a schedule's own page with its upcoming
fire times and history, enabling and disabling it (only for those who may start instances,
with the session's CSRF token), its instances, and the next runs on the dashboard."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest

from flowport.services import scheduler
from flowport.services import schedules as svc


def create(world, cron="0 * * * *", **kw):
    return svc.create_schedule(world.ctx, world.admin, svc.CreateSchedule(
        process_key="straight", cron=cron, variables={"amount": 5}, **kw))


def enabled(world, schedule) -> bool:
    return svc.get_schedule(world.ctx, world.admin, schedule.id).enabled


def test_the_list_shows_each_schedule_with_its_next_fire_time(world):
    hourly = create(world, name="hourly")
    off = create(world, cron="30 6 * * 1", name="mondays", enabled=False)
    page = world.visitor("viewer").get("/schedules").text
    row = page.split(f'id="schedule-{hourly.id}"')[1].split("</tr>")[0]
    assert "hourly" in row and "<code>0 * * * *</code>" in row and "UTC" in row
    assert 'status-enabled">enabled' in row and "2026-01-05 10:00:00 UTC" in row
    assert f'href="/instances?schedule={hourly.id}"' in row
    row = page.split(f'id="schedule-{off.id}"')[1].split("</tr>")[0]
    assert 'status-disabled">disabled' in row and "—" in row


def test_a_schedule_page_shows_upcoming_fire_times_runs_and_its_instances(world, clock):
    schedule = create(world, name="hourly")
    clock.advance(timedelta(hours=2))
    assert scheduler.fire_due_schedules(world.ctx) >= 1
    visitor = world.visitor("viewer")
    page = visitor.get(f"/schedules/{schedule.id}").text
    upcoming = page.split('id="upcoming">')[1].split("</ol>")[0]
    assert upcoming.count("<li>") == 5 and "2026-01-05 12:00:00 UTC" in upcoming
    started = svc.list_runs(world.ctx, world.admin, schedule.id).items
    instance_ids = [r.instance_id for r in started if r.instance_id]
    assert instance_ids and all(f'href="/instances/{i}"' in page for i in instance_ids)
    listed = visitor.get(f"/instances?schedule={schedule.id}").text
    assert listed.count('href="/instances/') == len(instance_ids)
    assert f"schedule {schedule.id}" in listed
    assert world.waiting_id[:8] not in listed  # started by hand, not by the schedule


def test_an_operator_disables_and_enables_a_schedule(world):
    schedule = create(world)
    visitor = world.visitor("operator")
    assert "Disable" in visitor.get("/schedules").text
    response = visitor.post(f"/schedules/{schedule.id}/disable")
    assert response.headers["location"] == f"/schedules/{schedule.id}?done=disabled"
    assert not enabled(world, schedule)
    page = visitor.get(response.headers["location"]).text
    assert "The schedule is disabled." in page and "None: the schedule is disabled." in page
    assert svc.get_schedule(world.ctx, world.admin, schedule.id).next_fire_at is None
    response = visitor.post(f"/schedules/{schedule.id}/enable")
    assert response.headers["location"] == f"/schedules/{schedule.id}?done=enabled"
    assert enabled(world, schedule)


def test_a_viewer_sees_no_switch_and_is_refused_it(world):
    schedule = create(world)
    visitor = world.visitor("viewer")
    for path in ("/schedules", f"/schedules/{schedule.id}"):
        page = visitor.get(path).text
        assert "Disable" not in page and f"/schedules/{schedule.id}/disable" not in page
    for action in ("disable", "enable"):
        response = visitor.post(f"/schedules/{schedule.id}/{action}")
        assert response.status_code == 403 and "this needs the" in response.text
    assert enabled(world, schedule)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_switching_without_the_csrf_token_changes_nothing(world, token):
    schedule = create(world)
    visitor = world.visitor("admin")
    data = {} if token is None else {"csrf_token": token}
    response = visitor.post(f"/schedules/{schedule.id}/disable", data, csrf=False)
    assert response.status_code == 403 and "reload the page" in response.text
    assert enabled(world, schedule)


def test_another_accounts_schedule_is_not_found(world):
    schedule = create(world, name="secret")
    intruder = world.visitor("intruder")
    assert intruder.get(f"/schedules/{schedule.id}").status_code == 404
    assert intruder.post(f"/schedules/{schedule.id}/disable").status_code == 404
    assert enabled(world, schedule)
    assert "secret" not in intruder.get("/schedules").text
    assert "secret" not in intruder.get("/").text
    assert "secret" not in intruder.get(f"/instances?schedule={schedule.id}").text


@pytest.mark.parametrize(("path", "status"), [
    ("/schedules/0", 422), ("/schedules/abc", 422), ("/schedules/99999999", 404),
    ("/schedules/" + "9" * 30, 422), ("/instances?schedule=-1", 422),
    ("/instances?schedule=x", 422)])
def test_bad_schedule_ids_are_explained(world, path, status):
    response = world.visitor("viewer").get(path)
    assert response.status_code == status
    assert "<h1>" in response.text


def test_the_dashboard_lists_the_next_runs_soonest_first(world):
    create(world, cron="0 12 * * *", name="noon")
    create(world, cron="30 9 * * *", name="half-past-nine")
    create(world, cron="0 10 * * *", name="never-mind", enabled=False)
    page = unescape(world.visitor("viewer").get("/").text)
    runs = page.split('id="next-runs">')[1].split("</ul>")[0]
    assert runs.index("half-past-nine") < runs.index("noon")
    assert "2026-01-05 09:30:00 UTC" in runs and "never-mind" not in runs
