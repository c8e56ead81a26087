"""The agent's work directory: its credential, a cache of packages by content hash, and a
journal of the jobs it runs, so that after a crash it knows what it lost.

    WORKDIR/credential            the robot's own credential (mode 0600)
    WORKDIR/robot.json            who it is, for people reading the directory
    WORKDIR/packages/SHA256/...   downloaded packages, checked against their hash
    WORKDIR/jobs/ID/journal.json  one per job until its result is reported
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class WorkdirError(Exception):
    """The work directory cannot be used (locked by another agent, unwritable...)."""


class Workdir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock_file: IO[str] | None = None
        self._packages = threading.Lock()

    def open(self) -> None:
        """Create the directory and take its lock: one agent per work directory."""
        try:
            for folder in (self.root, self.root / "packages", self.root / "jobs"):
                folder.mkdir(parents=True, exist_ok=True)
            self._lock_file = (self.root / ".lock").open("w")
        except OSError as exc:
            raise WorkdirError(f"cannot use {self.root}: {exc.strerror or exc}") from None
        try:
            import fcntl

            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock, one agent by convention
            pass
        except OSError:
            raise WorkdirError(f"another agent is running in {self.root}") from None

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- credential -------------------------------------------------------------------------

    def credential(self) -> str | None:
        path = self.root / "credential"
        if not path.is_file():
            return None
        return path.read_text().strip() or None

    def save_credential(self, credential: str, robot: dict[str, Any]) -> None:
        path = self.root / "credential"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(credential + "\n")
        os.chmod(path, 0o600)
        _write_json(self.root / "robot.json", {"id": robot.get("id"), "name": robot.get("name")})

    # -- packages ---------------------------------------------------------------------------

    def package(self, sha256: str, file_name: str, download: Callable[[], bytes]) -> Path:
        """The package file, downloaded once and checked against its hash."""
        if not SHA256.match(sha256):
            raise WorkdirError(f"the server named a package by a malformed hash {sha256!r}")
        folder = self.root / "packages" / sha256
        target = folder / _safe_name(file_name)
        with self._packages:
            if target.is_file():
                return target
            content = download()
            if hashlib.sha256(content).hexdigest() != sha256:
                raise WorkdirError(f"package {file_name} does not match its hash {sha256}")
            folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(content)
            os.replace(partial, target)
        return target

    # -- the journal of running jobs --------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise WorkdirError(f"the server named a job by a malformed id {job_id!r}")
        return self.root / "jobs" / job_id

    def record(self, job_id: str, **fields: Any) -> None:
        """Add to a job's journal entry (written whole, so a crash never leaves half of it)."""
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        entry = _read_json(folder / "journal.json") or {"id": job_id}
        entry.update(fields)
        _write_json(folder / "journal.json", entry)

    def journal(self) -> list[dict[str, Any]]:
        """Jobs whose result was not reported yet (after a crash: the ones it lost)."""
        entries = []
        for folder in sorted((self.root / "jobs").iterdir()):
            entry = _read_json(folder / "journal.json")
            if entry and JOB_ID.match(str(entry.get("id", ""))):
                entries.append(entry)
            elif folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)  # claimed nothing yet: nothing lost
        return entries

    def finish(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", name.rsplit("/", 1)[-1]).lstrip(".")
    return cleaned or "package"


def _read_json(path: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            return loaded
    return None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2, default=str), encoding="utf-8")
    os.replace(partial, path)
