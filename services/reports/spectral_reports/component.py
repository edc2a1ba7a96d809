"""Reports as a Spectral component."""

from __future__ import annotations

from pathlib import Path

from spectral_reports.event_types import catalog
from spectral_reports.models import Base, bus
from spectral_shared.component import Component
from spectral_shared.routing import Route

component = Component(
    name="reports",
    title="Compliance reports, executive summaries and evidence packages",
    metadata=Base.metadata,
    tables=bus,
    migrations=Path(__file__).parent / "migrations",
    events=catalog,
    routes_module="spectral_reports.api.routes",
    routes=(Route("/api/v1/reports", "reports"),),
)
