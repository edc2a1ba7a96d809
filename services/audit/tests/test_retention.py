"""Retention: expired entries lose their payloads but keep their leaf hashes, so every earlier
checkpoint and proof still verifies; a legal hold stops it; the purge is itself audited."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DatabaseError

from spectral_audit import services
from spectral_audit.models import Entry
from spectral_audit.signing import runtime_signer
from spectral_shared.bus import Actor, Envelope
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.testing import fire
from spectral_shared.tlog.merkle import leaf_hash, verify_inclusion

Login = Callable[..., Envelope]


def _grow(runtime: Runtime, envelopes: list[Envelope]) -> None:
    with runtime.database.session() as session:
        services.append_entries(session, envelopes)
    services.sign_due_checkpoints(runtime.database, runtime_signer(runtime))


def _outbox(runtime: Runtime) -> list[Envelope]:
    table = runtime.component.tables.outbox
    with runtime.database.session() as session:
        return [Envelope.from_json(body) for body in session.scalars(select(table.c.body))]


def test_expired_payloads_go_and_every_proof_still_verifies(audit: Runtime, login: Login) -> None:
    org = uuid.uuid4()
    log_id = str(org)
    _grow(audit, [login(org) for _ in range(6)])
    with audit.database.session() as session:
        old = services.latest_checkpoint(session, log_id)
        first_body = session.scalar(
            select(Entry.body).where(Entry.log_id == log_id, Entry.idx == 0)
        )
    assert old is not None and first_body is not None

    later = utcnow() + timedelta(days=31)  # everything so far is a month past a 30-day retention
    assert services.purge_expired(audit.database, audit.component.tables, 30, now=later) == 6
    assert services.purge_expired(audit.database, audit.component.tables, 30, now=later) == 0
    _grow(audit, [login(org) for _ in range(2)])  # newer entries keep their payloads

    with audit.database.session() as session:
        bodies = list(
            session.scalars(select(Entry.body).where(Entry.log_id == log_id).order_by(Entry.idx))
        )
        proof = services.inclusion_proof(session, log_id, 0, old.size)
        head = services.log_head(session, log_id)
    assert bodies[:6] == [None] * 6 and all(bodies[6:])
    assert head is not None and head.purged_below == 6
    assert proof.leaf_hash == leaf_hash(first_body)  # the leaf outlives its payload
    verify_inclusion(0, old.size, proof.leaf_hash, proof.hashes, bytes(old.root))
    verdict = services.verify_log(audit.database, log_id)
    assert verdict is not None and verdict.valid and verdict.tree_size == 8

    purged = [e for e in _outbox(audit) if e.type == "audit.entries.purged"]
    assert len(purged) == 1 and str(purged[0].organization_id) == log_id
    assert (purged[0].data["purged_from"], purged[0].data["purged_to"]) == (0, 6)
    assert purged[0].actor == Actor.system("audit.retention")
    assert fire(audit, "audit.log", purged[0]) == "handled"  # and it lands in the log itself
    with audit.database.session() as session:
        last = session.scalar(select(Entry).where(Entry.log_id == log_id, Entry.idx == 8))
    assert last is not None and last.action == "audit.entries.purged"
    assert json.loads(last.body or b"{}")["data"]["retention_days"] == 30


def test_a_payload_dropped_outside_the_purged_range_is_caught(
    audit: Runtime, login: Login, tamper: Callable[..., None]
) -> None:
    org = uuid.uuid4()
    _grow(audit, [login(org) for _ in range(4)])
    with pytest.raises(DatabaseError, match="append-only"), audit.database.session() as session:
        session.execute(  # no longer an update the database lets through
            Entry.__table__.update()
            .where(Entry.log_id == str(org), Entry.idx == 2)
            .values(body=None)
        )
    tamper(audit, "UPDATE entries SET body = NULL WHERE log_id = :l AND idx = 2", l=str(org))
    verdict = services.verify_log(audit.database, str(org))
    assert verdict is not None and (verdict.valid, verdict.broken_at) == (False, 2)
    assert "outside the purged range" in (verdict.reason or "")


def test_a_legal_hold_stops_all_purging_until_released(audit: Runtime, login: Login) -> None:
    org = uuid.uuid4()
    log_id = str(org)
    _grow(audit, [login(org) for _ in range(3)])
    tables = audit.component.tables
    admin = Actor.user("admin-1")
    with audit.database.session() as session:
        services.set_legal_hold(
            session, tables, log_id, active=True, reason="case 26-1", actor=admin
        )
        services.set_legal_hold(session, tables, log_id, active=True, reason="again", actor=admin)
    later = utcnow() + timedelta(days=400)
    assert services.purge_expired(audit.database, tables, 30, now=later) == 0
    with audit.database.session() as session:
        head = services.log_head(session, log_id)
        assert head is not None and head.legal_hold and head.legal_hold_reason == "case 26-1"
        services.set_legal_hold(
            session, tables, log_id, active=False, reason="settled", actor=admin
        )
    assert services.purge_expired(audit.database, tables, 30, now=later) == 3
    kinds = [e.type for e in _outbox(audit)]
    assert kinds.count("audit.legal_hold.placed") == 1  # a repeat changes nothing
    assert kinds.count("audit.legal_hold.released") == 1 and "audit.entries.purged" in kinds
