"""Where a durable start spends its time: wall time per store call, engine call and
transaction begin/commit, per instance. Wraps the classes' methods for the duration of the run
(no profiler, so the proportions are those of a normal run) and restores them afterwards."""

from __future__ import annotations

import functools
import inspect
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from bench import inprocess


@contextmanager
def _timed(classes: list[type], totals: defaultdict[str, float],
           calls: Counter[str]) -> Iterator[None]:
    """Time every public method the classes get from flowport modules; a call made inside
    another timed call counts only in the outer one."""
    saved: list[tuple[type, str, Any]] = []
    depth = [0]

    def wrap(cls: type, name: str, fn: Callable[..., Any]) -> None:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    totals[name] += time.perf_counter() - began
                    calls[name] += 1

        saved.append((cls, name, fn))
        setattr(cls, name, timed)

    for cls in classes:
        for klass in cls.__mro__:
            if klass.__module__.startswith("flowport."):
                for name, fn in list(vars(klass).items()):
                    if not name.startswith("_") and inspect.isfunction(fn):
                        wrap(klass, name, fn)
    try:
        yield
    finally:
        for cls, name, original in reversed(saved):
            setattr(cls, name, original)


@contextmanager
def _timed_transactions(store_cls: type, totals: defaultdict[str, float],
                        calls: Counter[str]) -> Iterator[None]:
    original = store_cls.__dict__["transaction"]

    @contextmanager
    def transaction(self: Any, *, write: bool = True) -> Iterator[Any]:
        began = time.perf_counter()
        manager: AbstractContextManager[Any] = original(self, write=write)
        tx = manager.__enter__()
        totals["(begin)"] += time.perf_counter() - began
        calls["(begin)"] += 1
        try:
            yield tx
        except BaseException as exc:
            if not manager.__exit__(type(exc), exc, exc.__traceback__):
                raise
            return
        began = time.perf_counter()
        manager.__exit__(None, None, None)
        totals["(commit)"] += time.perf_counter() - began
        calls["(commit)"] += 1

    store_cls.transaction = transaction  # type: ignore[attr-defined]
    try:
        yield
    finally:
        store_cls.transaction = original  # type: ignore[attr-defined]


def breakdown(url: str, seconds: float, warmup: float) -> str:
    from flowport.engine import Engine
    from flowport.store.sql import Store, Tx

    totals: defaultdict[str, float] = defaultdict(float)  # seconds
    calls: Counter[str] = Counter()
    with inprocess.durable(url) as d:
        inprocess.run_for(d.start, 0, warmup)
        with _timed([Tx], totals, calls), _timed([Engine], totals, calls), \
                _timed_transactions(Store, totals, calls):
            rate = inprocess.run_for(d.start, seconds)
    per = 1000 / rate.per_second
    lines = [f"durable start on {url.split(':', 1)[0]}: {rate.per_second:,.0f}/s = "
             f"{per:.2f} ms per instance, of which:"]
    accounted = 0.0
    for name, total in sorted(totals.items(), key=lambda item: -item[1]):
        ms = total / rate.count * 1000
        accounted += ms
        lines.append(f"  {name:28s} {ms:6.3f} ms  ({calls[name] / rate.count:.0f} per start, "
                     f"{ms / per:4.0%})")
    lines.append(f"  {'(everything else)':28s} {per - accounted:6.3f} ms  "
                 f"({(per - accounted) / per:4.0%})")
    return "\n".join(lines)
