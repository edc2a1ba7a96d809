"""Billing's HTTP plumbing that every domain's views share: the OpenAPI document, the request base
schema, and the Stripe gateway of the running service."""

from __future__ import annotations

from pydantic import ConfigDict

from spectral_billing.settings import billing_settings
from spectral_billing.stripe_api.gateway import StripeGateway
from spectral_shared.component import Runtime
from spectral_shared.web.openapi import ApiDoc
from spectral_shared.web.text import PlainText

BILLING = "/api/v1/billing"
api = ApiDoc(
    "billing",
    "Spectral billing",
    description=(
        "Plans and what they allow, Stripe Checkout and subscriptions, invoices, usage against "
        "the plan's limits, and Stripe's webhooks. Billing decides each organization's "
        "capabilities; the other services obey them."
    ),
)


class Request(PlainText):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


def stripe_gateway(runtime: Runtime) -> StripeGateway:
    return runtime.extension(
        "stripe", lambda r: StripeGateway.from_settings(r.settings, billing_settings(r))
    )
