"""Audit's use cases: the only code that writes to the logs.

Appending sequences entries under a lock on their log's head row (``INSERT .. ON CONFLICT DO
UPDATE .. RETURNING`` takes it and reads the head in one statement), so indices are gapless and
each log's order is the commit order, whatever the number of workers. Logs are locked in sorted
order so two batches never deadlock. Signing reads the head under the same lock and refuses to
sign anything its stored nodes cannot prove consistent with the last signed checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from spectral_audit import stored
from spectral_audit.entries import Appendable, appendable
from spectral_audit.event_types import (
    ENTRIES_PURGED,
    LEGAL_HOLD_PLACED,
    LEGAL_HOLD_RELEASED,
    EntriesPurged,
    LegalHoldPlaced,
    LegalHoldReleased,
)
from spectral_audit.models import PLATFORM_LOG, Checkpoint, Entry, Log, Node
from spectral_audit.verification import Verdict, locate_rewrite, verify_entries
from spectral_shared.bus import Actor, BusTables, Envelope
from spectral_shared.bus.outbox import record_event
from spectral_shared.component import Runtime
from spectral_shared.db import Database, insert_rows, utcnow
from spectral_shared.errors import DomainError
from spectral_shared.identity import Identity
from spectral_shared.logging import get_logger
from spectral_shared.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    InvalidProof,
    NodeSource,
    nodes_needed,
    stored_consistency_proof,
    stored_inclusion_proof,
    verify_consistency,
)
from spectral_shared.tlog.note import Checkpoint as CheckpointText
from spectral_shared.tlog.note import NoteSigner

log = get_logger(__name__)
T = TypeVar("T")
PURGE_CHUNK = 50_000


class LogCorrupted(Exception):
    """The stored log no longer proves what it signed; nothing more is signed until fixed."""


class NotInLog(DomainError, LookupError):
    """An index or size beyond what the log holds."""

    title = "Not in the log"
    slug = "audit-out-of-range"


def _dialect_insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# ---- appending -------------------------------------------------------------------------------------


def _lock_heads(session: Session, log_ids: list[str], now: datetime) -> dict[str, CompactRange]:
    """Create each log on its first entry; lock the head rows, in the order given, and read
    their compact ranges: one statement for the whole batch."""
    logs = Log.__table__
    statement = (
        _dialect_insert(session)(logs)
        .values(
            [
                {
                    "id": log_id,
                    "size": 0,
                    "compact_range": b"",
                    "root": EMPTY_ROOT,
                    "checkpointed_size": 0,
                    "purged_below": 0,
                    "legal_hold": False,
                    "created_at": now,
                }
                for log_id in log_ids
            ]
        )
        .on_conflict_do_update(index_elements=[logs.c.id], set_={"size": logs.c.size})
        .returning(logs.c.id, logs.c.size, logs.c.compact_range)
    )
    return {
        log_id: CompactRange.from_bytes(int(size), bytes(packed))
        for log_id, size, packed in session.execute(statement)
    }


_ENTRIES = cast(Table, Entry.__table__)
_NODES = cast(Table, Node.__table__)
_LOGS = cast(Table, Log.__table__)
_ADVANCE_HEAD = (
    update(_LOGS)
    .where(_LOGS.c.id == bindparam("log"))
    .values(size=bindparam("size"), compact_range=bindparam("range"), root=bindparam("new_root"))
)


def append_entries(session: Session, envelopes: list[Envelope]) -> list[tuple[str, int]]:
    """Append one entry per envelope; (log, index) of each, in the given order. Runs inside the
    consumer's inbox transaction, so redelivery never appends twice. Three statements carry a
    whole batch (entries, nodes, heads), after one that locks the heads."""
    received_at = utcnow()
    by_log: dict[str, list[Appendable]] = {}
    for envelope in envelopes:
        item = appendable(envelope, received_at)
        by_log.setdefault(item.log_id, []).append(item)
    placed: dict[str, tuple[str, int]] = {}
    entries: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    trees = _lock_heads(session, sorted(by_log), received_at)  # sorted: no deadlocks
    for log_id, tree in sorted(trees.items()):
        for item in by_log[log_id]:
            placed[item.message_id] = (log_id, tree.size)
            entries.append(
                {
                    "log_id": log_id,
                    "idx": tree.size,
                    "message_id": item.message_id,
                    "action": item.action,
                    "actor_type": item.actor_type,
                    "actor_id": item.actor_id,
                    "resource_type": item.resource_type,
                    "resource_id": item.resource_id,
                    "occurred_at": item.occurred_at,
                    "received_at": item.received_at,
                    "body": item.body,
                }
            )
            nodes += [
                {"log_id": log_id, "level": level, "idx": index, "hash": value}
                for level, index, value in tree.append(item.leaf)
            ]
        heads.append(
            {"log": log_id, "size": tree.size, "range": tree.to_bytes(), "new_root": tree.root()}
        )
    insert_rows(session, _ENTRIES, entries)
    insert_rows(session, _NODES, nodes)
    session.execute(_ADVANCE_HEAD, heads)
    return [placed[str(envelope.id)] for envelope in envelopes]


# ---- reading stored nodes ----------------------------------------------------------------------------


def with_stored_nodes(session: Session, log_id: str, compute: Callable[[NodeSource], T]) -> T:
    """Run ``compute`` over the log's stored nodes, fetched in one query."""
    wanted = nodes_needed(compute)
    fetched: dict[tuple[int, int], bytes] = {}
    if wanted:
        rows = session.execute(
            select(Node.level, Node.idx, Node.hash).where(
                Node.log_id == log_id, tuple_(Node.level, Node.idx).in_(wanted)
            )
        )
        fetched = {(level, index): bytes(value) for level, index, value in rows}

    def node(level: int, index: int) -> bytes:
        try:
            return fetched[(level, index)]
        except KeyError:
            raise LogCorrupted(f"log {log_id}: stored node ({level}, {index}) is missing") from None

    return compute(node)


def log_head(session: Session, log_id: str) -> Log | None:
    return session.get(Log, log_id)


def log_size(session: Session, log_id: str) -> int:
    return int(session.scalar(select(Log.size).where(Log.id == log_id)) or 0)


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]


def inclusion_proof(session: Session, log_id: str, index: int, tree_size: int) -> InclusionProof:
    size = log_size(session, log_id)
    if tree_size > size:
        raise NotInLog(f"the log has {size} entries, fewer than tree_size {tree_size}")
    if not 0 <= index < tree_size:
        raise NotInLog(f"index {index} is not in a tree of {tree_size} entries")

    def compute(node: NodeSource) -> tuple[bytes, list[bytes]]:
        return node(0, index), stored_inclusion_proof(index, tree_size, node)

    leaf, hashes = with_stored_nodes(session, log_id, compute)
    return InclusionProof(index, tree_size, leaf, hashes)


def consistency_proof(session: Session, log_id: str, first: int, second: int) -> list[bytes]:
    size = log_size(session, log_id)
    if second > size:
        raise NotInLog(f"the log has {size} entries, fewer than {second}")
    if not 0 <= first <= second:
        raise NotInLog(f"no consistency proof from {first} to {second} entries")
    return with_stored_nodes(
        session, log_id, lambda node: stored_consistency_proof(first, second, node)
    )


def latest_checkpoint(session: Session, log_id: str) -> Checkpoint | None:
    return session.scalar(
        select(Checkpoint)
        .where(Checkpoint.log_id == log_id)
        .order_by(Checkpoint.size.desc())
        .limit(1)
    )


# ---- checkpoints -----------------------------------------------------------------------------------


def origin_of(key_name: str, log_id: str) -> str:
    """``<host of BASE_URL>/audit/<organization id or platform>``."""
    return f"{key_name}/{log_id}"


def sign_checkpoint(session: Session, signer: NoteSigner, log_id: str) -> Checkpoint | None:
    """Sign the log's current head if it grew since its last checkpoint, after proving, from the
    stored nodes, that the head extends the last signed checkpoint."""
    head = session.scalar(select(Log).where(Log.id == log_id).with_for_update())
    if head is None or head.size == head.checkpointed_size:
        return None
    tree = CompactRange.from_bytes(head.size, bytes(head.compact_range))
    if tree.root() != bytes(head.root):
        raise LogCorrupted(f"log {log_id}: its head's root does not match its compact range")
    last = latest_checkpoint(session, log_id)
    if last is not None:
        proof = consistency_proof(session, log_id, last.size, head.size)
        try:
            verify_consistency(last.size, head.size, bytes(last.root), tree.root(), proof)
        except InvalidProof as exc:
            raise LogCorrupted(
                f"log {log_id}: the stored tree at {head.size} entries does not extend the "
                f"checkpoint signed at {last.size} ({exc}); refusing to sign"
            ) from None
    note = signer.sign(
        CheckpointText(origin_of(signer.name, log_id), head.size, tree.root()).text()
    )
    checkpoint = Checkpoint(
        log_id=log_id, size=head.size, root=tree.root(), note=note, signed_at=utcnow()
    )
    session.add(checkpoint)
    head.checkpointed_size = head.size
    session.flush()
    return checkpoint


def sign_due_checkpoints(database: Database, signer: NoteSigner) -> int:
    """One checkpoint for every log that grew since its last; each log in its own transaction,
    so one corrupted log stops only its own checkpoints."""
    with database.session() as session:
        due = list(session.scalars(select(Log.id).where(Log.size > Log.checkpointed_size)))
    signed = 0
    for log_id in due:
        try:
            with database.session() as session:
                signed += sign_checkpoint(session, signer, log_id) is not None
        except LogCorrupted as exc:
            log.error("audit.log_corrupted", log=log_id, error=str(exc))
    return signed


# ---- verification ----------------------------------------------------------------------------------


def verify_log(
    database: Database, log_id: str, progress: Callable[[int], None] = lambda done: None
) -> Verdict | None:
    """Recompute the log up to its latest checkpoint (None if it has none yet). Whatever is
    stored, the answer is a verdict: a corrupted row is reported at its index, never raised."""
    with database.session() as session:
        last = stored.latest_signed(session, log_id)
        if last is None:
            return None
        size = last[0]
        purged_below, entries = stored.read_log(session, log_id, size)
        verdict = verify_entries(
            entries, last, log_id=log_id, purged_below=purged_below, progress=progress
        )
        if verdict.valid or verdict.broken_before is None:
            return verdict
        narrowed = locate_rewrite(
            stored.stored_leaves(session, log_id, size), stored.signed_roots(session, log_id)
        )
        if narrowed is None:
            return verdict
        after, before = narrowed
        return Verdict(
            False,
            verdict.tree_size,
            verdict.root_hash,
            broken_at=after,
            broken_before=before,
            reason=(
                f"entries {after}..{before - 1} no longer reproduce the checkpoint signed at "
                f"{before} entries: their leaf hashes were rewritten"
            ),
        )


# ---- retention and legal hold ----------------------------------------------------------------------


def _organization_of(log_id: str) -> str | None:
    return None if log_id == PLATFORM_LOG else log_id


def purge_log(
    session: Session, tables: BusTables, log_id: str, cutoff: datetime, retention_days: int
) -> int:
    """Drop the payloads of the log's entries received before ``cutoff``, oldest first and at
    most ``PURGE_CHUNK`` per call; leaf hashes stay. Returns how many lost their payload."""
    head = session.scalar(select(Log).where(Log.id == log_id).with_for_update())
    if head is None or head.legal_hold or head.purged_below >= head.size:
        return 0
    start = head.purged_below
    first_kept = session.scalar(
        select(func.min(Entry.idx)).where(
            Entry.log_id == log_id, Entry.idx >= start, Entry.received_at >= cutoff
        )
    )
    end = min(head.size if first_kept is None else first_kept, start + PURGE_CHUNK)
    if end <= start:
        return 0
    # The watermark moves first: the database lets a payload go only below it (migration 0005).
    head.purged_below = end
    session.flush()
    session.execute(
        update(Entry)
        .where(Entry.log_id == log_id, Entry.idx >= start, Entry.idx < end, Entry.body.is_not(None))
        .values(body=None)
    )
    record_event(
        session,
        tables,
        ENTRIES_PURGED,
        EntriesPurged(
            log=log_id,
            purged_from=start,
            purged_to=end,
            received_before=cutoff.isoformat(),
            retention_days=retention_days,
        ),
        organization_id=_organization_of(log_id),
        actor=Actor.system("audit.retention"),
    )
    return end - start


def purge_expired(
    database: Database, tables: BusTables, retention_days: int, now: datetime | None = None
) -> int:
    """The scheduled purge: every log not on legal hold, until nothing expired is left."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with database.session() as session:
        candidates = list(
            session.scalars(
                select(Log.id).where(Log.legal_hold.is_(False), Log.purged_below < Log.size)
            )
        )
    purged = 0
    for log_id in candidates:
        while True:
            with database.session() as session:
                count = purge_log(session, tables, log_id, cutoff, retention_days)
            purged += count
            if count < PURGE_CHUNK:
                break
    if purged:
        log.info("audit.purged", entries=purged, retention_days=retention_days)
    return purged


def set_legal_hold(
    session: Session, tables: BusTables, log_id: str, *, active: bool, reason: str, actor: Actor
) -> Log:
    """Place or release the log's legal hold; a change is an audited event, a repeat is not."""
    _lock_heads(session, [log_id], utcnow())  # creates the log if it has no entries yet
    head = session.scalar(select(Log).where(Log.id == log_id).with_for_update())
    assert head is not None
    if head.legal_hold == active:
        return head
    head.legal_hold = active
    head.legal_hold_reason = reason if active else None
    head.legal_hold_since = utcnow() if active else None
    event, data = (
        (LEGAL_HOLD_PLACED, LegalHoldPlaced(log=log_id, reason=reason))
        if active
        else (LEGAL_HOLD_RELEASED, LegalHoldReleased(log=log_id, reason=reason))
    )
    record_event(
        session, tables, event, data, organization_id=_organization_of(log_id), actor=actor
    )
    session.flush()
    return head


def change_legal_hold(runtime: Runtime, identity: Identity, /, *, active: bool, reason: str) -> Log:
    """Place or release the legal hold of the caller's organization's log."""
    with runtime.database.session() as session:
        return set_legal_hold(
            session,
            runtime.component.tables,
            identity.organization_id,
            active=active,
            reason=reason,
            actor=identity.actor,
        )


def verify_every_log(database: Database) -> list[str]:
    """Each log recomputed up to its latest checkpoint: what does not reproduce it (a restore
    check: a backup must hold the log its checkpoints signed)."""
    with database.session() as session:
        log_ids = list(session.scalars(select(Log.id).order_by(Log.id)))
    problems = []
    for log_id in log_ids:
        verdict = verify_log(database, log_id)
        if verdict is not None and not verdict.valid:
            problems.append(f"log {log_id}: {verdict.reason}")
    return problems
