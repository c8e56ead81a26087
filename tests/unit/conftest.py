"""The engine tests run twice: scripts in the calling thread, and in the worker pool, so the
sandbox is held to exactly the semantics of the restricted layer it wraps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_engine_support import Run

from flowport.engine import ScriptPool


@pytest.fixture(params=["thread", "workers"])
def script_host(request: pytest.FixtureRequest, sandbox: ScriptPool) -> Iterator[str]:
    Run.sandbox = sandbox if request.param == "workers" else None
    yield request.param
    Run.sandbox = None
