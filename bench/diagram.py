"""The one diagram every benchmark runs, and how it is deployed and started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DIAGRAM = Path(__file__).with_name("straight_through.bpmn")
BPMN_PROCESS_ID = "bench_straight"
PROCESS_KEY = "bench-straight"
# Deployed with declared parameters and an output template, as a real process would be, so
# the durable and HTTP runs include validation and output rendering.
PARAMETERS: list[dict[str, Any]] = [
    {"name": "order_id", "type": "text", "required": True, "max_length": 64},
    {"name": "amount", "type": "integer", "required": True},
]
OUTPUTS: list[str] = ["total", "label"]
SCRIPT_TASKS = 3


# The same three scripts written so that each needs a script worker (a list and a builtin
# outside the few that bounded scripts may call): what isolation costs a script that cannot
# stay in the server. The diagram's own scripts are bounded and run in the server.
_IN_WORKER = {
    b"total = amount + 1": b"total = sum([amount, 1])",
    b"total = total * 2": b"total = sum([total, total])",
    b'label = "order " + order_id + ": " + str(total)':
        b'label = "".join(["order ", order_id, ": ", str(total)])',
}


def xml(*, in_worker: bool = False) -> bytes:
    content = DIAGRAM.read_bytes()
    if in_worker:
        for bounded, unbounded in _IN_WORKER.items():
            assert bounded in content, bounded
            content = content.replace(bounded, unbounded)
    return content


def variables(i: int) -> dict[str, Any]:
    return {"order_id": f"A{i}", "amount": i}


def expected_label(i: int) -> str:
    return f"order A{i}: {(i + 1) * 2}"
