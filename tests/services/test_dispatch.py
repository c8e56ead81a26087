"""Dispatch through the services on both databases: claims, leases and fencing tokens,
retries, stop and abort with their deadlines, logs and artifacts and their caps."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from flowport.domain.accounts import Role
from flowport.domain.instances import Status
from flowport.errors import (
    BadInput,
    Forbidden,
    InvalidTransition,
    NotFound,
    StaleLease,
    TooLarge,
    Unauthenticated,
)
from flowport.services import agents, auth, jobs, robots, stopping
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services.dispatch import RobotOptions

SECOND = timedelta(seconds=1)


def package(ctx, who, key="job", *, content=b"print('hi')", file_name="job.py",
            parameters=None, **process):
    deploy.create_process(ctx, who, deploy.CreateProcess(key=key, process_type=1, **process))
    deploy.deploy_version(ctx, who, key, deploy.DeployVersion(file_name, content, parameters))


def start(ctx, who, key="job", variables=None, **options):
    return run.start_instance(ctx, who, run.StartInstance(
        key, variables or {}, robot=RobotOptions(**options))).instance


def enrolled(ctx, who, name="r1", *, version="1.0", tags=(), slots=1):
    """A robot that enrolled and heartbeats now: its principal."""
    created = robots.create_robot(ctx, who, robots.CreateRobot(name, tags=tags, slots=slots))
    done = robots.enroll(ctx, robots.Enroll(created.token, "m1", version))
    return auth.authenticate(ctx, done.credential)


def claim(ctx, bot, n=1):
    return agents.claim_jobs(ctx, bot, n)


def status(ctx, who, instance_id):
    return run.get_instance(ctx, who, instance_id).status


def test_claim_run_complete(ctx, admin):
    package(ctx, admin)
    instance = start(ctx, admin, variables={"order": "A-1"})
    assert instance.status is Status.PENDING
    bot = enrolled(ctx, admin)
    (got,) = claim(ctx, bot, 5)
    assert got.instance.id == instance.id and got.instance.status is Status.RUNNING
    assert got.job.fencing == 1 and got.job.attempts == 1 and got.version.kind.value == "python"
    assert got.job.lease_expires_at == ctx.clock.now() + timedelta(
        seconds=ctx.settings.robot_lease_seconds)
    assert claim(ctx, bot) == []  # nothing more, and its one slot is taken
    done = agents.complete_job(ctx, bot, agents.Complete(instance.id, 1, {"total": 3}))
    assert done.changed and done.instance.status is Status.COMPLETED
    assert done.instance.variables == {"order": "A-1", "total": 3}
    assert done.instance.outputs == {"total": 3}  # no output template: the script's outputs
    # The same report again (its answer was lost): nothing changes, and it says so.
    again = agents.complete_job(ctx, bot, agents.Complete(instance.id, 1, {"total": 3}))
    assert not again.changed and again.instance.revision == done.instance.revision
    view = jobs.get_job(ctx, admin, instance.id)
    assert view.robot is not None and view.robot.name == "r1" and not view.job.held


def test_a_stale_fencing_token_is_refused_and_changes_nothing(ctx, admin):
    package(ctx, admin)
    instance = start(ctx, admin)
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    before = run.get_instance(ctx, admin, instance.id)
    for report in (lambda: agents.complete_job(ctx, bot, agents.Complete(instance.id, 2, {})),
                   lambda: agents.fail_job(ctx, bot, agents.Fail(instance.id, 0, "x")),
                   lambda: agents.add_log_lines(ctx, bot, agents.LogBatch(
                       instance.id, 7, ((None, "INFO", "hi"),)))):
        with pytest.raises(StaleLease):
            report()
    assert run.get_instance(ctx, admin, instance.id) == before
    assert jobs.list_logs(ctx, admin, instance.id, None, 10).items == []


def test_another_robot_cannot_report_on_a_job_it_does_not_hold(ctx, admin):
    package(ctx, admin)
    instance = start(ctx, admin)
    first, second = enrolled(ctx, admin, "r1"), enrolled(ctx, admin, "r2")
    claim(ctx, first)
    with pytest.raises(StaleLease):
        agents.complete_job(ctx, second, agents.Complete(instance.id, 1, {}))
    assert status(ctx, admin, instance.id) is Status.RUNNING


def test_claims_respect_version_tags_targets_and_slots(ctx, admin):
    package(ctx, admin, "new", min_version_to_run="2.0")
    package(ctx, admin, "excel", robot_tags=("excel",))
    package(ctx, admin, "plain")
    old = enrolled(ctx, admin, "old", version="1.9", slots=5)
    newer = enrolled(ctx, admin, "newer", version="2.0.1", tags=("excel", "win"), slots=2)
    needs_new = start(ctx, admin, "new")
    needs_excel = start(ctx, admin, "excel")
    assert claim(ctx, old, 5) == []
    reasons = jobs.get_pending_reasons(ctx, admin, needs_new.id)[1]
    assert [r.code for r in reasons] == ["queued"]
    got = {c.instance.id for c in claim(ctx, newer, 5)}
    assert got == {needs_new.id, needs_excel.id}
    plain = start(ctx, admin, "plain")
    assert claim(ctx, newer) == []  # two slots, both taken
    assert [r.code for r in jobs.get_pending_reasons(ctx, admin, plain.id)[1]] == ["queued"]
    assert [c.instance.id for c in claim(ctx, old)] == [plain.id]


def test_a_version_mismatch_stays_pending_with_a_reason(ctx, admin):
    package(ctx, admin, min_version_to_run="99.1")
    instance = start(ctx, admin)
    bot = enrolled(ctx, admin, version="1.0")
    assert claim(ctx, bot) == []
    current, reasons = jobs.get_pending_reasons(ctx, admin, instance.id)
    assert current.status is Status.PENDING
    assert [r.code for r in reasons] == ["runtime_version"]
    assert ">= 99.1" in reasons[0].message and "r1 1.0" in reasons[0].message


def test_targets_a_robot_or_a_group(ctx, admin):
    package(ctx, admin)
    r1, r2 = enrolled(ctx, admin, "r1"), enrolled(ctx, admin, "r2")
    ids = {r.name: r.id for r in robots.list_robots(ctx, admin, None, 10).items}
    group = robots.create_group(ctx, admin, robots.SaveGroup("night"))
    for_r2 = start(ctx, admin, robot_id=ids["r2"])
    for_group = start(ctx, admin, robot_group_id=group.id)
    assert claim(ctx, r1) == []
    assert [r.code for r in jobs.get_pending_reasons(ctx, admin, for_group.id)[1]] == [
        "group_empty"]
    robots.add_robot(ctx, admin, group.id, ids["r1"])
    assert [c.instance.id for c in claim(ctx, r1)] == [for_group.id]
    assert [c.instance.id for c in claim(ctx, r2)] == [for_r2.id]
    with pytest.raises(NotFound):
        start(ctx, admin, robot_id="no-such-robot")
    with pytest.raises(NotFound):
        start(ctx, admin, robot_group_id="no-such-group")


def test_robot_options_are_checked(ctx, admin):
    package(ctx, admin)
    with pytest.raises(BadInput, match="past"):
        start(ctx, admin, stop_after=ctx.clock.now() - SECOND)
    with pytest.raises(BadInput):
        start(ctx, admin, tags=("bad tag",))
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="bpmn"))
    from tests.conftest import bpmn
    deploy.deploy_version(ctx, admin, "bpmn", deploy.DeployVersion(
        "tasks.bpmn", bpmn("tasks.bpmn")))
    with pytest.raises(BadInput, match="package processes only"):
        start(ctx, admin, "bpmn", stop_after=ctx.clock.now() + SECOND)
    assert run.list_instances(ctx, admin, run.ListInstances()).items == []


def test_a_lost_lease_fails_the_job_with_a_reason(ctx, admin, clock):
    package(ctx, admin)
    instance = start(ctx, admin)
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    clock.advance(timedelta(seconds=ctx.settings.robot_lease_seconds) + SECOND)
    assert stopping.run_due_jobs(ctx) == 1
    failed = run.get_instance(ctx, admin, instance.id)
    assert failed.status is Status.FAILED
    assert "robot 'r1' stopped answering: its lease expired" in failed.error
    assert "(attempt 1 of 1)" in failed.error
    with pytest.raises(StaleLease):  # the robot comes back too late
        agents.complete_job(ctx, bot, agents.Complete(instance.id, 1, {}))
    assert stopping.run_due_jobs(ctx) == 0


def test_a_lost_lease_is_retried_after_a_backoff_when_allowed(ctx, admin, clock):
    package(ctx, admin, max_attempts=2, retry_backoff=30)
    instance = start(ctx, admin)
    first, second = enrolled(ctx, admin, "r1"), enrolled(ctx, admin, "r2")
    claim(ctx, first)
    clock.advance(timedelta(seconds=ctx.settings.robot_lease_seconds) + SECOND)
    stopping.run_due_jobs(ctx)
    assert status(ctx, admin, instance.id) is Status.PENDING
    assert [r.code for r in jobs.get_pending_reasons(ctx, admin, instance.id)[1]] == [
        "retry_backoff"]
    assert claim(ctx, second) == []  # not before the backoff ends
    clock.advance(30 * SECOND)
    assert stopping.run_due_jobs(ctx) == 1  # the backoff's end wakes the robots
    (again,) = claim(ctx, second)
    assert again.job.attempts == 2 and again.job.fencing == 3
    with pytest.raises(StaleLease):  # the first robot's token is dead
        agents.complete_job(ctx, first, agents.Complete(instance.id, 1, {}))
    clock.advance(timedelta(seconds=ctx.settings.robot_lease_seconds) + SECOND)
    stopping.run_due_jobs(ctx)
    failed = run.get_instance(ctx, admin, instance.id)
    assert failed.status is Status.FAILED and "robot 'r2'" in failed.error
    assert "(attempt 2 of 2)" in failed.error


def test_heartbeats_renew_leases_and_carry_commands(ctx, admin, clock):
    package(ctx, admin)
    bot = enrolled(ctx, admin, slots=3)
    a, b, c = (start(ctx, admin) for _ in range(3))
    claimed = {x.instance.id: x.job.fencing for x in claim(ctx, bot, 3)}
    assert set(claimed) == {a.id, b.id, c.id}
    lease = timedelta(seconds=ctx.settings.robot_lease_seconds)
    clock.advance(lease - SECOND)
    stopping.stop_instance(ctx, admin, stopping.StopInstance(a.id, "enough"))
    stopping.abort_instance(ctx, admin, stopping.StopInstance(b.id))
    beat = agents.heartbeat(ctx, bot, agents.Heartbeat(
        ((a.id, claimed[a.id]), (b.id, claimed[b.id]), (c.id, claimed[c.id]),
         ("not-mine", 1)), runtime_version="1.1", tags=("win",)))
    assert {(cmd.job_id, cmd.command) for cmd in beat.commands} == {
        (a.id, "stop"), (b.id, "abort"), ("not-mine", "drop")}
    assert beat.robot.runtime_version == "1.1" and beat.robot.tags == ("win",)
    assert beat.robot.busy == 3
    clock.advance(2 * SECOND)  # past the first lease, within the renewed one
    stopping.run_due_jobs(ctx)
    assert status(ctx, admin, c.id) is Status.RUNNING
    with pytest.raises(BadInput):
        agents.heartbeat(ctx, bot, agents.Heartbeat(slots=0))


def test_stop_and_abort_through_the_robot(ctx, admin):
    package(ctx, admin)
    bot = enrolled(ctx, admin, slots=2)
    a, b = start(ctx, admin), start(ctx, admin)
    tokens = {x.instance.id: x.job.fencing for x in claim(ctx, bot, 2)}
    stopped = run.cancel_instance(ctx, admin, a.id, "cancel means stop")
    assert stopped.status is Status.STOPPING
    # Asking again changes nothing; abort escalates.
    assert stopping.stop_instance(ctx, admin, stopping.StopInstance(a.id)).revision == \
        stopped.revision
    assert stopping.abort_instance(ctx, admin, stopping.StopInstance(b.id)).status is \
        Status.ABORTING
    done = agents.fail_job(ctx, bot, agents.Fail(a.id, tokens[a.id], "stopped by request",
                                                 "stopped"))
    assert done.instance.status is Status.STOPPED
    done = agents.fail_job(ctx, bot, agents.Fail(b.id, tokens[b.id], "killed", "aborted"))
    assert done.instance.status is Status.ABORTED
    with pytest.raises(InvalidTransition):
        stopping.abort_instance(ctx, admin, stopping.StopInstance(a.id))
    assert stopping.stop_instance(ctx, admin, stopping.StopInstance(a.id)).status is \
        Status.STOPPED


def test_pending_work_stops_at_once(ctx, admin):
    package(ctx, admin)
    a, b = start(ctx, admin), start(ctx, admin)
    assert stopping.stop_instance(ctx, admin, stopping.StopInstance(a.id)).status is \
        Status.STOPPED
    assert stopping.abort_instance(ctx, admin, stopping.StopInstance(b.id)).status is \
        Status.ABORTED
    assert claim(ctx, enrolled(ctx, admin)) == []


def test_a_stop_nobody_answers_escalates_and_ends_by_the_servers_deadline(ctx, admin, clock):
    package(ctx, admin)
    instance = start(ctx, admin)
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    stopping.stop_instance(ctx, admin, stopping.StopInstance(instance.id))
    settings = ctx.settings
    clock.advance(timedelta(seconds=settings.robot_stop_grace_seconds) + SECOND)
    # The robot still heartbeats (its lease holds) but never stops the run.
    agents.heartbeat(ctx, bot, agents.Heartbeat(((instance.id, 1),)))
    stopping.run_due_jobs(ctx)
    assert status(ctx, admin, instance.id) is Status.ABORTING
    clock.advance(timedelta(seconds=settings.robot_abort_grace_seconds) + SECOND)
    agents.heartbeat(ctx, bot, agents.Heartbeat(((instance.id, 1),)))
    stopping.run_due_jobs(ctx)
    ended = run.get_instance(ctx, admin, instance.id)
    assert ended.status is Status.ABORTED and "did not confirm the abort" in ended.error
    with pytest.raises(StaleLease):
        agents.fail_job(ctx, bot, agents.Fail(instance.id, 1, "late", "aborted"))
    beat = agents.heartbeat(ctx, bot, agents.Heartbeat(((instance.id, 1),)))
    assert [c.command for c in beat.commands] == ["drop"]
    kinds = [e.detail.get("to") for e in run.list_events(ctx, admin, instance.id)
             if e.kind == "status"]
    assert kinds == ["running", "stopping", "aborting", "aborted"]


def test_stop_after_and_abort_after(ctx, admin, clock):
    package(ctx, admin)
    bot = enrolled(ctx, admin, slots=2)
    now = ctx.clock.now()
    soft = start(ctx, admin, stop_after=now + 10 * SECOND)
    hard = start(ctx, admin, abort_after=now + 20 * SECOND)
    never_ran = start(ctx, admin, stop_after=now + 10 * SECOND)
    claim(ctx, bot, 2)
    clock.advance(11 * SECOND)
    agents.heartbeat(ctx, bot, agents.Heartbeat(((soft.id, 1), (hard.id, 1))))
    stopping.run_due_jobs(ctx)
    assert status(ctx, admin, soft.id) is Status.STOPPING
    assert status(ctx, admin, never_ran.id) is Status.STOPPED
    assert status(ctx, admin, hard.id) is Status.RUNNING
    clock.advance(10 * SECOND)
    agents.heartbeat(ctx, bot, agents.Heartbeat(((soft.id, 1), (hard.id, 1))))
    stopping.run_due_jobs(ctx)
    assert status(ctx, admin, hard.id) is Status.ABORTING
    reasons = [e.detail.get("reason") for e in run.list_events(ctx, admin, hard.id)]
    assert "abort_after passed" in reasons


def test_a_robot_that_lost_a_run_reports_it_retryable(ctx, admin, clock):
    package(ctx, admin, max_attempts=3, retry_backoff=0)
    instance = start(ctx, admin)
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    lost = agents.Fail(instance.id, 1, "the robot restarted while running it", retryable=True)
    first = agents.fail_job(ctx, bot, lost)
    assert first.changed and first.instance.status is Status.PENDING
    assert "lost the run" in run.list_events(ctx, admin, instance.id)[-1].detail["reason"]
    assert not agents.fail_job(ctx, bot, lost).changed  # a repeat
    (again,) = claim(ctx, bot)
    assert again.job.attempts == 2


def test_bpmn_instances_stop_like_cancel_and_abort_ends_them_aborted(ctx, admin):
    from tests.conftest import bpmn

    deploy.create_process(ctx, admin, deploy.CreateProcess(key="tasks"))
    deploy.deploy_version(ctx, admin, "tasks", deploy.DeployVersion(
        "tasks.bpmn", bpmn("tasks.bpmn")))
    a = run.start_instance(ctx, admin, run.StartInstance("tasks")).instance
    b = run.start_instance(ctx, admin, run.StartInstance("tasks")).instance
    assert a.status is Status.WAITING
    assert stopping.stop_instance(ctx, admin, stopping.StopInstance(a.id)).status is \
        Status.STOPPED
    assert stopping.abort_instance(ctx, admin, stopping.StopInstance(b.id)).status is \
        Status.ABORTED
    with pytest.raises(NotFound):
        jobs.get_job(ctx, admin, a.id)


def test_logs_progress_and_artifacts_with_their_caps(ctx, admin, settings):
    settings.robot_max_log_lines = 3
    settings.robot_max_artifacts = 2
    settings.robot_max_artifact_bytes = 10
    settings.robot_max_artifacts_bytes = 15
    settings.robot_max_progress_events = 2
    package(ctx, admin)
    instance = start(ctx, admin)
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    lines = ((None, "INFO", "one"), (ctx.clock.now(), "WARN", "two"))
    assert agents.add_log_lines(ctx, bot, agents.LogBatch(instance.id, 1, lines)) == 2
    with pytest.raises(TooLarge, match="limit of 3"):
        agents.add_log_lines(ctx, bot, agents.LogBatch(instance.id, 1, lines))
    with pytest.raises(BadInput, match="level"):
        agents.add_log_lines(ctx, bot, agents.LogBatch(instance.id, 1,
                                                       ((None, "LOUD", "x"),)))
    with pytest.raises(TooLarge, match="split it"):
        agents.add_log_lines(ctx, bot, agents.LogBatch(instance.id, 1, (
            (None, "INFO", "x" * (agents.MAX_LOG_MESSAGE + 1)),)))
    page = jobs.list_logs(ctx, admin, instance.id, None, 1)
    assert [line.message for line in page.items] == ["one"]
    rest = jobs.list_logs(ctx, admin, instance.id, page.next_cursor, 10)
    assert [(line.level, line.message) for line in rest.items] == [("WARN", "two")]

    def put(name, content):
        return agents.put_artifact(ctx, bot, agents.PutArtifact(instance.id, 1, name, content,
                                                                 "text/plain; charset=utf-8"))

    assert put("output.xml", b"12345").size == 5
    assert put("output.xml", b"123456").size == 6  # replaced, not added
    with pytest.raises(TooLarge, match="per artifact"):
        put("big.png", b"x" * 11)
    with pytest.raises(TooLarge, match="limit of 15"):
        put("log.html", b"x" * 10)
    put("log.html", b"x" * 9)
    with pytest.raises(TooLarge, match="FLOWPORT_ROBOT_MAX_ARTIFACTS"):
        put("third.txt", b"x")
    for bad in ("../x", "/abs", "a//b", "", "a/../b", "sp ace"):
        with pytest.raises(BadInput):
            put(bad, b"x")
    listed = jobs.list_artifacts(ctx, admin, instance.id)
    assert [(a.name, a.size, a.content_type) for a in listed] == [
        ("log.html", 9, "text/plain"), ("output.xml", 6, "text/plain")]
    artifact, content = jobs.get_artifact(ctx, admin, instance.id, "output.xml")
    assert content == b"123456" and artifact.sha256
    with pytest.raises(NotFound):
        jobs.get_artifact(ctx, admin, instance.id, "missing.xml")

    event = ("test_ended", {"name": "Login", "status": "PASS"})
    assert agents.add_progress(ctx, bot, agents.ProgressBatch(instance.id, 1, (event,))) == 1
    with pytest.raises(TooLarge):
        agents.add_progress(ctx, bot, agents.ProgressBatch(instance.id, 1, (event, event)))
    with pytest.raises(BadInput):
        agents.add_progress(ctx, bot, agents.ProgressBatch(instance.id, 1,
                                                           (("Bad Kind", {}),)))
    events = [e for e in run.list_events(ctx, admin, instance.id) if e.kind.startswith("robot")]
    assert [(e.kind, e.actor, e.detail) for e in events] == [
        ("robot.test_ended", "robot:r1", {"name": "Login", "status": "PASS"})]


def test_outputs_and_errors_are_checked(ctx, admin, settings):
    settings.max_variables_bytes = 100
    package(ctx, admin)
    instance = start(ctx, admin)
    bot = enrolled(ctx, admin)
    claim(ctx, bot)
    with pytest.raises(TooLarge, match="FLOWPORT_MAX_VARIABLES_BYTES"):
        agents.complete_job(ctx, bot, agents.Complete(instance.id, 1, {"x": "y" * 200}))
    with pytest.raises(BadInput):
        agents.complete_job(ctx, bot, agents.Complete(instance.id, 1, ["not", "an", "object"]))
    with pytest.raises(BadInput):
        agents.fail_job(ctx, bot, agents.Fail(instance.id, 1, "x", "exploded"))
    with pytest.raises(BadInput):
        agents.fail_job(ctx, bot, agents.Fail(instance.id, 1, "  "))
    with pytest.raises(TooLarge):
        agents.fail_job(ctx, bot, agents.Fail(instance.id, 1, "e" * (agents.MAX_ERROR + 1)))
    assert status(ctx, admin, instance.id) is Status.RUNNING
    failed = agents.fail_job(ctx, bot, agents.Fail(instance.id, 1, "2 tests failed: Login"))
    assert failed.instance.status is Status.FAILED
    assert failed.instance.error == "2 tests failed: Login"


def test_only_robots_use_robot_endpoints_and_only_their_own_account(ctx, admin, other):
    package(ctx, admin)
    instance = start(ctx, admin)
    with pytest.raises(Forbidden, match="'robot' permission"):
        agents.claim_jobs(ctx, admin, 1)
    robot_user = replace(admin, roles=frozenset({Role.ROBOT}), user_roles=None)
    with pytest.raises(Forbidden, match="robot's own credential"):
        agents.claim_jobs(ctx, robot_user, 1)
    with pytest.raises(Forbidden):
        agents.complete_job(ctx, admin, agents.Complete(instance.id, 1, {}))
    intruder = enrolled(ctx, other, "spy")
    assert claim(ctx, intruder) == []
    with pytest.raises(NotFound):
        agents.complete_job(ctx, intruder, agents.Complete(instance.id, 1, {}))
    sha = deploy.list_versions(ctx, admin, "job")[0].sha256
    with pytest.raises(NotFound):
        agents.get_package(ctx, intruder, sha)
    with pytest.raises(NotFound):
        jobs.get_pending_reasons(ctx, other, instance.id)
    with pytest.raises(NotFound):
        stopping.stop_instance(ctx, other, stopping.StopInstance(instance.id))
    assert status(ctx, admin, instance.id) is Status.PENDING
    mine = enrolled(ctx, admin, "mine")
    assert agents.get_package(ctx, mine, sha) == ("job.py", b"print('hi')")
    with pytest.raises(NotFound):
        agents.get_package(ctx, mine, "nothex")


def test_concurrent_claims_never_hand_out_a_job_twice(ctx, admin):
    package(ctx, admin)
    started = {start(ctx, admin).id for _ in range(30)}
    bots = [enrolled(ctx, admin, f"r{i}", slots=64) for i in range(4)]
    taken: list[str] = []
    lock = threading.Lock()

    def drain(bot):
        while True:
            got = claim(ctx, bot, 3)
            if not got:
                return
            with lock:
                taken.extend(c.instance.id for c in got)

    threads = [threading.Thread(target=drain, args=(b,)) for b in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken) == sorted(started)


def test_robot_management(ctx, admin, clock):
    created = robots.create_robot(ctx, admin, robots.CreateRobot("r1", "desk", ("win",), 2))
    assert created.token.startswith("fpe_") and not created.robot.enrolled
    with pytest.raises(Exception, match="exists already"):
        robots.create_robot(ctx, admin, robots.CreateRobot("r1"))
    for bad in (robots.CreateRobot(""), robots.CreateRobot("x", slots=0),
                robots.CreateRobot("x", tags=("a b",)), robots.CreateRobot("x" * 256)):
        with pytest.raises(BadInput):
            robots.create_robot(ctx, admin, bad)
    done = robots.enroll(ctx, robots.Enroll(created.token, "host-1", "0.1.0", slots=3))
    assert done.robot.enrolled and done.robot.machine == "host-1" and done.robot.slots == 3
    with pytest.raises(Unauthenticated, match="used already"):
        robots.enroll(ctx, robots.Enroll(created.token))
    with pytest.raises(Unauthenticated):
        robots.enroll(ctx, robots.Enroll("fpt_not_an_enrollment_token"))
    bot = auth.authenticate(ctx, done.credential)
    assert bot.robot_id is not None and bot.login == "robot:r1"
    # A new enrollment replaces the credential once it is used.
    again = robots.new_enrollment(ctx, admin, created.robot.id)
    assert auth.authenticate(ctx, done.credential).robot_id == bot.robot_id
    fresh = robots.enroll(ctx, robots.Enroll(again.token))
    with pytest.raises(Unauthenticated):
        auth.authenticate(ctx, done.credential)
    assert auth.authenticate(ctx, fresh.credential).robot_id == bot.robot_id
    expiring = robots.create_robot(ctx, admin, robots.CreateRobot("r2"))
    clock.advance(timedelta(hours=ctx.settings.robot_enrollment_hours) + SECOND)
    with pytest.raises(Unauthenticated, match="expired"):
        robots.enroll(ctx, robots.Enroll(expiring.token))
    renamed = robots.update_robot(ctx, admin, created.robot.id, robots.UpdateRobot(
        name="r1-new", tags=("excel",)))
    assert renamed.name == "r1-new" and renamed.tags == ("excel",)
    with pytest.raises(Exception, match="exists already"):
        robots.update_robot(ctx, admin, expiring.robot.id, robots.UpdateRobot(name="r1-new"))
    robots.delete_robot(ctx, admin, created.robot.id)
    with pytest.raises(Unauthenticated):
        auth.authenticate(ctx, fresh.credential)
    with pytest.raises(NotFound):
        robots.get_robot(ctx, admin, created.robot.id)
    assert [r.name for r in robots.list_robots(ctx, admin, None, 10).items] == ["r2"]


def test_groups(ctx, admin, other):
    group = robots.create_group(ctx, admin, robots.SaveGroup("night", "after hours"))
    r = robots.create_robot(ctx, admin, robots.CreateRobot("r1")).robot
    assert robots.add_robot(ctx, admin, group.id, r.id).robots == (r.id,)
    assert robots.add_robot(ctx, admin, group.id, r.id).robots == (r.id,)  # idempotent
    assert robots.remove_robot(ctx, admin, group.id, r.id).robots == ()
    with pytest.raises(NotFound):
        robots.remove_robot(ctx, admin, group.id, r.id)
    with pytest.raises(Exception, match="exists already"):
        robots.create_group(ctx, admin, robots.SaveGroup("night"))
    assert robots.update_group(ctx, admin, group.id, robots.SaveGroup(name="day")).name == "day"
    with pytest.raises(NotFound):
        robots.get_group(ctx, other, group.id)
    with pytest.raises(NotFound):
        robots.add_robot(ctx, other, group.id, r.id)
    robots.delete_group(ctx, admin, group.id)
    assert robots.list_groups(ctx, admin) == []


def test_a_parent_starts_a_child_package_instance_in_its_own_transaction(ctx, admin):
    """The seam the BPMN `robot` executor will use: a child package instance started inside
    the parent's transaction, run by a robot, its end waking whoever waits on the parent."""
    from flowport.services import dispatch

    package(ctx, admin, parameters=[{"name": "n", "type": "integer", "required": True}])
    parent = start(ctx, admin, variables={"n": 1})  # any instance will do as a parent here
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        process = tx.fetch_process(admin.account_id, "job")
        version = tx.fetch_version(process.id, 1)
        child = dispatch.start_child(ctx, tx, admin, parent, process, version, {"n": "2"},
                                     RobotOptions(tags=("win",)), now)
    assert child.parent_id == parent.id and child.variables == {"n": 2}
    plain = enrolled(ctx, admin, "plain")
    assert [c.instance.id for c in claim(ctx, plain)] == [parent.id]  # the child needs "win"
    bot = enrolled(ctx, admin, "windows", tags=("win",))
    claimed = {c.instance.id: c for c in claim(ctx, bot)}
    assert set(claimed) == {child.id}
    woken = []
    ctx.notifier.publish = woken.append  # what after_commit announces
    agents.complete_job(ctx, bot, agents.Complete(child.id, claimed[child.id].job.fencing,
                                                  {"r": 1}))
    assert parent.id in woken
    with ctx.store.transaction() as tx, pytest.raises(NotFound):
        dispatch.start_child(ctx, tx, admin, parent, process, version, {"n": 1},
                             RobotOptions(robot_id="nobody"), now)
