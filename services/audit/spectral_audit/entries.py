"""Turning an event envelope into an audit entry: pure, no I/O.

An entry is a small JSON object hashed as its RFC 8785 bytes, so any verifier in any language
gets the same leaf from the same entry. Its ``data`` is a *summary* of the event's data: secrets
masked, PHI-bearing fields withheld, long text cut, deep nesting folded, so the log can be kept for
seven years and handed to auditors without becoming a store of PHI itself.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spectral_audit.models import PLATFORM_LOG
from spectral_shared.bus import Envelope
from spectral_shared.logging import REDACTED, names_a_secret
from spectral_shared.tlog.canonical import canonical_json
from spectral_shared.tlog.merkle import leaf_hash

ENTRY_FORMAT = 1
WITHHELD = "[PHI WITHHELD]"
_PHI = re.compile(
    r"patient|mrn|medical_record|date_of_birth|^dob$|birth_?date|diagnos|clinical_note|"
    r"transcript|free_?text|payload|prompt|completion|^notes?$",
    re.IGNORECASE,
)
_MAX_TEXT = 512
_MAX_ITEMS = 50
_MAX_DEPTH = 4
_SAFE_INT = 2**53 - 1  # RFC 8785 numbers are IEEE doubles


@dataclass(frozen=True)
class Appendable:
    """An entry ready to be sequenced: its canonical bytes, leaf hash and search columns."""

    log_id: str
    message_id: str
    action: str
    actor_type: str
    actor_id: str | None
    resource_type: str
    resource_id: str | None
    occurred_at: datetime
    received_at: datetime
    body: bytes
    leaf: bytes


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def withheld_as_phi(key: str) -> bool:
    return _PHI.search(key) is not None


@functools.lru_cache(maxsize=4096)
def _masked_as(key: str) -> str | None:
    """What stands in for a field of this name, if anything: events reuse a few hundred names,
    so each is judged once."""
    if names_a_secret(key):
        return REDACTED
    if withheld_as_phi(key):
        return WITHHELD
    return None


def _summarize(key: str, value: Any, depth: int) -> Any:
    masked = _masked_as(key)
    if masked is not None:
        return masked
    if isinstance(value, Mapping):
        if depth >= _MAX_DEPTH:
            return "[nested data omitted]"
        return {str(k): _summarize(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_summarize(key, item, depth + 1) for item in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            items.append(f"[{len(value) - _MAX_ITEMS} more items omitted]")
        return items
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "…"
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) <= _SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def summarize(data: Mapping[str, Any]) -> dict[str, Any]:
    """The event's data as the log keeps it: no secrets, no PHI, bounded in size."""
    return {str(k): _summarize(str(k), v, 1) for k, v in data.items()}


def log_of(envelope: Envelope) -> str:
    return str(envelope.organization_id) if envelope.organization_id else PLATFORM_LOG


def resource_of(envelope: Envelope) -> tuple[str, str | None]:
    """``auth.user.registered`` is about a ``user``, whose id is ``data.user_id`` (or ``data.id``)."""
    resource_type = envelope.type.split(".")[1]
    resource_id = envelope.data.get(f"{resource_type}_id") or envelope.data.get("id")
    return resource_type, str(resource_id)[:64] if resource_id is not None else None


def audit_entry(envelope: Envelope, received_at: datetime) -> dict[str, Any]:
    """The entry as JSON: what the log commits to for this event."""
    resource_type, resource_id = resource_of(envelope)
    return {
        "format": ENTRY_FORMAT,
        "organization_id": str(envelope.organization_id) if envelope.organization_id else None,
        "message_id": str(envelope.id),
        "action": envelope.type,
        "event_version": envelope.version,
        "actor": {"type": envelope.actor.type, "id": envelope.actor.id},
        "resource": {"type": resource_type, "id": resource_id},
        "occurred_at": rfc3339(envelope.occurred_at),
        "received_at": rfc3339(received_at),
        "data": summarize(envelope.data),
    }


def appendable(envelope: Envelope, received_at: datetime) -> Appendable:
    entry = audit_entry(envelope, received_at)
    body = canonical_json(entry)
    return Appendable(
        log_id=log_of(envelope),
        message_id=entry["message_id"],
        action=envelope.type,
        actor_type=envelope.actor.type,
        actor_id=envelope.actor.id[:64] if envelope.actor.id else None,
        resource_type=entry["resource"]["type"],
        resource_id=entry["resource"]["id"],
        occurred_at=envelope.occurred_at,
        received_at=received_at,
        body=body,
        leaf=leaf_hash(body),
    )
