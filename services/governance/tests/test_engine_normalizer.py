"""The event normalizer (docs/domain.md#the-normalizer): golden cases for every rule and the fixed
order, exact names before keywords, and properties over arbitrary input."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_governance.engine.normalizer import SEVERITIES, known_types, normalize, number, rules


def test_the_taxonomy_is_domains_twenty_types_in_six_categories() -> None:
    types = rules().taxonomy.event_types
    assert len(types) == 20
    per_category: dict[str, int] = {}
    for event_type in types:
        per_category[event_type.category] = per_category.get(event_type.category, 0) + 1
    assert per_category == {
        "privacy": 2,
        "security": 5,
        "performance": 3,
        "safety": 4,
        "fairness": 3,
        "quality": 3,
    }
    assert rules().taxonomy.aliases == {
        "performance_degradation": "prediction_accuracy_drop",
        "high_latency": "latency_threshold_exceeded",
        "latency": "latency_threshold_exceeded",
        "drift": "model_drift",
        "phi_leakage": "phi_exposure",
        "bias": "bias_detected",
        # LangSmith's failed runs (issue 17): the performance rules read their error_rate.
        "error": "prediction_accuracy_drop",
        # The sources' records of a run or a model call: observations of performance.
        "run": "prediction_accuracy_drop",
        "generation": "prediction_accuracy_drop",
    }


@pytest.mark.parametrize("event_type", [t.type for t in rules().taxonomy.event_types])
def test_a_canonical_name_is_never_reclassified(event_type: str) -> None:
    normalized = normalize(event_type.upper(), metric="token latency patient")
    assert (normalized.event_type, normalized.matched_by, normalized.confidence) == (
        event_type,
        "exact",
        1.0,
    )
    kind = rules().types[event_type]
    # Unlabelled and unmeasured: a measured type is of low severity (its thresholds speak), any
    # other type has its taxonomy default.
    assert normalized.severity == ("low" if kind.measured else kind.default_severity)


@pytest.mark.parametrize(
    ("event_type", "metric", "payload", "expected", "rule", "severity", "metrics"),
    [
        (
            "alert",
            "phi_detected",
            {"phi_count": "3"},
            "phi_exposure",
            "P1",
            "critical",
            {"phi_exposure_count": 3.0},
        ),
        ("alert", "pii", {}, "phi_exposure", "P1", "critical", {"phi_exposure_count": 1.0}),
        (
            "access_denied",
            None,
            {"attempt_count": 7},
            "unauthorized_data_access",
            "P2",
            "high",
            {"value": 7.0},
        ),
        (
            "jailbreak",
            None,
            {"threat_score": 0.9},
            "prompt_injection_attempt",
            "S1",
            "high",
            {"value": 0.9},
        ),
        (
            "login_error",
            None,
            {"failure_count": 5},
            "authentication_failure",
            "S2",
            "medium",
            {"value": 5.0},
        ),
        ("throttle", None, {"rate": 120}, "rate_limit_exceeded", "S3", "medium", {"value": 120.0}),
        (
            "malformed",
            None,
            {"error_count": 2},
            "input_validation_failure",
            "S4",
            "low",
            {"value": 2.0},
        ),
        ("rollback", None, {}, "model_version_mismatch", "S5", "medium", {}),
        ("data_drift", None, {"psi": 0.8}, "model_drift", "F1", "critical", {"value": 0.8}),
        ("data_drift", None, {"psi": 0.6}, "model_drift", "F1", "high", {"value": 0.6}),
        ("data_drift", None, {"psi": 0.35}, "model_drift", "F1", "medium", {"value": 0.35}),
        ("data_drift", None, {"psi": 0.1}, "model_drift", "F1", "low", {"value": 0.1}),
        # Nothing measured and no severity stated: low (issue 17), not a default.
        ("data_drift", None, {}, "model_drift", "F1", "low", {}),
        (
            "alert",
            "accuracy",
            {"accuracy_drop": 0.12},
            "prediction_accuracy_drop",
            "F2",
            "high",
            {"accuracy_drop": 0.12},
        ),
        (
            "alert",
            "accuracy",
            {"performance_drop": 0.25},
            "prediction_accuracy_drop",
            "F2",
            "critical",
            {"accuracy_drop": 0.25},
        ),
        (
            "alert",
            "recall",
            {"error_rate": 0.03},
            "prediction_accuracy_drop",
            "F2",
            "low",  # its scale reads the accuracy drop; the error rate speaks through MANAGE-1.1
            {"error_rate": 0.03},
        ),
        (
            "trace",
            "response_time",
            {"response_time": 5200},
            "latency_threshold_exceeded",
            "F3",
            "critical",
            {"value": 5200.0},
        ),
        (
            "trace",
            "duration",
            {"duration": 1500, "increase_pct": 0.4},
            "latency_threshold_exceeded",
            "F3",
            "medium",
            {"value": 1500.0, "latency_increase_pct": 0.4},
        ),
        (
            "misdiagnosis",
            None,
            {"clinical_accuracy": 0.7},
            "clinical_accuracy_failure",
            "C1",
            "critical",
            {"accuracy_drop": 0.7},
        ),
        (
            "missed_case",
            None,
            {"fn_rate": 0.2},
            "false_negative_alert",
            "C2",
            "high",
            {"value": 0.2},
        ),
        ("false_alarm", None, {"count": 4}, "false_positive_alert", "C3", "medium", {"value": 4.0}),
        (
            "toxic",
            None,
            {"toxicity_score": 0.95},
            "harmful_output",
            "C4",
            "critical",
            {"value": 0.95},
        ),
        (
            "demographic",
            None,
            {"bias_score": 0.08},
            "bias_detected",
            "B1",
            "medium",
            {"demographic_variance": 0.08},
        ),
        (
            "four_fifths",
            None,
            {"impact_ratio": 0.7},
            "disparate_impact",
            "B2",
            "low",  # measured: its finding comes from the four-fifths thresholds, not a default
            {"impact_ratio": 0.7},
        ),
        (
            "parity",
            None,
            {"threshold_delta": 0.06},
            "fairness_threshold_violation",
            "B3",
            "medium",
            {"demographic_variance": 0.06},
        ),
        (
            "missing_values",
            None,
            {"completeness": 0.8},
            "data_quality_degradation",
            "Q1",
            "medium",
            {"value": 0.8},
        ),
        (
            "shap",
            None,
            {"explainability_score": 0.3},
            "explainability_failure",
            "Q2",
            "low",
            {"value": 0.3},
        ),
    ],
)
def test_every_keyword_rule(
    event_type: str,
    metric: str | None,
    payload: dict[str, Any],
    expected: str,
    rule: str,
    severity: str,
    metrics: dict[str, float],
) -> None:
    normalized = normalize(event_type, metric=metric, payload=payload)
    assert (normalized.event_type, normalized.matched_by, normalized.severity) == (
        expected,
        rule,
        severity,
    )
    assert normalized.metrics == metrics


def test_rules_are_tried_in_order_and_the_first_wins() -> None:
    # "patient" (privacy) comes before "latency" (performance): the reference's order.
    assert normalize("patient_latency").event_type == "phi_exposure"
    # Keywords are whole words: no PHI breach from "demographic", no sign-in failure from "author".
    assert normalize("demographic_shift").event_type == "bias_detected"
    assert normalize("author_changed").matched_by == "unclassified"
    assert normalize("phi-detected").event_type == "phi_exposure"
    assert normalize("alert", metric="Patient record").event_type == "phi_exposure"


def test_aliases_and_the_events_own_severity() -> None:
    aliased = normalize("performance_degradation", payload={"accuracy_drop": 0.3})
    assert (aliased.event_type, aliased.matched_by, aliased.severity) == (
        "prediction_accuracy_drop",
        "alias",
        "critical",  # measured, and the event said nothing
    )
    stated = normalize("model_drift", severity="Low", payload={"drift_score": 0.9})
    assert stated.severity == "low"  # the event's own severity wins for an exact type


def test_an_event_nothing_recognises_is_unclassified() -> None:
    """Issue 17: an unknown type is kept as "unclassified" (confidence 0), not guessed as drift."""
    unknown = normalize("training_complete", metric="val_accuracy_ok", metric_value="0.82")
    # "accuracy" fires F2 here; a text with no keyword at all is unclassified:
    assert unknown.matched_by == "F2"
    fallback = normalize("experiment_run", metric_value="7", severity="critical")
    assert (fallback.event_type, fallback.matched_by, fallback.severity, fallback.confidence) == (
        "unclassified",
        "unclassified",
        "critical",
        0.0,
    )
    assert fallback.metrics == {"value": 7.0}
    assert normalize("experiment_run", severity="bogus").severity == "low"
    assert "model_drift" in known_types() and "drift" in known_types()
    assert "unclassified" not in known_types()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        ("2.5", 2.5),
        (" 3 ", 3.0),
        (True, None),
        ("nan", None),
        ("inf", None),
        ([1], None),
        (None, None),
        ("x", None),
    ],
)
def test_numbers_from_payloads(value: Any, expected: float | None) -> None:
    assert number(value) == expected


payloads = st.dictionaries(
    st.text(max_size=20),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=True)
        | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=10,
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    event_type=st.text(max_size=40),
    metric=st.none() | st.text(max_size=40),
    metric_value=st.none() | st.text(max_size=10) | st.floats(allow_nan=True) | st.integers(),
    severity=st.none() | st.text(max_size=10) | st.sampled_from(SEVERITIES),
    payload=payloads,
)
def test_any_input_normalizes_deterministically(
    event_type: str, metric: str | None, metric_value: Any, severity: Any, payload: dict[str, Any]
) -> None:
    first = normalize(
        event_type, metric=metric, metric_value=metric_value, severity=severity, payload=payload
    )
    again = normalize(
        event_type, metric=metric, metric_value=metric_value, severity=severity, payload=payload
    )
    assert first == again
    assert first.event_type in rules().types or first.event_type == "unclassified"
    assert first.severity in SEVERITIES
    assert (0 < first.confidence <= 1) is (first.event_type != "unclassified")
    assert all(math.isfinite(v) for v in first.metrics.values())


def test_an_integer_past_any_float_is_no_number() -> None:
    event = normalize("performance_degradation", payload={"accuracy_drop": 10**400})
    assert event.metrics == {}
