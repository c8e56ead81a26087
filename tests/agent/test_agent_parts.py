"""The agent's parts, without a server: how a run is laid out and what its end means, the
work directory and its journal, the keyword library and the listener (with real Robot
Framework runs), retries."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
import threading
import zipfile
from pathlib import Path

import httpx
import pytest
import robot

from flowport.client import ApiError
from flowport.robot import keywords, runners
from flowport.robot.network import GaveUp, retrying
from flowport.robot.runs import _Tail
from flowport.robot.workdir import Workdir, WorkdirError

JOB = "0b6f7c9e-1d2a-4c3b-8e9f-0a1b2c3d4e5f"


def prepared(tmp_path: Path, name: str = "suite.robot", content: bytes = b"",
             entry: str | None = None, variables: dict | None = None) -> runners.Prepared:
    package = tmp_path / name
    package.write_bytes(content)
    return runners.prepare(tmp_path / "job", package, entry, variables or {}, JOB)


def test_a_suite_is_laid_out_with_its_inputs_and_a_place_for_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWPORT_TOKEN", "fpt_secret")
    p = prepared(tmp_path, variables={"order": "A-1", "amount": 3})
    assert p.kind == "robot" and p.cwd == tmp_path / "job" / "run"
    assert (p.cwd / "suite.robot").exists()
    assert json.loads(Path(p.env["FLOWPORT_INPUT"]).read_text()) == {"order": "A-1",
                                                                     "amount": 3}
    assert p.command[1:4] == ["-m", "flowport.robot.launch", p.command[0]]
    assert ["--variablefile", p.env["FLOWPORT_INPUT"]] == p.command[
        p.command.index("--variablefile"):p.command.index("--variablefile") + 2]
    assert "flowport.robot.listener.Progress" in p.command
    assert "FLOWPORT_TOKEN" not in p.env and p.env["FLOWPORT_JOB_ID"] == JOB


def test_a_zip_runs_its_entry_point(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", '{"entry_point": "bin/main.py"}')
        archive.writestr("bin/main.py", "print(1)")
        archive.writestr("bin/helper.py", "")
    p = prepared(tmp_path, "pkg.zip", buffer.getvalue(), "bin/main.py")
    assert p.kind == "python" and p.command[-1] == str(p.cwd / "bin" / "main.py")
    assert (p.cwd / "bin" / "helper.py").exists()


def end(p: runners.Prepared, rc: int, **kw) -> runners.Outcome:
    return runners.outcome(p, rc, stop_asked=kw.get("stop", False),
                           abort_asked=kw.get("abort", False),
                           failed_tests=kw.get("failed", []), stderr_tail=kw.get("tail", []))


def test_robot_framework_exit_codes(tmp_path):
    p = prepared(tmp_path)
    assert end(p, 0) == runners.Outcome("completed", outputs={})
    p.output_file.write_text('{"total": 3}')
    assert end(p, 0).outputs == {"total": 3}
    p.output_file.write_text("[1, 2]")
    assert end(p, 0) == runners.Outcome(
        "failed", "FLOWPORT_OUTPUT must hold a JSON object (name: value)")
    p.output_file.write_text("{oops")
    assert end(p, 0).status == "failed" and "does not hold JSON" in end(p, 0).error
    failed = end(p, 2, failed=[("Login", "wrong password"), ("Checkout", "")])
    assert failed == runners.Outcome("failed",
                                     "2 test(s) failed: Login (wrong password); Checkout")
    assert end(p, 250, failed=[("T", "")]).error == "250+ test(s) failed: T"
    assert end(p, 253).status == "stopped"
    assert end(p, 1, stop=True).status == "stopped"
    assert end(p, 1, abort=True).status == "aborted"
    assert end(p, -9).error == "killed by signal 9 (exit code -9)"
    bad = end(p, 252, tail=["", "[ ERROR ] Parsing 'x' failed"])
    assert bad.error == ("Robot Framework refused the suite or its options (exit code 252): "
                         "[ ERROR ] Parsing 'x' failed")
    assert end(p, 255).error.startswith("Robot Framework crashed")


def test_python_exit_codes(tmp_path):
    p = prepared(tmp_path, "script.py", b"print(1)")
    assert p.kind == "python"
    assert end(p, 0).status == "completed"
    assert end(p, 3, tail=["Traceback", "ValueError: no"]) == runners.Outcome(
        "failed", "the script ended with exit status 3: Traceback | ValueError: no")
    assert end(p, -2, stop=True).status == "stopped"
    assert end(p, 0, stop=True).status == "completed"  # it finished before it heard the stop


def run_suite(tmp_path: Path, source: str, monkeypatch, **inputs) -> tuple[int, Path]:
    """A real Robot Framework run in this process, with the listener and the library."""
    suite = tmp_path / "suite.robot"
    suite.write_text(source)
    (tmp_path / "in.json").write_text(json.dumps(inputs))
    monkeypatch.setenv("FLOWPORT_INPUT", str(tmp_path / "in.json"))
    monkeypatch.setenv("FLOWPORT_OUTPUT", str(tmp_path / "out.json"))
    monkeypatch.setenv("FLOWPORT_PROGRESS", str(tmp_path / "progress.jsonl"))
    rc = robot.run(str(suite), outputdir=str(tmp_path / "out"), variablefile=[
        str(tmp_path / "in.json")], listener="flowport.robot.listener.Progress",
        stdout=io.StringIO(), stderr=io.StringIO())
    return rc, tmp_path


SUITE = """*** Settings ***
Library    flowport.robot.keywords

*** Tasks ***
Uses Inputs
    ${order}=    Get Input    order
    Should Be Equal    ${order}    ${order_as_variable}
    Set Output    confirmation    C-${order}
    Set Outputs    count=${2}
    Log    hello from the suite    WARN

Fails
    Fail    nothing to do
"""


def test_listener_and_keywords_in_a_real_suite(tmp_path, monkeypatch):
    rc, folder = run_suite(tmp_path, SUITE, monkeypatch, order="A-1",
                           order_as_variable="A-1")
    assert rc == 1
    assert json.loads((folder / "out.json").read_text()) == {"confirmation": "C-A-1",
                                                            "count": 2}
    records = [json.loads(line) for line in (folder / "progress.jsonl").read_text().splitlines()]
    kinds = [r.get("kind") for r in records if r["type"] == "progress"]
    assert kinds == ["suite_started", "test_started", "test_ended", "test_started",
                     "test_ended", "suite_ended"]
    ended = [r["detail"] for r in records if r.get("kind") == "test_ended"]
    assert [(d["name"], d["status"], d["message"]) for d in ended] == [
        ("Uses Inputs", "PASS", ""), ("Fails", "FAIL", "nothing to do")]
    logs = [(r["level"], r["message"]) for r in records if r["type"] == "log"]
    assert ("WARN", "hello from the suite") in logs
    assert all(r["time"].endswith("+00:00") for r in records if r["type"] == "log")
    # Without the listener's records, the failed tests come from output.xml.
    p = runners.Prepared("robot", [], folder, {}, folder / "out.json", folder / "none",
                         folder / "out")
    assert end(p, 1).error == "1 test(s) failed: Fails (nothing to do)"


def test_keywords_refuse_what_they_cannot_do(tmp_path, monkeypatch):
    monkeypatch.delenv("FLOWPORT_OUTPUT", raising=False)
    with pytest.raises(RuntimeError, match="FLOWPORT_OUTPUT is not set"):
        keywords.set_output("x", 1)
    (tmp_path / "in.json").write_text('{"a": 1}')
    monkeypatch.setenv("FLOWPORT_INPUT", str(tmp_path / "in.json"))
    assert keywords.get_input("a") == 1 and keywords.get_input("b", 7) == 7
    with pytest.raises(AssertionError, match="no input 'b'; the inputs are: a"):
        keywords.get_input("b")
    assert keywords.get_inputs() == {"a": 1}


def test_the_work_directory(tmp_path):
    place = Workdir(tmp_path / "w")
    place.open()
    with pytest.raises(WorkdirError, match="another agent"):
        Workdir(tmp_path / "w").open()
    assert place.credential() is None
    place.save_credential("fpr_x", {"id": "1", "name": "r1"})
    assert place.credential() == "fpr_x"
    assert stat.S_IMODE(os.stat(tmp_path / "w" / "credential").st_mode) == 0o600
    place.record(JOB, fencing_token=3)
    place.record(JOB, pgid=1234)
    (tmp_path / "w" / "jobs" / "junk").mkdir()
    assert place.journal() == [{"id": JOB, "fencing_token": 3, "pgid": 1234}]
    assert not (tmp_path / "w" / "jobs" / "junk").exists()
    place.finish(JOB)
    assert place.journal() == []
    with pytest.raises(WorkdirError, match="malformed id"):
        place.job_dir("../../etc")
    place.close()
    Workdir(tmp_path / "w").open()  # the lock went with the first


def test_packages_are_cached_by_hash(tmp_path):
    place = Workdir(tmp_path / "w")
    place.open()
    content = b"print('hi')"
    sha = hashlib.sha256(content).hexdigest()
    calls = []

    def download() -> bytes:
        calls.append(1)
        return content

    first = place.package(sha, "../job.py", download)
    assert first.read_bytes() == content and first.name == "job.py"
    assert place.package(sha, "../job.py", download) == first and len(calls) == 1
    with pytest.raises(WorkdirError, match="does not match"):
        place.package("0" * 64, "x.py", download)
    with pytest.raises(WorkdirError, match="malformed hash"):
        place.package("../x", "x.py", download)


def test_retrying_waits_out_network_errors_but_not_refusals():
    log = logging.getLogger("test")
    never = threading.Event()
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ConnectError("refused")
        if len(attempts) < 4:
            raise ApiError(503, {"detail": "busy"})
        return "ok"

    assert retrying(flaky, what="x", log=log, give_up=never, first_delay=0.01) == "ok"
    assert len(attempts) == 4

    def refused() -> None:
        raise ApiError(409, {"detail": "stale"})

    with pytest.raises(ApiError):
        retrying(refused, what="x", log=log, give_up=never, first_delay=0.01)
    gone = threading.Event()
    gone.set()
    with pytest.raises(GaveUp):
        retrying(lambda: (_ for _ in ()).throw(httpx.ReadTimeout("slow")), what="x",
                 log=log, give_up=gone, first_delay=0.01)


def test_tail_reads_complete_lines_only(tmp_path):
    path = tmp_path / "p.jsonl"
    tail = _Tail(path)
    assert list(tail.lines()) == []
    path.write_text('{"a": 1}\n{"b"')
    assert list(tail.lines()) == [{"a": 1}]
    with path.open("a") as out:
        out.write(': 2}\nnot json\n[1]\n')
    assert list(tail.lines()) == [{"b": 2}]
    tail.close()
