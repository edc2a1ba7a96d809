"""Billing's HTTP API: one blueprint that holds every domain's views."""

from __future__ import annotations

from flask import Blueprint

from spectral_billing.accounts import views as accounts
from spectral_billing.stripe_api import views as stripe_api
from spectral_billing.subscriptions import views as subscriptions
from spectral_billing.usage import views as usage
from spectral_billing.web import api

bp = Blueprint("billing", __name__)
for domain in (subscriptions, usage, accounts, stripe_api):
    bp.register_blueprint(domain.bp)

__all__ = ["api", "bp"]
