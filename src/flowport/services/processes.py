"""Processes and their versions: create, read, change, delete, deploy."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowport.domain.accounts import Permission, Principal
from flowport.domain.packages import check_package
from flowport.domain.processes import (
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_PROJECT,
    ContentKind,
    Process,
    ProcessType,
    Version,
    check_key,
    new_guid,
    new_key,
    parse_outputs,
    parse_parameters,
    row_number,
)
from flowport.domain.robots import check_min_version, check_tags
from flowport.engine import compile_bpmn, with_layout
from flowport.errors import BadInput, Conflict, NotFound, TooLarge, UnknownIds
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.services.pages import page_limit
from flowport.store import Duplicate, Page, Tx

ORDERINGS = ("key", "-key", "name", "-name", "created_at", "-created_at")
# What find_processes may sort by.
SORT_FIELDS = ("id", "key", "name", "created_at", "updated_at", "created_by")


@dataclass(frozen=True)
class CreateProcess:
    key: str | None  # None: a generated key
    name: str | None = None
    description: str = ""
    process_type: ProcessType = ProcessType.BPMN
    min_version_to_run: str | None = None
    project: str = ""
    robot_tags: tuple[str, ...] = ()
    max_attempts: int = 1
    retry_backoff: int = 60


@dataclass(frozen=True)
class UpdateProcess:
    name: str | None = None
    description: str | None = None
    min_version_to_run: str | None = None
    project: str | None = None
    robot_tags: tuple[str, ...] = ()
    max_attempts: int = 1
    retry_backoff: int = 60
    # Which fields the caller sent, so "set to null" differs from "leave alone".
    sent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DeployVersion:
    file_name: str
    content: bytes
    parameters: Any = None
    outputs: Any = None
    bpmn_process_id: str | None = None
    label: str = ""  # the version's own name
    description: str = ""


@dataclass(frozen=True)
class UpdateVersion:
    label: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class ListProcesses:
    search: str | None = None
    order: str = "key"
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class FindProcesses:
    """A page by position (Studio's page/page_size): `sort` holds field names of SORT_FIELDS,
    `-` first for descending; `id` breaks ties."""

    name_contains: str | None = None
    sort: tuple[str, ...] = ("-id",)
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class Found:
    total: int
    items: list[Process]


@dataclass(frozen=True)
class Deployed:
    process: Process
    version: Version
    created: bool


def _check_text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text", field=name)
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters", field=name)
    return value


def live_process(tx: Tx, who: Principal, key: str | int, *, lock: bool = False) -> Process:
    """The caller's live process named by its key or by its numeric id (see `row_number`)."""
    number = row_number(key)
    if number is not None:
        process = tx.fetch_process_by_id(who.account_id, number, lock=lock)
    else:
        process = tx.fetch_process(who.account_id, str(key), lock=lock)
    if process is None:
        raise NotFound(f"no process {key!r}")
    return process


def process_filter(tx: Tx, who: Principal, key: str | None) -> int | None:
    """The process id a list is filtered by: None for no filter; an unknown key gives 0, which
    names no process, so the list comes back empty."""
    if key is None:
        return None
    process = tx.fetch_process(who.account_id, key)
    return process.id if process is not None else 0


def create_process(ctx: Context, who: Principal, cmd: CreateProcess) -> Process:
    require(who, Permission.DEPLOY)
    key = check_key(cmd.key) if cmd.key is not None else new_key()
    name = _check_text(cmd.name if cmd.name is not None else key, "name", MAX_NAME).strip()
    if not name:
        raise BadInput("name must not be blank", field="name")
    description = _check_text(cmd.description, "description", MAX_DESCRIPTION)
    project = _check_text(cmd.project, "project", MAX_PROJECT)
    policy = _robot_policy(cmd, frozenset({"robot_tags", "max_attempts", "retry_backoff"}))
    check_min_version(cmd.min_version_to_run)
    exists = Conflict(f"a process with key {key!r} exists already", field="key")
    try:
        with ctx.store.transaction() as tx:
            if tx.fetch_process(who.account_id, key) is not None:
                raise exists
            return tx.insert_process(
                who.account_id, key, new_guid(), name, description,
                ProcessType(cmd.process_type), cmd.min_version_to_run, ctx.clock.now(),
                project=project, created_by=who.user_id, **policy,
            )
    except Duplicate:
        raise exists from None


def _robot_policy(cmd: CreateProcess | UpdateProcess, sent: frozenset[str]) -> dict[str, Any]:
    """The robot fields of a create or update that were sent, checked."""
    fields: dict[str, Any] = {}
    if "robot_tags" in sent:
        fields["robot_tags"] = check_tags(cmd.robot_tags, "robot_tags")
    if "max_attempts" in sent:
        attempts = cmd.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
            raise BadInput("max_attempts must be a whole number from 1 to 100",
                           field="max_attempts")
        fields["max_attempts"] = attempts
    if "retry_backoff" in sent:
        backoff = cmd.retry_backoff
        if isinstance(backoff, bool) or not isinstance(backoff, int) or not 0 <= backoff <= 86_400:
            raise BadInput("retry_backoff must be a whole number of seconds from 0 to 86400",
                           field="retry_backoff")
        fields["retry_backoff"] = backoff
    return fields


def get_process(ctx: Context, who: Principal, key: str | int) -> Process:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return live_process(tx, who, key)


def list_processes(ctx: Context, who: Principal, query: ListProcesses) -> Page:
    require(who, Permission.READ)
    if query.order not in ORDERINGS:
        raise BadInput(f"order must be one of {', '.join(ORDERINGS)}", field="order")
    with ctx.store.transaction(write=False) as tx:
        return tx.list_processes(who.account_id, search=query.search, order=query.order,
                                 cursor=query.cursor, limit=page_limit(ctx, query.limit))


def find_processes(ctx: Context, who: Principal, query: FindProcesses) -> Found:
    require(who, Permission.READ)
    order: list[tuple[str, bool]] = []
    for term in query.sort:
        name = term.removeprefix("-")
        if name not in SORT_FIELDS:
            raise BadInput(f"sort fields are {', '.join(SORT_FIELDS)}", field="sort")
        if all(name != seen for seen, _ in order):
            order.append((name, term.startswith("-")))
    if all(name != "id" for name, _ in order):
        order.append(("id", False))
    if query.offset < 0:
        raise BadInput("offset must not be negative", field="offset")
    if not 1 <= query.limit <= ctx.settings.max_page_size:
        raise BadInput(f"limit holds 1 to {ctx.settings.max_page_size}", field="limit")
    with ctx.store.transaction(write=False) as tx:
        total, items = tx.find_processes(who.account_id, name_contains=query.name_contains,
                                         order=order, offset=query.offset, limit=query.limit)
    return Found(total, items)


def update_process(ctx: Context, who: Principal, key: str | int,
                   cmd: UpdateProcess) -> Process:
    """Change the fields named in `cmd.sent`; `updated_at` moves only when a value changes."""
    require(who, Permission.DEPLOY)
    fields: dict[str, Any] = {}
    if "name" in cmd.sent:
        name = _check_text(cmd.name, "name", MAX_NAME).strip()
        if not name:
            raise BadInput("name must not be blank", field="name")
        fields["name"] = name
    if "description" in cmd.sent:
        fields["description"] = _check_text(cmd.description, "description", MAX_DESCRIPTION)
    if "project" in cmd.sent:
        fields["project"] = _check_text(cmd.project, "project", MAX_PROJECT)
    if "min_version_to_run" in cmd.sent:
        fields["min_version_to_run"] = check_min_version(cmd.min_version_to_run)
    fields.update(_robot_policy(cmd, cmd.sent))
    with ctx.store.transaction() as tx:
        process = live_process(tx, who, key, lock=True)
        changed = {k: v for k, v in fields.items() if getattr(process, k) != v}
        if changed:
            tx.update_process(process.id, ctx.clock.now(), **changed)
        return live_process(tx, who, process.id)


def delete_process(ctx: Context, who: Principal, key: str | int) -> None:
    delete_processes(ctx, who, [key])


def delete_processes(ctx: Context, who: Principal, keys: Sequence[str | int]) -> None:
    """Delete every named process, or none: an unknown one fails the whole batch, naming all
    unknowns. Drafts go; versions and instances stay readable by id."""
    require(who, Permission.DEPLOY)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        found: list[Process] = []
        missing: list[str | int] = []
        for key in dict.fromkeys(keys):
            try:
                found.append(live_process(tx, who, key, lock=True))
            except NotFound:
                missing.append(key)
        if missing:
            raise UnknownIds("process", missing)
        for process in found:
            tx.delete_draft(process.id)
            tx.delete_process(process.id, now)


def content_kind(file_name: str) -> ContentKind:
    lower = file_name.lower()
    if lower.endswith((".bpmn", ".bpmn20.xml", ".xml")):
        return ContentKind.BPMN
    for suffix, kind in ((".robot", ContentKind.ROBOT), (".py", ContentKind.PYTHON),
                         (".zip", ContentKind.ZIP)):
        if lower.endswith(suffix):
            return kind
    raise BadInput("file must be .bpmn (or .xml), .robot, .py or .zip", field="file_name")


def deploy_version(ctx: Context, who: Principal, key: str, cmd: DeployVersion, *,
                   adopt_type: bool = False) -> Deployed:
    """A new version (or the identical one that exists). `adopt_type`: a process without a
    version yet takes its type from the file (Sherpa's process type does not say whether its
    versions are BPMN or robot packages)."""
    require(who, Permission.DEPLOY)
    if not cmd.file_name or len(cmd.file_name) > 255:
        raise BadInput("file_name must hold 1 to 255 characters", field="file_name")
    if len(cmd.content) > ctx.settings.max_upload_bytes:
        raise TooLarge(f"the file is larger than {ctx.settings.max_upload_bytes} bytes",
                       field="file")
    if not cmd.content:
        raise BadInput("the file is empty", field="file")
    kind = content_kind(cmd.file_name)
    label = _check_text(cmd.label, "label", MAX_NAME).strip()
    description = _check_text(cmd.description, "description", MAX_DESCRIPTION)
    parameters = [p.to_dict() for p in parse_parameters(cmd.parameters)]
    outputs = [o.to_dict() for o in parse_outputs(cmd.outputs)]
    sha256 = hashlib.sha256(cmd.content).hexdigest()
    with ctx.store.transaction(write=False) as tx:
        process = live_process(tx, who, key)
    expect_bpmn = process.process_type is ProcessType.BPMN
    adopt = adopt_type and process.current_version is None and \
        expect_bpmn != (kind is ContentKind.BPMN)
    if adopt:
        expect_bpmn = not expect_bpmn
    if expect_bpmn != (kind is ContentKind.BPMN):
        raise BadInput(
            "a BPMN process takes a .bpmn file" if expect_bpmn
            else "a package process takes a .robot, .py or .zip file", field="file_name")
    spec = bpmn_id = entry_point = None
    # Compile outside the transaction: parsing can take milliseconds and holds no lock.
    if kind is ContentKind.BPMN:
        compiled = compile_bpmn(cmd.content, process_id=cmd.bpmn_process_id,
                                executors=ctx.executors.names())
        spec, bpmn_id = compiled.spec, compiled.process_id
    else:
        entry_point = check_package(kind, cmd.content)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        process = live_process(tx, who, key, lock=True)
        existing = tx.fetch_version_by_hash(process.id, sha256)
        if existing is not None and existing.deleted_at is not None:
            # The same content again: the deleted version comes back and becomes current,
            # as a new version would.
            tx.update_version(existing.id, deleted_at=None, label=label or existing.label,
                              description=description or existing.description)
            tx.update_process(process.id, now, current_version=existing.number)
            revived = tx.fetch_version_by_id(existing.id)
            return Deployed(live_process(tx, who, key), revived, created=True)
        if existing is not None:
            return Deployed(process, existing, created=False)
        number = tx.last_version_number(process.id) + 1
        version = tx.insert_version(
            who.account_id, process.id, number, sha256, cmd.file_name, kind, cmd.content, spec,
            bpmn_id, entry_point, parameters, outputs, now, label=label,
            description=description,
        )
        if adopt:
            tx.update_process(process.id, now, process_type=int(
                ProcessType.BPMN if expect_bpmn else ProcessType.PACKAGE))
        tx.update_process(process.id, now, current_version=number)
        return Deployed(live_process(tx, who, key), version, created=True)


def list_versions(ctx: Context, who: Principal, key: str) -> list[Version]:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_versions(live_process(tx, who, key).id)


def get_version(ctx: Context, who: Principal, key: str, number: int) -> Version:
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        version = tx.fetch_version(live_process(tx, who, key).id, number)
    if version is None:
        raise NotFound(f"process {key!r} has no version {number}")
    return version


def get_version_content(ctx: Context, who: Principal, key: str, number: int) -> bytes:
    version = get_version(ctx, who, key, number)
    with ctx.store.transaction(write=False) as tx:
        return tx.fetch_content(version.id)


def get_process_by_guid(ctx: Context, who: Principal, guid: str) -> Process:
    """A live process by its guid (Activiti's modelId)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        process = tx.fetch_process_by_guid(who.account_id, guid)
    if process is None:
        raise NotFound(f"no process {guid!r}")
    return process


def get_version_by_id(ctx: Context, who: Principal, version_id: int) -> tuple[Process, Version]:
    """A version of a live process by its id (Activiti's deploymentId)."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        version = tx.fetch_account_version(who.account_id, version_id)
        process = None
        if version is not None:
            process = tx.fetch_process_by_id(who.account_id, version.process_id)
    if version is None or process is None:
        raise NotFound(f"no version {version_id}")
    return process, version


def get_version_diagram(ctx: Context, who: Principal, key: str, number: int) -> bytes:
    """A BPMN version's file with its diagram interchange: as uploaded when it has a layout,
    else with one Flowport lays out (bpmn-js draws only what the file places)."""
    version = get_version(ctx, who, key, number)
    if version.kind is not ContentKind.BPMN:
        raise NotFound(f"version {number} of {key!r} is a robot package: it has no diagram")
    with ctx.store.transaction(write=False) as tx:
        content = tx.fetch_content(version.id)
    return with_layout(content, version.bpmn_process_id)


# -- versions by guid (Sherpa names, renames and deletes versions) --------------------------


def _live_version(tx: Tx, who: Principal, guid: str) -> Version:
    version = tx.fetch_version_by_guid(who.account_id, guid)
    if version is None:
        raise NotFound(f"no process version {guid!r}")
    return version


def get_version_by_guid(ctx: Context, who: Principal, guid: str) -> tuple[Process, Version]:
    """A live version of a live process, with its process."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        version = _live_version(tx, who, guid)
        return live_process(tx, who, version.process_id), version


def list_all_versions(ctx: Context, who: Principal) -> list[Version]:
    """The account's live versions (of live processes), oldest first."""
    require(who, Permission.READ)
    with ctx.store.transaction(write=False) as tx:
        return tx.list_account_versions(who.account_id)


def update_version(ctx: Context, who: Principal, guid: str, cmd: UpdateVersion) -> Version:
    """Rename or redescribe a version; its content never changes."""
    require(who, Permission.DEPLOY)
    fields: dict[str, Any] = {}
    if cmd.label is not None:
        fields["label"] = _check_text(cmd.label, "label", MAX_NAME).strip()
    if cmd.description is not None:
        fields["description"] = _check_text(cmd.description, "description", MAX_DESCRIPTION)
    with ctx.store.transaction() as tx:
        version = _live_version(tx, who, guid)
        live_process(tx, who, version.process_id, lock=True)
        if fields:
            tx.update_version(version.id, **fields)
        return _live_version(tx, who, guid)


def delete_version(ctx: Context, who: Principal, guid: str) -> None:
    """Soft delete: the version starts nothing new and leaves lists; its instances stay
    readable. The process's current version becomes its newest live one."""
    require(who, Permission.DEPLOY)
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        version = _live_version(tx, who, guid)
        process = live_process(tx, who, version.process_id, lock=True)
        tx.update_version(version.id, deleted_at=now)
        if process.current_version == version.number:
            tx.update_process(process.id, now,
                              current_version=tx.newest_live_version(process.id))
