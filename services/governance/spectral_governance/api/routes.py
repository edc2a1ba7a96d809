"""Governance's HTTP API. Its resources arrive with their issues; the document and health exist now."""

from flask import Blueprint

from spectral_shared.web.openapi import ApiDoc

api = ApiDoc(
    "governance",
    "Spectral governance",
    description="AI-system inventory, control catalogs, telemetry, violations, actions, alerts and scores.",
)
bp = Blueprint("governance", __name__)
