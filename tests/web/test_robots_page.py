"""The robots page: status, heartbeat age, current job, version and tags of each robot, the
robot groups, a robot's own page, and robots online on the dashboard."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from flowport.services import agents, robots
from tests.services.test_dispatch import claim, enrolled, package, start


def robot_row(page: str, robot_id: str) -> str:
    return page.split(f'id="robot-{robot_id}"')[1].split("</tr>")[0]


def test_robots_show_status_heartbeat_job_version_and_tags(world, clock):
    package(world.ctx, world.admin)
    instance = start(world.ctx, world.admin)
    bot = enrolled(world.ctx, world.admin, "busy-bot", version="7.1", tags=("sap", "win"))
    claim(world.ctx, bot)
    idle = robots.create_robot(world.ctx, world.admin, robots.CreateRobot("idle-bot")).robot
    group = robots.create_group(world.ctx, world.admin, robots.SaveGroup("finance"))
    busy_id = robots.list_robots(world.ctx, world.admin, None, 10).items[0].id
    robots.add_robot(world.ctx, world.admin, group.id, busy_id)
    clock.advance(timedelta(seconds=42))

    page = world.visitor("viewer").get("/robots").text
    busy = robot_row(page, busy_id)
    assert "busy-bot" in busy and 'status-working">working' in busy
    assert "42 s ago" in busy and "7.1" in busy
    assert '<span class="tag">sap</span>' in busy and '<span class="tag">win</span>' in busy
    assert f'href="/instances/{instance.id}"' in busy and "1 / 1" in busy
    quiet = robot_row(page, idle.id)
    assert 'status-disconnected">disconnected' in quiet and "never" in quiet
    assert "not enrolled" in quiet and "/instances/" not in quiet
    groups = page.split("Robot groups")[1]
    assert "finance" in groups and f'<a href="/robots/{busy_id}">busy-bot</a>' in groups
    assert 'data-live="5"' in page and "<title>Robots · Flowport</title>" in page


def test_a_robots_own_page_and_going_silent(world, clock):
    bot = enrolled(world.ctx, world.admin, "r1", tags=("linux",))
    robot = robots.list_robots(world.ctx, world.admin, None, 10).items[0]
    group = robots.create_group(world.ctx, world.admin, robots.SaveGroup("night shift"))
    robots.add_robot(world.ctx, world.admin, group.id, robot.id)
    visitor = world.visitor("viewer")
    page = visitor.get(f"/robots/{robot.id}").text
    assert "<title>Robot r1 · Flowport</title>" in page and 'status-ready">ready' in page
    assert "night shift" in page and "linux" in page and "m1" in page
    clock.advance(timedelta(seconds=world.ctx.settings.robot_disconnect_seconds + 1))
    page = visitor.get(f"/robots/{robot.id}").text
    assert 'status-disconnected">disconnected' in page
    agents.heartbeat(world.ctx, bot, agents.Heartbeat(jobs=()))
    assert 'status-ready">ready' in visitor.get(f"/robots/{robot.id}").text


def test_the_dashboard_counts_robots_online(world, clock):
    dashboard = world.visitor("viewer").get("/").text
    assert '<strong id="robots-online">0</strong> of 0 robots online' in dashboard
    enrolled(world.ctx, world.admin, "r1")
    enrolled(world.ctx, world.admin, "r2")
    robots.create_robot(world.ctx, world.admin, robots.CreateRobot("r3"))
    dashboard = world.visitor("viewer").get("/").text
    assert '<strong id="robots-online">2</strong> of 3 robots online' in dashboard
    counts = dict(re.findall(r'status-(\w+)">\w+</span> <strong>(\d+)</strong>',
                             dashboard.split("robots online")[1]))
    assert counts == {"ready": "2", "disconnected": "1"}


def test_another_accounts_robot_is_not_found_and_not_listed(world):
    enrolled(world.ctx, world.admin, "secret-bot")
    robot_id = robots.list_robots(world.ctx, world.admin, None, 10).items[0].id
    intruder = world.visitor("intruder")
    response = intruder.get(f"/robots/{robot_id}")
    assert response.status_code == 404 and "Not found" in response.text
    assert "secret-bot" not in intruder.get("/robots").text
    assert '"robots-online">0</strong> of 0 robots' in intruder.get("/").text
    assert world.visitor("viewer").get("/robots/not-a-robot").status_code == 404


def test_robot_pages_need_a_reader(world):
    robot_id = robots.create_robot(world.ctx, world.admin, robots.CreateRobot("r1")).robot.id
    for path in ("/robots", f"/robots/{robot_id}"):
        assert world.visitor("robot").get(path).status_code == 403
        response = world.visitor().get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


# -- creating robots and enrollment tokens (admins) ------------------------------------------


def enrollment_token(page: str) -> str:
    return re.search(r"(fpe_[A-Za-z0-9_\-]+)", page).group(1)


def test_an_admin_creates_a_robot_and_its_token_enrolls_it(world):
    visitor = world.visitor("admin")
    assert "Create robot" in visitor.get("/robots").text
    response = visitor.post("/robots", {"name": "scanner", "tags": "sap, win  ocr",
                                        "slots": "2", "description": "the old PC"})
    assert response.status_code == 201
    token = enrollment_token(response.text)
    assert "shown once" in response.text
    assert f"flowport robot --server http://testserver --enroll {token}" in response.text
    robot = robots.list_robots(world.ctx, world.admin, None, 10).items[0]
    assert (robot.name, robot.tags, robot.slots, robot.description) == (
        "scanner", ("ocr", "sap", "win"), 2, "the old PC")
    assert robots.enroll(world.ctx, robots.Enroll(token, "pc-7", "1.0")).robot.id == robot.id
    assert token not in visitor.get("/robots").text  # shown once


def test_a_new_enrollment_token_from_the_robots_page(world):
    robot = robots.create_robot(world.ctx, world.admin, robots.CreateRobot("r1")).robot
    visitor = world.visitor("admin")
    response = visitor.post(f"/robots/{robot.id}/enrollment")
    assert response.status_code == 200
    token = enrollment_token(response.text)
    assert robots.enroll(world.ctx, robots.Enroll(token)).robot.id == robot.id


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"name": ""}, 400, "name must be text of 1 to"),
    ({"name": "ok", "slots": "many"}, 400, "slots must be a whole number"),
    ({"name": "ok", "slots": "0"}, 400, "slots"),
    ({"name": "ok", "tags": "not/a/tag"}, 400, "each tag holds"),
    ({"name": "taken"}, 409, "exists already"),
])
def test_a_bad_new_robot_is_explained_and_not_created(world, data, status, message):
    robots.create_robot(world.ctx, world.admin, robots.CreateRobot("taken"))
    response = world.visitor("admin").post("/robots", data)
    assert response.status_code == status
    assert message in unescape(response.text) and 'role="alert"' in response.text
    assert "fpe_" not in response.text
    assert [r.name for r in robots.list_robots(world.ctx, world.admin, None, 10).items] == [
        "taken"]


@pytest.mark.parametrize("role", ["viewer", "operator", "developer"])
def test_only_admins_see_and_may_use_robot_actions(world, role):
    robot = robots.create_robot(world.ctx, world.admin, robots.CreateRobot("r1")).robot
    visitor = world.visitor(role)
    assert "Create robot" not in visitor.get("/robots").text
    assert "New enrollment token" not in visitor.get(f"/robots/{robot.id}").text
    for path, data in (("/robots", {"name": "sneaky"}), (f"/robots/{robot.id}/enrollment", {})):
        response = visitor.post(path, data)
        assert response.status_code == 403 and "fpe_" not in response.text, path
    assert len(robots.list_robots(world.ctx, world.admin, None, 10).items) == 1


def test_robot_actions_need_the_csrf_token_and_the_right_account(world):
    robot = robots.create_robot(world.ctx, world.admin, robots.CreateRobot("r1")).robot
    admin = world.visitor("admin")
    assert admin.post("/robots", {"name": "x"}, csrf=False).status_code == 403
    assert admin.post(f"/robots/{robot.id}/enrollment", csrf=False).status_code == 403
    intruder = world.visitor("intruder")
    response = intruder.post(f"/robots/{robot.id}/enrollment")
    assert response.status_code == 404 and "fpe_" not in response.text
    assert len(robots.list_robots(world.ctx, world.admin, None, 10).items) == 1
