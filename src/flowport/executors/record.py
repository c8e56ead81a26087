"""`record`: read and write the account's record store from a service task.

Inputs: `action` (add, put, get, list or delete; default add), `entity`, `id` (put, get,
delete) and `data` (add, put). Outputs: `id` (add, put), `record` (get), `records` (list),
`deleted` (delete). Its rollback and delete hooks remove a record the step added.
"""

from __future__ import annotations

from typing import Any

from flowport.config import Settings
from flowport.executors.base import Done, StepCall, StepFailed
from flowport.executors.inputs import mapping, records_of, text

ACTIONS = ("add", "put", "get", "list", "delete")


class RecordExecutor:
    transactional = True

    def run(self, call: StepCall) -> Done:
        records = records_of(call)
        action = text(call.inputs, "action", default="add")
        if action not in ACTIONS:
            raise StepFailed(f"input 'action' must be one of {', '.join(ACTIONS)}")
        entity = text(call.inputs, "entity")
        if action == "list":
            return Done({"records": records.list(entity)})
        if action == "add":
            return Done({"id": records.add(entity, mapping(call.inputs, "data"))})
        record_id = str(text(call.inputs, "id"))
        if action == "put":
            records.put(entity, record_id, mapping(call.inputs, "data"))
            return Done({"id": record_id})
        if action == "delete":
            return Done({"deleted": records.delete(entity, record_id)})
        found = records.get(entity, record_id)
        if found is None:
            raise StepFailed(f"no record {record_id!r} in {entity!r}")
        return Done({"record": found})

    def rollback(self, call: StepCall) -> Any:
        """Undo an `add`; the other actions leave nothing of their own behind."""
        added = (call.outputs or {}).get("id")
        if call.inputs.get("action", "add") == "add" and isinstance(added, str):
            records_of(call).delete(text(call.inputs, "entity"), added)

    delete = rollback


def factory(_settings: Settings) -> RecordExecutor:
    return RecordExecutor()
