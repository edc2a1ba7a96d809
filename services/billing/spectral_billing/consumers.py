"""What billing consumes (auth's organizations and members, governance's inventory and
telemetry) and the periodic jobs its worker runs (Stripe events, the clock's reviews, the
nightly reconciliation)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_billing.accounts.use_cases import account_handlers
from spectral_billing.entitlements.use_cases import claim_run, review_due
from spectral_billing.settings import billing_settings
from spectral_billing.stripe_api.processing import handle_pending
from spectral_billing.stripe_api.reconcile import reconcile
from spectral_billing.usage.use_cases import add_usage, set_usage, warn_near_limit
from spectral_billing.web import stripe_gateway
from spectral_shared.bus import Envelope
from spectral_shared.bus.envelope import Actor
from spectral_shared.bus.handlers import EventHandlers
from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Runtime
from spectral_shared.contracts import auth, governance
from spectral_shared.logging import get_logger
from spectral_shared.schedule import Schedule

log = get_logger(__name__)


def usage_handlers(runtime: Runtime) -> EventHandlers:
    handlers = EventHandlers()

    @handlers.on(governance.TELEMETRY_RECEIVED)
    def telemetry(session: Session, envelope: Envelope, data: governance.TelemetryReceived) -> None:
        if envelope.organization_id is not None and data.event_ids:
            add_usage(
                session,
                str(envelope.organization_id),
                "telemetry_events",
                len(data.event_ids),
                at=envelope.occurred_at,
            )

    @handlers.on(auth.USAGE_RECORDED)
    def api_calls(session: Session, envelope: Envelope, data: auth.UsageRecorded) -> None:
        if envelope.organization_id is None:
            return
        organization_id = str(envelope.organization_id)
        set_usage(session, organization_id, "api_calls", data.day, data.api_calls)
        warn_near_limit(
            session,
            runtime.cipher,
            organization_id,
            "api_calls",
            data.api_calls,
            actor=Actor.system("billing.usage"),
            period=data.day.isoformat(),
        )

    return handlers


def subscriptions(runtime: Runtime) -> list[Subscription]:
    accounts = account_handlers(runtime)
    usage = usage_handlers(runtime)
    return [
        Subscription(
            consumer="billing", purpose="accounts", bindings=accounts.bindings, handler=accounts
        ),
        Subscription(consumer="billing", purpose="usage", bindings=usage.bindings, handler=usage),
    ]


def schedules(runtime: Runtime) -> list[Schedule]:
    own = billing_settings(runtime)

    def stripe_events() -> None:
        gateway = stripe_gateway(runtime)
        if gateway.configured:
            handle_pending(runtime, gateway)
        review_due(runtime, now=gateway.now())

    def nightly() -> None:
        gateway = stripe_gateway(runtime)
        if not gateway.configured or not claim_run(
            runtime, "reconcile", gateway.now(), own.billing_reconcile_interval_seconds
        ):
            return
        report = reconcile(runtime, stripe_gateway(runtime), hours=own.billing_reconcile_hours)
        log.info(
            "billing.reconciled",
            events=report.events_seen,
            missed=report.events_missed,
            organizations=report.organizations_checked,
            repaired=len(report.repaired),
        )

    return [
        Schedule("billing.stripe_events", own.billing_sync_interval_seconds, stripe_events),
        # Checked every few minutes; runs once per interval across restarts and replicas.
        Schedule("billing.reconcile", min(600.0, own.billing_reconcile_interval_seconds), nightly),
    ]
