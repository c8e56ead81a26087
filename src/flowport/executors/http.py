"""`http`: an outbound HTTP call to a host on the allow-list (FLOWPORT_HTTP_ALLOWED_HOSTS).

Inputs: `url` (http or https), `method` (default GET), `headers` (object of text), `json` (a
JSON body) or `body` (text), `timeout` (seconds, at most FLOWPORT_HTTP_TIMEOUT_SECONDS) and
`fail_on_status` (default true: a 4xx or 5xx answer fails the step). Outputs: `status`,
`headers` (content-type only) and `body` (parsed when the answer is JSON, else text).

Redirects are followed only to the same scheme, host and port, at most five times; anything
else fails the step rather than leak the request elsewhere. Proxies from the environment are
ignored. The hooks call the request given in the input of the same name (`cancel`, `delete`,
`rollback`: an object with `url`, `method`, `headers`, `json`), whose JSON body defaults to
{"step_id", "inputs", "outputs"}; without one the hook has nothing to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from flowport.config import Settings
from flowport.executors.base import Done, HookKind, StepCall, StepFailed

MAX_REDIRECTS = 5
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class AllowList:
    """Entries are `host`, `host:port` or `*.domain` (any host under the domain)."""

    def __init__(self, text: str) -> None:
        self.entries = [e.strip().lower() for e in text.split(",") if e.strip()]

    def allows(self, url: httpx.URL) -> bool:
        host = (url.host or "").lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        for entry in self.entries:
            name, wanted_port = entry, ""
            if entry.count(":") == 1:
                name, _, wanted_port = entry.partition(":")
            if wanted_port and (not wanted_port.isdecimal() or int(wanted_port) != port):
                continue
            if name == host or (name.startswith("*.") and host.endswith(name[1:])):
                return True
        return False


@dataclass(frozen=True)
class _Request:
    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes | None
    timeout: float
    fail_on_status: bool


class HttpExecutor:
    transactional = False

    def __init__(self, allowed: AllowList, timeout: float, max_bytes: int) -> None:
        self.allowed, self.timeout, self.max_bytes = allowed, timeout, max_bytes

    def _request(self, spec: dict[str, Any], *, default_json: Any = None,
                 where: str = "input") -> _Request:
        url_text = spec.get("url")
        if not isinstance(url_text, str) or not url_text:
            raise StepFailed(f"{where} 'url' must be a URL")
        try:
            url = httpx.URL(url_text)
        except Exception:
            raise StepFailed(f"{where} 'url' is not a URL: {url_text!r}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise StepFailed(f"{where} 'url' must be an http or https URL with a host")
        method = str(spec.get("method", "GET")).upper()
        if method not in METHODS:
            raise StepFailed(f"{where} 'method' must be one of {', '.join(sorted(METHODS))}")
        headers = spec.get("headers", {})
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise StepFailed(f"{where} 'headers' must be an object of text values")
        content: bytes | None = None
        if "body" in spec and "json" not in spec:
            if not isinstance(spec["body"], str):
                raise StepFailed(f"{where} 'body' must be text")
            content = spec["body"].encode()
        elif "json" in spec or default_json is not None:
            content = json.dumps(spec.get("json", default_json)).encode()
            headers = {"content-type": "application/json", **headers}
        timeout = spec.get("timeout", self.timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise StepFailed(f"{where} 'timeout' must be a number of seconds above zero")
        fail_on_status = spec.get("fail_on_status", True)
        if not isinstance(fail_on_status, bool):
            raise StepFailed(f"{where} 'fail_on_status' must be true or false")
        return _Request(method, url, headers, content, min(float(timeout), self.timeout),
                        fail_on_status)

    def _check(self, url: httpx.URL) -> None:
        if not self.allowed.allows(url):
            raise StepFailed(f"host {url.host!r} is not on the allow-list "
                             "(FLOWPORT_HTTP_ALLOWED_HOSTS)")

    def send(self, request: _Request) -> dict[str, Any]:
        method, url, content = request.method, request.url, request.content
        with httpx.Client(timeout=request.timeout, follow_redirects=False,
                          trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                self._check(url)
                try:
                    with client.stream(method, url, headers=request.headers,
                                       content=content) as response:
                        if response.is_redirect:
                            target = url.join(response.headers["location"])
                            if (target.scheme, target.host, target.port) != (
                                    url.scheme, url.host, url.port):
                                raise StepFailed(f"{url.host} redirected to another host "
                                                 f"({target.host}); refused")
                            if response.status_code in (301, 302, 303) and method != "HEAD":
                                method, content = "GET", None
                            url = target
                            continue
                        raw = self._read(response)
                except httpx.TimeoutException:
                    raise StepFailed(f"{method} {url} timed out after "
                                     f"{request.timeout:g} s") from None
                except httpx.HTTPError as exc:
                    raise StepFailed(f"{method} {url} failed: {exc}") from None
                return self._result(request, response, raw)
        raise StepFailed(f"{request.url} redirected more than {MAX_REDIRECTS} times")

    def _read(self, response: httpx.Response) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise StepFailed(f"the answer is larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _result(self, request: _Request, response: httpx.Response,
                raw: bytes) -> dict[str, Any]:
        kind = response.headers.get("content-type", "")
        text = raw.decode(response.encoding or "utf-8", "replace")
        body: Any = text
        if kind.split(";")[0].strip().lower().endswith("json") and raw:
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        if request.fail_on_status and response.status_code >= 400:
            raise StepFailed(f"{request.method} {request.url} answered "
                             f"{response.status_code}: {text[:200]}")
        return {"status": response.status_code, "headers": {"content-type": kind},
                "body": body}

    def run(self, call: StepCall) -> Done:
        return Done(self.send(self._request(call.inputs)))

    def _hook(self, call: StepCall, kind: HookKind) -> str | None:
        spec = call.inputs.get(kind)
        if spec is None:
            return f"no {kind} request in the step's inputs"
        if not isinstance(spec, dict):
            raise StepFailed(f"input {kind!r} must be an object with url, method, ...")
        self.send(self._request(spec, where=f"input '{kind}'", default_json={
            "step_id": call.step_id, "inputs": call.inputs, "outputs": call.outputs}))
        return None

    def cancel(self, call: StepCall) -> str | None:
        return self._hook(call, "cancel")

    def delete(self, call: StepCall) -> str | None:
        return self._hook(call, "delete")

    def rollback(self, call: StepCall) -> str | None:
        return self._hook(call, "rollback")


def factory(settings: Settings) -> HttpExecutor:
    return HttpExecutor(AllowList(settings.http_allowed_hosts), settings.http_timeout_seconds,
                        settings.http_max_response_bytes)
