"""The executors this server knows: the built-ins and any plug-in installed beside Flowport."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points

from flowport.config import Settings
from flowport.executors.base import GROUP, Executor


class ExecutorLoadError(RuntimeError):
    """A plug-in declared in `flowport.executors` cannot be loaded: the server refuses to start
    rather than fail every instance that uses it later."""


class Executors:
    def __init__(self, executors: Mapping[str, Executor] | None = None) -> None:
        self._items: dict[str, Executor] = dict(executors or {})

    @classmethod
    def load(cls, settings: Settings, *, group: str = GROUP) -> Executors:
        found: dict[str, Executor] = {}
        for point in sorted(entry_points(group=group), key=lambda p: p.name):
            try:
                factory = point.load()
                found[point.name] = factory(settings)
            except Exception as exc:
                raise ExecutorLoadError(
                    f"executor {point.name!r} ({point.value}) cannot be loaded: "
                    f"{type(exc).__name__}: {exc}") from exc
        return cls(found)

    def names(self) -> frozenset[str]:
        return frozenset(self._items)

    def get(self, name: str) -> Executor | None:
        return self._items.get(name)

    def add(self, name: str, executor: Executor) -> None:
        """Register one more executor (tests, embedding applications)."""
        self._items[name] = executor
