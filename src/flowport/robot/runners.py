"""The subprocess of one run: how it is started, and what its end means.

A Robot Framework suite runs as `python -m robot` with its inputs as variables (a JSON variable
file), a listener writing per-test progress, and its outputs (output.xml, log.html,
report.html, screenshots) in the artifacts folder. A Python script runs as `python SCRIPT`.
Both find their inputs in the JSON file named by FLOWPORT_INPUT and write their outputs as a
JSON object to the file named by FLOWPORT_OUTPUT. Each run has its own working directory and
its own process group, so stop (SIGINT) and abort (SIGKILL) reach everything it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Robot Framework's exit codes: 1-250 failed tests (250 or more), then these.
RF_HELP, RF_BAD_DATA, RF_STOPPED, RF_INTERNAL = 251, 252, 253, 255


@dataclass(frozen=True)
class Prepared:
    kind: str  # "robot" or "python"
    command: list[str]
    cwd: Path
    env: dict[str, str]
    output_file: Path
    progress_file: Path
    artifacts: Path


@dataclass(frozen=True)
class Outcome:
    status: str  # completed, failed, stopped, aborted
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


def prepare(job_dir: Path, package: Path, entry_point: str | None,
            variables: dict[str, Any], job_id: str) -> Prepared:
    """Lay out the job's folder: the package (unpacked), its inputs, a place for outputs."""
    run_dir = job_dir / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    if package.suffix.lower() == ".zip":
        with zipfile.ZipFile(package) as archive:
            archive.extractall(run_dir)  # member paths were checked at upload; zipfile strips
            #                              absolute paths and '..' as well
        entry = run_dir / (entry_point or "")
    else:
        entry = run_dir / package.name
        shutil.copyfile(package, entry)
    artifacts = job_dir / "artifacts"
    artifacts.mkdir(exist_ok=True)
    input_file, output_file = job_dir / "input.json", job_dir / "output.json"
    progress_file = job_dir / "progress.jsonl"
    input_file.write_text(json.dumps(variables), encoding="utf-8")
    output_file.unlink(missing_ok=True)
    progress_file.unlink(missing_ok=True)
    env = {**os.environ, "FLOWPORT_INPUT": str(input_file), "FLOWPORT_OUTPUT": str(output_file),
           "FLOWPORT_PROGRESS": str(progress_file), "FLOWPORT_ARTIFACTS": str(artifacts),
           "FLOWPORT_JOB_ID": job_id, "FLOWPORT_AGENT_PID": str(os.getpid()),
           "PYTHONUNBUFFERED": "1"}
    for secret in ("FLOWPORT_ROBOT_TOKEN", "FLOWPORT_TOKEN"):  # a run gets no credential
        env.pop(secret, None)
    launch = [sys.executable, "-m", "flowport.robot.launch", sys.executable]
    if entry.suffix == ".py":
        return Prepared("python", [*launch, str(entry)], run_dir, env, output_file,
                        progress_file, artifacts)
    command = [*launch, "-m", "robot", "--outputdir", str(artifacts),
               "--variablefile", str(input_file),
               "--listener", "flowport.robot.listener.Progress",
               "--consolecolors", "off", "--consolemarkers", "off", "--console", "verbose",
               str(entry)]
    return Prepared("robot", command, run_dir, env, output_file, progress_file, artifacts)


def spawn(prepared: Prepared) -> subprocess.Popen[bytes]:
    """Start the run in its own session: its process group id is its pid."""
    return subprocess.Popen(prepared.command, cwd=prepared.cwd, env=prepared.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a run's whole process group; False when it is gone already."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def interrupt(pgid: int) -> bool:
    return signal_group(pgid, signal.SIGINT)


def kill(pgid: int) -> bool:
    return signal_group(pgid, getattr(signal, "SIGKILL", signal.SIGTERM))


def read_outputs(prepared: Prepared) -> tuple[dict[str, Any] | None, str | None]:
    """(outputs, None), or (None, what is wrong with the output file)."""
    if not prepared.output_file.exists():
        return {}, None
    try:
        outputs = json.loads(prepared.output_file.read_text(encoding="utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"FLOWPORT_OUTPUT does not hold JSON: {exc}"
    if not isinstance(outputs, dict):
        return None, "FLOWPORT_OUTPUT must hold a JSON object (name: value)"
    return outputs, None


def outcome(prepared: Prepared, returncode: int, *, stop_asked: bool, abort_asked: bool,
            failed_tests: list[tuple[str, str]], stderr_tail: list[str]) -> Outcome:
    """What the end of a run means, from its exit status and what was asked of it."""
    if abort_asked:
        return Outcome("aborted", "aborted: the run was killed on request")
    if returncode == 0:
        outputs, problem = read_outputs(prepared)
        if outputs is None:
            return Outcome("failed", problem)
        return Outcome("completed", outputs=outputs)
    if prepared.kind == "robot":
        return _robot_outcome(prepared, returncode, stop_asked, failed_tests, stderr_tail)
    if stop_asked:
        return Outcome("stopped", f"stopped on request (the script ended with exit status "
                                  f"{returncode})")
    return Outcome("failed", _with_tail(f"the script ended with exit status {returncode}",
                                        stderr_tail))


def _robot_outcome(prepared: Prepared, rc: int, stop_asked: bool,
                   failed_tests: list[tuple[str, str]], stderr_tail: list[str]) -> Outcome:
    if rc == RF_STOPPED or (stop_asked and rc > 0):
        return Outcome("stopped", f"Robot Framework stopped the run gracefully (exit code {rc})")
    if 1 <= rc <= 250:
        failed = failed_tests or _failed_from_output(prepared.artifacts / "output.xml")
        named = "; ".join(f"{name} ({message})" if message else name
                          for name, message in failed[:20])
        more = f" and {len(failed) - 20} more" if len(failed) > 20 else ""
        count = f"{rc}{'+' if rc == 250 else ''}"
        return Outcome("failed", f"{count} test(s) failed: {named}{more}" if named
                       else f"{count} test(s) failed")
    what = {RF_HELP: "Robot Framework printed its help instead of running",
            RF_BAD_DATA: "Robot Framework refused the suite or its options",
            RF_INTERNAL: "Robot Framework crashed"}.get(rc)
    if what is None:
        what = f"killed by signal {-rc}" if rc < 0 else "Robot Framework ended"
    return Outcome("failed", _with_tail(f"{what} (exit code {rc})", stderr_tail))


def _failed_from_output(output_xml: Path) -> list[tuple[str, str]]:
    """Failed tests from output.xml, when the listener could not say."""
    if not output_xml.exists():
        return []
    try:
        from robot.api import ExecutionResult, ResultVisitor
    except ImportError:  # pragma: no cover - Robot Framework is a dependency
        return []
    failed: list[tuple[str, str]] = []

    class Failed(ResultVisitor):
        def visit_test(self, test: Any) -> None:
            if test.status == "FAIL":
                failed.append((test.name, test.message))

    try:
        ExecutionResult(str(output_xml)).visit(Failed())
    except Exception:  # a truncated output.xml (a killed run): say only what the rc says
        return []
    return failed


def _with_tail(message: str, tail: list[str]) -> str:
    lines = [line for line in tail if line.strip()][-5:]
    return message + (": " + " | ".join(lines) if lines else "")
