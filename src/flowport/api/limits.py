"""Checks made before any route runs: a cap on request bodies, enforced while they stream in
(a client cannot make the server buffer more than the limit, whatever Content-Length it
claims), and no NUL in the URL. File uploads (multipart, or the version upload route, which also
takes base64 in JSON) get the upload limit; every other body the smaller body limit, so no JSON
route parses a body the size of a process file."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_PATHS = re.compile(rb"^(/api/v1/processes/[^/]+/versions)/?$")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app, self.max_bytes, self.max_upload_bytes = app, max_bytes, max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in (scope.get("raw_path") or b"") or b"%00" in scope.get("query_string", b""):
            # PostgreSQL text cannot hold NUL, so no key, id or filter can contain one.
            await _refuse(send, 400, "bad_request", "the URL must not contain NUL characters")
            return
        limit = self.max_bytes
        if UPLOAD_PATHS.match(scope.get("raw_path") or b""):
            limit = self.max_upload_bytes
        for name, value in scope["headers"]:
            if name == b"content-type" and value.lower().startswith(b"multipart/form-data"):
                limit = self.max_upload_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await self._refuse(send, limit)
                return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer 413 now: the framework turns any error while it reads the body
                    # into its own 400, which guarded_send then drops.
                    if not started and not refused:
                        refused = True
                        await self._refuse(send, limit)
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started and not refused:
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        await _refuse(send, 413, "too_large", f"the request body is larger than {limit} bytes")


async def _refuse(send: Send, status: int, code: str, detail: str) -> None:
    title = {400: "Bad Request", 413: "Content Too Large"}[status]
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "code": code,
                       "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
