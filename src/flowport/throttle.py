"""Login throttling: after a few failures a key (a login, a client address) waits, longer
each time. Kept in memory: each replica throttles on its own, which only makes it stricter."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class Throttle:
    def __init__(self, free_failures: int = 5, base_delay: float = 1.0,
                 max_delay: float = 300.0, forget_after: timedelta = timedelta(minutes=15)):
        self.free_failures = free_failures
        self.base_delay, self.max_delay = base_delay, max_delay
        self.forget_after = forget_after
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, datetime]] = {}

    def retry_after(self, key: str, now: datetime) -> int:
        """Whole seconds to wait before the next attempt (0: go ahead)."""
        with self._lock:
            entry = self._failures.get(key)
        if entry is None:
            return 0
        count, last = entry
        if now - last > self.forget_after:
            return 0
        excess = count - self.free_failures
        if excess < 0:
            return 0
        delay = min(self.base_delay * 2**excess, self.max_delay)
        remaining = delay - (now - last).total_seconds()
        return max(0, int(remaining + 0.999))

    def failed(self, key: str, now: datetime) -> None:
        with self._lock:
            count, last = self._failures.get(key, (0, now))
            if now - last > self.forget_after:
                count = 0
            self._failures[key] = (count + 1, now)
            if len(self._failures) > 100_000:  # bound memory under a spray of logins
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
