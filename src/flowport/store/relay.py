"""Wake-ups between processes on one PostgreSQL, through LISTEN/NOTIFY.

Each process holds one listening connection and one sending connection of its own (outside the
pool, autocommit). What a process publishes after a commit is queued and sent in batches by the
sender thread, so a request never waits for it; the listener hands what other processes sent
to `deliver`. A notification lost while a connection was down costs latency only: waiters and
loops also poll, and every (re)connect calls `on_gap` so that they look again at once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger("flowport.relay")

CHANNEL = "flowport"
# NOTIFY payloads must stay under 8000 bytes.
MAX_PAYLOAD = 7000
BACKOFF_MAX = 2.0


def conninfo(url: str) -> str:
    """A libpq URL from SQLAlchemy's (`postgresql+psycopg://` → `postgresql://`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def batches(origin: str, messages: list[str]) -> list[str]:
    """Payloads of `origin` + the messages, one per line, each under MAX_PAYLOAD bytes."""
    out: list[str] = []
    lines = [origin]
    size = len(origin)
    for message in messages:
        if size + 1 + len(message.encode()) > MAX_PAYLOAD and len(lines) > 1:
            out.append("\n".join(lines))
            lines, size = [origin], len(origin)
        lines.append(message)
        size += 1 + len(message.encode())
    if len(lines) > 1:
        out.append("\n".join(lines))
    return out


class PgRelay:
    def __init__(self, url: str, deliver: Callable[[str], None],
                 on_gap: Callable[[], None], *, connect_timeout: float = 5.0) -> None:
        self._conninfo = conninfo(url)
        self._deliver = deliver
        self._on_gap = on_gap
        self._connect_timeout = connect_timeout
        self.origin = uuid.uuid4().hex[:12]  # its own notifications come back: skip them
        self._outbox: list[str] = []
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.listening = threading.Event()

    def send(self, message: str) -> None:
        """Queue `message` for the other processes; never blocks on the database."""
        with self._ready:
            self._outbox.append(message)
            self._ready.notify()

    def start(self) -> None:
        for target, name in ((self._listen, "flowport-relay-listen"),
                             (self._send, "flowport-relay-send")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _connect(self) -> psycopg.Connection:
        # Keepalives: a peer that vanished without a word is noticed within about 20 s.
        return psycopg.connect(self._conninfo, autocommit=True,
                               connect_timeout=max(1, int(self._connect_timeout)),
                               keepalives=1, keepalives_idle=10, keepalives_interval=5,
                               keepalives_count=2)

    def _listen(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    backoff = 0.1
                    self._on_gap()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._received(note.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("relay: listening connection lost (%s); retrying in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                            backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        self.listening.clear()

    def _received(self, payload: str) -> None:
        origin, _, body = payload.partition("\n")
        if origin == self.origin:
            return
        for message in body.split("\n"):
            try:
                self._deliver(message)
            except Exception:  # one bad message must not end the listener
                log.exception("relay: delivering %r failed", message)

    def _take(self) -> list[str]:
        with self._ready:
            while not self._outbox and not self._stop.is_set():
                self._ready.wait()
            taken, self._outbox = self._outbox, []
        # Broadcasts repeated in one batch wake the same waiters: send each once. A
        # wake-one repeated means that many jobs: keep every copy.
        seen: set[str] = set()
        kept: list[str] = []
        for message in taken:
            if message.startswith("1:") or message not in seen:
                kept.append(message)
                seen.add(message)
        return kept

    def _send(self) -> None:
        conn: psycopg.Connection | None = None
        backoff = 0.1
        while not self._stop.is_set():
            messages = self._take()
            if not messages:
                continue
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                for payload in batches(self.origin, messages):
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                backoff = 0.1
            except psycopg.Error as exc:
                # Dropped: the receivers poll, and wake everyone when they reconnect.
                log.warning("relay: cannot notify (%s)", str(exc).strip().splitlines()[0]
                            if str(exc).strip() else exc)
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        if conn is not None:
            conn.close()
