"""Audit as a Spectral component."""

from __future__ import annotations

from pathlib import Path

from spectral_audit.commands import commands
from spectral_audit.event_types import catalog
from spectral_audit.events import subscriptions
from spectral_audit.models import Base, bus
from spectral_shared.component import Component

component = Component(
    name="audit",
    title="The append-only, verifiable audit log",
    metadata=Base.metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_audit.api.routes",
    subscriptions=subscriptions,
    production_requires=("AUDIT_SIGNING_KEY",),
    commands=commands,
)
