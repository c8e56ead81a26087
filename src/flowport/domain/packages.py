"""Robot packages: a Robot Framework suite (.robot), a Python script (.py), or a .zip holding
either, with a `manifest.json` naming the entry point when the archive holds more than one:

    {"entry_point": "tasks/main.robot"}

The entry point is a .robot or .py file of the archive, or a folder of .robot suites (Robot
Framework runs them all). Paths are checked at upload, so a robot never unpacks a file outside
its job's folder."""

from __future__ import annotations

import io
import json
import posixpath
import zipfile

from flowport.domain.processes import ContentKind
from flowport.errors import BadInput

MANIFEST = "manifest.json"
RUNNABLE = (".robot", ".py")


def check_package(kind: ContentKind, content: bytes) -> str | None:
    """Validate a package; return its entry point (None for a single file: the file)."""
    if kind in (ContentKind.ROBOT, ContentKind.PYTHON):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput("a .robot or .py package must be UTF-8 text", field="file") from None
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            manifest = archive.read(MANIFEST) if MANIFEST in names else None
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, NotImplementedError):
        raise BadInput("the .zip package is not a readable zip archive", field="file") from None
    for name in names:
        if not safe_member(name):
            raise BadInput(f"the .zip package holds an unsafe path {name!r} (absolute, or "
                           f"reaching outside with '..')", field="file")
    if manifest is not None:
        return _entry_from_manifest(manifest, names)
    entries = [n for n in names if n.endswith(RUNNABLE) and "/" not in n]
    if len(entries) == 1:
        return entries[0]
    raise BadInput(f"a .zip package needs {MANIFEST} naming its entry point, or exactly one "
                   f"top-level .robot or .py file", field="file")


def safe_member(name: str) -> bool:
    """A relative path that stays inside the folder it is unpacked in."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/")[0]:
        return False
    return ".." not in posixpath.normpath(name).split("/")


def _entry_from_manifest(raw: bytes, names: list[str]) -> str:
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadInput(f"{MANIFEST} is not valid JSON", field="file") from None
    entry = manifest.get("entry_point") if isinstance(manifest, dict) else None
    if not isinstance(entry, str) or not entry.strip():
        raise BadInput(f'{MANIFEST} must be an object with "entry_point": the .robot or .py '
                       f"file (or a folder of .robot suites) to run", field="file")
    entry = entry.strip().rstrip("/")
    if entry in names and entry.endswith(RUNNABLE):
        return entry
    folder = entry + "/"
    if any(n.startswith(folder) and n.endswith(".robot") for n in names):
        return folder
    raise BadInput(f"the entry point {entry!r} of {MANIFEST} is not a .robot or .py file, nor a "
                   f"folder of .robot suites, in the archive", field="file")
