"""Governance's HTTP API: the inventory, the control registry, applicability."""

from __future__ import annotations

from flask import Blueprint

from spectral_governance.api import ai_systems, controls, findings, telemetry

api = ai_systems.api
api.description = (
    "AI-system inventory, control catalogs and applicability; telemetry intake and webhooks; "
    "the violations, required actions and alerts the translation engine finds; its customization."
)
bp = Blueprint("governance", __name__)
bp.register_blueprint(ai_systems.bp)
bp.register_blueprint(controls.bp)
bp.register_blueprint(telemetry.bp)
bp.register_blueprint(findings.bp)
