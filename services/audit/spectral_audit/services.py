"""Audit's use cases: the only code that writes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_audit.entries import entry_from_envelope
from spectral_audit.models import AuditEntry
from spectral_shared.bus import Envelope
from spectral_shared.db import utcnow


def append_entry(session: Session, envelope: Envelope) -> AuditEntry:
    """Runs inside the consumer's inbox transaction, so redelivery never appends twice."""
    fields = entry_from_envelope(envelope)
    entry = AuditEntry(**vars(fields), received_at=utcnow())
    session.add(entry)
    session.flush()
    return entry
