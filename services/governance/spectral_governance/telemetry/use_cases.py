"""Telemetry intake (issue 7 item 1): an event is normalized, its payload PHI-redacted and
encrypted, and it is stored with a ``governance.telemetry.received`` outbox event in one
transaction, before the 202. Translation happens later, in the worker (``translation.py``).

Duplicates: one event per (system, source, run id) and per (system, client event id); a repeat
is reported with the id of the event already stored, and changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from spectral_governance.db import bus
from spectral_governance.engine.normalizer import UNCLASSIFIED, known_types, normalize
from spectral_governance.inventory.models import AISystem
from spectral_governance.inventory.queries import locked_system
from spectral_governance.telemetry.events import (
    TELEMETRY_PAYLOAD_READ,
    TELEMETRY_RECEIVED,
    WEBHOOK_SECRET_ROTATED,
    TelemetryPayloadRead,
    TelemetryReceived,
    TelemetrySource,
    WebhookSecretRotated,
)
from spectral_governance.telemetry.models import TelemetryEvent, WebhookSecret
from spectral_governance.telemetry.redaction import redact
from spectral_governance.telemetry.schemas import TelemetryEventIn
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import insert_new_rows, new_id, utcnow
from spectral_shared.errors import NotFound
from spectral_shared.identity import Identity

# A rotated-out webhook secret keeps verifying this long, so senders can switch over.
SECRET_GRACE = timedelta(hours=24)
_TABLE: Table = TelemetryEvent.__table__  # type: ignore[assignment]
Result = dict[str, Any]  # an ItemResult of the API


def payload_aad(event_id: str) -> str:
    return f"governance.telemetry_events.payload:{event_id}"


def secret_aad(secret_id: str) -> str:
    return f"governance.webhook_secrets.secret:{secret_id}"


@dataclass(frozen=True)
class Incoming:
    """One valid event on its way in, at its position in the request."""

    index: int
    event: TelemetryEventIn
    # Whether the metric's name may classify the event. Not when it is a free name (a Langfuse
    # generation's model, "clinical-llama-8b", is no clinical accuracy failure).
    classify_by_metric: bool = True


def measured(item: TelemetryEventIn) -> dict[str, Any]:
    """The payload the rules read numbers from: the event's ``metric`` and ``metric_value``
    count as that payload key (``"metric": "accuracy_drop", "metric_value": 0.12``) unless the
    payload gives it too; checked against its unit like any payload key."""
    payload = dict(item.payload or {})
    if item.metric and item.metric_value is not None and item.metric not in payload:
        payload[item.metric] = item.metric_value
    return payload


def _row(
    incoming: Incoming, organization_id: str, cipher: FieldCipher, now: datetime
) -> dict[str, Any]:
    item = incoming.event
    normalized = normalize(
        item.event_type,
        metric=item.metric if incoming.classify_by_metric else None,
        metric_value=item.metric_value,
        severity=item.severity,
        payload=measured(item),
    )
    redacted = redact(item.payload)
    event_id = new_id()
    return {
        "id": event_id,
        "organization_id": organization_id,
        "ai_system_id": str(item.ai_system_id),
        "source": item.source,
        "event_type": item.event_type,
        "canonical_type": normalized.event_type,
        "category": normalized.category,
        "severity": normalized.severity,
        "confidence": normalized.confidence,
        "matched_by": normalized.matched_by,
        "metric": item.metric,
        "metric_value": item.metric_value,
        "threshold": item.threshold,
        "metrics": normalized.metrics,
        "incident": item.incident.model_dump() if item.incident else None,
        "run_id": item.run_id,
        "client_event_id": item.event_id,
        "occurred_at": item.occurred_at or now,
        "received_at": now,
        "payload": cipher.encrypt(orjson.dumps(redacted.payload), payload_aad(event_id).encode()),
        "phi_redactions": redacted.counts,
        "translated_at": None,
        "risk_score": None,
        "risk_level": None,
        "escalate": None,
        "escalation_path": None,
    }


def _earlier(session: Session, refused: list[dict[str, Any]]) -> dict[str, str]:
    """For each refused row (by its id), the stored event it repeats: one query for them all."""
    if not refused:
        return {}
    systems = sorted({row["ai_system_id"] for row in refused})
    runs = sorted({row["run_id"] for row in refused if row["run_id"] is not None})
    clients = sorted({r["client_event_id"] for r in refused if r["client_event_id"] is not None})
    keys = []
    if runs:
        keys.append(TelemetryEvent.run_id.in_(runs))
    if clients:
        keys.append(TelemetryEvent.client_event_id.in_(clients))
    stored = session.execute(
        select(
            TelemetryEvent.id,
            TelemetryEvent.ai_system_id,
            TelemetryEvent.source,
            TelemetryEvent.run_id,
            TelemetryEvent.client_event_id,
        ).where(TelemetryEvent.ai_system_id.in_(systems), or_(*keys))
    ).all()
    by_run = {(s.ai_system_id, s.source, s.run_id): s.id for s in stored if s.run_id}
    by_client = {(s.ai_system_id, s.client_event_id): s.id for s in stored if s.client_event_id}
    found = {}
    for row in refused:
        earlier = by_run.get((row["ai_system_id"], row["source"], row["run_id"])) or by_client.get(
            (row["ai_system_id"], row["client_event_id"])
        )
        if earlier is not None:
            found[row["id"]] = earlier
    return found


def live_system_ids(session: Session, organization_id: str, ids: Sequence[str]) -> set[str]:
    return set(
        session.scalars(
            select(AISystem.id).where(
                AISystem.organization_id == organization_id,
                AISystem.id.in_(sorted(set(ids))),
                AISystem.deleted_at.is_(None),
            )
        )
    )


def unknown_system(index: int) -> Result:
    return {
        "index": index,
        "status": "rejected",
        "errors": [
            {
                "field": "ai_system_id",
                "pointer": f"/events/{index}/ai_system_id",
                "code": "not_found",
                "message": "No live AI system with this id in your organization.",
            }
        ],
    }


def unclassified_warning(index: int | None, event_type: str) -> dict[str, Any]:
    """What an accepted event of no known type is told: it is kept, visible as unclassified,
    and raises nothing; with the types that would."""
    return {
        "field": "event_type",
        "pointer": f"/events/{index}/event_type" if index is not None else "/event_type",
        "code": "unclassified",
        "message": (
            "No known event type or keyword matches this event type: it is stored as "
            "unclassified and produces no findings. Send one of known_types (docs/telemetry.md)."
        ),
        "known_types": known_types(),
    }


def store(
    runtime: Runtime,
    *,
    organization_id: str,
    actor: Actor,
    source: TelemetrySource,
    incoming: Sequence[Incoming],
) -> list[Result]:
    """Store the events of known live systems; one result per incoming event, in order, as the
    API's ``ItemResult`` objects (plain dicts: a batch's thousand are built and encoded in a
    fraction of a millisecond)."""
    if not incoming:
        return []
    now = utcnow()
    results: dict[int, Result] = {}
    with runtime.database.session() as session:
        live = live_system_ids(
            session, organization_id, [str(i.event.ai_system_id) for i in incoming]
        )
        rows: list[tuple[int, dict[str, Any]]] = []
        for item in incoming:
            if str(item.event.ai_system_id) not in live:
                results[item.index] = unknown_system(item.index)
            else:
                rows.append((item.index, _row(item, organization_id, runtime.cipher, now)))
        stored = (
            insert_new_rows(session, _TABLE, [row for _, row in rows], _TABLE.c.id)
            if rows
            else set()
        )
        earlier = _earlier(session, [row for _, row in rows if row["id"] not in stored])
        for index, row in rows:
            if row["id"] in stored:
                results[index] = {"index": index, "status": "accepted", "id": row["id"]}
                if row["canonical_type"] == UNCLASSIFIED:
                    results[index]["warnings"] = [unclassified_warning(index, row["event_type"])]
            else:
                results[index] = {
                    "index": index,
                    "status": "duplicate",
                    "id": earlier.get(row["id"]),
                }
        duplicates = len(rows) - len(stored)
        if stored:
            accepted = [row for _, row in rows if row["id"] in stored]
            record_event(
                session,
                bus,
                TELEMETRY_RECEIVED,
                TelemetryReceived(
                    source=source,
                    event_ids=[row["id"] for row in accepted],
                    ai_system_ids=sorted({row["ai_system_id"] for row in accepted}),
                    duplicates=duplicates,
                ),
                organization_id=organization_id,
                actor=actor,
            )
    return [results[item.index] for item in incoming]


def body_digest(body: bytes) -> str:
    """A webhook delivery's own id when its source gives none: the same body twice is one event."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


# ---- reading a payload (PHI access) --------------------------------------------------------


def read_payload(runtime: Runtime, identity: Identity, event_id: str) -> tuple[TelemetryEvent, Any]:
    """The stored (redacted) payload, decrypted; the read is recorded as PHI access."""
    with runtime.database.session() as session:
        event = session.scalars(
            select(TelemetryEvent).where(
                TelemetryEvent.id == event_id,
                TelemetryEvent.organization_id == identity.organization_id,
            )
        ).first()
        if event is None:
            raise NotFound("telemetry event")
        payload = (
            orjson.loads(runtime.cipher.decrypt(event.payload, payload_aad(event.id).encode()))
            if event.payload
            else {}
        )
        record_event(
            session,
            bus,
            TELEMETRY_PAYLOAD_READ,
            TelemetryPayloadRead(telemetry_event_id=event.id, ai_system_id=event.ai_system_id),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )
        session.expunge(event)
    return event, payload


# ---- webhook secrets -----------------------------------------------------------------------


def rotate_secret(
    runtime: Runtime, identity: Identity, system_id: str
) -> tuple[WebhookSecret, str, datetime | None]:
    """A new signing secret for the system; the current one stays valid for ``SECRET_GRACE``.
    Returns the new row, the secret (shown once) and when the previous one expires."""

    now = utcnow()
    plaintext = "whsec_" + secrets.token_urlsafe(32)
    with runtime.database.session() as session:
        system = locked_system(session, identity, system_id)
        previous_expiry = None
        for current in session.scalars(
            select(WebhookSecret).where(
                WebhookSecret.ai_system_id == system.id,
                or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
            )
        ):
            current.expires_at = min(current.expires_at or now + SECRET_GRACE, now + SECRET_GRACE)
            previous_expiry = current.expires_at
        secret_id = new_id()
        row = WebhookSecret(
            id=secret_id,
            organization_id=identity.organization_id,
            ai_system_id=system.id,
            secret=runtime.cipher.encrypt_text(plaintext, secret_aad(secret_id)),
            created_at=now,
            created_by=identity.subject_id,
        )
        session.add(row)
        session.flush()
        record_event(
            session,
            bus,
            WEBHOOK_SECRET_ROTATED,
            WebhookSecretRotated(
                ai_system_id=system.id,
                secret_id=secret_id,
                previous_expires_at=previous_expiry.isoformat() if previous_expiry else None,
            ),
            organization_id=identity.organization_id,
            actor=identity.actor,
        )
        session.expunge(row)
    return row, plaintext, previous_expiry


@dataclass(frozen=True)
class WebhookKeys:
    """Who a webhook delivery is for and the secrets it may be signed with, newest first."""

    organization_id: str | None
    secrets: list[str]


def webhook_keys(
    session: Session, cipher: FieldCipher, system_id: str, now: datetime
) -> WebhookKeys:
    """The live secrets of a live (not deleted) system, in one query whatever the system: an
    unknown or deleted system, or one without a secret, has none (ADR 0038)."""
    rows = session.execute(
        select(AISystem.organization_id, WebhookSecret)
        .join(WebhookSecret, WebhookSecret.ai_system_id == AISystem.id)
        .where(
            AISystem.id == system_id,
            AISystem.deleted_at.is_(None),
            or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
        )
        .order_by(WebhookSecret.created_at.desc())
    ).all()
    return WebhookKeys(
        organization_id=rows[0][0] if rows else None,
        secrets=[cipher.decrypt_text(row.secret, secret_aad(row.id)) for _, row in rows],
    )
