"""Helpers for the executor and cleanup tests (no tests here): a scriptable executor that
logs its calls, BPMN with service tasks, and a driver for the step workers."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from flowport.domain.instances import Instance
from flowport.executors import Done, Parked, StepCall, StepFailed
from flowport.services import cleanup as cleanup_svc
from flowport.services import instances as run
from flowport.services import processes as deploy
from flowport.services import steps as steps_svc

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
          'xmlns:flowport="https://flowport.dev/bpmn" id="Defs" '
          'targetNamespace="http://flowport.dev/tests">\n')


class Scripted:
    """An executor whose every call is logged as (phase, namespace) and whose answers a test
    sets per (phase, namespace): a list consumed call by call (the last one repeats). An
    answer is an exception to raise, a Done/Parked to return, or "park"; without one, run
    returns Done({namespace: attempt}) and a hook returns None."""

    def __init__(self, *, transactional: bool = True,
                 hooks: tuple[str, ...] = ("cancel", "delete", "rollback")) -> None:
        self.transactional = transactional
        self.calls: list[tuple[str, str]] = []
        self.seen: list[StepCall] = []
        self.answers: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for hook in hooks:
            setattr(self, hook, self._hook(hook))

    def when(self, phase: str, namespace: str, *answers: Any) -> None:
        self.answers[(phase, namespace)] = list(answers)

    def _answer(self, phase: str, call: StepCall) -> Any:
        self.calls.append((phase, call.namespace))
        self.seen.append(call)
        queue = self.answers.get((phase, call.namespace))
        if not queue:
            return None
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def run(self, call: StepCall) -> Any:
        answer = self._answer("run", call)
        if answer == "park":
            return Parked({"parked": True})
        return answer if answer is not None else Done({call.namespace: call.attempt})

    def _hook(self, phase: str) -> Any:
        def hook(call: StepCall) -> Any:
            return self._answer(phase, call)
        return hook

    def of(self, phase: str) -> list[str]:
        return [ns for p, ns in self.calls if p == phase]


def fail(message: str = "boom") -> StepFailed:
    return StepFailed(message)


def service(element_id: str, executor: str = "test", inputs: str = "") -> str:
    return (f'<bpmn:serviceTask id="{element_id}" name="{element_id}" '
            f'flowport:executor="{executor}"><bpmn:extensionElements>{inputs}'
            "</bpmn:extensionElements></bpmn:serviceTask>")


def chain_bpmn(*element_ids: str, attributes: str = "", executor: str = "test") -> bytes:
    """Start -> one service task per id, in a row -> end."""
    ids = ["S", *element_ids, "E"]
    flows = "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />'
                    for i, (a, b) in enumerate(itertools.pairwise(ids)))
    body = ('<bpmn:startEvent id="S" />' + "".join(service(e, executor) for e in element_ids)
            + '<bpmn:endEvent id="E" />' + flows)
    return (f'{HEADER}<bpmn:process id="p" isExecutable="true" {attributes}>{body}'
            "</bpmn:process></bpmn:definitions>").encode()


def parallel_bpmn(*element_ids: str, attributes: str = "") -> bytes:
    """Start -> fork -> each service task -> join -> end."""
    flows = ['<bpmn:sequenceFlow id="f0" sourceRef="S" targetRef="Fork" />',
             '<bpmn:sequenceFlow id="fe" sourceRef="Join" targetRef="E" />']
    for e in element_ids:
        flows.append(f'<bpmn:sequenceFlow id="a{e}" sourceRef="Fork" targetRef="{e}" />')
        flows.append(f'<bpmn:sequenceFlow id="b{e}" sourceRef="{e}" targetRef="Join" />')
    body = ('<bpmn:startEvent id="S" /><bpmn:parallelGateway id="Fork" />'
            + "".join(service(e) for e in element_ids)
            + '<bpmn:parallelGateway id="Join" /><bpmn:endEvent id="E" />' + "".join(flows))
    return (f'{HEADER}<bpmn:process id="p" isExecutable="true" {attributes}>{body}'
            "</bpmn:process></bpmn:definitions>").encode()


def ship(ctx, who, key: str, xml: bytes, **kwargs: Any) -> None:
    deploy.create_process(ctx, who, deploy.CreateProcess(key=key))
    deploy.deploy_version(ctx, who, key, deploy.DeployVersion(f"{key}.bpmn", xml, **kwargs))


def start(ctx, who, key: str, variables: dict[str, Any] | None = None, **options: Any
          ) -> Instance:
    return run.start_instance(ctx, who, run.StartInstance(key, variables or {},
                                                          **options)).instance


def drain(ctx) -> int:
    """Run every step and hook call due now."""
    return steps_svc.run_due_steps(ctx, limit=1000)


def fresh(ctx, who, instance: Instance) -> Instance:
    return run.get_instance(ctx, who, instance.id)


def statuses(ctx, who, instance: Instance) -> dict[str, str]:
    return {s.namespace: s.status.value
            for s in steps_svc.list_steps(ctx, who, fresh(ctx, who, instance))}


def links(ctx, who, instance: Instance) -> cleanup_svc.InstanceLinks:
    return cleanup_svc.links(ctx, who, fresh(ctx, who, instance))
