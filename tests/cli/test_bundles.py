"""Finding process files and reading their sidecars (no server involved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowport import bundles
from flowport.cli_common import parse_pairs
from flowport.domain.assignments import parse_value

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'


def bpmn(*processes: str, call: str | None = None) -> bytes:
    body = "".join(
        f'<bpmn:process id="{p}" name="The {p}" isExecutable="true">'
        + (f'<bpmn:callActivity id="c" calledElement="{call}"/>' if call and p != call else "")
        + "</bpmn:process>" for p in processes)
    return f'<bpmn:definitions {NS} id="d">{body}</bpmn:definitions>'.encode()


def test_the_examples_directory() -> None:
    found = [bundles.load(p) for p in bundles.targets(EXAMPLES)]
    assert sorted(b.key for b in found) == ["UsrAddNewExternalContact", "UsrGetAllContacts",
                                            "cloud-host", "exchange-rate", "expense-approval",
                                            "invoice-approval", "invoice-check",
                                            "invoice-entry", "order-routing"]
    invoices = next(b for b in found if b.key == "invoice-check")
    assert (invoices.process_type, invoices.file_name) == (1, "invoice-check.robot")
    assert invoices.robot_policy == {"max_attempts": 2, "retry_backoff": 30}
    routing = next(b for b in found if b.key == "order-routing")
    assert routing.bpmn_process_id == "order_routing"
    assert routing.process_type == 0
    assert routing.outputs == ["route", "eta_days", "message"]


def test_key_and_name_come_from_the_bpmn_without_a_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "flow.bpmn"
    path.write_bytes(bpmn("main_flow"))
    b = bundles.load(path)
    assert (b.key, b.name, b.bpmn_process_id, b.parameters) == (
        "main_flow", "The main_flow", "main_flow", None)
    assert bundles.load(path, key="other", name="N").key == "other"


def test_a_called_process_is_not_the_main_one(tmp_path: Path) -> None:
    path = tmp_path / "flow.bpmn"
    path.write_bytes(bpmn("child", "parent", call="child"))
    assert bundles.load(path).bpmn_process_id == "parent"


def test_two_main_processes_need_a_choice(tmp_path: Path) -> None:
    path = tmp_path / "flow.bpmn"
    path.write_bytes(bpmn("a", "b"))
    with pytest.raises(bundles.BundleError, match="several executable processes"):
        bundles.load(path)
    assert bundles.load(path, key="b").bpmn_process_id == "b"
    (tmp_path / "flow.flowport.json").write_text('{"key": "k", "bpmn_process_id": "a"}')
    assert (bundles.load(path).key, bundles.load(path).bpmn_process_id) == ("k", "a")


@pytest.mark.parametrize(("sidecar", "message"), [
    ("{", "not valid JSON"),
    ("[]", "a JSON object"),
    ('{"kee": "x"}', "unknown field"),
    ('{"key": 5}', "key must be a string"),
    ('{"parameters": {}}', "parameters must be a list"),
    ('{"process_type": 3}', "process_type"),
    ('{"bpmn_process_id": "nope"}', "no executable process"),
    ('{"robot_tags": "win"}', "robot_tags must be a list"),
    ('{"max_attempts": "3"}', "max_attempts must be a whole number"),
    ('{"retry_backoff": true}', "retry_backoff must be a whole number"),
])
def test_bad_sidecars_are_named(tmp_path: Path, sidecar: str, message: str) -> None:
    path = tmp_path / "flow.bpmn"
    path.write_bytes(bpmn("p"))
    (tmp_path / "flow.flowport.json").write_text(sidecar)
    with pytest.raises(bundles.BundleError, match=message):
        bundles.load(path)


def test_directories_skip_stray_scripts_and_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "a.bpmn").write_bytes(bpmn("a"))
    (tmp_path / "helper.py").write_text("print(1)")
    (tmp_path / "job.robot").write_text("*** Tasks ***")
    (tmp_path / "job.flowport.json").write_text(json.dumps({"key": "job"}))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.bpmn").write_bytes(bpmn("b"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.bpmn20.xml").write_bytes(bpmn("c"))
    paths = bundles.targets(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "a.bpmn", "job.robot", "sub/c.bpmn20.xml"]
    job = bundles.load(tmp_path / "job.robot")
    assert (job.key, job.process_type, job.bpmn_process_id) == ("job", 1, None)
    assert bundles.load(tmp_path / "helper.py").key == "helper"  # a single file is fine
    with pytest.raises(bundles.BundleError, match="single process"):
        bundles.targets(tmp_path, key="k")
    (tmp_path / "empty").mkdir()
    with pytest.raises(bundles.BundleError, match="no process files"):
        bundles.targets(tmp_path / "empty")


def test_not_xml_and_not_a_process_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.bpmn"
    path.write_text("<bpmn")
    with pytest.raises(bundles.BundleError, match="not well-formed"):
        bundles.load(path)
    other = tmp_path / "notes.txt"
    other.write_text("hi")
    with pytest.raises(bundles.BundleError, match="not a process file"):
        bundles.load(other)


@pytest.mark.parametrize(("text", "value"), [
    ("12", 12), ("1.5", 1.5), ("true", True), ("null", None), ('{"a": 1}', {"a": 1}),
    ("[1]", [1]), ("hello", "hello"), ("007", "007"), ("+1 111", "+1 111"), ("NaN", "NaN"),
    ("Infinity", "Infinity"), ("", ""), ('"quoted"', "quoted"),
])
def test_command_line_values(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_pairs_override_the_json_object() -> None:
    assert parse_pairs(("a=2", "b=x=y"), '{"a": 1, "c": 3}', "--var") == {
        "a": 2, "b": "x=y", "c": 3}
