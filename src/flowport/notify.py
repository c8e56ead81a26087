"""In-process wake-ups: a request waiting for an instance is woken when a transaction in this
process changes it. Waiters also poll, so a change made by another process is seen too."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict

Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per key, its waiters in the order publish_one wakes them (a dict keeps that order).
        self._waiters: dict[str, dict[Waiter, None]] = defaultdict(dict)
        self.timers_changed = threading.Event()
        # Set when a schedule's next fire time changed, so the schedule loop re-reads it.
        self.schedules_changed = threading.Event()
        # Executor steps or hook calls were queued: the step workers look for work.
        self.steps_queued = threading.Event()

    def subscribe(self, key: str) -> Waiter:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[key][waiter] = None
        return waiter

    def unsubscribe(self, key: str, waiter: Waiter) -> None:
        with self._lock:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.pop(waiter, None)
                if not waiters:
                    del self._waiters[key]

    def publish(self, key: str) -> None:
        """Wake every waiter of `key`. Safe to call from any thread."""
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def publish_one(self, key: str) -> None:
        """Wake one waiter of `key`, each call the next in turn: one new job wakes one robot
        rather than all of them. Safe to call from any thread."""
        with self._lock:
            waiters = self._waiters.get(key)
            if not waiters:
                return
            chosen = next(iter(waiters))
            del waiters[chosen]
            waiters[chosen] = None  # to the back of the line
        loop, event = chosen
        loop.call_soon_threadsafe(event.set)
