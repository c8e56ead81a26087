"""Script tasks cannot escape: each attempt is refused at upload or fails the instance within
its budget, and the service keeps working afterwards. Scripts run in the worker pool here (the
`ctx` fixture's sandbox), so the limits are the workers' own: tests/unit/test_script_pool.py shows
the kernel's wall behind the restricted layer."""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

import pytest

from flowport.domain.instances import Status
from flowport.errors import InvalidDefinition
from flowport.services import instances as run
from flowport.services import processes as deploy

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"
    targetNamespace="http://flowport.dev/tests">
  <bpmn:process id="escape" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Script" />
    <bpmn:scriptTask id="Script"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Script" targetRef="End" />
    <bpmn:endEvent id="End" />
  </bpmn:process>
</bpmn:definitions>
"""

ATTEMPTS = {
    "import": "import os\nresult = os.listdir('/')",
    "from-import": "from subprocess import run",
    "dunder-import": "m = __import__('os')",
    "builtins": "b = __builtins__",
    "subclasses": "result = ().__class__.__bases__[0].__subclasses__()",
    "mro-walk": "result = [].__class__.__mro__",
    "open": "result = open('/etc/passwd').read()",
    "getattr-dunder": "result = getattr((), '__class__')",
    "format-string": "result = '{0.__class__.__init__.__globals__}'.format(1)",
    "format-map": "result = '{x.__class__}'.format_map({'x': 1})",
    "eval": "result = eval('1+1')",
    "exec": "exec('x = 1')",
    "compile": "c = compile('1', 'f', 'eval')",
    "globals": "g = globals()",
    "frame-walk": "g = (lambda: 0).__code__",
    "generator-frame": "g = (x for x in []).gi_frame",
    "infinite-loop": "while True:\n    pass",
    "huge-allocation": "x = 'a' * (10 ** 10)",
    "huge-list": "x = [0] * (10 ** 10)",
    "deep-recursion": "def f(n):\n    return f(n + 1)\nf(0)",
    "fork-bomb": "import os\nwhile True:\n    os.fork()",
    "fork-via-builtins": "f = __builtins__['__import__']('os').fork",
    "socket": "import socket\ns = socket.create_connection(('example.com', 80))",
    "socket-via-dunder": "s = __import__('socket').socket()",
    "memory-bomb": "x = [list(range(1000000)) for i in range(1000)]",
    "attribute-walk-to-os": "result = datetime.__class__.__subclasses__(type)",
}

# Attempts that pass the restricted layer and break a worker's limit, with the error the
# instance reports.
LIMITS = {
    "infinite-loop": ("while True:\n    pass",
                      "TimeoutError: the script used more than its 1 s of CPU time"),
    "memory-bomb": ("x = [list(range(1000000)) for i in range(1000)]",
                    "MemoryError: the script needed more than its 256 MiB of memory; its worker "
                    "was replaced"),
}


def ship(ctx, admin, script: str) -> None:
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="escape"))
    xml = TEMPLATE.format(script=escape(script)).encode()
    deploy.deploy_version(ctx, admin, "escape", deploy.DeployVersion("escape.bpmn", xml))


@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_escape_attempts_fail_cleanly(ctx, admin, name):
    started = time.monotonic()
    try:
        ship(ctx, admin, ATTEMPTS[name])
    except InvalidDefinition as refused:
        assert refused.element_id == "Script"
        return
    instance = run.start_instance(ctx, admin, run.StartInstance("escape")).instance
    assert instance.status is Status.FAILED, instance.variables
    assert instance.error and "Script" in instance.error
    assert "result" not in instance.variables
    # Stopped within the budget (1 s of CPU) plus slack for a slow machine.
    assert time.monotonic() - started < 10
    # ... and the service still works.
    again = run.start_instance(ctx, admin, run.StartInstance("escape")).instance
    assert again.id != instance.id


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_worker_limits_fail_the_step_clearly_and_the_service_goes_on(ctx, admin, name):
    script, message = LIMITS[name]
    ship(ctx, admin, script)
    instance = run.start_instance(ctx, admin, run.StartInstance("escape")).instance
    assert instance.status is Status.FAILED
    assert instance.error == f"script task 'Script' failed: {message}"
    deploy.create_process(ctx, admin, deploy.CreateProcess(key="fine"))
    xml = TEMPLATE.replace('id="escape"', 'id="fine"').format(script="y = 6 * 7").encode()
    deploy.deploy_version(ctx, admin, "fine", deploy.DeployVersion("fine.bpmn", xml))
    fine = run.start_instance(ctx, admin, run.StartInstance("fine")).instance
    assert fine.status is Status.COMPLETED and fine.variables["y"] == 42
