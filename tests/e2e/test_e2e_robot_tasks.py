"""The `robot` executor end to end: a real `flowport serve` with the examples deployed, a real
`flowport robot` agent and real Robot Framework runs. The invoice-approval example waits for
a person, then for a robot running invoice-entry.robot as its child instance; the robot's
outputs come back, its failure is caught by an error boundary event, and cancelling the
parent stops the child's run on the robot."""

from __future__ import annotations

import time
from typing import Any

import pytest

from flowport.client import Client
from tests.e2e.agents import Agent, awaited
from tests.e2e.harness import deploy_examples, eventually
from tests.e2e.test_e2e_robots import agents, api, ended, package, ready, server

pytestmark = pytest.mark.e2e
__all__ = ["agents", "api", "server"]  # the fixtures, shared with the robots' tests


def approved(api: Client, invoice: dict[str, Any]) -> str:
    """Start invoice-approval, approve it as a person: the parent's id."""
    parent = api.start("invoice-approval", invoice).instance
    (task,) = [e for e in api.list_elements(parent["id"])
               if e["element_id"] == "Approve" and e["state"] == "waiting"]
    api.complete_element(parent["id"], task["uid"], {"approved": True})
    return str(parent["id"])


def child_of(api: Client, parent_id: str, agent: Agent | None = None) -> str:
    def probe() -> str | None:
        steps = [s for s in api.list_steps(parent_id) if s["status"] == "started"]
        return steps[0]["detail"]["instance_id"] if steps else None

    return awaited(probe, what="the robot step to start its child", agent=agent)


def test_a_robot_task_runs_a_robot_framework_package_and_the_process_goes_on(
        server, api, agents):
    deploy_examples(server)
    agent = ready(api, agents())
    began = time.monotonic()
    parent_id = approved(api, {"invoice_id": "INV-7", "vendor": "ACME", "amount": 250})
    done = ended(api, parent_id, agent)
    took = time.monotonic() - began
    assert done["status"] == "completed", done
    assert done["outputs"]["entry_number"] == "ERP-INV-7", done
    assert done["outputs"]["decision"] == "booked"
    (step,) = api.list_steps(parent_id)
    assert step["status"] == "completed" and step["outputs"] == {"entry_number": "ERP-INV-7"}
    child = api.get_instance(step["detail"]["instance_id"])
    assert child["status"] == "completed" and child["process_key"] == "invoice-entry"
    assert child["parent_id"] == parent_id
    assert child["variables"]["vendor"] == "ACME"
    assert "output.xml" in {a["name"] for a in api.list_artifacts(child["id"])}
    logs = [line["message"] for line in api.iter_logs(child["id"])]
    assert "Invoice INV-7 of 250 from ACME entered as ERP-INV-7" in logs
    print(f"approve -> robot run -> parent completed: {took:.2f} s")


def test_a_failing_robot_run_is_a_bpmn_error_the_process_catches(server, api, agents):
    deploy_examples(server)
    agent = ready(api, agents())
    parent_id = approved(api, {"invoice_id": "INV-8", "vendor": "Nobody Inc", "amount": 9})
    done = ended(api, parent_id, agent)
    assert done["status"] == "completed", done
    assert done["variables"]["decision"] == "manual entry"
    assert "vendor 'Nobody Inc' is not in the ERP" in done["variables"]["robot_error"]
    assert done["variables"]["error"]["code"] == "robot.failed"
    (step,) = api.list_steps(parent_id)
    assert step["status"] == "failed"
    child = api.get_instance(step["detail"]["instance_id"])
    assert child["status"] == "failed" and "Vendor Exists In The ERP" in child["error"]
    assert "error_caught" in [e["kind"] for e in api.list_events(parent_id)]


def test_cancelling_the_parent_stops_the_run_on_the_robot(server, api, agents):
    package(api, "long", "long.robot")
    api.create_process("waits-for-long")
    api.deploy_version("waits-for-long", LONG_PARENT, "waits-for-long.bpmn")
    agent = ready(api, agents())
    parent = api.start("waits-for-long").instance
    child_id = child_of(api, parent["id"], agent)
    eventually(lambda: any(e["kind"] == "robot.test_started"
                           for e in api.list_events(child_id)), what="the test to start")
    assert api.cancel(parent["id"], "not needed")["status"] == "stopped"
    child = ended(api, child_id, agent)
    assert child["status"] == "stopped", child
    assert api.get_instance(parent["id"])["status"] == "stopped"
    (step,) = api.list_steps(parent["id"])
    assert step["status"] == "cancelled"


LONG_PARENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:flowport="https://flowport.dev/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="waits_for_long" isExecutable="true">
    <bpmn:startEvent id="S" />
    <bpmn:serviceTask id="Run" name="run" flowport:executor="robot">
      <bpmn:extensionElements>
        <flowport:input name="process">"long"</flowport:input>
        <flowport:input name="variables">{"seconds": 60}</flowport:input>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="E" />
    <bpmn:sequenceFlow id="a" sourceRef="S" targetRef="Run" />
    <bpmn:sequenceFlow id="b" sourceRef="Run" targetRef="E" />
  </bpmn:process>
</bpmn:definitions>"""
