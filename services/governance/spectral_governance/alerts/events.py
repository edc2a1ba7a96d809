"""Alerts raised, moved and overdue, and the organization's alert settings."""

from __future__ import annotations

from spectral_governance.event_catalog import catalog
from spectral_shared.bus.catalog import EventData


class AlertRaised(EventData):
    alert_id: str
    ai_system_id: str
    type: str
    severity: str
    ack_due_at: str
    telemetry_event_id: str | None


class AlertChanged(EventData):
    alert_id: str
    ai_system_id: str
    severity: str
    status: str
    response_time_seconds: int | None = None


class AlertSlaBreached(EventData):
    alert_id: str
    ai_system_id: str
    severity: str
    ack_due_at: str


class AlertSettingsUpdated(EventData):
    slack_webhook_set: bool
    sla_minutes: dict[str, int]


ALERT_RAISED = catalog.define(
    "governance.alert.raised",
    AlertRaised,
    "An alert was raised from a violation or a high or critical event (repeats within the hour "
    "are counted on it instead).",
)


ALERT_ACKNOWLEDGED = catalog.define(
    "governance.alert.acknowledged", AlertChanged, "A user acknowledged an alert."
)


ALERT_RESOLVED = catalog.define(
    "governance.alert.resolved",
    AlertChanged,
    "A user resolved an alert (with the response time).",
)


ALERT_DISMISSED = catalog.define(
    "governance.alert.dismissed", AlertChanged, "A user dismissed an alert."
)


ALERT_SLA_BREACHED = catalog.define(
    "governance.alert.sla_breached",
    AlertSlaBreached,
    "An alert was not acknowledged within its severity's SLA.",
)


ALERT_SETTINGS_UPDATED = catalog.define(
    "governance.alert_settings.updated",
    AlertSettingsUpdated,
    "An admin changed the alert SLA table or the Slack webhook (the URL itself is not carried).",
)
