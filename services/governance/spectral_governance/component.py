"""Governance as a Spectral component."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement

from spectral_governance.commands import commands
from spectral_governance.consumers import schedules, subscriptions
from spectral_governance.directory.models import Organization
from spectral_governance.published import catalog
from spectral_governance.settings import GovernanceSettings
from spectral_governance.tables import bus, metadata
from spectral_governance.telemetry.models import TelemetryEvent, WebhookSecret
from spectral_shared.component import Component
from spectral_shared.db import utcnow
from spectral_shared.routing import Route
from spectral_shared.sealed import Sealed


def _unexpired_secret() -> ColumnElement[bool]:
    """A replaced webhook secret is decrypted only until it expires."""
    return or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > utcnow())


component = Component(
    name="governance",
    title="AI-system inventory, control catalogs, telemetry, violations, actions, alerts and scores",
    metadata=metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_governance.routes",
    routes=(
        Route("/api/v1/governance", "governance"),
        # The inventory takes CSV imports of up to 5,000 rows.
        Route("/api/v1/ai-systems", "governance", max_body="2m"),
        Route("/api/v1/frameworks", "governance"),
        Route("/api/v1/controls", "governance"),
        # Telemetry batches carry up to 1,000 events with their payloads.
        Route("/api/v1/telemetry", "governance", max_body="8m"),
        # Observability tools' webhooks are signed with the system's webhook secret, not a Spectral
        # credential; the per-IP limit keeps a flood of forgeries off the signature check.
        Route("/api/v1/webhooks", "governance", public=True, abuse_prone=True, max_body="1m"),
        Route("/api/v1/violations", "governance"),
        Route("/api/v1/actions", "governance"),
        Route("/api/v1/alerts", "governance"),
        Route("/api/v1/engine", "governance"),
    ),
    subscriptions=subscriptions,
    schedules=schedules,
    commands=commands,
    settings=GovernanceSettings,
    sealed=(
        Sealed(WebhookSecret.__table__.c.secret, where=_unexpired_secret),
        Sealed(Organization.__table__.c.slack_webhook_url),
        Sealed(TelemetryEvent.__table__.c.payload),
    ),
)
