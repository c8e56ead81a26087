"""Background loops: fire due timers and schedules, run executor steps and cleanup hooks, act
on robot work whose lease expired or whose deadline passed (stop_after, abort_after, the grace
periods of stop and abort). Run inside `flowport serve` or alone in `flowport worker`; each step
claims rows, so any number of processes may run them against one database."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from flowport.errors import Unavailable
from flowport.notify import Signal
from flowport.services import instances, scheduler, steps, stopping
from flowport.services.context import Context

log = logging.getLogger("flowport.loops")
# The longest wait after failures: how late a loop may resume once the database is back (a
# reconnected relay wakes the loops at once).
BACKOFF_MAX = 5.0


class Loop:
    """Threads that do their due work, then sleep until more is due, the poll interval passes
    or `wake` is set (by a change in this process)."""

    name = "flowport-loop"

    def __init__(self, ctx: Context, poll: float, wake: threading.Event,
                 threads: int = 1) -> None:
        self.ctx = ctx
        self.poll = poll
        self.wake = wake
        self.threads = max(1, threads)
        self._stop = threading.Event()
        self._running: list[threading.Thread] = []

    def step(self) -> datetime | None:
        """Do the due work; return when the next is due (None: not known)."""
        raise NotImplementedError

    def start(self) -> None:
        for n in range(self.threads):
            name = self.name if self.threads == 1 else f"{self.name}-{n}"
            thread = threading.Thread(target=self.run, name=name, daemon=True)
            thread.start()
            self._running.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        # Wake this process's loop only: the others carry on.
        (self.wake.set_here if isinstance(self.wake, Signal) else self.wake.set)()
        for thread in self._running:
            thread.join(timeout)

    def run(self) -> None:
        backoff = self.poll
        while not self._stop.is_set():
            self.wake.clear()  # before looking, so a wake-up while the step runs is not lost
            try:
                due = self.step()
                backoff = self.poll
            except Unavailable as exc:  # the database is out of reach: wait, try again
                backoff = min(backoff * 2, BACKOFF_MAX)
                log.warning("%s: %s; next try in %.1f s", self.name, exc.message, backoff)
                due = None
            except Exception:  # one failed step must not end the loop
                log.exception("%s step failed; backing off", self.name)
                backoff = min(backoff * 2, BACKOFF_MAX)
                due = None
            delay = backoff
            if due is not None:
                until = (due - self.ctx.clock.now()) / timedelta(seconds=1)
                # A floor, so rows another replica holds for a moment cannot make it spin.
                delay = max(0.001, min(delay, until))
            self.wake.wait(delay)


class TimerLoop(Loop):
    name = "flowport-timers"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.settings.timer_poll_seconds, ctx.notifier.timers_changed)

    def step(self) -> datetime | None:
        instances.fire_due_timers(self.ctx)
        return instances.next_wake(self.ctx)


class ScheduleLoop(Loop):
    name = "flowport-schedules"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.settings.schedule_poll_seconds,
                         ctx.notifier.schedules_changed)

    def step(self) -> datetime | None:
        scheduler.fire_due_schedules(self.ctx)
        return scheduler.next_due(self.ctx)


class StepLoop(Loop):
    """Workers running executor steps and hook calls: a few threads, so that one slow call
    (an HTTP request, say) does not hold up the others."""

    name = "flowport-steps"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.settings.step_poll_seconds, ctx.notifier.steps_queued,
                         threads=ctx.settings.step_workers)

    def step(self) -> datetime | None:
        if steps.run_due_steps(self.ctx, limit=10):
            return self.ctx.clock.now()  # there may be more: look again at once
        return steps.next_due(self.ctx)


class DispatchLoop(Loop):
    name = "flowport-dispatch"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.settings.robot_poll_seconds, threading.Event())

    def step(self) -> datetime | None:
        stopping.run_due_jobs(self.ctx)
        return stopping.next_due(self.ctx)


def background_loops(ctx: Context) -> list[Loop]:
    """Every loop `serve` and `worker` run."""
    return [TimerLoop(ctx), ScheduleLoop(ctx), StepLoop(ctx), DispatchLoop(ctx)]
