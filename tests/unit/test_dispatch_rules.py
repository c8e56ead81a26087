"""The pure rules of dispatch: versions, tags, deadlines, pending reasons, package checks."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from flowport.domain.instances import Status
from flowport.domain.packages import check_package, safe_member
from flowport.domain.processes import ContentKind
from flowport.domain.robots import (
    Due,
    Job,
    Queue,
    Requirements,
    Robot,
    RobotStatus,
    can_run,
    check_min_version,
    check_slots,
    check_tags,
    due_action,
    next_deadline,
    parse_version,
    pending_reasons,
    retry_delay,
    version_key,
)
from flowport.errors import BadInput

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def robot(name: str = "r1", **kw) -> Robot:
    defaults = dict(seq=1, id=f"id-{name}", account_id=1, name=name, description="",
                    machine="m", tags=(), runtime_version="1.0", slots=1,
                    last_heartbeat_at=NOW, enrolled=True, created_at=NOW, updated_at=NOW)
    return Robot(**{**defaults, **kw})


def job(**kw) -> Job:
    defaults = dict(instance_seq=7, account_id=1, fencing=0, attempts=0, max_attempts=1,
                    retry_backoff=60, min_version=None, tags=(), target_robot=None,
                    target_group=None, robot=None, ready_at=NOW, lease_expires_at=None,
                    escalate_at=None, stop_after=None, abort_after=None)
    return Job(**{**defaults, **kw})


@pytest.mark.parametrize(("text", "parsed"), [
    ("1", (1,)), ("1.2", (1, 2)), ("1.2.0", (1, 2)), ("v7.0.1", (7, 0, 1)),
    ("7.0rc1", (7,)), ("0.1.0", (0, 1)), ("", None), (None, None), ("abc", None),
])
def test_versions_parse_to_their_numeric_release(text, parsed):
    assert parse_version(text) == parsed


def test_version_keys_sort_like_versions():
    ordered = ["0.9", "1.0", "1.2", "1.2.1", "1.10", "2", "10.0.0.1"]
    keys = [version_key(v) for v in ordered]
    assert keys == sorted(keys)
    assert version_key("1.2") == version_key("1.2.0")
    assert version_key(None) is None


@pytest.mark.parametrize("bad", ["1.x", "", " 1.0", "1..2", "v1", "1.2.3.4.5.6.7", 12])
def test_min_version_must_be_a_plain_version(bad):
    with pytest.raises(BadInput) as caught:
        check_min_version(bad)
    assert caught.value.field == "min_version_to_run"


def test_tags_are_checked_sorted_and_deduplicated():
    assert check_tags(["win", "excel", "win"]) == ("excel", "win")
    assert check_tags(None) == ()
    for bad in (["has space"], ["-lead"], [""], ["x" * 65], "win", [1], ["t"] * 33):
        with pytest.raises(BadInput):
            check_tags(bad)


@pytest.mark.parametrize("bad", [0, 65, True, "2", 1.5])
def test_slots_are_a_small_whole_number(bad):
    with pytest.raises(BadInput):
        check_slots(bad)


def test_can_run_checks_version_tags_and_targets():
    r = robot(seq=3, tags=("excel", "win"), runtime_version="1.4.2", groups=(9,))
    assert can_run(r, Requirements("1.4", ("win",)))
    assert not can_run(r, Requirements("1.5"))
    assert not can_run(r, Requirements(None, ("linux",)))
    assert can_run(r, Requirements(target_robot=3, target_group=9))
    assert not can_run(r, Requirements(target_robot=4))
    assert not can_run(r, Requirements(target_group=8))
    assert not can_run(replace(r, runtime_version=None), Requirements("0.1"))


def test_status_is_derived_from_heartbeats_and_held_jobs():
    silence = timedelta(seconds=60)
    assert robot().status(NOW, silence) is RobotStatus.READY
    assert robot(busy=1).status(NOW, silence) is RobotStatus.WORKING
    assert robot().status(NOW + 2 * MINUTE, silence) is RobotStatus.DISCONNECTED
    assert robot(last_heartbeat_at=None).status(NOW, silence) is RobotStatus.DISCONNECTED


def test_retry_backoff_doubles_and_is_capped():
    assert retry_delay(job(attempts=1, retry_backoff=10)) == timedelta(seconds=10)
    assert retry_delay(job(attempts=3, retry_backoff=10)) == timedelta(seconds=40)
    assert retry_delay(job(attempts=60, retry_backoff=10)) == timedelta(days=1)
    assert retry_delay(job(attempts=1, retry_backoff=0)) == timedelta(0)


def test_next_deadline_depends_on_the_status():
    stop, abort, escalate = NOW + MINUTE, NOW + 2 * MINUTE, NOW + 3 * MINUTE
    j = job(stop_after=stop, abort_after=abort, escalate_at=escalate, ready_at=NOW + 5 * MINUTE)
    assert next_deadline(Status.PENDING, j, NOW) == stop
    assert next_deadline(Status.RUNNING, j, NOW) == stop
    assert next_deadline(Status.STOPPING, j, NOW) == abort
    assert next_deadline(Status.ABORTING, j, NOW) == escalate
    assert next_deadline(Status.COMPLETED, j, NOW) is None
    assert next_deadline(Status.PENDING, job(ready_at=NOW + MINUTE), NOW) == NOW + MINUTE
    assert next_deadline(Status.PENDING, job(ready_at=NOW), NOW) is None


def test_due_actions():
    past, future = NOW - MINUTE, NOW + MINUTE
    assert due_action(Status.RUNNING, job(lease_expires_at=past), NOW) is Due.LEASE_LOST
    assert due_action(Status.STOPPING, job(lease_expires_at=past), NOW) is Due.LEASE_LOST
    assert due_action(Status.RUNNING, job(lease_expires_at=future), NOW) is Due.NOTHING
    assert due_action(Status.RUNNING, job(lease_expires_at=future, stop_after=past),
                      NOW) is Due.STOP
    assert due_action(Status.RUNNING, job(lease_expires_at=future, stop_after=past,
                                          abort_after=past), NOW) is Due.ABORT
    assert due_action(Status.PENDING, job(stop_after=past), NOW) is Due.STOP
    assert due_action(Status.PENDING, job(ready_at=past), NOW) is Due.WAKE
    assert due_action(Status.STOPPING, job(lease_expires_at=future, escalate_at=past),
                      NOW) is Due.ABORT
    assert due_action(Status.STOPPING, job(lease_expires_at=future, escalate_at=future),
                      NOW) is Due.NOTHING
    assert due_action(Status.ABORTING, job(lease_expires_at=future, escalate_at=past),
                      NOW) is Due.GIVE_UP
    assert due_action(Status.COMPLETED, job(stop_after=past), NOW) is Due.NOTHING


def reasons(j: Job, robots: list[Robot], **queue) -> list[tuple[str, str]]:
    found = pending_reasons(j, robots, NOW, timedelta(seconds=60), Queue(**queue))
    return [(r.code, r.message) for r in found]


def test_pending_reasons_name_the_first_unmet_requirement():
    fine = robot("r1", tags=("win",), runtime_version="2.1")
    assert reasons(job(), [])[0][0] == "no_robots"
    assert reasons(job(), [robot(enrolled=False)])[0][0] == "not_enrolled"
    (code, message), = reasons(job(), [robot(last_heartbeat_at=NOW - 5 * MINUTE)])
    assert code == "disconnected" and "5 min ago" in message
    (code, message), = reasons(job(min_version="3.0"), [fine])
    assert code == "runtime_version" and ">= 3.0" in message and "r1 2.1" in message
    (code, message), = reasons(job(tags=("excel", "win")), [fine])
    assert code == "tags" and "r1 lacks excel" in message
    (code, message), = reasons(job(), [replace(fine, busy=1)])
    assert code == "no_free_slot" and "r1 1 of 1" in message
    (code, message), = reasons(job(target_robot=99), [fine], robot_name="gone")
    assert code == "robot_gone" and "gone" in message
    (code, message), = reasons(job(target_group=5), [fine], group_name="night")
    assert code == "group_empty" and "night" in message
    (code, message), = reasons(job(), [fine], ahead=3)
    assert code == "queued" and "r1 can run it" in message and "3 job(s)" in message


def test_pending_reasons_report_a_retry_backoff():
    later = NOW + MINUTE
    found = reasons(job(ready_at=later, attempts=1, max_attempts=3), [robot()])
    assert found[0][0] == "retry_backoff" and "attempt 2 of 3" in found[0][1]
    assert len(found) == 1  # the robots could run it: the backoff is the only reason


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zip_entry_points():
    assert check_package(ContentKind.ZIP, zipped({"main.robot": b"", "lib/k.py": b""})) \
        == "main.robot"
    manifest = b'{"entry_point": "tasks/run.py"}'
    assert check_package(ContentKind.ZIP, zipped({"manifest.json": manifest,
                                                  "tasks/run.py": b"", "a.py": b""})) \
        == "tasks/run.py"
    folder = b'{"entry_point": "suites"}'
    assert check_package(ContentKind.ZIP, zipped({"manifest.json": folder,
                                                  "suites/a.robot": b""})) == "suites/"
    assert check_package(ContentKind.PYTHON, b"print(1)") is None


@pytest.mark.parametrize(("files", "says"), [
    ({"a.py": b"", "b.py": b""}, "manifest.json"),
    ({"manifest.json": b"{", "a.py": b""}, "not valid JSON"),
    ({"manifest.json": b"[]", "a.py": b""}, "entry_point"),
    ({"manifest.json": b'{"entry_point": "nope.py"}', "a.py": b""}, "'nope.py'"),
    ({"manifest.json": b'{"entry_point": "data.txt"}', "data.txt": b""}, "'data.txt'"),
    ({"../evil.py": b""}, "unsafe path"),
    ({"/etc/evil.py": b""}, "unsafe path"),
    ({"a/../../evil.py": b""}, "unsafe path"),
])
def test_bad_zip_packages_are_refused(files, says):
    with pytest.raises(BadInput) as caught:
        check_package(ContentKind.ZIP, zipped(files))
    assert says in caught.value.message


def test_bad_single_file_packages_are_refused():
    with pytest.raises(BadInput, match="UTF-8"):
        check_package(ContentKind.ROBOT, b"\xff\xfe")
    with pytest.raises(BadInput, match="zip archive"):
        check_package(ContentKind.ZIP, b"PK not really")


def test_safe_members():
    assert safe_member("a/b/c.robot")
    for bad in ("", "/a", "..", "a/../../b", "C:/x", "a\\b"):
        assert not safe_member(bad), bad
