"""The instance page's actions beyond cancel and complete (abort, stop, delete), its linked
cleanup instances, and the robot work of a package instance: who holds it, why it is still
pending, its log and its artifacts to download."""

from __future__ import annotations

import pytest

from flowport.domain.instances import Status
from flowport.services import agents
from flowport.services import instances as run
from tests.services.test_dispatch import claim, enrolled, package, start


def completed(world) -> str:
    return run.start_instance(world.ctx, world.admin, run.StartInstance(
        "straight", {"amount": 3})).instance.id


def listed(world, visitor, instance_id: str) -> bool:
    return f'href="/instances/{instance_id}"' in visitor.get("/instances").text


def test_an_operator_aborts_a_waiting_instance_and_sees_its_cancel_instance(world):
    visitor = world.visitor("operator")
    page = visitor.get(f"/instances/{world.waiting_id}").text
    assert "Cancel instance" in page and "Abort instance" in page
    assert "Delete instance" not in page  # only an ended instance can be deleted
    response = visitor.post(f"/instances/{world.waiting_id}/abort", {"reason": "wrong data"})
    assert response.headers["location"] == f"/instances/{world.waiting_id}?done=aborted"
    assert world.instance().status is Status.ABORTED
    page = visitor.get(response.headers["location"]).text
    assert "The instance was aborted." in page and "“wrong data”" in page
    assert "<strong>cancel</strong> instance" in page
    assert "Abort instance" not in page and "Delete instance" in page


def test_an_operator_deletes_an_ended_instance(world):
    instance_id = completed(world)
    visitor = world.visitor("operator")
    assert listed(world, visitor, instance_id)
    assert "Delete instance" in visitor.get(f"/instances/{instance_id}").text
    response = visitor.post(f"/instances/{instance_id}/delete")
    assert response.headers["location"] == f"/instances/{instance_id}?done=deleted"
    assert world.instance(instance_id).deleted_at is not None
    page = visitor.get(response.headers["location"]).text
    assert "The instance was deleted" in page and "hidden from lists" in page
    assert "Delete instance" not in page
    cleanup_id = page.split("<strong>delete</strong> instance <a href=\"/instances/")[1][:36]
    assert not listed(world, visitor, instance_id)
    cleanup = visitor.get(f"/instances/{cleanup_id}").text
    assert f'the <strong>delete</strong> instance of <a href="/instances/{instance_id}"' in cleanup
    assert 'id="actions-heading"' not in cleanup  # a cleanup instance is not acted on


def test_deleting_an_active_instance_is_explained_and_changes_nothing(world):
    response = world.visitor("operator").post(f"/instances/{world.waiting_id}/delete")
    assert response.status_code == 409
    assert "only an ended instance can be deleted" in response.text
    assert world.instance().status is Status.WAITING and world.instance().deleted_at is None
    # answered at the POST address, the page refreshes itself from the instance's own
    assert f'data-live-url="/instances/{world.waiting_id}"' in response.text


def test_a_viewer_sees_no_action_and_is_refused_each(world):
    ended = completed(world)
    visitor = world.visitor("viewer")
    for instance_id in (world.waiting_id, ended):
        page = visitor.get(f"/instances/{instance_id}").text
        assert 'id="actions-heading"' not in page
        assert "/abort" not in page and "/delete" not in page
    for path in (f"/instances/{world.waiting_id}/abort", f"/instances/{ended}/delete"):
        response = visitor.post(path, {"reason": "x"})
        assert response.status_code == 403 and "this needs the" in response.text
    assert world.instance().status is Status.WAITING
    assert world.instance(ended).deleted_at is None


@pytest.mark.parametrize("who", ["intruder", "no-csrf"])
def test_others_and_forged_forms_change_nothing(world, who):
    ended = completed(world)
    visitor = world.visitor("admin" if who == "no-csrf" else who)
    expected = 403 if who == "no-csrf" else 404
    for path in (f"/instances/{world.waiting_id}/abort", f"/instances/{ended}/delete"):
        assert visitor.post(path, csrf=who != "no-csrf").status_code == expected, path
    assert world.instance().status is Status.WAITING
    assert world.instance(ended).deleted_at is None


# -- robot work ------------------------------------------------------------------------------


def test_a_pending_package_instance_says_why(world):
    package(world.ctx, world.admin)
    instance = start(world.ctx, world.admin, tags=("sap",))
    page = world.visitor("viewer").get(f"/instances/{instance.id}").text
    assert "Robot work" in page and "none yet" in page
    reasons = page.split('id="pending-reasons">')[1].split("</ul>")[0]
    assert "robot" in reasons.lower()
    assert "No artifacts." in page and "No log lines." in page
    assert 'class="tag">sap' in page
    assert "Robot work" not in world.visitor("viewer").get(
        f"/instances/{world.waiting_id}").text  # a BPMN instance has none


def test_a_running_package_instance_shows_its_robot_log_and_artifacts(world):
    package(world.ctx, world.admin)
    instance = start(world.ctx, world.admin)
    bot = enrolled(world.ctx, world.admin, "bot-7")
    claim(world.ctx, bot)
    agents.add_log_lines(world.ctx, bot, agents.LogBatch(instance.id, 1, (
        (None, "INFO", "opening <the> ledger"), (None, "ERROR", "row 3 is empty"))))
    agents.put_artifact(world.ctx, bot, agents.PutArtifact(
        instance.id, 1, "reports/log.html", b"<html>report</html>", "text/html"))
    visitor = world.visitor("viewer")
    page = visitor.get(f"/instances/{instance.id}").text
    assert ">bot-7</a>" in page and "1 of" in page
    log = page.split('id="robot-log"')[1].split("</pre>")[0]
    assert "INFO opening &lt;the&gt; ledger" in log and "ERROR row 3 is empty" in log
    link = f"/api/v1/instances/{instance.id}/artifacts/reports/log.html"
    assert f'href="{link}" download' in page
    download = visitor.get(link)
    assert download.status_code == 200 and download.content == b"<html>report</html>"
    assert "attachment" in download.headers["content-disposition"]
    assert world.visitor("intruder").get(link).status_code == 404


def test_stop_and_abort_of_a_package_instance_go_through_its_robot(world):
    package(world.ctx, world.admin)
    first, second = start(world.ctx, world.admin), start(world.ctx, world.admin)
    bot = enrolled(world.ctx, world.admin, "bot", slots=2)
    claim(world.ctx, bot, 2)
    visitor = world.visitor("operator")
    page = visitor.get(f"/instances/{first.id}").text
    assert "Stop instance" in page and "Cancel instance" not in page
    response = visitor.post(f"/instances/{first.id}/cancel")
    assert response.headers["location"] == f"/instances/{first.id}?done=stopping"
    assert "Stop requested" in visitor.get(response.headers["location"]).text
    assert world.instance(first.id).status is Status.STOPPING
    response = visitor.post(f"/instances/{second.id}/abort")
    assert response.headers["location"] == f"/instances/{second.id}?done=aborting"
    assert world.instance(second.id).status is Status.ABORTING


# -- executor steps and cleanup instances ---------------------------------------------------


def test_a_failed_instance_shows_its_steps_and_its_rollback_instance(world, scripted):
    from steps_support import chain_bpmn, drain, fail, ship
    from steps_support import start as start_bpmn

    ship(world.ctx, world.admin, "chain", chain_bpmn("A", "B",
                                                     attributes='flowport:rollback="true"'))
    scripted.when("run", "B", fail("no capacity"))
    instance = start_bpmn(world.ctx, world.admin, "chain")
    drain(world.ctx)
    visitor = world.visitor("viewer")
    page = visitor.get(f"/instances/{instance.id}").text
    steps = page.split('id="steps-heading">Executor steps')[1].split("</table>")[0]
    assert steps.count("<tr id=\"step-") == 2 and "no capacity" in steps
    assert 'status-rolled_back">rolled_back' in steps  # undone by the rollback
    rollback_id = page.split("<strong>rollback</strong> instance <a href=\"/instances/")[1][:36]
    rollback = visitor.get(f"/instances/{rollback_id}").text
    assert f'the <strong>rollback</strong> instance of <a href="/instances/{instance.id}"' \
        in rollback
    hooks = rollback.split('id="steps-heading">Hook calls')[1].split("</table>")[0]
    assert hooks.count("<td data-label=\"Call\">rollback</td>") == 2


def test_a_delete_with_hooks_to_call_shows_its_progress(world, scripted):
    from steps_support import chain_bpmn, drain, ship
    from steps_support import start as start_bpmn

    ship(world.ctx, world.admin, "chain", chain_bpmn("A"))
    instance = start_bpmn(world.ctx, world.admin, "chain")
    drain(world.ctx)
    visitor = world.visitor("operator")
    response = visitor.post(f"/instances/{instance.id}/delete")
    assert response.headers["location"] == f"/instances/{instance.id}?done=deleting"
    page = visitor.get(response.headers["location"]).text
    assert "Delete started" in page and "Delete instance" not in page  # one at a time
    assert '<strong>delete</strong> instance' in page and 'status-running">running' in page
    drain(world.ctx)
    page = visitor.get(f"/instances/{instance.id}").text
    assert "hidden from lists" in page and 'status-completed">completed' in page
    assert world.instance(instance.id).deleted_at is not None


def test_an_instance_of_a_deleted_process_stays_readable_with_its_links(world):
    from flowport.services import processes

    visitor = world.visitor("operator")
    visitor.post(f"/instances/{world.waiting_id}/cancel")
    processes.delete_process(world.ctx, world.admin, "approval")
    page = visitor.get(f"/instances/{world.waiting_id}")
    assert page.status_code == 200
    assert "The process of this instance was deleted." in page.text
    assert "<strong>cancel</strong> instance" in page.text


def test_a_robot_task_and_its_run_link_to_each_other(world):
    from tests.services.test_robot_tasks import started

    parent, child = started(world.ctx, world.admin)
    visitor = world.visitor("viewer")
    page = visitor.get(f"/instances/{parent.id}").text
    assert f'<a href="/instances/{child.id}">robot run</a>' in page
    page = visitor.get(f"/instances/{child.id}").text
    assert f'A robot task of <a href="/instances/{parent.id}">' in page
