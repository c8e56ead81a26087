"""Stored specs back into SpiffWorkflow objects, once per spec text (an LRU per Engine)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from flowport.engine.model import ProcessOptions, ServiceConfig
from flowport.engine.spiff import REGISTRY, prepare_shared_spec
from flowport.errors import InvalidDefinition

SPEC_FORMAT = 1


@dataclass(frozen=True)
class LoadedSpec:
    """A restored spec: shared by every instance of its version, never mutated at run time."""

    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]
    elements: dict[str, tuple[str | None, str]]  # BPMN id -> (name, BPMN tag)
    options: ProcessOptions = field(default_factory=ProcessOptions)
    services: dict[str, ServiceConfig] = field(default_factory=dict)  # BPMN id -> executor


def load_spec(text: str) -> LoadedSpec:
    try:
        # Parsed afresh on every load: SpiffWorkflow's from_dict consumes its input.
        document = json.loads(text)
        if document.get("format") != SPEC_FORMAT:
            raise ValueError(f"unknown spec format {document.get('format')!r}")
        spec = REGISTRY.restore(document["spec"])
        subprocess_specs = {name: REGISTRY.restore(s)
                            for name, s in document["subprocess_specs"].items()}
        elements = {k: (v[0], v[1]) for k, v in document["elements"].items()}
        # Specs stored before executors existed have neither key.
        options = ProcessOptions(**document.get("options", {}))
        services = {k: ServiceConfig(v["executor"], v["namespace"],
                                     tuple((n, e) for n, e in v["inputs"]), v["result"])
                    for k, v in document.get("services", {}).items()}
    except InvalidDefinition:
        raise
    except Exception as exc:
        raise InvalidDefinition(f"the stored engine spec cannot be read: {exc}") from None
    prepare_shared_spec([spec, *subprocess_specs.values()])
    return LoadedSpec(document["process_id"], spec, subprocess_specs, elements, options,
                      services)


class SpecCache:
    """Restoring a spec costs more than running a short instance, and versions are immutable:
    keep the most recently used ones, keyed by the spec text itself (Python caches a str's
    hash, and the services hand over the same str object for a cached version)."""

    def __init__(self, size: int) -> None:
        self._size = max(size, 0)
        self._items: OrderedDict[str, LoadedSpec] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> LoadedSpec:
        with self._lock:
            hit = self._items.get(text)
            if hit is not None:
                self._items.move_to_end(text)
                return hit
        loaded = load_spec(text)
        if self._size:
            with self._lock:
                self._items[text] = loaded
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return loaded
