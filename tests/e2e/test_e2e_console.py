"""The console in a real headless Chromium against a real `flowport serve`: deploy a BPMN,
start it from the generated form, see the waiting user task on the diagram, complete it from
the inbox, see the path taken; a viewer sees no action and the server refuses it anyway."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.e2e.agents import FAST_ROBOTS, Agent
from tests.e2e.browser import chromium  # noqa: F401  (a fixture)
from tests.e2e.harness import EXAMPLES, Server, eventually
from tests.e2e.harness import FIXTURES as E2E_FIXTURES

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
PASSWORD = "correct horse battery"
FLOWS = FIXTURES / "flows"
ROBOT_PACKAGES = E2E_FIXTURES / "robots"
PATH_TAKEN = {"f_start", "f_prepare", "f_answered", "f_approved", "f_approved_done"}


@pytest.fixture
def console(database_url: str, server_factory: Callable[..., Server]) -> Server:
    return server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                          env={"FLOWPORT_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD}).start()


def make_user(server: Server, login: str, role: str) -> None:
    response = httpx.post(f"{server.url}/api/v1/users", json={
        "login": login, "password": PASSWORD, "roles": [role]},
        headers={"Authorization": f"Bearer {server.token}"})
    assert response.status_code == 201, response.text


def log_in(page: Any, server: Server, login: str) -> None:
    """With the keyboard only: the login field has focus, Tab to the password, Enter."""
    page.goto(server.url + "/")
    assert page.url == server.url + "/login"
    from playwright.sync_api import expect
    # autofocus lands after load on a busy machine; typing before it would lose keys
    expect(page.locator("#login")).to_be_focused()
    page.keyboard.type(login)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/")


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def path_marked(page: Any) -> set[str]:
    return set(page.locator(".djs-connection.fp-path").evaluate_all(
        "flows => flows.map(f => f.dataset.elementId)"))


def test_deploy_start_complete_and_watch_in_a_browser(console, chromium, shots):  # noqa: F811
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, console, "admin")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    shots(page, "dashboard")

    # Deploy: a new process, then its first version with the declared parameters.
    nav(page, "Processes").click()
    page.fill("#new-key", "expense")
    page.fill("#new-name", "Expense approval")
    page.get_by_role("button", name="Create process").click()
    page.wait_for_url(console.url + "/processes/expense")
    sidecar = json.loads((EXAMPLES / "expense-approval.flowport.json").read_text())
    page.set_input_files("#file", str(EXAMPLES / "expense-approval.bpmn"))
    page.fill("#parameters", json.dumps(sidecar["parameters"]))
    page.fill("#outputs", json.dumps(sidecar["outputs"]))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Version 1 is deployed.")).to_be_visible()
    shots(page, "process")

    # Start from the generated form; the server's validation message comes first.
    page.get_by_label("employee (required)").fill("Ann")
    page.get_by_label("amount (required)").fill("lots")
    page.get_by_label("Wait up to").uncheck()
    page.get_by_role("button", name="Start instance").click()
    expect(page.locator(".field-error")).to_have_text("'amount' must be an integer")
    expect(page.get_by_label("employee (required)")).to_have_value("Ann")
    shots(page, "start-form-error")
    page.get_by_label("amount (required)").fill("42")
    page.get_by_label("Wait up to").uncheck()
    page.get_by_role("button", name="Start instance").click()
    page.wait_for_url(re.compile(r"/instances/[0-9a-f-]{36}\?started=1$"))
    instance_id = re.search(r"/instances/([0-9a-f-]{36})", page.url).group(1)

    # The user task is highlighted as waiting; what led to it is marked done.
    expect(page.locator("#diagram")).to_have_attribute("data-state", "ready")
    expect(page.locator('g.djs-element.fp-waiting[data-element-id="Approve"]')).to_have_count(1)
    expect(page.locator('g.djs-element.fp-completed[data-element-id="Prepare"]')
           ).to_have_count(1)
    assert path_marked(page) == {"f_start", "f_prepare"}
    expect(page.locator(".bjs-powered-by")).to_be_visible()  # bpmn.io's watermark stays
    shots(page, "instance-waiting")

    # The inbox: complete the task with data.
    nav(page, "Tasks").click()
    task = page.locator(".task").filter(has_text=instance_id[:8])
    task.get_by_label("Data").fill("approved=true")
    shots(page, "tasks")
    task.get_by_role("button", name="Complete Approve expense").click()
    expect(page.get_by_text("Task completed.")).to_be_visible()
    page.get_by_role("link", name="See the instance").click()

    # Completed, with the path taken marked and how often each element was reached.
    expect(page.locator("#instance-status")).to_have_text("completed")
    expect(page.locator("#diagram")).to_have_attribute("data-state", "ready")
    for done in ("Requested", "Prepare", "Approve", "Decide", "MarkApproved", "Decided"):
        expect(page.locator(f'g.djs-element.fp-completed[data-element-id="{done}"]')
               ).to_have_count(1)
    expect(page.locator('g.djs-element.fp-reached[data-element-id="MarkRejected"]')
           ).to_have_count(0)
    assert path_marked(page) == PATH_TAKEN
    expect(page.locator(".djs-overlay .fp-count")).to_have_count(7)  # TooLate: cancelled
    expect(page.locator("#outputs")).to_contain_text('"decision": "approved"')
    shots(page, "instance-completed")

    # The list updates by itself when an instance starts elsewhere.
    nav(page, "Instances").click()
    expect(page.locator(f'a[href="/instances/{instance_id}"]')).to_be_visible()
    with console.client() as api:
        later = api.start("expense", {"employee": "Bo", "amount": 7}).instance["id"]
    expect(page.locator(f'a[href="/instances/{later}"]')).to_be_visible(timeout=15_000)
    shots(page, "instances")

    # A waiting instance's page follows the instance: completing it elsewhere shows there.
    page.goto(f"{console.url}/instances/{later}")
    expect(page.locator('g.djs-element.fp-waiting[data-element-id="Approve"]')).to_have_count(1)
    with console.client() as api:
        uid = next(e["uid"] for e in api.list_elements(later) if e["element_id"] == "Approve")
        api.complete_element(later, uid, {"approved": False})
    expect(page.locator("#instance-status")).to_have_text("completed", timeout=15_000)
    expect(page.locator('g.djs-element.fp-completed[data-element-id="MarkRejected"]')
           ).to_have_count(1)

    # On a phone: nothing scrolls sideways but the tables and the diagram inside their boxes.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in [("/", "phone-dashboard"), ("/tasks", "phone-tasks"),
                       (f"/instances/{instance_id}", "phone-instance")]:
        page.goto(console.url + path)
        assert no_sideways_scroll(page), path
        shots(page, name)
    assert errors == []
    context.close()


def test_the_keyboard_reaches_everything_from_the_skip_link(console, chromium):  # noqa: F811
    page = chromium.new_page()
    log_in(page, console, "admin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.close()


def test_a_viewer_sees_no_action_and_the_server_refuses_it(console, chromium,  # noqa: F811
                                                            shots):
    from playwright.sync_api import expect

    with console.client() as api:
        api.create_process("expense")
        sidecar = json.loads((EXAMPLES / "expense-approval.flowport.json").read_text())
        api.deploy_version("expense", EXAMPLES / "expense-approval.bpmn", None,
                           sidecar["parameters"], sidecar["outputs"])
        instance_id = api.start("expense", {"employee": "Ann", "amount": 3}).instance["id"]
        api.create_process("failing")
        api.deploy_version("failing", FLOWS / "failing.bpmn")
        failed_id = api.start("failing").instance["id"]
        schedule = api.create_schedule("expense", cron="0 3 1 1 *",
                                       variables={"employee": "Ann", "amount": 1})
    make_user(console, "vera", "viewer")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, console, "vera")

    page.goto(f"{console.url}/instances/{instance_id}")
    expect(page.locator('g.djs-element.fp-waiting[data-element-id="Approve"]')).to_have_count(1)
    expect(page.get_by_role("button", name="Cancel instance")).to_have_count(0)
    expect(page.get_by_role("button", name="Abort instance")).to_have_count(0)
    expect(page.get_by_role("button", name="Complete")).to_have_count(0)
    shots(page, "instance-as-viewer")
    page.goto(f"{console.url}/instances/{failed_id}")  # a failure is marked where it happened
    expect(page.locator('g.djs-element.fp-failed[data-element-id="Boom"]')).to_have_count(1)
    expect(page.locator("#main .alert")).to_contain_text("undefined_name")
    shots(page, "instance-failed")
    page.goto(f"{console.url}/processes/expense")
    expect(page.get_by_role("button", name="Start instance")).to_have_count(0)
    expect(page.get_by_role("button", name="Upload")).to_have_count(0)
    page.goto(f"{console.url}/tasks")
    expect(page.get_by_text("Approve expense")).to_be_visible()
    expect(page.locator(".task button")).to_have_count(0)
    page.goto(f"{console.url}/schedules/{schedule['id']}")
    expect(page.locator("#schedule-state")).to_have_text("enabled")
    expect(page.locator("#main button")).to_have_count(0)

    # The same browser session, with its valid CSRF token: refused by the server anyway.
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "flowport_csrf")
    refused = context.request.post(f"{console.url}/instances/{instance_id}/cancel",
                                   form={"csrf_token": csrf, "reason": "viewer"})
    assert refused.status == 403
    refused = context.request.post(f"{console.url}/api/v1/instances/{instance_id}/cancel",
                                   headers={"X-CSRF-Token": csrf}, data={})
    assert refused.status == 403
    for path in (f"/instances/{instance_id}/abort", f"/instances/{failed_id}/delete",
                 f"/schedules/{schedule['id']}/disable"):
        refused = context.request.post(console.url + path, form={"csrf_token": csrf})
        assert refused.status == 403, path
    with console.client() as api:
        assert api.get_instance(instance_id)["status"] == "waiting"
        assert api.get_schedule(schedule["id"])["enabled"] is True
        assert api.get_instance(failed_id).get("deleted_at") is None
    context.close()


def test_robots_and_schedules_pages_in_a_browser(database_url, server_factory, chromium,  # noqa: F811
                                                 shots, tmp_path):
    """A robot created on the robots page and enrolled by a real agent, at work there; its
    job's robot work on the instance page; a schedule disabled and enabled again; both on the
    dashboard; usable on a phone."""
    from playwright.sync_api import expect

    server = server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                            env={"FLOWPORT_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
                                 **FAST_ROBOTS}).start()
    agent = Agent(server, tmp_path / "robot-r1", "bot-1")
    try:
        with server.client() as api:
            api.create_process("sleepy", process_type=1)
            api.deploy_version("sleepy", ROBOT_PACKAGES / "sleepy.py")
            schedule = api.create_schedule("sleepy", cron="0 3 1 1 *", name="new-year run",
                                           variables={"seconds": 0})
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, server, "admin")
        expect(page.locator("#robots-online")).to_have_text("0")

        # An admin creates the robot; the page shows its one-time token and the command line.
        nav(page, "Robots").click()
        page.fill("#robot-name", "bot-1")
        page.fill("#robot-tags", "night")
        page.get_by_role("button", name="Create robot").click()
        expect(page.locator("#enrollment")).to_contain_text("shown once")
        agent.enrollment = page.locator("#enrollment code").first.inner_text()
        assert agent.enrollment.startswith("fpe_")
        agent.start()
        with server.client() as api:
            eventually(lambda: api.list_robots()[0]["status_name"] == "ready",
                       what="the agent to connect")
            job = api.start("sleepy", {"seconds": 4}).instance["id"]
        nav(page, "Dashboard").click()
        expect(page.locator("#robots-online")).to_have_text("1")
        expect(page.locator("#next-runs")).to_contain_text("new-year run")

        # The robot at work, its current job a link; the list follows it without a reload.
        nav(page, "Robots").click()
        row = page.locator("tr", has_text="bot-1")
        expect(row.locator(f'a[href="/instances/{job}"]')).to_be_visible(timeout=15_000)
        expect(row.locator(".robot-status .status")).to_have_text("working")
        expect(row.locator(".tag")).to_have_text("night")
        shots(page, "robots")
        row.get_by_role("link", name="bot-1").click()
        expect(page.get_by_role("heading", name="Robot bot-1")).to_be_visible()
        shots(page, "robot")
        page.locator(f'#robot-jobs a[href="/instances/{job}"]').click()
        expect(page.get_by_role("heading", name="Robot work")).to_be_visible()
        expect(page.locator("#instance-status")).to_have_text("completed", timeout=20_000)
        expect(page.locator("#outputs")).to_contain_text('"slept": 4')
        shots(page, "package-instance")
        nav(page, "Robots").click()
        expect(page.locator("tr", has_text="bot-1").locator(".robot-status .status")
               ).to_have_text("ready")

        # A schedule: its next fire times, disabled and enabled again.
        nav(page, "Schedules").click()
        row = page.locator(f"#schedule-{schedule['id']}")
        expect(row.locator(".status")).to_have_text("enabled")
        shots(page, "schedules")
        row.get_by_role("link", name="new-year run").click()
        expect(page.locator("#upcoming li")).to_have_count(5)
        page.get_by_role("button", name="Disable schedule new-year run").click()
        expect(page.locator(".notice")).to_have_text("The schedule is disabled.")
        expect(page.locator("#schedule-state")).to_have_text("disabled")
        expect(page.locator("#upcoming li")).to_have_count(0)
        shots(page, "schedule-disabled")
        page.get_by_role("button", name="Enable schedule new-year run").click()
        expect(page.locator("#schedule-state")).to_have_text("enabled")
        page.get_by_role("link", name="Instances started by this schedule").click()
        expect(page.get_by_text("No instances match.")).to_be_visible()

        page.set_viewport_size({"width": 390, "height": 844})
        robot_id = api_robot_id(server)
        for path, name in [("/robots", "phone-robots"), (f"/robots/{robot_id}", "phone-robot"),
                           ("/schedules", "phone-schedules"),
                           (f"/schedules/{schedule['id']}", "phone-schedule"),
                           (f"/instances/{job}", "phone-package-instance")]:
            page.goto(server.url + path)
            assert no_sideways_scroll(page), path
            shots(page, name)
        assert errors == []
        context.close()
    finally:
        agent.kill()


def api_robot_id(server: Server) -> str:
    with server.client() as api:
        return str(api.list_robots()[0]["id"])


def test_serve_prints_a_first_password_that_logs_in(database_url, server_factory):
    server = server_factory(database_url).start("--token-file", "var/admin.token")
    found = re.search(r"console login, shown once:  admin / (\S+)", server.output())
    assert found, server.output()
    response = httpx.post(f"{server.url}/api/v1/auth/login",
                          json={"login": "admin", "password": found.group(1)})
    assert response.status_code == 200
    assert f"console:   {server.url}/" in server.output()
