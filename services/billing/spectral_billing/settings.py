"""The settings billing alone reads (its component declares them). STRIPE_SECRET_KEY and
STRIPE_WEBHOOK_SECRET are the shared settings the deployment guide names."""

from __future__ import annotations

from pydantic import Field, SecretStr

from spectral_shared.component import Runtime
from spectral_shared.config import ServiceSettings

# Without Stripe keys (make run, tests) billing talks to the Stripe test double with these: a
# test-mode key the double accepts and the secret it signs its webhooks with. Production refuses
# to start without real ones.
DOUBLE_SECRET_KEY = "sk_test_spectral_double"  # noqa: S105 (a public test value)
DOUBLE_WEBHOOK_SECRET = "whsec_spectral_double_not_a_secret"  # noqa: S105 (a public test value)
DOUBLE_PORT = 12111


class BillingSettings(ServiceSettings):
    # Where the Stripe SDK sends its requests: unset is Stripe itself; the test double's address
    # otherwise (make run starts one on STRIPE_DOUBLE_PORT when no STRIPE_SECRET_KEY is set).
    stripe_api_base: str | None = None
    # The webhook signing secret being replaced, accepted beside STRIPE_WEBHOOK_SECRET during a
    # rotation (Stripe signs with both while a rolled secret's old one lives).
    stripe_webhook_secret_previous: SecretStr | None = None
    # How old a webhook signature's timestamp may be (and how far ahead of this clock).
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # `make run` without Stripe keys: the port the in-process Stripe test double listens on.
    stripe_double_port: int = Field(default=DOUBLE_PORT, ge=0, le=65535)
    # How often the worker handles stored Stripe events and reviews what the clock changes.
    billing_sync_interval_seconds: float = Field(default=0.5, gt=0)
    # The reconciliation with Stripe (nightly): how often, and how far back it looks.
    billing_reconcile_interval_seconds: float = Field(default=86_400.0, gt=0)
    billing_reconcile_hours: int = Field(default=48, ge=1, le=24 * 30)

    def production_problems(self) -> list[str]:
        if self.stripe_api_base:
            return [
                "STRIPE_API_BASE points billing at a Stripe test double; unset it in production"
            ]
        return []


def billing_settings(runtime: Runtime) -> BillingSettings:
    own = runtime.service_settings
    assert isinstance(own, BillingSettings), "the billing component declares its settings"
    return own
