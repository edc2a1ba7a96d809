"""Governance's HTTP API: one blueprint that holds every domain's views."""

from __future__ import annotations

from flask import Blueprint

from spectral_governance.actions import views as actions
from spectral_governance.alerts import views as alerts
from spectral_governance.catalog import views as catalog
from spectral_governance.controls import views as controls
from spectral_governance.customization import views as customization
from spectral_governance.inventory import views as inventory
from spectral_governance.telemetry import views as telemetry
from spectral_governance.violations import views as violations
from spectral_governance.web import api

bp = Blueprint("governance", __name__)
for domain in (
    inventory,
    catalog,
    controls,
    telemetry,
    violations,
    actions,
    alerts,
    customization,
):
    bp.register_blueprint(domain.bp)

__all__ = ["api", "bp"]
