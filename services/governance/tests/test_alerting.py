"""The alert policy (docs/domain.md#alerts-severities-and-slas): event -> alert type for all 20 canonical types,
auto-severity with its strict boundaries, the one SLA table and its overrides, deduplication,
channels, escalation and the lifecycle table, exhaustively."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spectral_governance.alerts.rules import (
    ALERT_ACTIONS,
    ALERT_STATUSES,
    ALERT_TRANSITIONS,
    ALERT_TYPES,
    DEDUP_WINDOW,
    DEFAULT_SLA,
    EVENT_ALERT_TYPES,
    AlertTransitionRefused,
    SlaRefused,
    ack_due,
    alert_type_for,
    auto_severity,
    channels,
    check_transition,
    dedup_key,
    escalation_tier,
    immediate_escalation,
    is_duplicate,
    response_time_seconds,
    sla_table,
)
from spectral_governance.engine.normalizer import SEVERITIES, rules

RAISED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

# --- event -> alert type ----------------------------------------------------------------------

EXPECTED_ALERT_TYPES = {
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


def test_the_alert_types_are_domains_nine() -> None:
    assert ALERT_TYPES == (
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


def test_every_canonical_event_type_has_an_alert_type() -> None:
    canonical = {t.type for t in rules().taxonomy.event_types}
    assert set(EVENT_ALERT_TYPES) == canonical == set(EXPECTED_ALERT_TYPES)
    assert set(EVENT_ALERT_TYPES.values()) <= set(ALERT_TYPES)


@pytest.mark.parametrize(
    ("event_type", "category"),
    [(t.type, t.category) for t in rules().taxonomy.event_types],
)
def test_alert_type_for_each_canonical_event(event_type: str, category: str) -> None:
    assert alert_type_for(event_type, category) == EXPECTED_ALERT_TYPES[event_type]
    assert alert_type_for(f"  {event_type.upper()} ", category) == EXPECTED_ALERT_TYPES[event_type]


@pytest.mark.parametrize(
    ("event_type", "category", "expected"),
    [
        ("phi_leakage", "privacy", "phi_exposure"),  # aliases resolve first
        ("drift", "performance", "model_drift"),
        ("bias", "fairness", "bias_detection"),
        ("high_latency", "performance", "latency_degradation"),
        ("performance_degradation", "performance", "performance_degradation"),
        ("error", "quality", "error_spike"),  # the reference's legacy "error"
        ("run_errors", "performance", "error_spike"),
        ("tool_exception", "safety", "error_spike"),
        ("job_failed", "quality", "error_spike"),
        ("terrorism_check", "safety", "compliance_violation"),  # "error" only as a word
        ("equalized_odds_gap", "fairness", "bias_detection"),
        ("something_new", "privacy", "compliance_violation"),
        ("", "", "compliance_violation"),
    ],
)
def test_alert_type_for_names_outside_the_taxonomy(
    event_type: str, category: str, expected: str
) -> None:
    assert alert_type_for(event_type, category) == expected


# --- auto-severity ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert_type", "metadata", "expected"),
    [
        ("phi_exposure", {}, "critical"),
        ("security_breach", {"percent_degraded": 0}, "critical"),
        ("compliance_violation", {}, "high"),
        ("compliance_violation", {"control_id": "NIST-MEASURE-2.5"}, "high"),
        ("compliance_violation", {"control_id": "164.312(b)"}, "critical"),
        ("compliance_violation", {"controlId": "HIPAA-164.308"}, "critical"),
        ("compliance_violation", {"control_id": "hipaa-audit"}, "critical"),
        ("compliance_violation", {"control_id": "164.308(a)(1)"}, "high"),
        (
            "compliance_violation",
            {"control_id": "164.308(a)(1)", "framework_id": "HIPAA"},
            "critical",
        ),
        ("bias_detection", {"frameworkId": "hipaa"}, "critical"),
        ("bias_detection", {"framework_id": "NIST_AI_RMF"}, "high"),
        ("performance_degradation", {}, "low"),
        ("performance_degradation", {"percent_degraded": 10}, "low"),
        ("performance_degradation", {"percent_degraded": 10.01}, "medium"),
        ("performance_degradation", {"percent_degraded": 50}, "medium"),
        ("performance_degradation", {"percent_degraded": 50.5}, "high"),
        ("latency_degradation", {"percentDegraded": "75"}, "high"),
        ("latency_degradation", {"percent_degraded": "n/a"}, "low"),
        ("error_spike", {}, "medium"),
        ("error_spike", {"error_rate": 0.1}, "medium"),
        ("error_spike", {"errorRate": 0.11}, "high"),
        ("model_drift", {}, "medium"),
        ("model_drift", {"drift_score": 0.7}, "medium"),
        ("model_drift", {"driftScore": 0.71}, "high"),
        ("data_quality", {"drift_score": "0.9"}, "high"),
        ("data_quality", {"drift_score": None, "driftScore": 0.8}, "high"),
    ],
)
def test_auto_severity(alert_type: str, metadata: dict[str, Any], expected: str) -> None:
    assert auto_severity(alert_type, metadata) == expected


def test_auto_severity_refuses_an_unknown_type_and_takes_no_metadata() -> None:
    with pytest.raises(ValueError, match="unknown alert type 'outage'"):
        auto_severity("outage", {})
    assert auto_severity("model_drift", None) == "medium"


@given(st.sampled_from(ALERT_TYPES), st.dictionaries(st.text(), st.none() | st.text()))
def test_auto_severity_is_always_a_severity(alert_type: str, metadata: dict[str, Any]) -> None:
    assert auto_severity(alert_type, metadata) in SEVERITIES


# --- SLA --------------------------------------------------------------------------------------


def test_the_one_sla_table() -> None:
    assert dict(DEFAULT_SLA) == {
        "critical": timedelta(minutes=15),
        "high": timedelta(hours=4),
        "medium": timedelta(hours=24),
        "low": timedelta(hours=72),
    }
    assert sla_table(None) == dict(DEFAULT_SLA)
    assert sla_table({}) == dict(DEFAULT_SLA)
    with pytest.raises(TypeError):
        DEFAULT_SLA["critical"] = timedelta(days=1)  # type: ignore[index]


def test_sla_overrides_are_minutes_per_severity() -> None:
    table = sla_table({"critical": 5, "high": 60})
    assert table == {
        "critical": timedelta(minutes=5),
        "high": timedelta(hours=1),
        "medium": timedelta(hours=24),
        "low": timedelta(hours=72),
    }
    assert sla_table({"critical": 1, "high": 1, "medium": 1, "low": 1})["low"] == timedelta(
        minutes=1
    )
    assert sla_table({"low": 30 * 24 * 60})["low"] == timedelta(days=30)
    assert sla_table({"critical": 240})["critical"] == timedelta(hours=4)  # equal is allowed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"critical": 0}, "critical: 0 minutes is outside 1..43200"),
        ({"low": 30 * 24 * 60 + 1}, "low: 43201 minutes is outside"),
        ({"high": -5}, "high: -5 minutes is outside"),
        ({"urgent": 10}, "unknown severity 'urgent'"),
        ({"high": 90.5}, "high: 90.5 is not a whole number of minutes"),
        ({"high": "90"}, "high: '90' is not a whole number of minutes"),
        ({"high": True}, "high: True is not a whole number of minutes"),
        ({"critical": 241}, "critical (241 min) would be longer than high (240 min)"),
        ({"medium": 3 * 24 * 60 + 1}, "medium (4321 min) would be longer than low (4320 min)"),
        ({"low": 60}, "medium (1440 min) would be longer than low (60 min)"),
    ],
)
def test_sla_overrides_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SlaRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        sla_table(overrides)


def test_sla_refusal_lists_every_problem_and_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="SLA refused") as refused:
        sla_table({"critical": 0, "nope": 1})
    assert isinstance(refused.value, SlaRefused)
    assert "critical: 0" in str(refused.value)
    assert "'nope'" in str(refused.value)


@pytest.mark.parametrize(
    ("severity", "due"),
    [
        ("critical", datetime(2026, 11, 26, 10, 15, tzinfo=UTC)),
        ("high", datetime(2026, 11, 26, 14, 0, tzinfo=UTC)),
        ("medium", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("low", datetime(2026, 11, 29, 10, 0, tzinfo=UTC)),
    ],
)
def test_ack_due_by_the_default_table(severity: str, due: datetime) -> None:
    assert ack_due(severity, RAISED) == due
    assert ack_due(severity, RAISED, DEFAULT_SLA) == due


def test_ack_due_by_an_organizations_table() -> None:
    table = sla_table({"critical": 5})
    assert ack_due("critical", RAISED, table) == RAISED + timedelta(minutes=5)
    with pytest.raises(ValueError, match="unknown severity 'urgent'"):
        ack_due("urgent", RAISED, table)


# --- dedup ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "key"),
    [
        ("Latency 1200ms on /predict", "sys-1:latency_degradation:latency Nms on /predict"),
        ("latency 980ms ON /predict", "sys-1:latency_degradation:latency Nms on /predict"),
        ("  Latency\t 7ms\n\non  /predict  ", "sys-1:latency_degradation:latency Nms on /predict"),
        ("Accuracy 0.91 < 0.95", "sys-1:latency_degradation:accuracy N.N < N.N"),
        ("", "sys-1:latency_degradation:"),
    ],
)
def test_dedup_key_normalizes_case_digits_and_whitespace(message: str, key: str) -> None:
    assert dedup_key("sys-1", "latency_degradation", message) == key


def test_dedup_key_keeps_the_first_100_characters_after_normalizing() -> None:
    long = "A" * 99 + "B" + "C" * 50
    assert dedup_key(7, "error_spike", long) == "7:error_spike:" + "a" * 99 + "b"
    assert dedup_key(7, "error_spike", long + " tail") == dedup_key(7, "error_spike", long)
    # Digits and whitespace collapse before the cut: 200 digits are one "N".
    assert dedup_key(7, "error_spike", "x" + "9" * 200 + "y") == "7:error_spike:xNy"
    assert len(dedup_key(7, "error_spike", "word " * 100).split(":", 2)[2]) == 100


def test_dedup_key_tells_systems_and_types_apart() -> None:
    keys = {
        dedup_key("a", "error_spike", "Boom"),
        dedup_key("b", "error_spike", "Boom"),
        dedup_key("a", "model_drift", "Boom"),
        dedup_key("a", "error_spike", "Bang"),
    }
    assert len(keys) == 4


def test_dedup_window_is_an_hour_strict() -> None:
    assert DEDUP_WINDOW.total_seconds() == 3600
    assert is_duplicate(RAISED, RAISED)
    assert is_duplicate(RAISED, RAISED + timedelta(minutes=59, seconds=59))
    assert not is_duplicate(RAISED, RAISED + timedelta(hours=1))
    assert is_duplicate(RAISED + timedelta(minutes=30), RAISED)  # order does not matter


# --- channels and escalation ------------------------------------------------------------------


def test_channels_per_severity() -> None:
    assert channels("low") == ("dashboard", "email")
    assert channels("medium") == ("dashboard", "email", "slack")
    assert channels("high") == ("dashboard", "email", "slack", "pagerduty")
    assert channels("critical") == ("dashboard", "email", "sms", "slack", "pagerduty")
    with pytest.raises(ValueError, match="unknown severity"):
        channels("urgent")


@pytest.mark.parametrize("alert_type", ALERT_TYPES)
@pytest.mark.parametrize("severity", SEVERITIES)
def test_escalation_tier_and_immediate_escalation(alert_type: str, severity: str) -> None:
    always_ciso = alert_type in ("phi_exposure", "security_breach")
    expected_tier = (
        "ciso"
        if always_ciso or severity == "critical"
        else {"high": "department_head", "medium": "team_lead", "low": "team_lead"}[severity]
    )
    assert escalation_tier(alert_type, severity) == expected_tier
    assert immediate_escalation(alert_type, severity) is (always_ciso and severity == "critical")


def test_escalation_golden_cases() -> None:
    assert escalation_tier("phi_exposure", "low") == "ciso"
    assert escalation_tier("model_drift", "critical") == "ciso"
    assert escalation_tier("model_drift", "high") == "department_head"
    assert escalation_tier("error_spike", "medium") == "team_lead"
    assert immediate_escalation("security_breach", "critical")
    assert not immediate_escalation("security_breach", "high")
    assert not immediate_escalation("compliance_violation", "critical")
    with pytest.raises(ValueError, match="unknown severity"):
        escalation_tier("phi_exposure", "severe")


# --- lifecycle --------------------------------------------------------------------------------

EXPECTED_TRANSITIONS = {
    ("active", "acknowledge"): "acknowledged",
    ("active", "resolve"): "resolved",
    ("active", "dismiss"): "dismissed",
    ("acknowledged", "acknowledge"): None,
    ("acknowledged", "resolve"): "resolved",
    ("acknowledged", "dismiss"): "dismissed",
    ("resolved", "acknowledge"): None,
    ("resolved", "resolve"): None,
    ("resolved", "dismiss"): None,
    ("dismissed", "acknowledge"): None,
    ("dismissed", "resolve"): None,
    ("dismissed", "dismiss"): None,
}


def test_the_transition_table() -> None:
    assert set(ALERT_TRANSITIONS) == set(ALERT_STATUSES)
    table = {
        (status, action): ALERT_TRANSITIONS[status].get(action)
        for status in ALERT_STATUSES
        for action in ALERT_ACTIONS
    }
    assert table == EXPECTED_TRANSITIONS


@pytest.mark.parametrize(("current", "action"), list(EXPECTED_TRANSITIONS))
def test_check_transition(current: str, action: str) -> None:
    expected = EXPECTED_TRANSITIONS[(current, action)]
    if expected is not None:
        assert check_transition(current, action) == expected
        return
    with pytest.raises(AlertTransitionRefused, match=f"cannot {action} an alert that is {current}"):
        check_transition(current, action)


def test_a_refusal_names_the_allowed_actions() -> None:
    with pytest.raises(AlertTransitionRefused, match="allowed: resolve, dismiss"):
        check_transition("acknowledged", "acknowledge")
    with pytest.raises(AlertTransitionRefused, match="allowed: none, resolved is final"):
        check_transition("resolved", "dismiss")
    with pytest.raises(ValueError, match="allowed: acknowledge, resolve, dismiss"):
        check_transition("active", "escalate")
    with pytest.raises(AlertTransitionRefused, match="unknown alert status 'open'"):
        check_transition("open", "resolve")


def test_response_time_in_whole_seconds() -> None:
    assert response_time_seconds(RAISED, RAISED) == 0
    assert response_time_seconds(RAISED, RAISED + timedelta(minutes=4, seconds=5.9)) == 245
    assert response_time_seconds(RAISED, RAISED + timedelta(days=2)) == 172_800
    assert response_time_seconds(RAISED, RAISED - timedelta(seconds=30)) == 0
