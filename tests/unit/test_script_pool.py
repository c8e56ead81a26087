"""The script sandbox: script tasks run in confined worker processes; a worker that breaks a
limit is replaced, the step fails with a clear error, and the calling process carries on.

The engine's own tests (test_engine*.py) run every script semantics test through the pool too;
these are about the processes themselves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_engine_support import NOW, MemoryRecords, diagram, script_diagram

from flowport.engine import Engine, Limits, ScriptPool, StepResult, compile_bpmn
from flowport.engine import runtime as engine_runtime
from flowport.engine.scripts import is_bounded_script
from flowport.errors import BadInput, Unavailable

SMALL = Limits(time_limit=0.3, memory_bytes=128 * 2**20)


def eventually(probe: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {probe}")


@pytest.fixture
def pool() -> Iterator[ScriptPool]:
    pool = ScriptPool(size=1, limits=SMALL, queue_seconds=20)
    pool.warm()
    yield pool
    pool.close()


def run(pool: ScriptPool, script: str, variables: dict[str, Any] | None = None,
        records: Any = None) -> StepResult:
    spec = compile_bpmn(script_diagram(script)).spec
    return Engine(sandbox=pool).start(spec, variables or {}, records=records or MemoryRecords(),
                                      now=NOW)


def worker_pid(pool: ScriptPool) -> int:
    """The pid of the pool's one idle worker, once there is one again."""
    pids = eventually(pool.pids)
    assert len(pids) == 1
    return int(pids[0])


def proc(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text(errors="replace")


def test_a_worker_holds_nothing_of_the_server(pool):
    pid = worker_pid(pool)
    assert pid != os.getpid()
    assert "limits not applied" not in pool.confinement
    assert Path(f"/proc/{pid}/environ").read_bytes() == b""  # no variable, no credential
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    assert fds == [0, 1, 2, 3]  # its pipes, the inherited stderr, its own /proc status file
    limits = proc(pid, "limits")
    assert f"{SMALL.memory_bytes}" in next(line for line in limits.splitlines()
                                          if line.startswith("Max address space"))
    assert next(line for line in limits.splitlines()
                if line.startswith("Max processes")).split()[2:4] == ["0", "0"]
    assert next(line for line in limits.splitlines()
                if line.startswith("Max open files")).split()[3:5] == ["4", "4"]
    uid = int(next(line for line in proc(pid, "status").splitlines()
                   if line.startswith("Uid:")).split()[1])
    assert uid == (65534 if os.geteuid() == 0 else os.geteuid())
    if pool.confinement["network"] == "namespace":
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        interfaces = [line.split(":")[0].strip() for line in proc(pid, "net/dev").splitlines()[2:]]
        assert interfaces == ["lo"]
    else:
        assert pool.confinement["network"] == "descriptor limit only"


ESCAPE = """
import json, os, resource, socket, sys
from flowport.engine.script_worker import confine
report = confine(128 * 2**20)
results = {"report": report}
def attempt(name, action):
    try:
        action()
        results[name] = "allowed"
    except (OSError, MemoryError, ValueError) as exc:
        results[name] = type(exc).__name__
attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("read a file", lambda: open("/etc/hostname", "rb"))
attempt("write a file", lambda: open("/tmp/flowport-escape", "wb"))
attempt("fork", lambda: os.fork() == 0 and os._exit(0))
attempt("raise the descriptor limit",
        lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)))
attempt("raise the memory limit",
        lambda: resource.setrlimit(resource.RLIMIT_AS, (2**40, 2**40)))
attempt("allocate 512 MiB", lambda: bytearray(512 * 2**20))
sys.stdout.write(json.dumps(results))
"""


def test_code_past_the_restricted_layer_still_meets_the_kernel():
    """As if a script had escaped the restricted layer: raw Python in a confined process."""
    flowport_home = str(Path(__import__("flowport").__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                                                       f"{flowport_home!r})\n{ESCAPE}"],
                          env={}, cwd="/", capture_output=True, timeout=60, check=True)
    results = json.loads(done.stdout)
    report = results.pop("report")
    assert report["uid"] != 0
    assert results == {
        "socket": "OSError", "read a file": "OSError", "write a file": "OSError",
        "fork": "BlockingIOError", "raise the descriptor limit": "ValueError",
        "raise the memory limit": "ValueError", "allocate 512 MiB": "MemoryError",
    }


def test_an_endless_loop_is_stopped_by_the_tracer_and_the_worker_kept(pool):
    before = worker_pid(pool)
    step = run(pool, "while True:\n    pass")
    assert step.status == "failed"
    assert step.error == ("script task 'Script' failed: TimeoutError: the script used more "
                          "than its 0.3 s of CPU time")
    assert worker_pid(pool) == before
    assert run(pool, "x = sum([1])").status == "completed"


def test_cpu_spent_in_long_c_calls_is_stopped_by_the_kernel_and_the_worker_replaced(pool):
    # Each sort is one C call of a fraction of a second: the tracer, which looks at the clock
    # every thousand script events, would not notice for minutes. RLIMIT_CPU does.
    before = worker_pid(pool)
    started = time.monotonic()
    step = run(pool, "x = list(map(str, range(1000000)))\n"
                     "while True:\n    y = sorted(x, reverse=True)")
    assert step.status == "failed"
    assert "TimeoutError: the script used more than its 0.3 s of CPU time; its worker was " \
           "stopped and replaced" in (step.error or "")
    assert time.monotonic() - started < 30
    assert worker_pid(pool) != before
    assert run(pool, "x = sum([1])").variables["x"] == 1


def test_a_huge_allocation_hits_the_memory_limit_and_the_worker_is_replaced(pool):
    before = worker_pid(pool)
    step = run(pool, "x = [list(range(1000000)) for i in range(1000)]")
    assert step.status == "failed"
    assert step.error == ("script task 'Script' failed: MemoryError: the script needed more "
                          "than its 128 MiB of memory; its worker was replaced")
    assert worker_pid(pool) != before
    assert run(pool, "x = sum([2])").variables["x"] == 2


def test_a_worker_that_died_idle_is_replaced_without_failing_a_step(pool):
    before = worker_pid(pool)
    os.kill(before, signal.SIGKILL)
    eventually(lambda: not Path(f"/proc/{before}/cmdline").exists()
               or not Path(f"/proc/{before}/cmdline").read_bytes())
    assert run(pool, "x = sum([3])").variables["x"] == 3
    assert worker_pid(pool) != before


class Checked(MemoryRecords):
    def add(self, entity: str, data: dict[str, Any]) -> str:
        if not entity.isidentifier():
            raise BadInput("entity must be a name of letters, digits and '_'", field="entity")
        return super().add(entity, data)


def test_record_calls_run_in_the_calling_process():
    """The worker never holds the records: every call comes back over the pipe, and the
    store's refusals reach the script as exceptions it may catch."""
    records = Checked()
    records.put("Contact", "c1", {"name": "Ann"})
    pool = ScriptPool(size=1, limits=SMALL)
    try:
        step = run(pool, "found = records.get('Contact', 'c1')\n"
                         "new = records.add('Contact', {'name': found['name'] + '2'})\n"
                         "count = len(records.list('Contact'))\n"
                         "try:\n    records.add('bad name!', {})\n"
                         "except Exception as exc:\n    refused = str(exc)", records=records)
    finally:
        pool.close()
    assert step.status == "completed", step.error
    assert step.variables["found"] == {"id": "c1", "name": "Ann"}
    assert records.get("Contact", step.variables["new"]) == {"id": step.variables["new"],
                                                             "name": "Ann2"}
    assert step.variables["count"] == 2
    assert step.variables["refused"] == "entity must be a name of letters, digits and '_'"


class Outage(MemoryRecords):
    def list(self, entity: str) -> list[dict[str, Any]]:
        raise Unavailable("the database is out of reach")


def test_a_record_store_outage_fails_the_call_not_the_instance(pool):
    with pytest.raises(Unavailable):
        run(pool, "try:\n    records.list('Contact')\nexcept Exception:\n    pass",
            records=Outage())
    assert run(pool, "x = sum([4])").variables["x"] == 4


class Reentrant(MemoryRecords):
    """A record call that, while its script holds the only worker, runs another script."""

    def __init__(self, pool: ScriptPool) -> None:
        super().__init__()
        self.pool = pool
        self.refusal: str | None = None

    def list(self, entity: str) -> list[dict[str, Any]]:
        try:
            run(self.pool, "y = sum([1])")
        except Unavailable as exc:
            self.refusal = exc.message
        return []


def test_a_busy_pool_makes_callers_wait_then_gives_up_with_unavailable():
    pool = ScriptPool(size=1, limits=SMALL, queue_seconds=0.2)
    try:
        records = Reentrant(pool)
        assert run(pool, "x = records.list('Contact')", records=records).status == "completed"
    finally:
        pool.close()
    assert records.refusal == "no script worker was free within 0.2 s; try again"


def test_concurrent_scripts_share_the_pool():
    pool = ScriptPool(size=2, limits=SMALL)
    results: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                step = run(pool, "y = sum([x, x])", {"x": n * 100 + i})
                results.append(step.variables["y"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        pool.close()
    assert errors == []
    assert sorted(results) == sorted(2 * (n * 100 + i) for n in range(4) for i in range(10))


def test_expressions_that_call_run_in_a_worker_and_their_values_come_back(pool):
    runner = pool.runner(MemoryRecords())
    assert runner.evaluate("timedelta(hours=1)", {}) == timedelta(hours=1)
    assert runner.evaluate("datetime(2030, 1, 2, 3, 4)", {}) == datetime(2030, 1, 2, 3, 4)
    assert runner.evaluate("Decimal('1.10')", {}) == Decimal("1.10")
    assert runner.evaluate("[n * 2 for n in items]", {"items": [1, 2]}) == [2, 4]
    assert runner.spent > 0
    pool.close()
    # Bounded expressions (no loop, calls of a few pure builtins) never needed a worker; the
    # others now fail.
    assert runner.evaluate("amount > 100 and country == 'FR'",
                           {"amount": 120, "country": "FR"}) is True
    with pytest.raises(Unavailable):
        runner.evaluate("sorted(items)", {"items": []})
    assert runner.evaluate("len(items)", {"items": []}) == 0


def test_worker_cpu_counts_against_the_engine_budget(pool, monkeypatch):
    monkeypatch.setattr(engine_runtime, "MAX_ENGINE_SECONDS", 0.3)
    spec = compile_bpmn(diagram("""
        <bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="G" />
        <bpmn:exclusiveGateway id="G" default="f3" />
        <bpmn:sequenceFlow id="f2" sourceRef="G" targetRef="Burn">
          <bpmn:conditionExpression>True</bpmn:conditionExpression></bpmn:sequenceFlow>
        <bpmn:scriptTask id="Burn"><bpmn:script>n = n + 1
x = sorted(map(str, range(50000)))</bpmn:script></bpmn:scriptTask>
        <bpmn:sequenceFlow id="f4" sourceRef="Burn" targetRef="G" />
        <bpmn:sequenceFlow id="f3" sourceRef="G" targetRef="E" /><bpmn:endEvent id="E" />
        """)).spec
    step = Engine(sandbox=pool).start(spec, {"n": 0}, records=MemoryRecords(), now=NOW)
    assert step.status == "failed"
    assert "is there an endless loop?" in (step.error or "")
    assert 0 < step.variables["n"] < 5_000  # stopped by CPU, well before MAX_STEPS


class Slow(MemoryRecords):
    """A record store that takes its time, like a busy database."""

    def list(self, entity: str) -> list[dict[str, Any]]:
        time.sleep(0.02)
        return []


def test_a_script_cannot_keep_a_step_busy_with_record_calls(pool, monkeypatch):
    from flowport.engine import workers

    # Record calls cost the worker no CPU, so the tracer never fires: the wall clock does.
    monkeypatch.setattr(workers, "RECORD_SECONDS", 0.5)
    step = run(pool, "while True:\n    records.list('Contact')", records=Slow())
    assert step.status == "failed"
    assert "record calls included; its worker was stopped and replaced" in (step.error or "")
    assert run(pool, "x = sum([5])").variables["x"] == 5


@pytest.mark.parametrize(("source", "bounded"), [
    ("total = amount + 1", True),
    ("total = total * 2\nlabel = 'order ' + order_id + ': ' + str(total)", True),
    ("x = f'{a:>5}' if a else round(b / 3, 2)", True),
    ("n += 1", True),
    ("x = sum([1])", False),                  # a builtin outside the bounded few, a list
    ("x = records.list('Contact')", False),   # a method call
    ("str = records.add\nx = str('C', {})", False),  # no rebinding of the callable builtins
    ("x = max(*items)", False),
    ("x = int(s, base=2)", False),
    ("for i in items:\n    x = i", False),
    ("x = [i for i in items]", False),
    ("def f():\n    pass", False),
    ("x = lambda: 1", False),
    ("a.b = 1", False),
    ("x = " + " + ".join(["1"] * 80), False),  # too long
])
def test_which_scripts_stay_in_the_server(source, bounded):
    assert is_bounded_script(source) is bounded


@pytest.mark.parametrize("script", ["x = 9 ** 9 ** 9", "x = 'a' * 10 ** 9", "x = 2 ** 10 ** 7",
                                    "x = (10 ** 20000) * (10 ** 20000)"])
def test_bounded_scripts_in_the_server_still_meet_the_size_guards(script):
    # No worker at all: a bounded script runs in the server, where the guards stop it at once.
    closed = ScriptPool(size=1, limits=SMALL, queue_seconds=1)
    closed.close()
    started = time.monotonic()
    step = run(closed, script)
    assert step.status == "failed"
    assert "ScriptLimitError" in (step.error or "") or "limit" in (step.error or "")
    assert time.monotonic() - started < 5
