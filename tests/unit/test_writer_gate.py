"""SQLite's writers queue on a lock in the process (store/sql.py WriterGate)."""

from __future__ import annotations

import threading

import pytest

from flowport.errors import Unavailable
from flowport.store.sql import WriterGate


def test_a_writer_that_waits_too_long_is_told_the_database_is_busy():
    gate = WriterGate(timeout=0.05)
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with gate:
            held.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    with pytest.raises(Unavailable, match="busy"):
        gate.__enter__()
    done.set()
    holder.join(5)
    with gate, gate:  # free again once the holder left, and re-entrant in one thread
        pass


def test_no_writer_gets_in_while_another_holds_the_gate():
    gate, order = WriterGate(), []
    gate.__enter__()

    def write(n: int) -> None:
        with gate:
            order.append(n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    threads[0].join(0.1)  # a negative can only be watched for a while
    assert order == [] and all(thread.is_alive() for thread in threads)
    gate.__exit__(None, None, None)
    for thread in threads:
        thread.join(5)
    assert sorted(order) == [0, 1, 2]
