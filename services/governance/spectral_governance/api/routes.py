"""Governance's HTTP API: the inventory, the control registry, applicability."""

from __future__ import annotations

from flask import Blueprint

from spectral_governance.api import ai_systems, controls

api = ai_systems.api
api.description = (
    "AI-system inventory, control catalogs and applicability; telemetry, violations, actions, "
    "alerts and scores arrive with their issues."
)
bp = Blueprint("governance", __name__)
bp.register_blueprint(ai_systems.bp)
bp.register_blueprint(controls.bp)
