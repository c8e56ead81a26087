"""Wake-ups: a request waiting for an instance, a robot waiting for work and the background
loops are woken when a transaction changes what they wait for. Within a process directly; across
processes on PostgreSQL through a relay (LISTEN/NOTIFY, `store/relay.py`) that `connect` plugs
in. Waiters also poll, so a wake-up lost on the way costs latency, never correctness."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable

Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]
Send = Callable[[str], None]


class Signal(threading.Event):
    """A loop's wake-up: `set` here wakes the loop of every process."""

    def __init__(self, name: str, notifier: Notifier) -> None:
        super().__init__()
        self.name = name
        self._notifier = notifier

    def set(self) -> None:
        super().set()
        self._notifier.send(f"s:{self.name}")

    def set_here(self) -> None:
        super().set()


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per key, its waiters in the order publish_one wakes them (a dict keeps that order).
        self._waiters: dict[str, dict[Waiter, None]] = defaultdict(dict)
        self.timers_changed = Signal("timers", self)
        # Set when a schedule's next fire time changed, so the schedule loop re-reads it.
        self.schedules_changed = Signal("schedules", self)
        # Executor steps or hook calls were queued: the step workers look for work.
        self.steps_queued = Signal("steps", self)
        self._signals = {s.name: s for s in (self.timers_changed, self.schedules_changed,
                                             self.steps_queued)}
        self._send: Send | None = None
        # Set on shutdown: waiters answer with what they have and take no new work.
        self.closing = False

    def connect(self, send: Send | None) -> None:
        """Relay every publish to the other processes through `send` (None: this one only)."""
        self._send = send

    def send(self, message: str) -> None:
        if self._send is not None:
            self._send(message)

    def subscribe(self, key: str) -> Waiter:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        if self.closing:
            waiter[1].set()
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
        """Wake every waiter of `key`, here and in the other processes. Safe to call from any
        thread."""
        self._wake_all(key)
        self.send(f"a:{key}")

    def publish_one(self, key: str) -> None:
        """Wake one waiter of `key`, each call the next in turn: one new job wakes one robot
        rather than all of them (one per process, with a relay). Safe to call from any
        thread."""
        self._wake_one(key)
        self.send(f"1:{key}")

    def deliver(self, message: str) -> None:
        """A wake-up another process sent: act on it here only."""
        kind, _, key = message.partition(":")
        if kind == "a":
            self._wake_all(key)
        elif kind == "1":
            self._wake_one(key)
        elif kind == "s" and key in self._signals:
            self._signals[key].set_here()

    def wake_everyone(self) -> None:
        """Wake every waiter and loop here: wake-ups may have been missed (the relay was
        disconnected) or the process is shutting down."""
        with self._lock:
            keys = list(self._waiters)
        for key in keys:
            self._wake_all(key)
        for signal in self._signals.values():
            signal.set_here()

    def close(self) -> None:
        """Shutting down: every waiter answers now with what it has."""
        self.closing = True
        self.wake_everyone()

    def _wake_all(self, key: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _wake_one(self, key: str) -> None:
        with self._lock:
            waiters = self._waiters.get(key)
            if not waiters:
                return
            chosen = next(iter(waiters))
            del waiters[chosen]
            waiters[chosen] = None  # to the back of the line
        loop, event = chosen
        loop.call_soon_threadsafe(event.set)
