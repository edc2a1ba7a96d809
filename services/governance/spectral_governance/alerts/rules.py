"""The alert policy (docs/domain.md#alerts-severities-and-slas): which alert a telemetry event raises, its severity,
when it must be acknowledged, how duplicates are recognised, who hears of it and how it moves
from ``active`` to ``resolved`` or ``dismissed``.

Pure: no clock, no database; callers pass the times. The tables are small and read like the
domain text, so they live here rather than in a YAML file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal

from spectral_governance.engine.normalizer import SEVERITIES, number, rules
from spectral_shared.errors import RuleBroken

AlertType = Literal[
    "compliance_violation",
    "performance_degradation",
    "phi_exposure",
    "model_drift",
    "bias_detection",
    "error_spike",
    "latency_degradation",
    "security_breach",
    "data_quality",
]
ALERT_TYPES: tuple[str, ...] = (
    "compliance_violation",
    "performance_degradation",
    "phi_exposure",
    "model_drift",
    "bias_detection",
    "error_spike",
    "latency_degradation",
    "security_breach",
    "data_quality",
)
MAX_MESSAGE_LENGTH = 5000

# --- which alert an event raises --------------------------------------------------------------

# Every canonical event type of rules/taxonomy.yaml. Safety events (clinical accuracy, missed or
# false findings, harmful output) and the remaining quality events are compliance violations:
# as performance alerts they would fall to "low" for want of a percent_degraded.
EVENT_ALERT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "phi_exposure": "phi_exposure",
        "unauthorized_data_access": "security_breach",
        "data_breach_attempt": "security_breach",
        "input_validation_failure": "error_spike",
        "prompt_injection_attempt": "security_breach",
        "authentication_failure": "security_breach",
        "rate_limit_exceeded": "error_spike",
        "model_drift": "model_drift",
        "prediction_accuracy_drop": "performance_degradation",
        "latency_threshold_exceeded": "latency_degradation",
        "clinical_accuracy_failure": "compliance_violation",
        "false_negative_alert": "compliance_violation",
        "false_positive_alert": "compliance_violation",
        "harmful_output": "compliance_violation",
        "bias_detected": "bias_detection",
        "disparate_impact": "bias_detection",
        "fairness_threshold_violation": "bias_detection",
        "data_quality_degradation": "data_quality",
        "model_version_mismatch": "compliance_violation",
        "explainability_failure": "compliance_violation",
    }
)
_ERRORISH = re.compile(r"(?<![a-z0-9])(?:errors?|exceptions?|failures?|failed|5xx)(?![a-z0-9])")


def alert_type_for(event_type: str, category: str) -> str:
    """The alert type for a telemetry event: by its canonical type (aliases accepted), else an
    error-sounding name raises ``error_spike``, a fairness event ``bias_detection``, and anything
    else a ``compliance_violation``."""
    name = (event_type or "").strip().lower()
    canonical = rules().canonical(name)
    if canonical is not None and (canonical == name or not _ERRORISH.search(name)):
        return EVENT_ALERT_TYPES[canonical]
    if _ERRORISH.search(name):  # an error-sounding name, even one that is an alias ("error")
        return "error_spike"
    if (category or "").strip().lower() == "fairness":
        return "bias_detection"
    return "compliance_violation"


# --- severity ---------------------------------------------------------------------------------


def _metadata(metadata: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present (snake_case and the reference's camelCase alike)."""
    for name in names:
        if name in metadata and metadata[name] is not None:
            return metadata[name]
    return None


def _is_hipaa(metadata: Mapping[str, Any]) -> bool:
    control = str(_metadata(metadata, "control_id", "controlId") or "").upper()
    framework = str(_metadata(metadata, "framework_id", "frameworkId", "framework") or "")
    return "HIPAA" in control or "164.312" in control or framework.strip().upper() == "HIPAA"


def auto_severity(alert_type: str, metadata: Mapping[str, Any] | None = None) -> str:
    """The severity docs/domain.md#alerts-severities-and-slas gives an alert of this type; every threshold is strict (a
    ``percent_degraded`` of exactly 50 is medium). Numbers may come as text; a missing or
    unreadable one takes the lower branch."""
    data: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}
    if alert_type in ("phi_exposure", "security_breach"):
        return "critical"
    if alert_type in ("compliance_violation", "bias_detection"):
        return "critical" if _is_hipaa(data) else "high"
    if alert_type in ("performance_degradation", "latency_degradation"):
        degraded = number(_metadata(data, "percent_degraded", "percentDegraded"))
        if degraded is not None and degraded > 50:
            return "high"
        return "medium" if degraded is not None and degraded > 10 else "low"
    if alert_type == "error_spike":
        error_rate = number(_metadata(data, "error_rate", "errorRate"))
        return "high" if error_rate is not None and error_rate > 0.1 else "medium"
    if alert_type in ("model_drift", "data_quality"):
        drift = number(_metadata(data, "drift_score", "driftScore"))
        return "high" if drift is not None and drift > 0.7 else "medium"
    raise ValueError(f"unknown alert type {alert_type!r}; known: {', '.join(ALERT_TYPES)}")


# --- acknowledgement SLA (docs/domain.md#decision-9-alerts: one table) ----------------------

DEFAULT_SLA: Mapping[str, timedelta] = MappingProxyType(
    {
        "critical": timedelta(minutes=15),
        "high": timedelta(hours=4),
        "medium": timedelta(hours=24),
        "low": timedelta(hours=72),
    }
)
MIN_SLA_MINUTES = 1
MAX_SLA_MINUTES = 30 * 24 * 60


class SlaRefused(RuleBroken):
    """An organization's SLA overrides were refused; the message lists every problem."""

    def __init__(self, message: str) -> None:
        super().__init__("sla_minutes", message)


def _minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


def sla_table(overrides: Mapping[str, int] | None = None) -> dict[str, timedelta]:
    """The acknowledge-within table of an organization: the defaults with its overrides (whole
    minutes per severity, 1 minute to 30 days). A more severe alert never gets longer than a less
    severe one; equal is allowed."""
    table = dict(DEFAULT_SLA)
    problems: list[str] = []
    for severity, minutes in (overrides or {}).items():
        if severity not in DEFAULT_SLA:
            problems.append(f"unknown severity {severity!r} (known: {', '.join(SEVERITIES)})")
        elif isinstance(minutes, bool) or not isinstance(minutes, int):
            problems.append(f"{severity}: {minutes!r} is not a whole number of minutes")
        elif not MIN_SLA_MINUTES <= minutes <= MAX_SLA_MINUTES:
            problems.append(
                f"{severity}: {minutes} minutes is outside {MIN_SLA_MINUTES}..{MAX_SLA_MINUTES}"
                " (1 minute to 30 days)"
            )
        else:
            table[severity] = timedelta(minutes=minutes)
    if not problems:
        for more, less in pairwise(SEVERITIES):
            if table[more] > table[less]:
                problems.append(
                    f"{more} ({_minutes(table[more])} min) would be longer than"
                    f" {less} ({_minutes(table[less])} min)"
                )
    if problems:
        raise SlaRefused("SLA refused: " + "; ".join(problems))
    return table


def ack_due(
    severity: str, raised_at: datetime, table: Mapping[str, timedelta] = DEFAULT_SLA
) -> datetime:
    """When an alert raised at ``raised_at`` must have been acknowledged."""
    if severity not in table:
        raise ValueError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    return raised_at + table[severity]


# --- deduplication ----------------------------------------------------------------------------

DEDUP_WINDOW = timedelta(hours=1)
DEDUP_MESSAGE_CHARS = 100
_DIGIT_RUN = re.compile(r"[0-9]+")
_SPACE_RUN = re.compile(r"\s+")


def dedup_key(ai_system_id: object, alert_type: str, message: str) -> str:
    """``<system>:<type>:<message>`` where the message is lower-cased, each run of digits is
    one ``N`` ("latency 980ms" and "latency 1200ms" agree), whitespace runs are one space,
    trimmed, and then cut to its first 100 characters."""
    text = _SPACE_RUN.sub(" ", _DIGIT_RUN.sub("N", (message or "").lower())).strip()
    return f"{ai_system_id}:{alert_type}:{text[:DEDUP_MESSAGE_CHARS]}"


def is_duplicate(first_raised_at: datetime, raised_at: datetime) -> bool:
    """Whether an alert with the same dedup key raised at ``raised_at`` repeats the one raised at
    ``first_raised_at``: strictly less than an hour apart."""
    return abs(raised_at - first_raised_at) < DEDUP_WINDOW


# --- who hears of it --------------------------------------------------------------------------

CHANNELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "low": ("dashboard", "email"),
        "medium": ("dashboard", "email", "slack"),
        "high": ("dashboard", "email", "slack", "pagerduty"),
        "critical": ("dashboard", "email", "sms", "slack", "pagerduty"),
    }
)
_ALWAYS_CISO = ("phi_exposure", "security_breach")


def _known_severity(severity: str) -> str:
    if severity not in CHANNELS:
        raise ValueError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    return severity


def channels(severity: str) -> tuple[str, ...]:
    """Where an alert of this severity is sent; the dashboard always."""
    return CHANNELS[_known_severity(severity)]


def escalation_tier(alert_type: str, severity: str) -> str:
    """Who an alert escalates to: the CISO for PHI exposure, security breaches and anything
    critical; a department head for high; a team lead otherwise."""
    _known_severity(severity)
    if alert_type in _ALWAYS_CISO or severity == "critical":
        return "ciso"
    return "department_head" if severity == "high" else "team_lead"


def immediate_escalation(alert_type: str, severity: str) -> bool:
    """A critical PHI exposure or security breach escalates at once, without waiting on the SLA."""
    return _known_severity(severity) == "critical" and alert_type in _ALWAYS_CISO


# --- lifecycle --------------------------------------------------------------------------------

ALERT_STATUSES: tuple[str, ...] = ("active", "acknowledged", "resolved", "dismissed")
ALERT_ACTIONS: tuple[str, ...] = ("acknowledge", "resolve", "dismiss")
ALERT_TRANSITIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "active": MappingProxyType(
            {"acknowledge": "acknowledged", "resolve": "resolved", "dismiss": "dismissed"}
        ),
        "acknowledged": MappingProxyType({"resolve": "resolved", "dismiss": "dismissed"}),
        "resolved": MappingProxyType({}),
        "dismissed": MappingProxyType({}),
    }
)


class AlertTransitionRefused(ValueError):
    """An action that the alert's status does not allow; the message lists the allowed ones."""


def check_transition(current: str, action: str) -> str:
    """The status an alert in ``current`` takes after ``action``, or AlertTransitionRefused."""
    if current not in ALERT_TRANSITIONS:
        raise AlertTransitionRefused(
            f"unknown alert status {current!r}; known: {', '.join(ALERT_STATUSES)}"
        )
    allowed = ALERT_TRANSITIONS[current]
    if action not in allowed:
        choices = ", ".join(allowed) if allowed else f"none, {current} is final"
        raise AlertTransitionRefused(
            f"cannot {action} an alert that is {current}; allowed: {choices}"
        )
    return allowed[action]


def response_time_seconds(raised_at: datetime, resolved_at: datetime) -> int:
    """Whole seconds from raising to resolving; never negative (a clock that ran behind gives 0)."""
    return max(0, int((resolved_at - raised_at).total_seconds()))
