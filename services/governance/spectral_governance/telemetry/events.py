"""Telemetry intake's events: what was stored, who read a payload, webhook secrets."""

from __future__ import annotations

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData
from spectral_shared.contracts import governance as contracts
from spectral_shared.contracts.governance import TelemetryReceived as TelemetryReceived
from spectral_shared.contracts.governance import TelemetrySource as TelemetrySource


class TelemetryPayloadRead(EventData):
    """Someone read a stored (redacted, decrypted) payload: audited as PHI access."""

    telemetry_event_id: str
    ai_system_id: str
    phi_access: bool = True


class WebhookSecretRotated(EventData):
    """A new signing secret (never the secret itself); the previous one expires at
    ``previous_expires_at``."""

    ai_system_id: str
    secret_id: str
    previous_expires_at: str | None


TELEMETRY_RECEIVED = catalog.adopt(
    contracts.TELEMETRY_RECEIVED,
    "Telemetry was accepted and stored (one batch or webhook delivery); the worker translates it.",
)


TELEMETRY_PAYLOAD_READ = catalog.define(
    "governance.telemetry.payload_read",
    TelemetryPayloadRead,
    "A stored telemetry payload was decrypted and read (PHI access).",
)


WEBHOOK_SECRET_ROTATED = catalog.define(
    "governance.webhook_secret.rotated",
    WebhookSecretRotated,
    "An AI system's webhook signing secret was created or rotated.",
)
