"""Compliance mapping (docs/domain.md#from-events-to-controls): golden cases per event type, the cases issue 7 names,
thresholds within their guardrails, and properties over arbitrary events."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import SystemFacts
from spectral_governance.engine.mapping import (
    ThresholdRefused,
    Violation,
    map_event,
    mapping_rules,
    thresholds,
)
from spectral_governance.engine.normalizer import SEVERITIES, normalize, rules
from spectral_governance.testing import CLINICAL_FACTS

SEPSIS = replace(CLINICAL_FACTS, risk_level="high")
IMAGING = replace(
    SEPSIS, name="Chest CT Triage", department="Imaging", category="diagnostic_imaging"
)


def rows(violations: list[Violation]) -> list[tuple[str, str, str, bool, int | None]]:
    return [
        (v.control_id, v.type, v.severity, v.requires_reporting, v.reporting_deadline_days)
        for v in violations
    ]


def test_every_canonical_type_has_rules() -> None:
    assert set(mapping_rules().rules) == set(rules().types)


def test_a_phi_exposure_in_california() -> None:
    """Issue 7: HIPAA 164.402 (60 days), 164.308(a)(1)(ii)(D) (a safeguard: no notice of its
    own, issue 17), and California's breach rule (30)."""
    event = normalize("phi_exposure", payload={"phi_count": 12})
    in_california = replace(SEPSIS, organization_state="CA")
    violations = map_event(event, in_california)
    assert rows(violations) == [
        ("164.402", "breach", "critical", True, 60),
        ("164.308(a)(1)(ii)(D)", "breach", "critical", False, None),
        ("CA-BREACH", "breach", "critical", True, 30),
    ]
    assert [v.framework_id for v in violations] == ["HIPAA", "HIPAA", "CA_BREACH"]
    serving = replace(SEPSIS, serves_states=("NV", "CA"))
    assert "CA-BREACH" in [v.control_id for v in map_event(event, serving)]
    assert "CA-BREACH" not in [v.control_id for v in map_event(event, SEPSIS)]


def test_model_drift_with_an_accuracy_drop_of_twelve_points() -> None:
    """Issue 7: NIST MANAGE-4.1 deviation (high); for an imaging system also FDA post-market
    surveillance, a finding without a report of its own (issue 17: no law sets one)."""
    event = normalize("model_drift", payload={"accuracy_drop": 0.12})
    assert event.severity == "high"
    assert rows(map_event(event, SEPSIS)) == [
        ("MANAGE-4.1", "deviation", "high", False, None),
    ]
    imaging = map_event(event, IMAGING)
    assert rows(imaging)[-1] == ("FDA-PMS.GMLP10", "deviation", "high", False, None)
    assert imaging[-1].control_name == load_catalog().control("FDA-PCCP-2")[1].title  # type: ignore[index]
    small = normalize("model_drift", severity="low", payload={"accuracy_drop": 0.07})
    assert rows(map_event(small, IMAGING)) == [
        ("MANAGE-4.1", "threshold_exceeded", "medium", False, None)
    ]
    assert (
        map_event(normalize("model_drift", severity="low", payload={"accuracy_drop": 0.05}), SEPSIS)
        == []
    )


def test_an_organizations_thresholds_change_the_outcome_within_their_guardrails() -> None:
    """Issue 7: a raised threshold changes the outcome; one beyond its guardrail is refused."""
    event = normalize("model_drift", payload={"accuracy_drop": 0.12})
    raised = thresholds({"drift": {"accuracy_drop_high": 0.15}})
    assert rows(map_event(event, SEPSIS, raised))[0] == (
        "MANAGE-4.1",
        "threshold_exceeded",
        "medium",
        False,
        None,
    )
    higher = thresholds({"drift": {"accuracy_drop_medium": 0.2, "accuracy_drop_fda": 0.2}})
    assert map_event(event, IMAGING, higher) == []
    with pytest.raises(ThresholdRefused, match=r"between 0\.01 and 0\.5"):
        thresholds({"drift": {"accuracy_drop_high": 0.6}})
    with pytest.raises(ThresholdRefused, match="no threshold"):
        thresholds({"drift": {"accuracy_drop_huge": 0.2}})
    assert thresholds()["drift.accuracy_drop_high"] == 0.10


@pytest.mark.parametrize(
    ("event_type", "payload", "facts", "expected"),
    [
        (
            "unauthorized_data_access",
            {},
            SEPSIS,
            [("164.308(a)(4)", "breach", "critical", True, 60)],
        ),
        (
            "data_breach_attempt",
            {},
            SEPSIS,
            [("164.308(a)(6)", "deviation", "critical", False, None)],
        ),
        ("prompt_injection_attempt", {}, SEPSIS, [("MEASURE-2.7", "breach", "high", False, None)]),
        (
            "authentication_failure",
            {},
            SEPSIS,
            [("164.312(d)", "deviation", "medium", False, None)],
        ),
        (
            "rate_limit_exceeded",
            {},
            SEPSIS,
            [("164.312(b)", "threshold_exceeded", "medium", False, None)],
        ),
        (
            "input_validation_failure",
            {},
            SEPSIS,
            [("MEASURE-2.7", "deviation", "low", False, None)],
        ),
        (
            "model_version_mismatch",
            {},
            SEPSIS,
            [("FDA-PCCP.6", "deviation", "medium", False, None)],
        ),
        (
            "latency_threshold_exceeded",
            {"increase_pct": 0.2},
            SEPSIS,
            [("164.312(b)", "deviation", "medium", False, None)],
        ),
        (
            "latency_threshold_exceeded",
            {"increase_pct": 0.5},
            SEPSIS,
            [("164.312(b)", "deviation", "high", False, None)],
        ),
        ("latency_threshold_exceeded", {"increase_pct": 0.1}, SEPSIS, []),
        # Validation findings only for a device (issue 17): not for an Emergency sepsis model.
        ("clinical_accuracy_failure", {}, SEPSIS, []),
        (
            "clinical_accuracy_failure",
            {},
            IMAGING,
            [("FDA-CLINICAL-VALIDATION", "breach", "critical", False, None)],
        ),
        (
            "false_negative_alert",
            {},
            IMAGING,
            [("FDA-ANALYTICAL-VALIDATION", "deviation", "high", False, None)],
        ),
        (
            "false_positive_alert",
            {},
            IMAGING,
            [("FDA-ANALYTICAL-VALIDATION", "deviation", "medium", False, None)],
        ),
        (
            "false_negative_alert",
            {},
            replace(IMAGING, fda_status="not_a_device"),
            [],
        ),
        ("harmful_output", {}, SEPSIS, [("CA-SB1047-2", "breach", "critical", True, 10)]),
        (
            "bias_detected",
            {"bias_score": 0.07},
            SEPSIS,
            [("MEASURE-2.11", "threshold_exceeded", "medium", False, None)],
        ),
        (
            "bias_detected",
            {"bias_score": 0.2},
            SEPSIS,
            [("MEASURE-2.11", "threshold_exceeded", "high", False, None)],
        ),
        (
            "disparate_impact",
            {"impact_ratio": 0.6},
            replace(SEPSIS, department="HR"),
            [
                ("MEASURE-2.11", "threshold_exceeded", "high", False, None),
                ("NYC-LL144-1", "threshold_exceeded", "high", True, None),
            ],
        ),
        (
            "fairness_threshold_violation",
            {"variance": 0.045},
            replace(SEPSIS, name="Nurse hiring"),
            [("NYC-LL144-1", "threshold_exceeded", "high", True, None)],
        ),
        (
            "data_quality_degradation",
            {},
            SEPSIS,
            [("MEASURE-2.4", "threshold_exceeded", "medium", False, None)],
        ),
        (
            "explainability_failure",
            {},
            replace(SEPSIS, department="HR"),
            [("NYC-LL144-1", "deviation", "high", True, 90)],
        ),
        ("explainability_failure", {}, SEPSIS, [("MEASURE-2.9", "deviation", "low", False, None)]),
    ],
)
def test_golden_mappings(
    event_type: str, payload: dict[str, Any], facts: SystemFacts, expected: list[tuple[Any, ...]]
) -> None:
    assert rows(map_event(normalize(event_type, payload=payload), facts)) == expected


def test_a_drift_report_under_every_threshold_raises_nothing_whatever_its_severity() -> None:
    """Issue 17: a 1-point drop, or no metric at all, is no finding; HIPAA 164.312(b) (audit
    controls) is not a drift control, and an unlabelled drift event is not of high severity."""
    for severity in (None, "low", "medium", "high", "critical"):
        for payload in ({"accuracy_drop": 0.01}, {}):
            event = normalize("model_drift", severity=severity, payload=payload)
            assert map_event(event, IMAGING) == [], (severity, payload)
    assert normalize("model_drift", payload={}).severity == "low"
    assert normalize("prediction_accuracy_drop", payload={}).severity == "low"
    assert normalize("bias_detected", payload={}).severity == "low"
    assert normalize("model_drift", payload={"accuracy_drop": 0.01}).severity == "low"


def test_every_rule_of_a_measured_type_needs_a_threshold() -> None:
    types = rules().types
    for event_type, violations in mapping_rules().rules.items():
        if types[event_type].measured:
            for rule in violations:
                assert rule.when is not None and (rule.when.above or rule.when.below), rule


@pytest.mark.parametrize(
    ("ratio", "found"),
    [
        (1.0, False),
        (0.85, False),
        (0.8, False),
        (0.79, True),
        (0.04, True),
        (1.25, False),
        (1.3, True),
        (3.0, True),
    ],
)
def test_disparate_impact_follows_the_four_fifths_rule(ratio: float, found: bool) -> None:
    """Issue 17: parity (1.0) is no finding; a ratio below 0.8, or above its inverse 1.25, is."""
    event = normalize("disparate_impact", payload={"impact_ratio": ratio})
    controls = [v.control_id for v in map_event(event, SEPSIS)]
    assert controls == (["MEASURE-2.11"] if found else [])


def test_violations_carry_the_catalogs_title() -> None:
    """One control, one name: the NIST subcategory cited is the one that matches the rule."""
    catalog = load_catalog()
    cases = {
        "prompt_injection_attempt": ("MEASURE-2.7", {}),
        "bias_detected": ("MEASURE-2.11", {"bias_score": 0.2}),
        "explainability_failure": ("MEASURE-2.9", {}),
        "data_quality_degradation": ("MEASURE-2.4", {}),
    }
    for event_type, (control, payload) in cases.items():
        (found,) = map_event(normalize(event_type, payload=payload), SEPSIS)
        resolved = catalog.control(control)
        assert resolved is not None
        assert (found.control_id, found.control_name) == (control, resolved[1].title)
    assert catalog.control("MEASURE-2.11")[1].title == "Fairness and bias evaluation"  # type: ignore[index]


facts_strategy = st.builds(
    SystemFacts,
    name=st.text(max_size=30),
    department=st.sampled_from(["Imaging", "Pathology", "HR", "Emergency", "IT", ""])
    | st.text(max_size=15),
    category=st.sampled_from(["diagnostic_imaging", "workforce", "other", "pathology"]),
    uses_phi=st.booleans(),
    fda_status=st.sampled_from(["unknown", "cleared_510k", "not_a_device"]),
    fda_submission_number=st.none(),
    risk_level=st.sampled_from(["low", "medium", "high", "critical"]),
    serves_states=st.lists(st.sampled_from(["CA", "CO", "NY", "TX"]), max_size=3).map(tuple),
    has_vendor=st.booleans(),
    organization_state=st.none() | st.sampled_from(["CA", "CO", "NY", "TX"]),
)


@settings(max_examples=300, deadline=None)
@given(
    event_type=st.sampled_from(sorted(rules().types)) | st.text(max_size=30),
    payload=st.dictionaries(
        st.sampled_from(
            ["accuracy_drop", "bias_score", "increase_pct", "impact_ratio", "psi", "x"]
        ),
        st.none() | st.floats(allow_nan=True) | st.text(max_size=6) | st.integers(),
        max_size=4,
    ),
    severity=st.none() | st.sampled_from(SEVERITIES),
    facts=facts_strategy,
)
def test_any_event_maps_deterministically(
    event_type: str, payload: dict[str, Any], severity: str | None, facts: SystemFacts
) -> None:
    event = normalize(event_type, severity=severity, payload=payload)
    first = map_event(event, facts)
    assert first == map_event(event, facts)
    for violation in first:
        assert violation.severity in SEVERITIES
        assert violation.type in ("breach", "deviation", "threshold_exceeded")
        assert violation.requires_reporting or violation.reporting_deadline_days is None


def test_a_failed_run_is_read_by_its_error_rate() -> None:
    """Issue 17: LangSmith's failed runs come as "error"; the error-rate rules fire on the rate
    (NIST MANAGE-1.1; for a device, FDA post-market surveillance),
    and a control two rules raise is one violation."""
    failed = normalize("error", severity="high", payload={"error_rate": 0.03})
    assert failed.event_type == "prediction_accuracy_drop" and failed.matched_by == "alias"
    assert ("MANAGE-1.1", "threshold_exceeded", "medium", False, None) in rows(
        map_event(failed, SEPSIS)
    )
    assert ("FDA-PMS.GMLP10", "deviation", "high", False, None) in rows(map_event(failed, IMAGING))
    spike = normalize("error", severity="high", payload={"error_rate": 0.2})
    assert ("MANAGE-1.1", "threshold_exceeded", "high", False, None) in rows(
        map_event(spike, SEPSIS)
    )
    assert ("FDA-PMS.GMLP10", "deviation", "high", False, None) in rows(map_event(spike, IMAGING))
    both = normalize("error", payload={"error_rate": 0.2, "accuracy_drop": 0.2})
    controls = [v.control_id for v in map_event(both, IMAGING)]
    assert controls.count("FDA-PMS.GMLP10") == 1
    quiet = normalize("error", severity="low", payload={"error_rate": 0.005})
    assert map_event(quiet, IMAGING) == []
