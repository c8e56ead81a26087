"""Wake-ups between processes: two notifiers, each with its own relay on one PostgreSQL,
stand for two replicas."""

from __future__ import annotations

import threading

import pytest

from flowport.notify import Notifier
from flowport.store import Store
from flowport.store.relay import MAX_PAYLOAD, PgRelay, batches


def test_batches_keep_every_message_under_the_payload_limit() -> None:
    messages = [f"a:{'x' * 100}-{n}" for n in range(300)]
    payloads = batches("origin", messages)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    assert all(p.startswith("origin\n") for p in payloads)
    assert [m for p in payloads for m in p.split("\n")[1:]] == messages
    assert batches("origin", []) == []


def test_sqlite_has_no_relay(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    assert store.relay(lambda _m: None, lambda: None) is None
    store.dispose()


@pytest.fixture
def pair(database_url: str):
    assert database_url.startswith("postgresql"), "relay tests are marked postgresql"
    made: list[tuple[Notifier, PgRelay]] = []
    for _ in range(2):
        notifier = Notifier()
        relay = PgRelay(database_url, notifier.deliver, notifier.wake_everyone)
        notifier.connect(relay.send)
        relay.start()
        assert relay.listening.wait(10)
        made.append((notifier, relay))
    yield made
    for _, relay in made:
        relay.stop()


@pytest.mark.postgresql
def test_a_signal_set_in_one_process_wakes_the_loop_of_the_other(pair) -> None:
    (a, _), (b, _) = pair
    b.timers_changed.clear()
    a.timers_changed.set()
    assert b.timers_changed.wait(5)


@pytest.mark.postgresql
def test_a_process_does_not_hear_its_own_wake_ups(pair) -> None:
    (a, relay_a), (b, _) = pair
    heard: list[str] = []
    got = threading.Event()

    def spy(message: str) -> None:
        heard.append(message)
        got.set()

    relay_a._deliver = spy
    a.publish("mine")
    b.publish("theirs")
    assert got.wait(5)
    assert heard == ["a:theirs"]


def test_a_relay_that_cannot_reach_the_database_keeps_trying_without_raising() -> None:
    notifier = Notifier()
    relay = PgRelay("postgresql+psycopg://nobody@127.0.0.1:1/none", notifier.deliver,
                    notifier.wake_everyone, connect_timeout=1)
    notifier.connect(relay.send)
    relay.start()
    notifier.publish("x")  # queued, and dropped when the send fails: no exception here
    assert not relay.listening.wait(0.5)
    relay.stop()
