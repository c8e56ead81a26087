"""Restricted Python for script tasks and expressions (gateway conditions, timers, multi-instance).

Tenants' scripts run inside the server, so they get RestrictedPython's compile-time checks (no
imports, no names or attributes starting with "_"), a narrow runtime surface (guards.py), and a
CPU budget enforced by an opcode tracer that only traces frames whose code came from a script.

Budget overruns raise ScriptTimeout, a BaseException: scripts may catch Exception but cannot name
BaseException, and the policy forbids bare `except:`, `finally` and `with`, so once the tracer
fires no script code can run again (CPython also drops a tracer that raised).
"""

from __future__ import annotations

import ast
import sys
import time
import traceback
from collections.abc import Callable
from functools import lru_cache
from types import CodeType, FrameType
from typing import Any, Protocol

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from flowport.domain.records import RecordAccess
from flowport.engine.guards import GUARDS, RecordsMarker
from flowport.engine.values import ValueProblem, to_json_value, to_json_variables
from flowport.errors import BadInput, FlowportError, NotFound, TooLarge

SCRIPT_FILENAME = "<flowport-script>"
CHECK_EVERY = 1000  # traced script events between two looks at the CPU clock
RESERVED = frozenset(GUARDS) | {"records"}

_BINOPS: dict[type[ast.operator], str] = {
    ast.Mult: "*", ast.Add: "+", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%",
}


class ScriptRejected(Exception):
    """The source does not compile under the policy; the message lists every problem."""


class ScriptFailed(Exception):
    """A script or expression raised, ran out of budget, or left an unstorable value."""

    def __init__(self, kind: str, detail: str, line: int | None = None) -> None:
        where = f" (line {line})" if line else ""
        super().__init__(f"{kind}: {detail}{where}" if detail else f"{kind}{where}")
        self.kind, self.detail, self.line = kind, detail, line


class ScriptTimeout(BaseException):
    """Raised by the tracer when a script outlives its CPU budget."""


class Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, narrowed so that the CPU budget cannot be dodged and so that
    size-sensitive operators and format specs go through the runtime guards."""

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "imports are not allowed")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "imports are not allowed")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_With(self, node: ast.With) -> ast.AST:
        self.error(node, "'with' statements are not allowed")
        return node

    def visit_Try(self, node: ast.Try) -> Any:
        if node.finalbody:
            self.error(node, "'finally' is not allowed")
        for handler in node.handlers:
            if handler.type is None:
                self.error(handler, "a bare 'except:' is not allowed; write 'except Exception:'")
        return super().visit_Try(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        symbol = _BINOPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(func=ast.Name("_binop_", ast.Load()),
                        args=[ast.Constant(symbol), node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        if node.format_spec is None and node.conversion == -1:
            return node
        spec: ast.expr = node.format_spec if node.format_spec is not None else ast.Constant("")
        call = ast.Call(func=ast.Name("_format_", ast.Load()),
                        args=[node.value, ast.Constant(node.conversion), spec], keywords=[])
        copy_locations(call, node)
        formatted = ast.FormattedValue(value=call, conversion=-1, format_spec=None)
        copy_locations(formatted, node)
        return formatted


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> CodeType:
    compiler = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    result = compiler(source, SCRIPT_FILENAME, policy=Policy)
    if result.errors or result.code is None:
        raise ScriptRejected("; ".join(result.errors) or "the source does not compile")
    return result.code


# Code made only of these can neither loop nor define nor build a collection, and calls only
# the pure builtins below: its cost is bounded by its length (the operators that can build
# huge values in one step are size-checked by the guards), so it may run in the server instead
# of paying a round trip to a script worker. Most conditions, and scripts that only compute a
# few variables, are such.
_BOUNDED_NODES = (
    ast.Expression, ast.Name, ast.Load, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is,
    ast.IsNot, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp,
    ast.Add, ast.Sub, ast.Div, ast.FloorDiv, ast.Mult, ast.Mod, ast.Pow, ast.IfExp,
    ast.JoinedStr, ast.FormattedValue, ast.Call,
    # statements of a bounded script: plain assignments to names
    ast.Module, ast.Assign, ast.AugAssign, ast.Store,
)
# Builtins whose cost is bounded by their arguments' size.
_BOUNDED_CALLS = frozenset({"abs", "bool", "float", "int", "len", "max", "min", "round", "str"})
MAX_BOUNDED_NODES = 128


def _bounded(tree: ast.AST) -> bool:
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_BOUNDED_NODES:
        return False
    for node in nodes:
        if type(node) not in _BOUNDED_NODES:
            return False
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _BOUNDED_CALLS
            and not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args)
        ):
            return False
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            # Only names, and never one of the builtins it may call (no `str = records.add`).
            if not all(isinstance(t, ast.Name) and t.id not in _BOUNDED_CALLS for t in targets):
                return False
    return True


@lru_cache(maxsize=4096)
def is_bounded_expression(source: str) -> bool:
    """True when the expression is small and made only of names, constants, attribute and item
    reads, comparisons, boolean logic, guarded arithmetic and calls of a few pure builtins."""
    try:
        return _bounded(ast.parse(source.strip(), mode="eval"))
    except SyntaxError:
        return False


@lru_cache(maxsize=4096)
def is_bounded_script(source: str) -> bool:
    """True when the script is a few assignments of bounded expressions to names."""
    try:
        return _bounded(ast.parse(source, mode="exec"))
    except SyntaxError:
        return False


def script_problem(source: str) -> str | None:
    """Why `source` is refused as a script, or None if it compiles under the policy."""
    try:
        _compile(source, "exec")
    except ScriptRejected as refused:
        return str(refused)
    return None


def expression_problem(source: str) -> str | None:
    """Why `source` is refused as an expression, or None if it compiles under the policy."""
    try:
        _compile(source.strip(), "eval")
    except ScriptRejected as refused:
        return str(refused)
    return None


class Records(RecordsMarker):
    """The record store as scripts see it. Writes are refused from expressions. Failures of the
    store itself (not of the script's request) are remembered and re-raised after the script,
    so a script that catches every exception cannot turn an outage into a wrong result."""

    def __init__(self, access: RecordAccess | None, *, writable: bool) -> None:
        self._access, self._writable = access, writable
        self.outage: FlowportError | None = None

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except (BadInput, NotFound, TooLarge):
            raise
        except FlowportError as exc:
            self.outage = exc
            raise

    def _store(self) -> RecordAccess:
        if self._access is None:
            raise RuntimeError("the record store is not available here")
        return self._access

    def _writer(self) -> RecordAccess:
        if not self._writable:
            raise RuntimeError("expressions cannot change records")
        return self._store()

    def list(self, entity: str) -> list[dict[str, Any]]:
        return self._call(self._store().list, str(entity))

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        return self._call(self._store().get, str(entity), str(record_id))

    def add(self, entity: str, data: dict[str, Any]) -> str:
        store = self._writer()
        return str(self._call(store.add, str(entity), _record_data(data)))

    def put(self, entity: str, record_id: str, data: dict[str, Any]) -> None:
        store = self._writer()
        self._call(store.put, str(entity), str(record_id), _record_data(data))

    def delete(self, entity: str, record_id: str) -> bool:
        store = self._writer()
        return bool(self._call(store.delete, str(entity), str(record_id)))


def _record_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError("a record is a dict")
    value = to_json_value(data, "record")
    assert isinstance(value, dict)
    return value


def _script_line(exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == SCRIPT_FILENAME:
            line = frame.lineno
    return line


class Scripts(Protocol):
    """What the engine needs to run one call's scripts and expressions: ScriptRunner here, in
    the server's thread, or sandbox.PoolRunner in a worker process."""

    @property
    def spent(self) -> float:
        """CPU seconds its scripts used outside the calling thread."""
        ...

    def execute(self, source: str, data: dict[str, Any]) -> dict[str, Any]: ...

    def evaluate(self, source: str, data: dict[str, Any]) -> Any: ...


class ScriptRunner:
    """Runs scripts and expressions for one engine call in the calling thread: one record
    store, one CPU budget per script. Not shared between threads."""

    spent = 0.0  # its scripts run in the caller's thread, whose own clock counts them

    def __init__(self, *, time_limit: float, records: RecordAccess | None) -> None:
        self._limit = time_limit
        self._access = records

    def execute(self, source: str, data: dict[str, Any]) -> dict[str, Any]:
        """Run a script over `data`; returns the variables it leaves (JSON-safe)."""
        code = self._code(source, "exec")
        records = Records(self._access, writable=True)
        namespace = {**data, **GUARDS, "records": records}
        if self._access is not None:
            with self._access.scope():
                self._traced(code, namespace, records)
        else:
            self._traced(code, namespace, records)
        kept = {k: v for k, v in data.items() if k in RESERVED or k.startswith("_")}
        kept.update((k, v) for k, v in namespace.items()
                    if k not in RESERVED and not k.startswith("_"))
        try:
            return to_json_variables(kept)
        except ValueProblem as problem:
            raise ScriptFailed("ValueError", str(problem)) from None

    def evaluate(self, source: str, data: dict[str, Any]) -> Any:
        """The value of an expression over `data` (records readable, not writable)."""
        code = self._code(source.strip(), "eval")
        records = Records(self._access, writable=False)
        return self._traced(code, {**data, **GUARDS, "records": records}, records)

    @staticmethod
    def _code(source: str, mode: str) -> CodeType:
        try:
            return _compile(source, mode)
        except ScriptRejected as refused:
            raise ScriptFailed("SyntaxError", str(refused)) from None

    def _traced(self, code: CodeType, namespace: dict[str, Any], records: Records) -> Any:
        limit = self._limit
        deadline = time.thread_time() + limit
        countdown = CHECK_EVERY

        def in_script(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal countdown
            countdown -= 1
            if countdown <= 0:
                countdown = CHECK_EVERY
                if time.thread_time() > deadline:
                    raise ScriptTimeout
            return in_script

        def on_call(frame: FrameType, event: str, arg: Any) -> Any:
            # Only script frames are traced; engine and store code runs at full speed. Opcode
            # events, not line events: `while True: pass` jumps to itself and never starts a
            # new line, so a line tracer would never see it again.
            if frame.f_code.co_filename != SCRIPT_FILENAME:
                return None
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            return in_script

        previous = sys.gettrace()
        sys.settrace(on_call)
        try:
            result = eval(code, namespace)
        except ScriptTimeout:
            raise ScriptFailed(
                "TimeoutError", f"the script used more than its {limit:g} s of CPU time"
            ) from None
        except RecursionError:
            raise ScriptFailed("RecursionError", "maximum recursion depth exceeded") from None
        except MemoryError:
            raise ScriptFailed("MemoryError", "the script ran out of memory") from None
        except Exception as exc:
            if records.outage is not None:
                raise records.outage from None
            detail = exc.message if isinstance(exc, FlowportError) else str(exc)
            raise ScriptFailed(type(exc).__name__, detail, _script_line(exc)) from None
        finally:
            sys.settrace(previous)
        if records.outage is not None:
            raise records.outage
        return result
