"""Audit's HTTP API: the caller's organization's log, its signed checkpoint and proofs.

Everything here reads one log, the caller's organization's; another organization's log is not
addressable at all. Proof hashes and leaf hashes are base64 (RFC 9162's JSON conventions).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Select, select

from spectral_audit import services
from spectral_audit.api.export import export_stream
from spectral_audit.models import PLATFORM_LOG, Entry
from spectral_audit.signing import runtime_signer
from spectral_shared.identity import current_identity, requires
from spectral_shared.tlog.merkle import EMPTY_ROOT
from spectral_shared.web.converters import MAX_INDEX
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.pagination import Keyset, PageQuery
from spectral_shared.web.problems import Problem
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.text import PlainText
from spectral_shared.web.validation import Rfc3339DateTime, parse_json_body, parse_query

api = ApiDoc(
    "audit",
    "Spectral audit",
    description=(
        "The organization's append-only audit log: an RFC 6962 Merkle tree with C2SP signed "
        "checkpoints, so anyone holding the log's public key can check it."
    ),
)
bp = Blueprint("audit", __name__)

READ_ERRORS: dict[int, type[BaseModel] | str | None] = {
    401: "Not signed in",
    403: "Role or API key lacks audit_log:read",
}


# Entries page newest first, by their index in the log.
NEWEST_FIRST: Keyset[Entry] = Keyset((Entry.idx,), descending=True)


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _log_id() -> str:
    return current_identity().organization_id


# ---- entries --------------------------------------------------------------------------------------


class EventQuery(PageQuery):
    action: str | None = Field(default=None, max_length=128)
    actor_id: str | None = Field(default=None, max_length=64)
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: str | None = Field(default=None, max_length=64)
    occurred_from: datetime | None = Field(default=None, alias="from")
    occurred_to: datetime | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _zoned(self) -> EventQuery:
        for moment in (self.occurred_from, self.occurred_to):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("from and to need a time zone, e.g. 2026-11-26T00:00:00Z")
        return self


class EntryOut(BaseModel):
    index: int
    message_id: str
    organization_id: str | None
    action: str
    actor: dict[str, str | None]
    resource: dict[str, str | None]
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any] | None = Field(description="null once retention purged the payload")
    purged: bool


class EntryPage(BaseModel):
    """A page of audit entries, newest first."""

    data: list[EntryOut]
    next_cursor: str | None


def entry_out(row: Entry) -> EntryOut:
    """From the hashed bytes when the entry has them (the columns only index them)."""
    if row.body is None:
        return EntryOut(
            index=row.idx,
            message_id=row.message_id,
            organization_id=None if row.log_id == PLATFORM_LOG else row.log_id,
            action=row.action,
            actor={"type": row.actor_type, "id": row.actor_id},
            resource={"type": row.resource_type, "id": row.resource_id},
            occurred_at=row.occurred_at,
            received_at=row.received_at,
            data=None,
            purged=True,
        )
    entry = json.loads(row.body)
    return EntryOut(
        index=row.idx,
        message_id=entry["message_id"],
        organization_id=entry["organization_id"],
        action=entry["action"],
        actor=entry["actor"],
        resource=entry["resource"],
        occurred_at=entry["occurred_at"],
        received_at=entry["received_at"],
        data=entry["data"],
        purged=False,
    )


def filtered(query: EventQuery, log_id: str) -> Select[Entry]:
    statement = select(Entry).where(Entry.log_id == log_id)
    if query.action:
        statement = statement.where(Entry.action == query.action)
    if query.actor_id:
        statement = statement.where(Entry.actor_id == query.actor_id)
    if query.resource_type:
        statement = statement.where(Entry.resource_type == query.resource_type)
    if query.resource_id:
        statement = statement.where(Entry.resource_id == query.resource_id)
    if query.occurred_from:
        statement = statement.where(Entry.occurred_at >= query.occurred_from)
    if query.occurred_to:
        statement = statement.where(Entry.occurred_at < query.occurred_to)
    return statement


@bp.get("/api/v1/audit/events")
@api.operation(
    "List the organization's audit entries, newest first",
    query=EventQuery,
    responses={200: EntryPage, 400: "Bad query", **READ_ERRORS},
    description="Filters: action (event type), actor_id, resource_type and resource_id, and an "
    "occurred_at range [from, to).",
)
@requires("audit_log:read")
def list_events() -> Response:
    query = parse_query(EventQuery)
    statement = NEWEST_FIRST.apply(filtered(query, _log_id()), query)
    with current_runtime().database.read_session() as session:
        rows = session.scalars(statement).all()
    page, cursor = NEWEST_FIRST.page(rows, query)
    body = EntryPage(data=[entry_out(row) for row in page], next_cursor=cursor)
    return jsonify(body.model_dump(mode="json"))


class CanonicalEntry(BaseModel):
    index: int
    leaf_hash: str = Field(description="base64 of SHA-256(0x00 || canonical)")
    canonical: str | None = Field(
        description="The entry's RFC 8785 bytes (UTF-8) as hashed; null once purged"
    )
    purged: bool


@bp.get(f"/api/v1/audit/entries/<int(max={MAX_INDEX}):index>")
@api.operation(
    "One entry's canonical bytes and leaf hash",
    responses={200: CanonicalEntry, 404: "No such entry", **READ_ERRORS},
)
@requires("audit_log:read")
def get_entry(index: int) -> Response:
    log_id = _log_id()
    with current_runtime().database.session() as session:
        row = session.get(Entry, (log_id, index))
        if row is None:
            raise Problem(404, "Not found", detail=f"The log has no entry {index}.")
        leaf = services.with_stored_nodes(session, log_id, lambda node: node(0, index))
    body = CanonicalEntry(
        index=index,
        leaf_hash=b64(leaf),
        canonical=row.body.decode() if row.body is not None else None,
        purged=row.body is None,
    )
    return jsonify(body.model_dump(mode="json"))


# ---- checkpoint and proofs ------------------------------------------------------------------------


@bp.get("/api/v1/audit/checkpoint")
@api.operation(
    "The log's latest signed checkpoint (C2SP tlog-checkpoint in a signed note)",
    responses={200: "text/plain: the note as signed", 404: "No checkpoint yet", **READ_ERRORS},
)
@requires("audit_log:read")
def get_checkpoint() -> Response:
    runtime = current_runtime()
    with runtime.database.session() as session:
        checkpoint = services.latest_checkpoint(session, _log_id())
    if checkpoint is None:
        raise Problem(
            404,
            "No checkpoint yet",
            detail="The log has no signed checkpoint yet; one is signed within "
            f"{runtime.settings.audit_checkpoint_interval:g} seconds of its first entry.",
            type_slug="audit-no-checkpoint",
            headers={"Retry-After": str(int(runtime.settings.audit_checkpoint_interval) + 1)},
        )
    return Response(checkpoint.note, mimetype="text/plain")


@bp.get("/api/v1/audit/public-key")
@api.operation(
    "The verifier key that signs every audit checkpoint (C2SP signed-note key string)",
    responses={200: "text/plain: <name>+<key id>+<public key>"},
    public=True,
    description="Pin it out of band: a verifier that fetches the key from the log it checks "
    "only learns that the log is consistent with itself.",
)
def get_public_key() -> Response:
    return Response(str(runtime_signer(current_runtime()).verifier) + "\n", mimetype="text/plain")


class InclusionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, le=MAX_INDEX)
    tree_size: int = Field(ge=1, le=MAX_INDEX)


class InclusionOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str] = Field(description="RFC 9162 inclusion proof, leaf to root, base64")


@bp.get("/api/v1/audit/proof/inclusion")
@api.operation(
    "Prove entry `index` is in the tree of `tree_size` entries",
    query=InclusionQuery,
    responses={200: InclusionOut, 400: "Bad query or out of range", **READ_ERRORS},
)
@requires("audit_log:read")
def get_inclusion_proof() -> Response:
    query = parse_query(InclusionQuery)
    with current_runtime().database.session() as session:
        proof = services.inclusion_proof(session, _log_id(), query.index, query.tree_size)
    body = InclusionOut(
        index=proof.index,
        tree_size=proof.tree_size,
        leaf_hash=b64(proof.leaf_hash),
        hashes=[b64(h) for h in proof.hashes],
    )
    return jsonify(body.model_dump(mode="json"))


class ConsistencyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    first: int = Field(ge=0, le=MAX_INDEX, alias="from")
    second: int = Field(ge=0, le=MAX_INDEX, alias="to")


class ConsistencyOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    first: int = Field(serialization_alias="from")
    second: int = Field(serialization_alias="to")
    hashes: list[str] = Field(description="RFC 9162 consistency proof, base64")


@bp.get("/api/v1/audit/proof/consistency")
@api.operation(
    "Prove the tree of `from` entries is a prefix of the tree of `to` entries",
    query=ConsistencyQuery,
    responses={200: ConsistencyOut, 400: "Bad query or out of range", **READ_ERRORS},
)
@requires("audit_log:read")
def get_consistency_proof() -> Response:
    query = parse_query(ConsistencyQuery)
    with current_runtime().database.session() as session:
        hashes = services.consistency_proof(session, _log_id(), query.first, query.second)
    body = ConsistencyOut(first=query.first, second=query.second, hashes=[b64(h) for h in hashes])
    return jsonify(body.model_dump(mode="json", by_alias=True))


# ---- verification and export ------------------------------------------------------------------------


class VerifyOut(BaseModel):
    valid: bool
    tree_size: int
    root_hash: str | None = None
    broken_at: int | None = Field(default=None, description="the first index that fails")
    broken_before: int | None = Field(
        default=None, description="when only a range [broken_at, broken_before) can be named"
    )
    reason: str | None = None


@bp.get("/api/v1/audit/verify")
@api.operation(
    "Recompute the log and compare it with its latest signed checkpoint",
    responses={200: VerifyOut, **READ_ERRORS},
    description="Reads every entry: seconds for a million entries. Each entry must be in its "
    "place, hash to its leaf, keep its payload above the purge watermark and have stored search "
    "columns equal to what its hashed bytes say (the checks `spectral audit verify --full` "
    "makes); any stored corruption is an invalid log at its index.",
)
@requires("audit_log:read")
def verify() -> Response:
    verdict = services.verify_log(current_runtime().database, _log_id())
    if verdict is None:  # nothing signed yet: the empty tree is all there is to vouch for
        body = VerifyOut(valid=True, tree_size=0, root_hash=b64(EMPTY_ROOT))
    else:
        body = VerifyOut.model_validate(verdict.as_json())
    return jsonify(body.model_dump(mode="json", exclude_none=True))


EntryIndex = Annotated[int, Field(ge=0, le=MAX_INDEX)]


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    format: Literal["jsonl", "csv"] = "jsonl"
    start: EntryIndex | Rfc3339DateTime | None = Field(default=None, alias="from")
    end: EntryIndex | Rfc3339DateTime | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _consistent(self) -> ExportQuery:
        kinds = {type(v) for v in (self.start, self.end) if v is not None}
        if len(kinds) > 1:
            raise ValueError("from and to are both entry indexes or both times")
        for moment in (self.start, self.end):
            if isinstance(moment, datetime) and moment.tzinfo is None:
                raise ValueError("times need a time zone, e.g. 2026-11-26T00:00:00Z")
        return self


@bp.get("/api/v1/audit/export")
@api.operation(
    "Export the log up to its latest checkpoint, streamed (JSON lines or CSV)",
    query=ExportQuery,
    responses={
        200: "application/x-ndjson or text/csv; X-Audit-Checkpoint holds the checkpoint "
        "(base64 of the signed note) every exported entry is included in",
        400: "Bad query",
        404: "No checkpoint yet",
        **READ_ERRORS,
    },
    description="`from`/`to`: entry indexes [from, to) or occurred_at times [from, to). JSON "
    'lines start with `{"checkpoint":<signed note>,"purged_below":<purge watermark>}`; each '
    "entry line carries the entry's stored search columns and ends with its canonical bytes "
    'verbatim (`{"index":..,"leaf_hash":..,"columns":{..},"entry":<canonical>}`, `"entry":null` '
    "once purged), so a verifier hashes them as they are and checks the columns against them. "
    'A value stored as the wrong type is sent as null and named in `"stored_as"`.',
)
@requires("audit_log:read")
def export() -> Response:
    query = parse_query(ExportQuery)
    runtime = current_runtime()
    log_id = _log_id()
    with runtime.database.session() as session:
        checkpoint = services.latest_checkpoint(session, log_id)
    if checkpoint is None:
        raise Problem(404, "No checkpoint yet", type_slug="audit-no-checkpoint")
    stream, mimetype = export_stream(
        runtime.database, log_id, checkpoint, query.format, query.start, query.end
    )
    response = Response(stream, mimetype=mimetype)
    response.headers["X-Audit-Checkpoint"] = b64(checkpoint.note.encode())
    response.headers["X-Audit-Tree-Size"] = str(checkpoint.size)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="audit-{log_id}-{checkpoint.size}.{query.format}"'
    )
    return response


# ---- retention and legal hold -------------------------------------------------------------------------


class RetentionOut(BaseModel):
    retention_days: int
    purged_below: int = Field(description="entries below this index may have lost their payload")
    legal_hold: bool
    legal_hold_reason: str | None
    legal_hold_since: datetime | None


class LegalHoldIn(PlainText):
    model_config = ConfigDict(extra="forbid")
    active: bool
    reason: str = Field(min_length=3, max_length=500)


def retention_out(log_id: str) -> RetentionOut:
    runtime = current_runtime()
    with runtime.database.session() as session:
        head = services.log_head(session, log_id)
    return RetentionOut(
        retention_days=runtime.settings.audit_retention_days,
        purged_below=head.purged_below if head else 0,
        legal_hold=head.legal_hold if head else False,
        legal_hold_reason=head.legal_hold_reason if head else None,
        legal_hold_since=head.legal_hold_since if head else None,
    )


@bp.get("/api/v1/audit/retention")
@api.operation(
    "How long the log keeps payloads, what was purged, and the legal hold",
    responses={200: RetentionOut, **READ_ERRORS},
)
@requires("audit_log:read")
def get_retention() -> tuple[Response, int]:
    return json_response(retention_out(_log_id()))


@bp.put("/api/v1/audit/legal-hold")
@api.operation(
    "Place or release the organization's legal hold (no purging while it is active)",
    request=LegalHoldIn,
    responses={200: RetentionOut, 422: "Invalid body", 401: "Not signed in", 403: "Not an admin"},
)
@requires("audit_log:hold")
def put_legal_hold() -> tuple[Response, int]:
    hold = parse_json_body(LegalHoldIn)
    identity = current_identity()
    services.change_legal_hold(current_runtime(), identity, active=hold.active, reason=hold.reason)
    return json_response(retention_out(identity.organization_id))
