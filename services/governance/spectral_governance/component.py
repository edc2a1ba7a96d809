"""Governance as a Spectral component."""

from __future__ import annotations

from pathlib import Path

from spectral_governance.commands import commands
from spectral_governance.consumers import schedules, subscriptions
from spectral_governance.published import catalog
from spectral_governance.tables import bus, metadata
from spectral_shared.component import Component

component = Component(
    name="governance",
    title="AI-system inventory, control catalogs, telemetry, violations, actions, alerts and scores",
    metadata=metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_governance.routes",
    subscriptions=subscriptions,
    schedules=schedules,
    commands=commands,
)
