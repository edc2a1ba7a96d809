"""HTTP API: Stripe's webhook endpoint."""

from __future__ import annotations

from flask import Blueprint, Response, request
from pydantic import BaseModel

from spectral_billing.stripe_api.intake import receive
from spectral_billing.web import BILLING, api, stripe_gateway
from spectral_shared.web.problems import Problem
from spectral_shared.web.responses import current_runtime, json_response

bp = Blueprint("stripe_webhooks", __name__)


class WebhookAck(BaseModel):
    received: bool
    event_id: str
    duplicate: bool
    handled: bool


@bp.post(f"{BILLING}/webhooks/stripe")
@api.operation(
    "Receive a Stripe webhook",
    responses={
        200: WebhookAck,
        400: "A missing, forged, expired or future-dated Stripe-Signature (bad-signature); "
        "nothing is stored",
        415: "The body is not sent as application/json",
        422: "Signed, but not a Stripe event (not-a-stripe-event); nothing is stored",
    },
    description=(
        "Verified with the SDK over the raw body against the webhook signing secret (two during "
        "a rotation), within STRIPE_WEBHOOK_TOLERANCE_SECONDS either way. A valid event is "
        "stored once by its id and acknowledged at once; the worker handles it afterwards. A "
        "second delivery of the same event changes nothing."
    ),
    body=("application/json", "A Stripe event, exactly as Stripe signed it"),
    public=True,
)
def stripe_webhook() -> tuple[Response, int]:
    if request.mimetype != "application/json":
        raise Problem(
            415,
            "Unsupported media type",
            detail="Stripe sends its events as application/json.",
            type_slug="unsupported-media-type",
        )
    runtime = current_runtime()
    received = receive(
        runtime,
        stripe_gateway(runtime),
        request.get_data(cache=True),
        request.headers.get("Stripe-Signature"),
    )
    return json_response(
        WebhookAck(
            received=True,
            event_id=received.event_id,
            duplicate=received.duplicate,
            handled=received.handled,
        )
    )
