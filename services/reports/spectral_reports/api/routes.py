"""Reports's HTTP API. Its resources arrive with their issues; the document and health exist now."""

from flask import Blueprint

from spectral_shared.web.openapi import ApiDoc

api = ApiDoc(
    "reports",
    "Spectral reports",
    description="Compliance reports, executive summaries and evidence packages.",
)
bp = Blueprint("reports", __name__)
