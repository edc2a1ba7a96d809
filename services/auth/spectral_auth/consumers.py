"""What auth consumes, billing's capabilities (the organization's request quota), and the job
its worker runs (reporting API calls for usage metering)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_auth.models import Organization
from spectral_auth.usage import report_usage
from spectral_shared.bus import Envelope
from spectral_shared.bus.handlers import EventHandlers
from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Runtime
from spectral_shared.contracts import billing
from spectral_shared.schedule import Schedule

# How often API calls are reported (seconds).
USAGE_EVERY = 60.0

handlers = EventHandlers()


@handlers.on(billing.ENTITLEMENTS_UPDATED)
def capabilities_updated(session: Session, envelope: Envelope, data: billing.Capabilities) -> None:
    """Keep billing's quota for the organization, only from a newer snapshot than the one held."""
    if envelope.organization_id is None:
        return
    organization = session.get(Organization, str(envelope.organization_id), with_for_update=True)
    if organization is None:
        return  # not an organization of this deployment's auth
    held = organization.capabilities_version
    if held is not None and data.version <= held:
        return
    quota = data.request_quota
    organization.quota_limit = quota.limit if quota else None
    organization.quota_window_seconds = quota.window_seconds if quota else None
    organization.capabilities_version = data.version
    session.flush()


def subscriptions(runtime: Runtime) -> list[Subscription]:
    return [
        Subscription(
            consumer="auth", purpose="entitlements", bindings=handlers.bindings, handler=handlers
        )
    ]


def schedules(runtime: Runtime) -> list[Schedule]:
    def report() -> None:
        report_usage(runtime)

    return [Schedule("auth.usage", USAGE_EVERY, report)]
