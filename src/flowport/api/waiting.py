"""Holding a request until something happens: launch-and-wait (the native API and every
dialect that waits for a result) and robots' long-poll for work. Both wait behind `poll_until`,
the one place that knows how a wake-up arrives (the notifier: this process's changes, and the
other processes' through PostgreSQL LISTEN/NOTIFY; plus a re-read every poll, in case a
wake-up was lost)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi.concurrency import run_in_threadpool

from flowport.domain.accounts import Principal
from flowport.domain.instances import Instance
from flowport.notify import Notifier
from flowport.services import instances as svc
from flowport.services.context import Context

T = TypeVar("T")


async def poll_until(notifier: Notifier, key: str, fetch: Callable[[], Awaitable[T]],
                     done: Callable[[T], bool], timeout: float, poll: float,
                     first: T | None = None) -> T:
    """Fetch (or take `first`) and fetch again whenever `key` is published or `poll` seconds
    pass, until `done` says so or `timeout` runs out; return the last value fetched."""
    deadline = time.monotonic() + timeout
    waiter = notifier.subscribe(key)
    try:
        value = first if first is not None else await fetch()
        while not done(value):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            event = waiter[1]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, poll))
            if notifier.closing:
                break  # shutting down: answer with what there is, claim nothing more
            event.clear()
            value = await fetch()
    finally:
        notifier.unsubscribe(key, waiter)
    return value


async def wait_until_settled(ctx: Context, who: Principal, instance: Instance,
                             timeout: float, variable: str | None) -> Instance:
    """Wait for the end (or the named variable) up to `timeout`; return the latest view."""

    async def fetch() -> Instance:
        return await run_in_threadpool(svc.get_instance, ctx, who, instance.id)

    return await poll_until(ctx.notifier, instance.id, fetch,
                            lambda i: svc.is_settled(i, variable),
                            min(timeout, ctx.settings.max_wait_seconds),
                            ctx.settings.wait_poll_seconds,
                            first=instance)
