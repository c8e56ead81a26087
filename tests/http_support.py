"""A small real HTTP server for the `http` executor's tests (no tests here). Every request is
logged in RECEIVED."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RECEIVED: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", kind: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        RECEIVED.append({"method": self.command, "path": self.path,
                         "body": json.loads(body) if body else None,
                         "auth": self.headers.get("Authorization")})
        port = self.server.server_address[1]
        if self.path == "/json":
            self._send(200, json.dumps({"ok": True, "method": self.command}).encode())
        elif self.path == "/echo":
            self._send(201, body or b"{}")
        elif self.path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif self.path == "/same":
            self._send(302, headers={"Location": "/json"})
        elif self.path == "/other":
            self._send(302, headers={"Location": f"http://localhost:{port}/json"})
        elif self.path == "/loop":
            self._send(302, headers={"Location": "/loop"})
        elif self.path == "/slow":
            time.sleep(1.0)
            self._send(200, b"{}")
        elif self.path == "/fail":
            self._send(500, b"broken", "text/plain")
        elif self.path == "/big":
            self._send(200, b"x" * 4096, "text/plain")
        else:
            self._send(404, b"no such page", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = _answer


class Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closed the connection: expected here


@contextmanager
def serving() -> Iterator[str]:
    """A real HTTP server on a free loopback port, for as long as the block runs."""
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
