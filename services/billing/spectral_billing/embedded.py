"""The Stripe test double inside `spectral all` (``make run``) when no Stripe key is set: started
on STRIPE_DOUBLE_PORT (any free port when that one is taken), its state kept in
``var/stripe-double.json`` so a restart keeps the customers billing knows, and its webhooks sent
straight to this process's billing, signed with the secret billing checks."""

from __future__ import annotations

from spectral_billing.settings import DOUBLE_WEBHOOK_SECRET, BillingSettings
from spectral_shared.component import Embedded
from spectral_shared.config import Settings
from spectral_shared.logging import get_logger

log = get_logger(__name__)

WEBHOOK_PATH = "/api/v1/billing/webhooks/stripe"


def webhook_secret(settings: Settings) -> str:
    secret = settings.stripe_webhook_secret
    return secret.get_secret_value() if secret is not None else DOUBLE_WEBHOOK_SECRET


def start_double(settings: Settings) -> Embedded | None:
    own = BillingSettings.of(settings)
    if settings.stripe_secret_key is not None or own.stripe_api_base or settings.is_production:
        return None
    from spectral_billing.stripe_double import StripeDouble, serve

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    double = StripeDouble(
        state_path=settings.var_dir / "stripe-double.json",
        webhook_endpoints=[
            (f"http://127.0.0.1:{settings.port}{WEBHOOK_PATH}", webhook_secret(settings))
        ],
    )
    try:
        server, thread, base = serve(double, "127.0.0.1", own.stripe_double_port)
    except OSError:
        log.warning("stripe_double.port_taken", port=own.stripe_double_port)
        server, thread, base = serve(double, "127.0.0.1", 0)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        double.close()
        thread.join(timeout=5)

    return Embedded(
        settings={"stripe_api_base": base},
        banner=(
            f"stripe:    {base}/_control/  (the Stripe test double: no money moves; set "
            "STRIPE_SECRET_KEY to use Stripe)"
        ),
        stop=stop,
    )
