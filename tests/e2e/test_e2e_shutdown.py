"""SIGTERM: the server stops taking work, answers the requests it holds (a robot's long-poll
gets no job, a launch-and-wait gets its 202), finishes the executor step it claimed, and exits
0; after a restart that step has run exactly once."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flowport.client import Client
from tests.e2e.harness import FIXTURES, Server
from tests.e2e.test_e2e_replicas import in_background

pytestmark = pytest.mark.e2e
STEP_SECONDS = 2.0

SLOW_CALL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:flowport="https://flowport.dev/bpmn" id="D" targetNamespace="t">
  <bpmn:process id="slow_call" isExecutable="true">
    <bpmn:startEvent id="S" />
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Call" />
    <bpmn:serviceTask id="Call" flowport:executor="http" flowport:result="answer">
      <bpmn:extensionElements>
        <flowport:input name="url">"http://127.0.0.1:{port}/slow"</flowport:input>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Call" targetRef="E" />
    <bpmn:endEvent id="E" />
  </bpmn:process>
</bpmn:definitions>
"""


class SlowService:
    """An HTTP service that takes STEP_SECONDS to answer and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.called = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.calls += 1
                service.called.set()
                time.sleep(STEP_SECONDS)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def service() -> Iterator[SlowService]:
    slow = SlowService()
    yield slow
    slow.http.shutdown()


@pytest.fixture
def server(database_url: str, service: SlowService, server_factory: Callable[..., Server]
           ) -> Server:
    return server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24), env={
        "FLOWPORT_HTTP_ALLOWED_HOSTS": f"127.0.0.1:{service.port}",
        "FLOWPORT_STEP_POLL_SECONDS": "0.2"}).start()


def test_sigterm_answers_held_requests_finishes_its_step_and_exits_0(
        server: Server, service: SlowService) -> None:
    with server.client() as api:
        api.create_process("slow-call")
        api.deploy_version("slow-call", SLOW_CALL.replace("{port}", str(service.port)).encode(),
                           "slow-call.bpmn")
        api.create_process("sleepy", process_type=1)
        api.deploy_version("sleepy", FIXTURES / "robots" / "sleepy.py")
        robot = api.create_robot("r1")
        credential = Client(server.url).enroll(str(robot["enrollment_token"]), machine="m1")
        with Client(server.url, credential["token"], timeout=60) as robot_api:
            polling, claimed = in_background(lambda: robot_api.claim(timeout=25))
            waiting, waited = in_background(lambda: api.start(
                "slow-call", {}, wait_timeout=25))
            assert service.called.wait(15), "the step never called the service"
            time.sleep(0.3)  # the long-poll and the wait are held by now
            assert "at" not in claimed and "at" not in waited

            signalled = time.monotonic()
            assert server.proc is not None
            proc = server.proc
            proc.send_signal(15)
            polling.join(15)
            waiting.join(15)
            code = proc.wait(20)
            exited = time.monotonic() - signalled
            server.proc = None

    assert code == 0, server.output()
    assert "flowport stopped" in server.output()
    # The held requests were answered at once, not at their 25 s timeouts.
    assert "error" not in claimed, claimed
    assert claimed["result"]["jobs"] == []
    assert claimed["at"] - signalled < 3
    assert "error" not in waited, waited
    assert waited["result"].timed_out and waited["result"].instance["status"] == "waiting"
    assert waited["at"] - signalled < 3
    # It waited for the step it had claimed (about STEP_SECONDS), no more.
    assert exited < STEP_SECONDS + 8, exited

    instance_id = waited["result"].instance["id"]
    server.start()
    with server.client() as api:
        # Finished before the exit, not picked up again after the restart.
        instance = api.get_instance(instance_id)
        assert instance["status"] == "completed", instance
        assert instance["variables"]["answer"]["body"] == {"ok": True}
        steps = api.list_steps(instance_id)
        assert [(s["status"], s["attempts"]) for s in steps] == [("completed", 1)], steps
    assert service.calls == 1, "the step ran more than once"
    print(f"\nSIGTERM to exit: {exited:.2f} s with a {STEP_SECONDS:g} s step in flight")
