"""Process files on disk, each with an optional sidecar describing how to deploy it.

A sidecar sits next to its process file and shares its stem: `order.bpmn` has
`order.flowport.json`, `report.robot` has `report.flowport.json`:

    {"key": "order-routing", "name": "Order routing", "description": "...",
     "process_type": 0, "min_version_to_run": null, "bpmn_process_id": "order_routing",
     "parameters": [{"name": "amount", "type": "integer", "required": true}],
     "outputs": ["route", {"name": "eta", "variable": "eta_days"}]}

Every field is optional. Without a key the BPMN's executable process id is the key (a package
takes its file stem); without a process_type the file's extension decides. A directory deploys
every `.bpmn` file in it, recursively, and every other process file that has a sidecar (so a
stray `.py` file is never deployed by accident).

Only the standard library is used: the CLI parses BPMN just enough to find the process id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

SIDECAR_SUFFIX = ".flowport.json"
BPMN_SUFFIXES = (".bpmn20.xml", ".bpmn", ".xml")
PACKAGE_SUFFIXES = (".robot", ".py", ".zip")
# Deployed from a directory even without a sidecar.
ALWAYS_SUFFIXES = (".bpmn20.xml", ".bpmn")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# Package processes also take robot_tags (tags a robot needs), max_attempts and
# retry_backoff (retries of work whose robot was lost).
ROBOT_FIELDS = ("robot_tags", "max_attempts", "retry_backoff")
SIDECAR_FIELDS = frozenset({"key", "name", "description", "process_type", "min_version_to_run",
                            "bpmn_process_id", "parameters", "outputs", *ROBOT_FIELDS})
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__"})


class BundleError(Exception):
    """A process file or its sidecar cannot be deployed as it is."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    content: bytes
    key: str
    process_type: int
    name: str | None = None
    description: str = ""
    min_version_to_run: str | None = None
    bpmn_process_id: str | None = None
    parameters: list[Any] | None = None
    outputs: list[Any] | dict[str, str] | None = None
    robot_policy: dict[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return self.path.name


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in (*BPMN_SUFFIXES, *PACKAGE_SUFFIXES):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def sidecar_of(path: Path) -> Path:
    suffix = _suffix(path) or path.suffix
    return path.with_name(path.name[: len(path.name) - len(suffix)] + SIDECAR_SUFFIX)


def is_bpmn(path: Path) -> bool:
    return _suffix(path) in BPMN_SUFFIXES


def discover(root: Path) -> list[Path]:
    """The process files under a directory, in a stable order."""
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p in SKIPPED_DIRS for p in parts) or not path.is_file():
            continue
        if path.name.endswith(SIDECAR_SUFFIX):
            continue
        suffix = _suffix(path)
        if suffix in ALWAYS_SUFFIXES or (suffix and sidecar_of(path).is_file()):
            found.append(path)
    return found


def read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = sidecar_of(path)
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{sidecar}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{sidecar}: a sidecar is a JSON object")
    unknown = sorted(set(data) - SIDECAR_FIELDS)
    if unknown:
        raise BundleError(f"{sidecar}: unknown field(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(SIDECAR_FIELDS))}")
    for name in ("key", "name", "description", "min_version_to_run", "bpmn_process_id"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise BundleError(f"{sidecar}: {name} must be a string")
    if data.get("parameters") is not None and not isinstance(data["parameters"], list):
        raise BundleError(f"{sidecar}: parameters must be a list")
    if data.get("outputs") is not None and not isinstance(data["outputs"], list | dict):
        raise BundleError(f"{sidecar}: outputs must be a list or an object")
    if data.get("robot_tags") is not None and not isinstance(data["robot_tags"], list):
        raise BundleError(f"{sidecar}: robot_tags must be a list")
    for name in ("max_attempts", "retry_backoff"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise BundleError(f"{sidecar}: {name} must be a whole number")
    return data


@dataclass(frozen=True)
class BpmnProcess:
    id: str
    name: str | None


def executable_processes(content: bytes) -> tuple[list[BpmnProcess], set[str]]:
    """The executable processes of a BPMN document, and the ids its call activities call."""
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise BundleError(f"not well-formed XML: {exc}") from None
    processes = [
        BpmnProcess(p.get("id", ""), p.get("name"))
        for p in root.iter(f"{{{BPMN_NS}}}process")
        if p.get("id") and p.get("isExecutable", "true").strip().lower() == "true"
    ]
    called = {c.get("calledElement", "") for c in root.iter(f"{{{BPMN_NS}}}callActivity")}
    return processes, called


def main_process(path: Path, content: bytes, *, wanted: str | None = None,
                 key: str | None = None) -> BpmnProcess:
    """The process a BPMN file deploys: `wanted` if named; else the one whose id is `key`;
    else its only executable process that no call activity in the same file calls."""
    processes, called = executable_processes(content)
    if wanted is not None:
        for process in processes:
            if process.id == wanted:
                return process
        raise BundleError(f"{path}: no executable process with id {wanted!r}")
    if not processes:
        raise BundleError(f"{path}: no executable BPMN process (isExecutable=\"true\") found")
    for process in processes:
        if process.id == key:
            return process
    roots = [p for p in processes if p.id not in called] or processes
    if len(roots) > 1:
        ids = ", ".join(p.id for p in roots)
        raise BundleError(f"{path}: several executable processes ({ids}); name one as "
                          f"bpmn_process_id in {sidecar_of(path).name}")
    return roots[0]


def load(path: Path, *, key: str | None = None, name: str | None = None) -> Bundle:
    """Read one process file and its sidecar; `key` and `name` override the sidecar."""
    if _suffix(path) is None:
        raise BundleError(f"{path}: not a process file (.bpmn, .xml, .robot, .py or .zip)")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror or exc}") from None
    side = read_sidecar(path)
    key = key or side.get("key")
    name = name or side.get("name")
    bpmn_id: str | None = side.get("bpmn_process_id")
    process_type = side.get("process_type", 0 if is_bpmn(path) else 1)
    if process_type not in (0, 1) or isinstance(process_type, bool):
        raise BundleError(f"{sidecar_of(path)}: process_type is 0 (BPMN) or 1 (package)")
    if is_bpmn(path):
        chosen = main_process(path, content, wanted=bpmn_id or None, key=key)
        bpmn_id = chosen.id
        key = key or chosen.id
        name = name or chosen.name
    key = key or path.name[: len(path.name) - len(_suffix(path) or "")]
    return Bundle(path=path, content=content, key=key, process_type=process_type, name=name,
                  description=side.get("description") or "",
                  min_version_to_run=side.get("min_version_to_run"), bpmn_process_id=bpmn_id,
                  parameters=side.get("parameters"), outputs=side.get("outputs"),
                  robot_policy={k: side[k] for k in ROBOT_FIELDS if side.get(k) is not None})


def targets(path: Path, *, key: str | None = None, name: str | None = None) -> list[Path]:
    """The process files a path names: itself, or every process file under a directory (then
    `key` and `name` may only be given when it holds a single one)."""
    if not path.exists():
        raise BundleError(f"{path}: no such file or directory")
    if not path.is_dir():
        return [path]
    files = discover(path)
    if not files:
        raise BundleError(f"{path}: no process files found")
    if (key or name) and len(files) > 1:
        raise BundleError(f"{path}: --key and --name apply to a single process, but the "
                          f"directory holds {len(files)}")
    return files
