"""Measures, and the final table (or JSON document) they are printed as."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


def progress(message: str) -> None:
    """Progress goes to stderr, so `--json` leaves stdout a clean document."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Measure:
    section: str  # "a", "b" or "c"
    name: str
    value: float | None  # None: not measured (skipped or failed)
    unit: str
    target: str = ""
    ratio: float | None = None
    ratio_of: str = ""  # what the ratio means, printed after it, e.g. "of raw"
    passed: bool | None = None  # None: no target
    note: str = ""

    def value_text(self) -> str:
        if self.value is None:
            return "-"
        if self.unit == "ms":
            return f"{self.value:.2f} ms"
        if not self.unit:
            return f"{self.value:,.0f}"
        if self.value >= 100:
            return f"{self.value:,.0f} {self.unit}"
        return f"{self.value:,.1f} {self.unit}"

    def ratio_text(self) -> str:
        if self.ratio is None:
            return ""
        return f"{self.ratio:.2f} {self.ratio_of}".rstrip()

    def result_text(self) -> str:
        if self.value is None:
            return "ERROR" if self.note.startswith("failed") else "skipped"
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "FAIL"


@dataclass
class Report:
    measures: list[Measure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def add(self, measure: Measure) -> Measure:
        self.measures.append(measure)
        return measure

    def find(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name), None)

    @property
    def missed(self) -> list[Measure]:
        return [m for m in self.measures if m.passed is False]

    def to_json(self) -> str:
        return json.dumps({
            "machine": machine(),
            "measures": [asdict(m) for m in self.measures],
            "details": self.details,
            "notices": self.notices,
        }, indent=2, default=str)

    def table(self) -> str:
        headers = ("measure", "value", "target", "ratio", "result")
        rows = [(m.name, m.value_text(), m.target, m.ratio_text(), m.result_text())
                for m in self.measures]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(headers)]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c.rjust(w) if i == 1 else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

        out = [line(headers), line(tuple("-" * w for w in widths))]
        section = None
        for m, row in zip(self.measures, rows, strict=True):
            if section is not None and m.section != section:
                out.append("")
            section = m.section
            out.append(line(row))
        notes = [f"  {m.name}: {m.note}" for m in self.measures if m.note]
        if notes:
            out += ["", "notes:", *notes]
        if self.notices:
            out += ["", *self.notices]
        return "\n".join(out)


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min": load_average(),
    }


def per_database(prog: str, doc: str | None,
                 measure: Callable[[str, int], dict[str, float]],
                 argv: list[str] | None) -> None:
    """The command line of a benchmark that measures `--instances` on each database and
    prints one column per database."""
    parser = argparse.ArgumentParser(prog=prog, description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    results = {kind: measure(kind, args.instances) for kind in kinds}
    names = list(next(iter(results.values())))
    print(f"{'':24}" + "".join(f"{kind:>14}" for kind in kinds))
    for name in names:
        print(f"{name:24}" + "".join(f"{results[k][name]:>14.1f}" for k in kinds))
