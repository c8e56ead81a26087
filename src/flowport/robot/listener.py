"""A Robot Framework listener (API v3) run inside the suite's process. It appends one JSON
line per event to the file named by FLOWPORT_PROGRESS: suites and tests starting and ending,
and keyword log messages with their level. The agent tails that file and forwards it."""

from __future__ import annotations

import json
import os
from datetime import UTC
from typing import Any

ROBOT_LISTENER_API_VERSION = 3


class Progress:
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self) -> None:
        path = os.environ.get("FLOWPORT_PROGRESS")
        self._out = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def _write(self, record: dict[str, Any]) -> None:
        if self._out is not None:
            self._out.write(json.dumps(record, default=str) + "\n")
            self._out.flush()

    def start_suite(self, data: Any, result: Any) -> None:
        self._write({"type": "progress", "kind": "suite_started",
                     "detail": {"suite": result.full_name, "tests": data.test_count}})

    def end_suite(self, data: Any, result: Any) -> None:
        self._write({"type": "progress", "kind": "suite_ended",
                     "detail": {"suite": result.full_name, "status": result.status,
                                "message": result.message[:2000],
                                "passed": result.statistics.passed,
                                "failed": result.statistics.failed,
                                "skipped": result.statistics.skipped}})

    def start_test(self, data: Any, result: Any) -> None:
        self._write({"type": "progress", "kind": "test_started",
                     "detail": {"test": result.full_name}})

    def end_test(self, data: Any, result: Any) -> None:
        self._write({"type": "progress", "kind": "test_ended",
                     "detail": {"test": result.full_name, "name": result.name,
                                "status": result.status, "message": result.message[:2000],
                                "seconds": round(result.elapsed_time.total_seconds(), 3)}})

    def log_message(self, message: Any) -> None:
        # Robot Framework's timestamps are local time without a zone.
        at = message.timestamp.astimezone(UTC).isoformat() if message.timestamp else None
        self._write({"type": "log", "level": message.level, "message": message.message,
                     "time": at})

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
