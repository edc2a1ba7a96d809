"""What governance consumes: auth's organizations and users (state, vendor organizations,
owners) and billing's entitlements (the AI-system limit)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_governance import services
from spectral_shared.bus import Envelope
from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Runtime

DIRECTORY_EVENTS = (
    "auth.organization.created",
    "auth.organization.updated",
    "auth.user.registered",
    "auth.invitation.accepted",
    "auth.user.sso_provisioned",
    "auth.user.deactivated",
    "auth.user.reactivated",
    "billing.entitlements.updated",
)


def record(session: Session, envelope: Envelope) -> None:
    services.apply_directory_event(session, envelope)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    return [
        Subscription(
            consumer="governance", purpose="directory", bindings=DIRECTORY_EVENTS, handler=record
        )
    ]
