"""Turning an event envelope into an audit entry: pure, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from spectral_shared.bus import Envelope
from spectral_shared.logging import redact


@dataclass(frozen=True)
class EntryFields:
    message_id: str
    organization_id: str | None
    action: str
    actor_type: str
    actor_id: str | None
    resource_type: str
    resource_id: str | None
    occurred_at: datetime
    data: str


def entry_from_envelope(envelope: Envelope) -> EntryFields:
    """``auth.user.registered`` is about a ``user``; its id is ``data.user_id`` when present."""
    resource_type = envelope.type.split(".")[1]
    resource_id = envelope.data.get(f"{resource_type}_id") or envelope.data.get("id")
    return EntryFields(
        message_id=str(envelope.id),
        organization_id=str(envelope.organization_id) if envelope.organization_id else None,
        action=envelope.type,
        actor_type=envelope.actor.type,
        actor_id=envelope.actor.id,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        occurred_at=envelope.occurred_at,
        data=json.dumps(redact(envelope.data), sort_keys=True, separators=(",", ":")),
    )
