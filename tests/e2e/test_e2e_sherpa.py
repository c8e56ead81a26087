"""A Sherpa-style robot end to end against a real `flowport serve`: written from
contracts/sherpa.md alone (no Flowport agent code). It heartbeats, consumes a job, sets it
to 8, keeps heartbeating while its script runs, and reports 4 or 5; an abort asked through
job/update reaches it as heartbeat code 10 and it kills the run."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.agents import FAST_ROBOTS
from tests.e2e.harness import Server, eventually

pytestmark = pytest.mark.e2e


class SherpaRobot:
    """The robot loop of the python-sherpa-framework, as the contract describes it: form
    posts with `Basic base64(credential)`, codes read from the 200 bodies. Scripts are run
    from the robot's own folder by the version's Name, as Sherpa robots do."""

    def __init__(self, url: str, guid: str, credential: str, scripts: Path) -> None:
        self.guid, self.scripts = guid, scripts
        auth = base64.b64encode(credential.encode()).decode()
        self.http = httpx.Client(base_url=url, timeout=10.0,
                                 headers={"Authorization": f"Basic {auth}"})
        self.codes: list[int] = []
        self.ran: list[tuple[str, int]] = []
        self.stop = threading.Event()

    def beat(self, status: int, job: str = "") -> dict[str, Any]:
        answer = self.http.post("/api/robot/heartbeat", data={
            "RobotGUID": self.guid, "Machine": "e2e", "IP": "127.0.0.1", "MAC": "00",
            "Status": str(status), "JobGUID": job, "JobName": "", "JobType": "1"})
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        self.codes.append(body["HeartbeatErrorCode"])
        return body

    def set_status(self, job: str, status: int) -> None:
        self.http.put("/api/job/update", data={"guid": job, "status": str(status)}
                      ).raise_for_status()

    def run_one(self) -> None:
        got = self.http.post("/api/robot/consumeNextJob", data={"RobotGUID": self.guid}).json()
        if got["ConsumeJobErrorCode"] != 0:
            return
        job = json.loads(got["Job"])["GUID"]
        script = self.scripts / json.loads(got["ProcessVersion"])["Name"]
        self.set_status(job, 8)
        run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        final = None
        while run.poll() is None:
            code = self.beat(3, job)["HeartbeatErrorCode"]
            if code in (10, 20):
                run.kill()
                final = 3 if code == 10 else 7
                break
            time.sleep(0.2)
        output = run.communicate()[0].decode(errors="replace")
        final = final if final is not None else (4 if run.returncode == 0 else 5)
        self.http.post("/api/log/create", data={"JobGUID": job, "Level": "Info",
                                                "Message": output or "(no output)"})
        self.set_status(job, final)
        self.ran.append((job, final))

    def loop(self) -> None:
        while not self.stop.is_set():
            if self.beat(2)["HasNewJob"]:
                self.run_one()
            time.sleep(0.1)


@pytest.fixture
def server(database_url: str, server_factory: Callable[..., Server]) -> Server:
    return server_factory(database_url, token="fpt_e2e_" + secrets.token_urlsafe(24),
                          env=FAST_ROBOTS).start()


def test_a_sherpa_robot_runs_jobs_end_to_end(server: Server, tmp_path: Path) -> None:
    key = httpx.Client(base_url=server.url, timeout=10.0,
                       headers={"Authorization": f"Bearer {server.token}"})
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    sources = {"ok.py": "print('hello from sherpa')\n",
               "bad.py": "raise SystemExit(3)\n",
               "long.py": "import time\ntime.sleep(60)\n"}
    versions = {}
    for name, source in sources.items():
        (scripts / name).write_text(source)
        process = key.post("/api/process/create", json={"Name": name, "ProcessType": 1}
                           ).json()["guid"]
        versions[name] = key.post("/api/processVersion/create",
                                  data={"Name": name, "ProcessGuid": process},
                                  files={"ProcessFile": (name, source.encode())}).json()["guid"]
    robot = key.post("/api/robot/create", json={"Name": "sherpa-bot"}).json()
    bot = SherpaRobot(server.url, robot["GUID"], robot["Credential"], scripts)
    worker = threading.Thread(target=bot.loop, daemon=True)
    worker.start()
    try:
        jobs = {name: key.post("/api/job/create", json={"Guid": versions[name],
                                                        "RobotGuid": robot["GUID"]}
                               ).json()["guid"] for name in ("ok.py", "bad.py")}

        def status(job: str) -> int:
            return int(key.get(f"/api/job/read/{job}").json()["status"])

        eventually(lambda: status(jobs["ok.py"]) == 4, timeout=30, what="ok.py to succeed")
        eventually(lambda: status(jobs["bad.py"]) == 5, timeout=30, what="bad.py to fail")
        native = key.get(f"/api/v1/instances/{jobs['ok.py']}").json()
        assert native["status"] == "completed"
        assert key.get(f"/api/v1/instances/{jobs['bad.py']}").json()["status"] == "failed"
        logs = key.post("/api/log/list", json={"JobGUID": jobs["ok.py"]}).json()
        assert [entry["Message"].strip() for entry in logs] == ["hello from sherpa"]

        long_job = key.post("/api/job/create", json={"Guid": versions["long.py"]}
                            ).json()["guid"]
        eventually(lambda: status(long_job) == 8, timeout=30, what="long.py to start")
        assert key.put("/api/job/update", json={"Guid": long_job, "Status": 2}).json() == []
        eventually(lambda: status(long_job) == 3, timeout=30, what="long.py to be aborted")
        assert 10 in bot.codes
        assert key.get(f"/api/v1/instances/{long_job}").json()["status"] == "aborted"
        assert sorted(final for _, final in bot.ran) == [3, 4, 5]
        robot_read = key.get(f"/api/robot/read/{robot['GUID']}").json()
        assert robot_read["Machine"] == "e2e" and robot_read["LastHeartbeatAt"] > 0
    finally:
        bot.stop.set()
        worker.join(10)
