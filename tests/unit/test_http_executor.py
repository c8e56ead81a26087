"""The `http` executor against a real HTTP server on the loopback interface: the allow-list,
redirects, timeouts, status codes, sizes, and its hooks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from flowport.config import Settings
from flowport.executors import Done, StepCall, StepFailed
from flowport.executors.http import AllowList, factory
from http_support import RECEIVED, serving


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture
def http(server):
    port = server.rsplit(":", 1)[1]
    RECEIVED.clear()
    return factory(Settings(http_allowed_hosts=f"127.0.0.1:{port}", http_timeout_seconds=5,
                            http_max_response_bytes=1024))


def call(inputs: dict[str, Any], outputs: dict[str, Any] | None = None) -> StepCall:
    return StepCall(account_id=1, instance_id="i-1", step_id="s-1", element_id="Call",
                    name=None, namespace="call", inputs=inputs, outputs=outputs, attempt=1,
                    now=datetime(2030, 1, 1, tzinfo=UTC))


def failure(http, inputs: dict[str, Any]) -> str:
    with pytest.raises(StepFailed) as caught:
        http.run(call(inputs))
    return str(caught.value)


def test_get_json(http, server):
    done = http.run(call({"url": f"{server}/json"}))
    assert isinstance(done, Done)
    assert done.outputs == {"status": 200, "headers": {"content-type": "application/json"},
                            "body": {"ok": True, "method": "GET"}}


def test_post_json_and_headers(http, server):
    done = http.run(call({"url": f"{server}/echo", "method": "post", "json": {"n": 1},
                          "headers": {"Authorization": "Bearer x"}}))
    assert done.outputs["status"] == 201 and done.outputs["body"] == {"n": 1}
    assert RECEIVED[-1] == {"method": "POST", "path": "/echo", "body": {"n": 1},
                            "auth": "Bearer x"}


def test_text_answer_stays_text(http, server):
    assert http.run(call({"url": f"{server}/text"})).outputs["body"] == "héllo"


def test_hosts_off_the_allow_list_are_refused_before_any_request(http, server):
    port = server.rsplit(":", 1)[1]
    assert "not on the allow-list" in failure(http, {"url": f"http://localhost:{port}/json"})
    assert "not on the allow-list" in failure(http, {"url": "http://127.0.0.1:1/json"})
    assert RECEIVED == []


def test_redirects_stay_on_the_same_host(http, server):
    assert http.run(call({"url": f"{server}/same"})).outputs["body"]["ok"] is True
    assert "redirected to another host (localhost); refused" in failure(
        http, {"url": f"{server}/other"})
    assert "more than 5 times" in failure(http, {"url": f"{server}/loop"})
    assert [r["path"] for r in RECEIVED if r["path"] == "/loop"] == ["/loop"] * 6


def test_timeouts(http, server):
    assert "timed out after 0.2 s" in failure(http, {"url": f"{server}/slow", "timeout": 0.2})
    capped = factory(Settings(http_allowed_hosts=server.split("//")[1],
                              http_timeout_seconds=0.2))
    assert "timed out after 0.2 s" in failure(capped, {"url": f"{server}/slow", "timeout": 60})


def test_error_statuses_fail_unless_asked_not_to(http, server):
    assert "answered 500: broken" in failure(http, {"url": f"{server}/fail"})
    done = http.run(call({"url": f"{server}/fail", "fail_on_status": False}))
    assert done.outputs["status"] == 500 and done.outputs["body"] == "broken"


def test_answers_over_the_size_limit_fail(http, server):
    assert "larger than 1024 bytes" in failure(http, {"url": f"{server}/big"})


@pytest.mark.parametrize(("inputs", "words"), [
    ({}, "'url' must be a URL"),
    ({"url": "ftp://127.0.0.1/x"}, "http or https"),
    ({"url": "http:///nohost"}, "http or https"),
    ({"url": "http://127.0.0.1", "method": "BREW"}, "'method' must be one of"),
    ({"url": "http://127.0.0.1", "headers": {"a": 1}}, "'headers'"),
    ({"url": "http://127.0.0.1", "body": 5}, "'body' must be text"),
    ({"url": "http://127.0.0.1", "timeout": 0}, "'timeout'"),
    ({"url": "http://127.0.0.1", "timeout": True}, "'timeout'"),
    ({"url": "http://127.0.0.1", "fail_on_status": "no"}, "'fail_on_status'"),
])
def test_bad_inputs(http, inputs, words):
    assert words in failure(http, inputs)
    assert RECEIVED == []


def test_hooks_call_the_request_of_their_input(http, server):
    inputs = {"url": f"{server}/json", "delete": {"url": f"{server}/echo", "method": "DELETE"}}
    assert http.delete(call(inputs, {"id": 7})) is None
    assert RECEIVED[-1]["method"] == "DELETE"
    assert RECEIVED[-1]["body"] == {"step_id": "s-1", "inputs": inputs, "outputs": {"id": 7}}
    assert http.rollback(call(inputs)) == "no rollback request in the step's inputs"
    with pytest.raises(StepFailed, match="input 'cancel'"):
        http.cancel(call({**inputs, "cancel": "DELETE it"}))
    with pytest.raises(StepFailed, match="not on the allow-list"):
        http.cancel(call({**inputs, "cancel": {"url": "http://example.com/"}}))


@pytest.mark.parametrize(("entries", "url", "allowed"), [
    ("api.example.com", "https://api.example.com/x", True),
    ("api.example.com", "https://API.example.com:8443/x", True),
    ("api.example.com:443", "https://api.example.com/x", True),
    ("api.example.com:443", "http://api.example.com/x", False),
    ("api.example.com:8443", "https://api.example.com/x", False),
    ("*.example.com", "https://a.b.example.com/x", True),
    ("*.example.com", "https://example.com/x", False),
    ("*.example.com", "https://badexample.com/x", False),
    ("", "https://api.example.com/x", False),
    ("a.com, b.com", "http://b.com/", True),
    ("b.com:x", "http://b.com/", False),
])
def test_allow_list(entries, url, allowed):
    assert AllowList(entries).allows(httpx.URL(url)) is allowed
