"""Script tasks in a real `flowport serve`: they run in worker processes that hold none of the
server's environment, and a script that breaks its worker's limits fails its own instance while
the server goes on serving."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest

from tests.e2e.harness import Server, eventually

pytestmark = pytest.mark.e2e

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"
    targetNamespace="http://flowport.dev/tests">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="Begin" />
    <bpmn:sequenceFlow id="f1" sourceRef="Begin" targetRef="Script" />
    <bpmn:scriptTask id="Script"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Script" targetRef="Finish" />
    <bpmn:endEvent id="Finish" />
  </bpmn:process>
</bpmn:definitions>
"""


def workers_of(pid: int) -> list[int]:
    """The server's child processes: its script workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def test_script_workers_are_clean_and_their_limits_spare_the_server(server: Server):
    assert server.proc is not None
    with server.client() as api:
        for key, script in (("hog", "x = [list(range(1000000)) for i in range(1000)]"),
                            ("spin", "while True:\n    pass"), ("fine", "y = 6 * 7")):
            api.create_process(key)
            api.deploy_version(key, BPMN.format(key=key, script=escape(script)).encode(),
                               f"{key}.bpmn")
        assert api.start("fine", wait_timeout=10).instance["variables"]["y"] == 42
        workers = workers_of(server.proc.pid)
        assert len(workers) == 2  # FLOWPORT_SCRIPT_WORKERS' default, started with the server
        for pid in workers:
            # The server holds FLOWPORT_BOOTSTRAP_ADMIN_TOKEN and a database URL; they do not.
            assert Path(f"/proc/{pid}/environ").read_bytes() == b""

        hog = api.start("hog", wait_timeout=30).instance
        assert hog["status"] == "failed"
        assert "MemoryError: the script needed more than its 256 MiB of memory" in hog["error"]
        spin = api.start("spin", wait_timeout=30).instance
        assert spin["status"] == "failed"
        assert "TimeoutError: the script used more than its 1 s of CPU time" in spin["error"]

        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert api.start("fine", wait_timeout=10).instance["status"] == "completed"
        # The worker that ran out of memory was replaced: the pool is back at strength.
        eventually(lambda: len(workers_of(server.proc.pid)) == 2 or None,
                   what="two script workers again")
        assert set(workers_of(server.proc.pid)) != set(workers)
