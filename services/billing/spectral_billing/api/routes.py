"""Billing's HTTP API. Its resources arrive with their issues; the document and health exist now."""

from flask import Blueprint

from spectral_shared.web.openapi import ApiDoc

api = ApiDoc(
    "billing",
    "Spectral billing",
    description="Plans, Stripe subscriptions, usage and entitlements.",
)
bp = Blueprint("billing", __name__)
