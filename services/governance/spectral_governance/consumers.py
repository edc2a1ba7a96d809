"""What governance consumes: auth's organizations and users (state, vendor organizations,
owners, who gets which notifications), billing's entitlements (the AI-system limit, the plan),
and its own ``governance.telemetry.received``, which the translation consumer turns into
violations, actions and alerts; and the periodic jobs its worker runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_governance.actions.executor import run_due_actions
from spectral_governance.alerts.use_cases import watch_sla
from spectral_governance.directory.use_cases import handlers as directory
from spectral_governance.inventory.posture import refresh_scored_systems
from spectral_governance.settings import governance_settings
from spectral_governance.telemetry.events import TELEMETRY_RECEIVED, TelemetryReceived
from spectral_governance.translation.use_cases import translate_events
from spectral_shared.bus import Envelope
from spectral_shared.bus.handlers import contract_data
from spectral_shared.bus.topology import Subscription
from spectral_shared.component import Runtime
from spectral_shared.schedule import Schedule

# How many telemetry batches one translation transaction takes.
TRANSLATION_BATCH = 8
# How often postures are recomputed as the day's events age out (seconds).
POSTURE_EVERY = 300.0


def subscriptions(runtime: Runtime) -> list[Subscription]:
    def translate_one(session: Session, envelope: Envelope) -> None:
        translate_many(session, [envelope])

    def translate_many(session: Session, envelopes: list[Envelope]) -> None:
        # A payload that breaks the contract is parked at once, its values quoted nowhere.
        received = [contract_data(TelemetryReceived, e) for e in envelopes]
        ids = [event_id for data in received for event_id in data.event_ids]
        organizations = {str(e.organization_id) for e in envelopes if e.organization_id}
        translate_events(
            session, runtime.cipher, ids, organizations, base_url=runtime.settings.base_url
        )

    return [
        Subscription(
            consumer="governance",
            purpose="directory",
            bindings=directory.bindings,
            handler=directory,
        ),
        Subscription(
            consumer="governance",
            purpose="translation",
            bindings=(TELEMETRY_RECEIVED.name,),
            handler=translate_one,
            batch_handler=translate_many,
            batch_size=TRANSLATION_BATCH,
        ),
    ]


def schedules(runtime: Runtime) -> list[Schedule]:
    def carry_out_actions() -> None:
        run_due_actions(runtime)

    def watch_alert_sla() -> None:
        watch_sla(runtime)

    def age_postures() -> None:
        refresh_scored_systems(runtime)

    every = governance_settings(runtime).action_executor_interval_seconds
    return [
        Schedule("governance.action_executor", every, carry_out_actions),
        Schedule("governance.sla_watch", 30.0, watch_alert_sla),
        Schedule("governance.posture", POSTURE_EVERY, age_postures),
    ]
