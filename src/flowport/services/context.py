"""What every service needs, built once at the entry point."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

from flowport.clock import Clock, SystemClock
from flowport.config import Settings
from flowport.domain.processes import Version
from flowport.engine import Engine, Limits, ScriptPool
from flowport.executors import Executors
from flowport.notify import Notifier
from flowport.store import Store, Tx
from flowport.store.relay import PgRelay
from flowport.throttle import Throttle


class VersionCache:
    """Versions are immutable, so a version and its engine spec are cached by id."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: OrderedDict[int, tuple[Version, str | None]] = OrderedDict()
        self._lock = Lock()

    def get(self, tx: Tx, version_id: int) -> tuple[Version, str | None]:
        with self._lock:
            hit = self._items.get(version_id)
            if hit is not None:
                self._items.move_to_end(version_id)
                return hit
        item = (tx.fetch_version_by_id(version_id), tx.fetch_spec(version_id))
        with self._lock:
            self._items[version_id] = item
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return item


@dataclass
class Context:
    store: Store
    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    notifier: Notifier = field(default_factory=Notifier)
    versions: VersionCache = field(default_factory=VersionCache)
    throttle: Throttle = field(default_factory=Throttle)
    owns_sandbox: bool = True  # close() stops the engine's script workers
    executors: Executors = field(default_factory=Executors)
    relay: PgRelay | None = None

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None,
              sandbox: ScriptPool | None = None) -> Context:
        """Everything from `settings`; a `sandbox` given here is shared (tests hand one pool to
        many contexts) and is not closed with this context."""
        return cls(
            store=Store(settings.database_url, pool_size=settings.database_pool_size),
            settings=settings,
            engine=Engine(script_time_limit=settings.script_time_limit,
                          sandbox=sandbox or script_pool(settings)),
            clock=clock or SystemClock(),
            owns_sandbox=sandbox is None,
            executors=Executors.load(settings),
        )

    def start_relay(self) -> None:
        """Share wake-ups with the other processes on this database (PostgreSQL); for
        `serve` and `worker`, which run as long as the process."""
        relay = self.store.relay(self.notifier.deliver, self.notifier.wake_everyone)
        if relay is None:
            return
        self.relay = relay
        self.notifier.connect(relay.send)
        relay.start()

    def close(self) -> None:
        if self.relay is not None:
            self.notifier.connect(None)
            self.relay.stop()
            self.relay = None
        if self.owns_sandbox:
            self.engine.close()
        self.store.dispose()


def script_pool(settings: Settings) -> ScriptPool | None:
    if settings.script_workers == 0:
        return None
    limits = Limits(time_limit=settings.script_time_limit,
                    memory_bytes=settings.script_memory_mb * 2**20)
    return ScriptPool(size=settings.script_workers, limits=limits,
                      queue_seconds=settings.script_queue_seconds)
