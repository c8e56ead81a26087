"""Helpers for the engine tests (no tests here): an in-memory record store, small diagrams, and
a driver that takes an instance through the engine one step at a time, restoring it from the
previous step's state with a fresh Engine each time, the way the services do."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from flowport.engine import (
    CompiledProcess,
    ElementSnapshot,
    Engine,
    ScriptPool,
    StepResult,
    compile_bpmn,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bpmn"
NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
          'id="Defs" targetNamespace="http://flowport.dev/tests">\n')


def diagram(body: str, *, process_id: str = "p", before: str = "") -> bytes:
    """A one-process BPMN file around `body` (flow nodes and flows)."""
    return (f'{HEADER}{before}<bpmn:process id="{process_id}" isExecutable="true">\n{body}\n'
            "</bpmn:process>\n</bpmn:definitions>\n").encode()


def script_diagram(script: str) -> bytes:
    """Start -> one script task "Script" -> end."""
    from xml.sax.saxutils import escape

    return diagram(
        '<bpmn:startEvent id="Begin" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="Begin" targetRef="Script" />'
        f'<bpmn:scriptTask id="Script"><bpmn:script>{escape(script)}</bpmn:script>'
        "</bpmn:scriptTask>"
        '<bpmn:sequenceFlow id="f2" sourceRef="Script" targetRef="Finish" />'
        '<bpmn:endEvent id="Finish" />')


class MemoryRecords:
    """A real RecordAccess kept in a dict: scope() undoes a failed script's writes."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, dict[str, Any]]] = {}
        self.scopes = 0

    def list(self, entity: str) -> list[dict[str, Any]]:
        return [{"id": k, **v} for k, v in self.entities.get(entity, {}).items()]

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        found = self.entities.get(entity, {}).get(record_id)
        return None if found is None else {"id": record_id, **found}

    def add(self, entity: str, data: dict[str, Any]) -> str:
        record_id = str(uuid.uuid4())
        self.entities.setdefault(entity, {})[record_id] = dict(data)
        return record_id

    def put(self, entity: str, record_id: str, data: dict[str, Any]) -> None:
        self.entities.setdefault(entity, {})[record_id] = dict(data)

    def delete(self, entity: str, record_id: str) -> bool:
        return self.entities.get(entity, {}).pop(record_id, None) is not None

    @contextmanager
    def scope(self) -> Iterator[None]:
        self.scopes += 1
        saved = copy.deepcopy(self.entities)
        try:
            yield
        except BaseException:
            self.entities = saved
            raise


@cache
def fixture(name: str) -> CompiledProcess:
    return compile_bpmn((FIXTURES / f"{name}.bpmn").read_bytes())


class Run:
    """One instance, driven step by step through fresh Engines: with the scripts in the
    calling thread, or in the `sandbox` pool when the `script_host` fixture put one here."""

    sandbox: ScriptPool | None = None

    def __init__(self, source: str | bytes | CompiledProcess, variables: dict[str, Any] | None
                 = None, *, now: datetime = NOW, records: MemoryRecords | None = None,
                 script_time_limit: float = 1.0) -> None:
        if isinstance(source, str):
            source = fixture(source)
        elif isinstance(source, bytes):
            source = compile_bpmn(source)
        self.spec = source.spec
        self.records = records if records is not None else MemoryRecords()
        self.now = now
        self.limit = script_time_limit
        self.history: list[StepResult] = []
        self._take(self._engine().start(self.spec, variables or {}, records=self.records,
                                        now=now))

    def _engine(self) -> Engine:
        return Engine(script_time_limit=self.limit, sandbox=self.sandbox)

    def _take(self, step: StepResult) -> StepResult:
        document = json.loads(step.state)  # the state is JSON ...
        assert "task_specs" not in step.state and "spec" not in document  # ... without the spec
        json.dumps(step.variables)  # variables are plain JSON
        self.history.append(step)
        self.step = step
        return step

    @property
    def status(self) -> str:
        return self.step.status

    @property
    def variables(self) -> dict[str, Any]:
        return self.step.variables

    def uid(self, element_id: str, state: str = "waiting") -> str:
        (uid,) = [e.uid for e in self.step.elements
                  if e.element_id == element_id and e.state == state]
        return uid

    def states(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for element in self.step.elements:
            found.setdefault(element.element_id, []).append(element.state)
        return found

    def state_of(self, element_id: str) -> str:
        (state,) = self.states()[element_id]
        return state

    def complete(self, element_id: str, data: dict[str, Any] | None = None, *,
                 uid: str | None = None) -> StepResult:
        return self._take(self._engine().complete_element(
            self.spec, self.step.state, uid or self.uid(element_id), data or {},
            records=self.records, now=self.now))

    def finish(self, element_id: str, outputs: dict[str, Any] | None = None) -> StepResult:
        """Feed an executor's outputs to a parked service task."""
        return self._take(self._engine().finish_service(
            self.spec, self.step.state, self.uid(element_id), outputs or {},
            records=self.records, now=self.now))

    def fail(self, element_id: str, reason: str) -> StepResult:
        return self._take(self._engine().fail_service(
            self.spec, self.step.state, self.uid(element_id), reason, now=self.now))

    def advance(self, now: datetime) -> StepResult:
        self.now = now
        return self._take(self._engine().advance(self.spec, self.step.state,
                                                 records=self.records, now=now))

    def message(self, name: str, payload: dict[str, Any] | None = None) -> StepResult:
        return self._take(self._engine().send_message(
            self.spec, self.step.state, name, payload or {}, records=self.records, now=self.now))

    def cancel(self) -> tuple[ElementSnapshot, ...]:
        state, elements = self._engine().cancel(self.spec, self.step.state)
        json.loads(state)
        self.step = StepResult(state, "cancelled", self.step.variables, None, None, elements,
                               None)
        return elements
