"""Every console page over plain HTTP: logging in, redirects without a session, what each role
sees and may do, CSRF, other accounts' objects, and bad input."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

import pytest

from flowport.domain.instances import ElementState, Status
from flowport.services import instances, processes
from tests.conftest import FIXTURES
from tests.web.conftest import PASSWORD, Visitor, World

PAGES = ["/", "/processes", "/processes/approval", "/instances", "/tasks"]


def pages(world: World) -> list[str]:
    return [*PAGES, f"/instances/{world.waiting_id}"]


def actions(world: World) -> list[tuple[str, dict[str, str]]]:
    """Every form post of the console, with valid data."""
    return [
        ("/processes", {"key": "fresh"}),
        ("/processes/approval/start", {"version": "1"}),
        (f"/instances/{world.waiting_id}/cancel", {"reason": "test"}),
        (f"/instances/{world.waiting_id}/elements/{world.uid}/complete",
         {"data": "approved=true"}),
        (f"/tasks/{world.uid}/complete", {"data": "approved=true"}),
    ]


def unchanged(world: World) -> tuple:
    listed = processes.list_processes(world.ctx, world.admin, processes.ListProcesses())
    return (world.instance().status, world.count_instances(),
            [p.key for p in listed.items],
            len(processes.list_versions(world.ctx, world.admin, "approval")))


# -- logging in -----------------------------------------------------------------------------


def test_without_a_session_every_page_sends_to_the_login_page(world):
    anonymous = Visitor(world.app)
    for path in pages(world):
        response = anonymous.get(path)
        assert response.status_code == 303, path
        target = response.headers["location"]
        assert target == "/login" if path == "/" else target == f"/login?next={quote(path)}"
    before = unchanged(world)
    for path, data in actions(world):
        response = anonymous.post(path, data, csrf=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), path
    response = anonymous.post("/processes/approval/versions", csrf=False, files={
        "file": ("x.bpmn", (FIXTURES / "flows" / "straight.bpmn").read_bytes())})
    assert response.status_code == 303
    assert unchanged(world) == before


def test_logging_in_goes_back_where_the_visitor_was_going(world):
    visitor = Visitor(world.app)
    form = visitor.get("/login?next=/instances%3Fstatus%3Dwaiting")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    assert 'name="next" value="/instances?status=waiting"' in form.text
    response = visitor.http.post("/login", data={
        "login": "viewer", "password": PASSWORD, "login_token": token,
        "next": "/instances?status=waiting"})
    assert (response.status_code, response.headers["location"]) == (
        303, "/instances?status=waiting")
    assert visitor.get("/instances?status=waiting").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
def test_login_never_sends_to_another_site(world, target):
    visitor = Visitor(world.app)
    form = visitor.get("/login", params={"next": target})
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    response = visitor.http.post("/login", data={
        "login": "viewer", "password": PASSWORD, "login_token": token, "next": target})
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_a_wrong_password_says_so_and_opens_no_session(world):
    visitor = Visitor(world.app)
    response = visitor.log_in("viewer", "not the password")
    assert response.status_code == 401
    assert "The login or password is not correct".lower() in response.text.lower()
    assert "flowport_session" not in visitor.http.cookies
    assert visitor.get("/").status_code == 303


def test_a_login_form_from_elsewhere_is_refused(world):
    visitor = Visitor(world.app)
    response = visitor.http.post("/login", data={
        "login": "viewer", "password": PASSWORD, "login_token": "forged", "next": "/"})
    assert response.status_code == 403
    assert "expired" in response.text
    assert "flowport_session" not in visitor.http.cookies


def test_empty_login_fields_say_what_is_missing(world):
    visitor = Visitor(world.app)
    form = visitor.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text).group(1)
    response = visitor.http.post("/login", data={"login": "", "password": "",
                                                 "login_token": token})
    assert response.status_code == 400
    assert "Enter your login and your password" in response.text


def test_logging_out_ends_the_session(world):
    visitor = world.visitor("viewer")
    stolen = visitor.http.cookies.get("flowport_session")
    assert visitor.get("/").status_code == 200
    response = visitor.post("/logout")
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert visitor.get("/").status_code == 303
    replay = Visitor(world.app)
    replay.http.cookies.set("flowport_session", stolen)
    assert replay.get("/").status_code == 303


def test_pages_carry_security_headers(world):
    visitor = world.visitor("viewer")
    for path in [*pages(world), "/login"]:
        headers = visitor.get(path).headers
        assert "script-src" not in headers["content-security-policy"]  # default-src 'self'
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


# -- roles ----------------------------------------------------------------------------------

BUTTONS = {"start": "Start instance", "cancel": "Cancel instance", "complete": ">Complete<",
           "upload": ">Upload<", "create": "Create process"}


def seen_buttons(visitor: Visitor, world: World) -> set[str]:
    text = "".join(visitor.get(p).text for p in pages(world))
    text += visitor.get("/processes").text
    return {name for name, label in BUTTONS.items() if label in text}


@pytest.mark.parametrize(("role", "buttons"), [
    ("viewer", set()),
    ("operator", {"start", "cancel", "complete"}),
    ("developer", set(BUTTONS)),
    ("admin", set(BUTTONS)),
])
def test_each_role_sees_only_the_actions_it_may_take(world, role, buttons):
    visitor = world.visitor(role)
    assert seen_buttons(visitor, world) == buttons
    tasks = visitor.get("/tasks").text
    assert "Approve request" in tasks  # everyone who may read sees the inbox
    assert ("Complete Approve request" in tasks) == ("complete" in buttons)


def test_a_viewer_is_refused_every_action_even_with_a_valid_form(world):
    visitor = world.visitor("viewer")
    before = unchanged(world)
    for path, data in actions(world):
        response = visitor.post(path, data)
        assert response.status_code == 403, (path, response.text)
        assert "this needs the" in response.text
    response = visitor.post("/processes/approval/versions", files={
        "file": ("x.bpmn", (FIXTURES / "flows" / "straight.bpmn").read_bytes())})
    assert response.status_code == 403
    assert unchanged(world) == before


def test_a_robot_sees_no_page(world):
    visitor = world.visitor("robot")
    for path in pages(world):
        response = visitor.get(path)
        assert response.status_code == 403, path
        assert "Not allowed" in response.text
        assert 'href="/processes"' not in response.text  # no navigation it cannot use


def test_navigation_marks_the_current_page(world):
    visitor = world.visitor("viewer")
    text = visitor.get("/instances").text
    assert '<a href="/instances" aria-current="page">' in text
    assert '<a href="/processes" aria-current="page">' not in text


# -- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_a_form_without_the_session_csrf_token_changes_nothing(world, token):
    visitor = world.visitor("admin")
    before = unchanged(world)
    for path, data in [*actions(world), ("/logout", {})]:
        if token is not None:
            data = {**data, "csrf_token": token}
        response = visitor.post(path, data, csrf=token is not None)
        assert response.status_code == 403, path
        assert "reload the page" in response.text
    assert unchanged(world) == before
    assert visitor.get("/").status_code == 200  # the refused logout did not log out


def test_scripts_may_send_the_csrf_token_as_a_header(world):
    visitor = world.visitor("operator")
    response = visitor.http.post(f"/instances/{world.waiting_id}/cancel",
                                 headers={"X-CSRF-Token": visitor.csrf})
    assert response.status_code == 303
    assert world.instance().status is Status.STOPPED


def test_another_sessions_token_does_not_pass(world):
    mine, theirs = world.visitor("admin"), world.visitor("operator")
    response = mine.post(f"/instances/{world.waiting_id}/cancel", {"csrf_token": theirs.csrf})
    assert response.status_code == 403
    assert world.instance().status is Status.WAITING


# -- other accounts --------------------------------------------------------------------------


def test_another_accounts_objects_are_not_found(world):
    intruder = world.visitor("intruder")
    for path in ["/processes/approval", f"/instances/{world.waiting_id}"]:
        response = intruder.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text
    before = unchanged(world)
    for path, data in actions(world)[1:]:
        assert intruder.post(path, data).status_code == 404, path
    response = intruder.post("/processes/approval/versions", files={
        "file": ("x.bpmn", (FIXTURES / "flows" / "straight.bpmn").read_bytes())})
    assert response.status_code == 404
    assert unchanged(world) == before
    lists = [intruder.get(p).text for p in ("/processes", "/instances", "/tasks", "/")]
    assert not any(world.waiting_id[:8] in text or "approval" in text for text in lists)


# -- processes -------------------------------------------------------------------------------


def test_a_developer_creates_a_process_and_uploads_its_first_version(world):
    visitor = world.visitor("developer")
    response = visitor.post("/processes", {"key": "orders", "name": "Orders"})
    assert (response.status_code, response.headers["location"]) == (303, "/processes/orders")
    page = visitor.get("/processes/orders").text
    assert "has no version yet" in page
    response = visitor.post("/processes/orders/versions", {
        "parameters": '[{"name": "amount", "type": "integer", "required": true}]',
        "outputs": '["size"]'}, files={
        "file": ("straight.bpmn", (FIXTURES / "flows" / "straight.bpmn").read_bytes())})
    assert (response.status_code, response.headers["location"]) == (
        303, "/processes/orders?deployed=1")
    page = visitor.get("/processes/orders?deployed=1").text
    assert "Version 1 is deployed" in page
    assert 'name="p:amount"' in page and "(required)" in page and "a whole number" in page
    assert "<code>size</code>" in page


def test_searching_processes(world):
    visitor = world.visitor("viewer")
    found = visitor.get("/processes", params={"search": "expen"}).text
    assert 'href="/processes/expense"' in found and 'href="/processes/approval"' not in found
    assert "No processes match" in visitor.get("/processes?search=nothing-like-it").text


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"key": "9 bad key"}, 400, "key must start with a letter"),
    ({"key": "approval"}, 409, "exists already"),
    ({"key": "ok", "process_type": "7"}, 400, "the type is 0"),
])
def test_a_bad_new_process_is_explained_and_not_created(world, data, status, message):
    visitor = world.visitor("developer")
    before = unchanged(world)
    response = visitor.post("/processes", data)
    assert response.status_code == status
    assert message in unescape(response.text)
    assert 'role="alert"' in response.text
    assert f'value="{data["key"]}"' in response.text  # what was typed is kept
    assert unchanged(world) == before


@pytest.mark.parametrize(("data", "file", "status", "message"), [
    ({}, None, 400, "choose a .bpmn file"),
    ({}, ("notes.txt", b"hello"), 400, "file must be .bpmn"),
    ({}, ("bad.bpmn", b"<not-bpmn/>"), 400, "not a BPMN 2.0 file"),
    ({"parameters": "[{"}, ("s.bpmn", None), 400, "parameters must be JSON"),
    ({"parameters": '[{"name": "a", "type": "money"}]'}, ("s.bpmn", None), 400,
     "type must be one of"),
    ({"outputs": "{"}, ("s.bpmn", None), 400, "outputs must be JSON"),
    ({}, ("u.bpmn", (FIXTURES / "flows" / "unsupported.bpmn").read_bytes()), 400, "element"),
])
def test_a_bad_upload_is_explained_and_deploys_nothing(world, data, file, status, message):
    visitor = world.visitor("developer")
    before = unchanged(world)
    files = None
    if file is not None:
        content = file[1] if file[1] is not None else (
            FIXTURES / "flows" / "straight.bpmn").read_bytes()
        files = {"file": (file[0], content)}
    response = visitor.post("/processes/approval/versions", data, files=files)
    assert response.status_code == status, response.text
    assert message in unescape(response.text)
    for name, value in data.items():
        assert f'name="{name}"' in response.text and value.replace('"', "&#34;") in response.text
    assert unchanged(world) == before


def test_the_start_form_is_generated_from_the_declared_parameters(world):
    page = world.visitor("operator").get("/processes/expense").text
    for name, hint in [("employee", "at most 255 characters"), ("amount", "a whole number"),
                       ("reason", "at most 1000 characters")]:
        assert f'<label for="p:{name}">{name}' in page
        assert hint in page
    assert page.count("(required)") == 2
    assert 'inputmode="numeric"' in page


@pytest.mark.parametrize(("data", "field", "status", "message"), [
    ({"p:employee": "Ann", "p:amount": "lots"}, "amount", 422, "'amount' must be an integer"),
    ({"p:amount": "42"}, "employee", 422, "'employee' is required"),
    ({"p:employee": "x" * 300, "p:amount": "1"}, "employee", 422,
     "longer than 255 characters"),
    ({"p:employee": "Ann", "p:amount": "1", "extra": "no equals sign"}, None, 400,
     "is not NAME=VALUE"),
    ({"p:employee": "Ann", "p:amount": "1", "wait": "1", "wait_seconds": "-3"}, None, 400,
     "wait 1 to"),
    ({"p:employee": "Ann", "p:amount": "1", "wait": "1", "wait_seconds": "soon"}, None, 400,
     "must be a number"),
    ({"p:employee": "Ann", "p:amount": "1", "version": "9"}, None, 404, "has no version 9"),
])
def test_bad_start_input_is_explained_at_its_field_and_starts_nothing(world, data, field,
                                                                      status, message):
    visitor = world.visitor("operator")
    before = world.count_instances()
    response = visitor.post("/processes/expense/start", {"version": "1", **data})
    assert response.status_code == status
    assert message in unescape(response.text)
    if field:
        block = response.text.split(f'id="p:{field}"')[1].split("<label")[0]
        assert 'aria-invalid="true"' in block.split(">")[0]
        assert message in unescape(block)
    if "p:employee" in data:  # what was typed is kept
        assert f'value="{data["p:employee"]}"' in response.text
    assert world.count_instances() == before


def test_starting_without_waiting_shows_the_new_instance(world):
    visitor = world.visitor("operator")
    response = visitor.post("/processes/expense/start", {
        "version": "1", "p:employee": "Ann", "p:amount": "42", "business_key": "EXP-1"})
    assert response.status_code == 303
    location = response.headers["location"]
    instance_id = re.match(r"/instances/([0-9a-f-]{36})\?started=1$", location).group(1)
    page = visitor.get(location).text
    assert "The instance was started." in page
    assert 'class="status status-waiting"' in page
    started = world.instance(instance_id)
    assert started.variables["amount"] == 42 and started.business_key == "EXP-1"


def test_start_and_wait_shows_the_instance_completed_with_its_outputs(world):
    processes.create_process(world.ctx, world.admin, processes.CreateProcess("sized"))
    processes.deploy_version(world.ctx, world.admin, "sized", processes.DeployVersion(
        "straight.bpmn", (FIXTURES / "flows" / "straight.bpmn").read_bytes(), None,
        ["size", "total"]))
    visitor = world.visitor("operator")
    response = visitor.post("/processes/sized/start", {
        "version": "1", "extra": "amount=80", "wait": "1", "wait_seconds": "5"})
    assert response.status_code == 303, response.text
    page = visitor.get(response.headers["location"]).text
    assert 'class="status status-completed"' in page
    outputs = unescape(page.split('id="outputs">')[1].split("</pre>")[0])
    assert '"size": "large"' in outputs and '"total": 160' in outputs


# -- instances -------------------------------------------------------------------------------


def test_the_instance_list_filters_and_pages(world):
    for n in range(30):
        instances.start_instance(world.ctx, world.admin, instances.StartInstance(
            "straight", {"amount": n}, business_key=f"BK-{n}"))
    visitor = world.visitor("viewer")
    first = visitor.get("/instances").text
    assert first.count('href="/instances/') == 25
    cursor = re.search(r'cursor=([^"&]+)" rel="next"', first).group(1)
    second = visitor.get(f"/instances?process=&status=&business_key=&cursor={cursor}").text
    assert second.count('href="/instances/') == 6
    assert "First page" in second and 'rel="next"' not in second
    waiting = visitor.get("/instances?status=waiting").text
    assert waiting.count('href="/instances/') == 1 and world.waiting_id[:8] in waiting
    assert visitor.get("/instances?business_key=BK-7").text.count('href="/instances/') == 1
    assert visitor.get("/instances?process=approval").text.count('href="/instances/') == 1
    assert 'data-live="3"' in first  # the list refreshes itself


@pytest.mark.parametrize(("query", "status", "message"), [
    ("status=sleeping", 400, "status must be one of"),
    ("cursor=not-a-cursor", 400, "cursor is not one this server gave out"),
    ("process=" + "x" * 300, 422, "at most 255 characters"),
])
def test_bad_list_filters_are_explained(world, query, status, message):
    response = world.visitor("viewer").get(f"/instances?{query}")
    assert response.status_code == status
    assert message in unescape(response.text)


def test_the_instance_page_shows_its_state_history_and_diagram_data(world):
    page = world.visitor("viewer").get(f"/instances/{world.waiting_id}").text
    assert 'class="status status-waiting"' in page
    assert "Approve request" in page and "userTask" in page
    assert f'data-elements="/api/v1/instances/{world.waiting_id}/elements"' in page
    assert 'data-xml="/api/v1/processes/approval/versions/1/diagram"' in page
    assert "<strong>created</strong> by alice" in page
    assert 'data-live="2"' in page  # an active instance refreshes itself


def test_an_unknown_instance_is_not_found(world):
    visitor = world.visitor("viewer")
    assert visitor.get("/instances/not-a-uuid").status_code == 404
    assert visitor.get("/instances/00000000-0000-0000-0000-000000000000").status_code == 404


def test_an_operator_cancels_with_a_reason(world):
    visitor = world.visitor("operator")
    response = visitor.post(f"/instances/{world.waiting_id}/cancel", {"reason": "duplicate"})
    assert response.headers["location"] == f"/instances/{world.waiting_id}?done=cancelled"
    page = visitor.get(response.headers["location"]).text
    assert "The instance was cancelled." in page
    assert "“duplicate”" in page and "Cancel instance" not in page
    assert world.instance().status is Status.STOPPED


def test_cancelling_a_completed_instance_is_a_conflict_shown_on_the_page(world):
    instances.complete_element(world.ctx, world.admin, instances.CompleteElement(
        world.waiting_id, world.uid, {"approved": True}))
    response = world.visitor("operator").post(f"/instances/{world.waiting_id}/cancel")
    assert response.status_code == 409
    assert "cannot become stopped" in response.text
    assert world.instance().status is Status.COMPLETED


def test_completing_an_element_from_the_instance_page(world):
    visitor = world.visitor("operator")
    response = visitor.post(f"/instances/{world.waiting_id}/elements/{world.uid}/complete",
                            {"data": "approved = true\nnote = fine"})
    assert response.headers["location"] == f"/instances/{world.waiting_id}?done=completed"
    instance = world.instance()
    assert instance.status is Status.COMPLETED
    assert instance.variables["decision"] == "approved" and instance.variables["note"] == "fine"


def test_bad_completion_data_is_explained_beside_its_element(world):
    visitor = world.visitor("operator")
    response = visitor.post(f"/instances/{world.waiting_id}/elements/{world.uid}/complete",
                            {"data": "approved true"})
    assert response.status_code == 400
    form = response.text.split(f'id="data-{world.uid}"')[1]
    assert "'approved true' is not NAME=VALUE" in unescape(form[:600])
    assert ">approved true</textarea>" in form[:200]
    assert world.instance().status is Status.WAITING


# -- the task inbox --------------------------------------------------------------------------


def test_the_inbox_lists_waiting_tasks_and_completes_one(world):
    visitor = world.visitor("operator")
    inbox = visitor.get("/tasks").text
    assert "Approve request" in inbox and world.waiting_id[:8] in inbox
    response = visitor.post(f"/tasks/{world.uid}/complete", {"data": "approved=false"})
    assert response.headers["location"] == f"/tasks?done={world.waiting_id}"
    after = visitor.get(response.headers["location"]).text
    assert "Task completed." in after and f'href="/instances/{world.waiting_id}"' in after
    assert "Nothing is waiting for a person." in after
    assert world.instance().variables["decision"] == "rejected"


def test_completing_a_task_twice_changes_nothing_the_second_time(world):
    visitor = world.visitor("operator")
    visitor.post(f"/tasks/{world.uid}/complete", {"data": "approved=true"})
    events = len(instances.list_events(world.ctx, world.admin, world.waiting_id))
    response = visitor.post(f"/tasks/{world.uid}/complete", {"data": "approved=false"})
    assert response.status_code == 303
    assert world.instance().variables["decision"] == "approved"
    assert len(instances.list_events(world.ctx, world.admin, world.waiting_id)) == events


def test_bad_task_data_is_explained_and_the_task_stays(world):
    visitor = world.visitor("operator")
    response = visitor.post(f"/tasks/{world.uid}/complete", {"data": "=1"})
    assert response.status_code == 400
    assert "is not NAME=VALUE" in response.text
    elements = instances.list_elements(world.ctx, world.admin, world.waiting_id)
    assert next(e for e in elements if e.uid == world.uid).state is ElementState.WAITING


def test_the_done_notice_takes_only_an_instance_id(world):
    page = world.visitor("viewer").get('/tasks?done="><script>x</script>').text
    assert "<script>x" not in page and "Task completed" not in page


def test_the_inbox_filters_by_process(world):
    visitor = world.visitor("viewer")
    assert "Approve request" in visitor.get("/tasks?process=approval").text
    assert "Nothing is waiting" in visitor.get("/tasks?process=expense").text
    assert "Nothing is waiting" in visitor.get("/tasks?process=no-such").text


# -- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_counts_instances_and_shows_failures(world):
    deploy_failing(world)
    instances.start_instance(world.ctx, world.admin, instances.StartInstance("failing"))
    page = world.visitor("viewer").get("/").text
    counts = dict(re.findall(r'status-(\w+)">\w+</span> <strong>(\d+)</strong>', page))
    assert counts["waiting"] == "1" and counts["failed"] == "1" and counts["completed"] == "0"
    assert "undefined_name" in page  # the failure's error
    assert "<strong>1</strong> task waiting for a person" in page


def deploy_failing(world: World) -> None:
    from tests.web.conftest import deploy

    deploy(world.ctx, world.admin, "failing", FIXTURES / "flows" / "failing.bpmn")


# -- bpmn-js ---------------------------------------------------------------------------------


def console_with_bpmn_js(world: World, folder) -> Visitor:
    from dataclasses import replace

    from flowport.api.app import create_app

    settings = world.ctx.settings.model_copy(update={"bpmn_js_dir": folder})
    visitor = Visitor(create_app(replace(world.ctx, settings=settings)))
    assert visitor.log_in("viewer").status_code == 303
    return visitor


def test_without_bpmn_js_the_console_says_diagrams_are_unavailable(world, tmp_path):
    visitor = console_with_bpmn_js(world, tmp_path)
    page = visitor.get(f"/instances/{world.waiting_id}").text
    assert "Diagrams unavailable" in page
    assert "bpmn-navigated-viewer" not in page and 'id="diagram"' not in page
    assert "Approve request" in page  # the rest of the page is all there
    assert visitor.get("/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"
                       ).status_code == 404


def test_with_bpmn_js_the_page_loads_it_from_this_server(world, tmp_path):
    (tmp_path / "bpmn-navigated-viewer.production.min.js").write_text("window.BpmnJS = 1;")
    visitor = console_with_bpmn_js(world, tmp_path)
    page = visitor.get(f"/instances/{world.waiting_id}").text
    assert "Diagrams unavailable" not in page
    assert '<script src="/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"' in page
    served = visitor.get("/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    assert served.status_code == 200 and served.text == "window.BpmnJS = 1;"
    assert visitor.get("/static/console.css").status_code == 200
    assert visitor.get("/static/diagram.js").status_code == 200
