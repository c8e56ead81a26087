"""`demo.resource`: pretends to provision a resource, as a record, so that every hook can be
watched at work in the record store (entity `DemoResource` unless the input `entity` says
otherwise).

run      adds the record {state: "ready", **data} under the step's id; with `hold` true the
         record says "provisioning" and the step stays in flight until it is finished from
         outside (complete its element) or cancelled
cancel   marks the record "cancelled"
delete   removes the record
rollback removes the record

`fail` (a list of "run", "cancel", "delete", "rollback") makes those phases fail, to show
failures and retries.
"""

from __future__ import annotations

from typing import Any

from flowport.config import Settings
from flowport.executors.base import Done, Outcome, Parked, StepCall, StepFailed
from flowport.executors.inputs import flag, mapping, records_of, text

ENTITY = "DemoResource"
PHASES = ("run", "cancel", "delete", "rollback")


def _failing(call: StepCall, phase: str) -> None:
    wanted = call.inputs.get("fail", [])
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, list) or not all(p in PHASES for p in wanted):
        raise StepFailed(f"input 'fail' must list some of {', '.join(PHASES)}")
    if phase in wanted:
        raise StepFailed(f"demo failure of {phase} requested by input 'fail'")


class DemoResource:
    transactional = True

    def _entity(self, call: StepCall) -> str:
        return text(call.inputs, "entity", default=ENTITY)

    def run(self, call: StepCall) -> Outcome:
        _failing(call, "run")
        hold = flag(call.inputs, "hold")
        data = {**mapping(call.inputs, "data"), "state": "provisioning" if hold else "ready",
                "instance_id": call.instance_id, "step": call.namespace}
        records_of(call).put(self._entity(call), call.step_id, data)
        if hold:
            return Parked({"resource_id": call.step_id})
        return Done({"resource_id": call.step_id})

    def cancel(self, call: StepCall) -> Any:
        _failing(call, "cancel")
        records = records_of(call)
        found = records.get(self._entity(call), call.step_id)
        if found is not None:
            found.pop("id", None)
            records.put(self._entity(call), call.step_id, {**found, "state": "cancelled"})

    def delete(self, call: StepCall) -> Any:
        _failing(call, "delete")
        records_of(call).delete(self._entity(call), call.step_id)

    def rollback(self, call: StepCall) -> Any:
        _failing(call, "rollback")
        records_of(call).delete(self._entity(call), call.step_id)


def factory(_settings: Settings) -> DemoResource:
    return DemoResource()
