"""The notifier: wake-ups in this process, what it relays to the others, what it does with
theirs, and shutting down."""

from __future__ import annotations

import asyncio
import time

from flowport.api.waiting import poll_until
from flowport.notify import Notifier


def test_publishing_relays_and_a_delivered_message_is_not_relayed_again() -> None:
    notifier = Notifier()
    sent: list[str] = []
    notifier.connect(sent.append)
    notifier.publish("i-1")
    notifier.publish_one("work:1")
    notifier.steps_queued.set()
    assert sent == ["a:i-1", "1:work:1", "s:steps"]
    notifier.deliver("s:timers")
    notifier.deliver("a:i-2")
    notifier.deliver("x:nonsense")
    notifier.deliver("s:unknown")
    assert notifier.timers_changed.is_set()
    assert sent == ["a:i-1", "1:work:1", "s:steps"]


def test_delivered_wake_ups_wake_all_or_one_waiter() -> None:
    async def run() -> tuple[list[bool], list[bool]]:
        notifier = Notifier()
        waiters = [notifier.subscribe("k") for _ in range(2)]
        notifier.deliver("1:k")
        await asyncio.sleep(0)
        one = [w[1].is_set() for w in waiters]
        notifier.deliver("a:k")
        await asyncio.sleep(0)
        every = [w[1].is_set() for w in waiters]
        return one, every

    one, every = asyncio.run(run())
    assert sorted(one) == [False, True]
    assert every == [True, True]


def test_closing_answers_a_held_wait_at_once_without_fetching_again() -> None:
    async def run() -> tuple[int, float, int]:
        notifier = Notifier()
        fetches = 0

        async def fetch() -> int:
            nonlocal fetches
            fetches += 1
            return 0

        began = time.monotonic()
        waiting = asyncio.create_task(poll_until(notifier, "k", fetch, bool, 30, 30))
        await asyncio.sleep(0.05)
        notifier.close()
        value = await waiting
        return value, time.monotonic() - began, fetches

    value, took, fetches = asyncio.run(run())
    assert value == 0 and took < 2 and fetches == 1
