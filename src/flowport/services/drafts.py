"""Process drafts: save unpublished content (syntax checked only), read it, publish it as a
version. Studio's save/upload; natively /api/v1/processes/{key}/draft."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flowport.domain.accounts import Permission, Principal
from flowport.domain.processes import Draft, DraftKind, Process
from flowport.engine import check_well_formed
from flowport.errors import BadInput, Conflict, InvalidDefinition, NotFound, TooLarge
from flowport.services.auth import require
from flowport.services.context import Context
from flowport.services.processes import Deployed, DeployVersion, deploy_version, live_process

NOT_WELL_FORMED = "content is not well-formed XML or JSON"


@dataclass(frozen=True)
class SaveDraft:
    # BPMN 2.0 XML text (first non-blank character `<`), JSON text of an object, or an object;
    # typed loosely because the service checks whatever a client sent.
    content: Any


def _read_content(content: Any) -> tuple[DraftKind, bytes]:
    """The draft's kind and bytes, after a syntax check: semantics wait for publishing."""
    if isinstance(content, dict):
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return DraftKind.JSON, text.encode()
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(f"{NOT_WELL_FORMED}: it is not UTF-8 text", field="content") from None
    if not isinstance(content, str) or not content.strip():
        raise BadInput(NOT_WELL_FORMED, field="content")
    if "\x00" in content:
        raise BadInput(f"{NOT_WELL_FORMED}: it holds a NUL character", field="content")
    data = content.encode()
    if content.lstrip().startswith("<"):
        try:
            check_well_formed(data)
        except InvalidDefinition as exc:
            raise BadInput(f"{NOT_WELL_FORMED}: {exc.message}", field="content") from None
        return DraftKind.BPMN, data
    try:
        parsed = json.loads(content)
    except ValueError as exc:
        raise BadInput(f"{NOT_WELL_FORMED}: {exc}", field="content") from None
    if not isinstance(parsed, dict):
        raise BadInput(f"{NOT_WELL_FORMED}: JSON content must be an object", field="content")
    return DraftKind.JSON, data


def save_draft(ctx: Context, who: Principal, key: str | int, cmd: SaveDraft) -> Draft:
    """Replace the process's draft and move its `updated_at`. Running instances keep their
    versions."""
    require(who, Permission.DEPLOY)
    kind, data = _read_content(cmd.content)
    if len(data) > ctx.settings.max_upload_bytes:
        raise TooLarge(f"the content is larger than {ctx.settings.max_upload_bytes} bytes",
                       field="content")
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        process = live_process(tx, who, key, lock=True)
        tx.save_draft(who.account_id, process.id, kind, data, hashlib.sha256(data).hexdigest(),
                      who.login, now)
        tx.update_process(process.id, now)
        draft = tx.fetch_draft(process.id)
    assert draft is not None
    return draft


def _process_and_draft(ctx: Context, who: Principal,
                       key: str | int) -> tuple[Process, Draft | None]:
    with ctx.store.transaction(write=False) as tx:
        process = live_process(tx, who, key)
        return process, tx.fetch_draft(process.id)


def get_draft(ctx: Context, who: Principal, key: str | int) -> Draft:
    require(who, Permission.READ)
    draft = _process_and_draft(ctx, who, key)[1]
    if draft is None:
        raise NotFound(f"process {key!r} has no saved draft")
    return draft


def publish_draft(ctx: Context, who: Principal, key: str | int) -> Deployed:
    """Validate the draft and publish it as the current version. A draft identical to a
    version publishes nothing new: that version becomes current again (`created` False)."""
    require(who, Permission.DEPLOY)
    process, draft = _process_and_draft(ctx, who, key)
    if draft is None:
        raise Conflict(f"process {key!r} has no saved draft")
    if draft.kind is not DraftKind.BPMN:
        raise BadInput("a JSON draft cannot be published: Flowport runs BPMN 2.0 XML",
                       field="content")
    deployed = deploy_version(ctx, who, str(process.id),
                              DeployVersion(f"{process.key}.bpmn", draft.content))
    if deployed.created or deployed.process.current_version == deployed.version.number:
        return deployed
    with ctx.store.transaction() as tx:
        process = live_process(tx, who, process.id, lock=True)
        tx.update_process(process.id, ctx.clock.now(), current_version=deployed.version.number)
        return Deployed(live_process(tx, who, process.id), deployed.version, created=False)
