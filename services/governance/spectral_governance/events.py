"""What governance consumes: auth's organizations and users (state, vendor organizations,
owners, who gets which notifications), billing's entitlements (the AI-system limit, the plan),
and its own ``governance.telemetry.received``, which the translation consumer turns into
violations, actions and alerts; and the periodic jobs its worker runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_governance import executor, services, translation
from spectral_shared.bus import Envelope
from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Runtime
from spectral_shared.schedule import Schedule

# How many telemetry batches one translation transaction takes.
TRANSLATION_BATCH = 8

DIRECTORY_EVENTS = (
    "auth.organization.created",
    "auth.organization.updated",
    "auth.user.registered",
    "auth.invitation.accepted",
    "auth.user.sso_provisioned",
    "auth.user.deactivated",
    "auth.user.reactivated",
    "auth.user.role_changed",
    "billing.entitlements.updated",
)


def record(session: Session, envelope: Envelope) -> None:
    services.apply_directory_event(session, envelope)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    def translate_one(session: Session, envelope: Envelope) -> None:
        translate_many(session, [envelope])

    def translate_many(session: Session, envelopes: list[Envelope]) -> None:
        ids = [event_id for e in envelopes for event_id in e.data["event_ids"]]
        organizations = {str(e.organization_id) for e in envelopes if e.organization_id}
        translation.translate_events(session, runtime.cipher, ids, organizations)

    return [
        Subscription(
            consumer="governance", purpose="directory", bindings=DIRECTORY_EVENTS, handler=record
        ),
        Subscription(
            consumer="governance",
            purpose="translation",
            bindings=("governance.telemetry.received",),
            handler=translate_one,
            batch_handler=translate_many,
            batch_size=TRANSLATION_BATCH,
        ),
    ]


def schedules(runtime: Runtime) -> list[Schedule]:
    def carry_out_actions() -> None:
        executor.run_due_actions(runtime.database, runtime.cipher)

    def watch_sla() -> None:
        executor.watch_sla(runtime.database)

    def post_to_slack() -> None:
        executor.deliver_notifications(runtime.database, runtime.cipher)

    every = runtime.settings.action_executor_interval_seconds
    return [
        Schedule("governance.action_executor", every, carry_out_actions),
        Schedule("governance.sla_watch", 30.0, watch_sla),
        Schedule("governance.slack", 2.0, post_to_slack),
    ]
