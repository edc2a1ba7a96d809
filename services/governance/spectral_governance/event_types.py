"""Events governance publishes. docs/events.md lists the same; a test keeps them in step.

Each carries what an auditor needs without another lookup: the system's name and, for changes,
every changed field's value before and after."""

from __future__ import annotations

from typing import Literal

from spectral_shared.bus.catalog import EventCatalog, EventData

catalog = EventCatalog("governance")

Source = Literal["api", "csv_import", "demo_seed"]


class AISystemSnapshot(EventData):
    """The inventory fields of a system as recorded."""

    name: str
    description: str | None
    department: str
    category: str
    clinical_use_case: str | None
    vendor_name: str | None
    vendor_organization_id: str | None
    model_name: str | None
    model_version: str | None
    uses_phi: bool
    fda_status: str
    fda_submission_number: str | None
    risk_level: str
    status: str
    monitoring_enabled: bool
    serves_states: list[str]
    owner_user_id: str | None
    provider_type: str | None
    provider_system_id: str | None


class AISystemCreated(EventData):
    ai_system_id: str
    source: Source
    system: AISystemSnapshot


class AISystemUpdated(EventData):
    ai_system_id: str
    name: str
    version: int
    changes: dict[str, dict[str, object]]  # field -> {"from": ..., "to": ...}


class AISystemDeleted(EventData):
    ai_system_id: str
    name: str
    status: str  # the lifecycle state it was in; the record stays readable


class AISystemStatusChanged(EventData):
    ai_system_id: str
    name: str
    from_status: str
    to_status: str


class ControlStatusChanged(EventData):
    ai_system_id: str
    ai_system_name: str
    control_id: str
    framework_id: str
    from_status: str
    to_status: str
    reason: str | None
    source: Literal["user", "violation"]


AI_SYSTEM_CREATED = catalog.define(
    "governance.ai_system.created",
    AISystemCreated,
    "An AI system was added to an organization's inventory (API, CSV import or demo seed).",
)
AI_SYSTEM_UPDATED = catalog.define(
    "governance.ai_system.updated",
    AISystemUpdated,
    "An AI system's inventory fields changed (each field before and after).",
)
AI_SYSTEM_DELETED = catalog.define(
    "governance.ai_system.deleted",
    AISystemDeleted,
    "An AI system was removed from the inventory (soft: its record and history stay readable).",
)
AI_SYSTEM_STATUS_CHANGED = catalog.define(
    "governance.ai_system.status_changed",
    AISystemStatusChanged,
    "An AI system moved in its lifecycle (testing, active, paused, deprecated).",
)
CONTROL_STATUS_CHANGED = catalog.define(
    "governance.control_status.changed",
    ControlStatusChanged,
    "A control's status on an AI system changed (not_assessed, compliant, non_compliant, "
    "not_applicable with a reason).",
)


# ---- telemetry and what the engine makes of it (issue 7) ------------------------------------

TelemetrySource = Literal["api", "langsmith", "arize", "langfuse", "wandb"]


class TelemetryReceived(EventData):
    """One accepted batch or webhook delivery: the events stored, to be translated."""

    source: TelemetrySource
    event_ids: list[str]
    ai_system_ids: list[str]
    duplicates: int


class TelemetryPayloadRead(EventData):
    """Someone read a stored (redacted, decrypted) payload: audited as PHI access."""

    telemetry_event_id: str
    ai_system_id: str
    phi_access: bool = True


class ViolationDetected(EventData):
    violation_id: str
    ai_system_id: str
    telemetry_event_id: str
    framework_id: str
    control_id: str
    type: str
    severity: str
    requires_reporting: bool
    reporting_deadline: str | None


class ViolationResolved(EventData):
    violation_id: str
    ai_system_id: str
    control_id: str
    control_status: str  # the control's status on the system afterwards


class ActionCreated(EventData):
    action_id: str
    violation_id: str
    ai_system_id: str
    action_type: str
    priority: str
    assignee: str
    deadline: str
    automated: bool


class ActionStatusChanged(EventData):
    action_id: str
    ai_system_id: str
    from_status: str
    to_status: str
    assigned_user_id: str | None = None
    by: Literal["user", "executor"] = "user"


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


class WebhookSecretRotated(EventData):
    """A new signing secret (never the secret itself); the previous one expires at
    ``previous_expires_at``."""

    ai_system_id: str
    secret_id: str
    previous_expires_at: str | None


class ThresholdOverrideChanged(EventData):
    override_id: str
    change: Literal["created", "revoked"]
    threshold: str
    value: float
    default: float
    event_type: str | None
    ai_system_id: str | None
    justification: str
    expires_at: str | None


class ControlToggleChanged(EventData):
    toggle_id: str
    control_id: str
    enabled: bool
    ai_system_id: str | None
    justification: str


class AlertSettingsUpdated(EventData):
    slack_webhook_set: bool
    sla_minutes: dict[str, int]


TELEMETRY_RECEIVED = catalog.define(
    "governance.telemetry.received",
    TelemetryReceived,
    "Telemetry was accepted and stored (one batch or webhook delivery); the worker translates it.",
)
TELEMETRY_PAYLOAD_READ = catalog.define(
    "governance.telemetry.payload_read",
    TelemetryPayloadRead,
    "A stored telemetry payload was decrypted and read (PHI access).",
)
VIOLATION_DETECTED = catalog.define(
    "governance.violation.detected",
    ViolationDetected,
    "The translation engine found a compliance violation in a telemetry event.",
)
VIOLATION_RESOLVED = catalog.define(
    "governance.violation.resolved",
    ViolationResolved,
    "A user resolved a violation (with a note, which the event does not carry).",
)
ACTION_CREATED = catalog.define(
    "governance.action.created",
    ActionCreated,
    "A required action was generated for a violation.",
)
ACTION_STATUS_CHANGED = catalog.define(
    "governance.action.status_changed",
    ActionStatusChanged,
    "A required action moved (pending, in_progress, completed, cancelled) or was assigned.",
)
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
WEBHOOK_SECRET_ROTATED = catalog.define(
    "governance.webhook_secret.rotated",
    WebhookSecretRotated,
    "An AI system's webhook signing secret was created or rotated.",
)
THRESHOLD_OVERRIDE_CHANGED = catalog.define(
    "governance.threshold_override.changed",
    ThresholdOverrideChanged,
    "A threshold override was created or revoked (an engine customization).",
)
CONTROL_TOGGLE_CHANGED = catalog.define(
    "governance.control_toggle.changed",
    ControlToggleChanged,
    "A control was turned off or back on for the organization or one system (an engine customization).",
)
ALERT_SETTINGS_UPDATED = catalog.define(
    "governance.alert_settings.updated",
    AlertSettingsUpdated,
    "An admin changed the alert SLA table or the Slack webhook (the URL itself is not carried).",
)
