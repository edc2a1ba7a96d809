"""An event's risk score and escalation (docs/domain.md#scoring-and-escalation): golden cases from real events, the level
bounds, the escalation paths, and properties over arbitrary violations."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_governance.engine.mapping import Violation, map_event
from spectral_governance.engine.normalizer import SEVERITIES, normalize
from spectral_governance.engine.scoring import (
    DEFAULT_PATH,
    FDA_PATH,
    PHI_BREACH_PATH,
    EventRisk,
    score_event,
)
from spectral_governance.testing import CLINICAL_FACTS

SEPSIS = replace(CLINICAL_FACTS, risk_level="high")
IMAGING = replace(
    SEPSIS, name="Chest CT Triage", department="Imaging", category="diagnostic_imaging"
)


def violation(
    severity: str,
    control: str = "GOVERN-5.1",
    framework: str = "NIST_AI_RMF",
    reporting: bool = False,
) -> Violation:
    return Violation(framework, control, "A control", "deviation", severity, reporting, None)


def test_the_paths_use_persona_tags() -> None:
    assert PHI_BREACH_PATH == ("privacy_officer", "ciso", "compliance_officer", "board")
    assert FDA_PATH == ("compliance_officer", "ciso", "clinical_owner", "board")
    assert DEFAULT_PATH == ("ciso", "compliance_officer", "board")


def test_no_violations_is_low_risk() -> None:
    assert score_event([]) == EventRisk(0, "low", (), False, ())


def test_a_phi_exposure_in_california() -> None:
    """Three critical reportable violations; 164.402 sends it to the privacy officer first."""
    event = normalize("phi_exposure", payload={"phi_count": 3})
    risk = score_event(map_event(event, replace(SEPSIS, organization_state="CA")))
    assert risk == EventRisk(
        30,
        "critical",
        ("3 critical violations", "PHI breach detected", "Regulatory reporting required"),
        True,
        PHI_BREACH_PATH,
    )


def test_a_phi_breach_is_recognized_whatever_the_event_was_called() -> None:
    """The reference only said "PHI breach detected" for the legacy phi_leakage type."""
    for name in ("phi_exposure", "phi_leakage", "patient_data_leak"):
        risk = score_event(map_event(normalize(name), SEPSIS))
        assert "PHI breach detected" in risk.factors
        assert risk.path == PHI_BREACH_PATH


def test_drift_in_an_fda_relevant_system() -> None:
    event = normalize("model_drift", payload={"accuracy_drop": 0.12})
    risk = score_event(map_event(event, IMAGING))
    assert risk == EventRisk(
        10,
        "critical",
        ("2 high-severity violations",),
        True,
        FDA_PATH,
    )


def test_drift_elsewhere_goes_to_the_ciso() -> None:
    event = normalize("model_drift", payload={"accuracy_drop": 0.12})
    assert score_event(map_event(event, SEPSIS)) == EventRisk(
        5, "high", ("1 high-severity violation",), False, ()
    )
    worse = normalize(
        "prediction_accuracy_drop", payload={"accuracy_drop": 0.12, "error_rate": 0.08}
    )
    risk = score_event(map_event(worse, SEPSIS))
    assert risk == EventRisk(10, "critical", ("2 high-severity violations",), True, DEFAULT_PATH)


def test_a_single_high_violation_is_not_escalated() -> None:
    risk = score_event(map_event(normalize("prompt_injection_attempt"), SEPSIS))
    assert risk == EventRisk(5, "high", ("1 high-severity violation",), False, ())


def test_an_fda_violation_without_escalation_has_no_path() -> None:
    risk = score_event(map_event(normalize("model_version_mismatch"), IMAGING))
    assert risk == EventRisk(2, "medium", (), False, ())


def test_a_critical_violation_escalates() -> None:
    risk = score_event(map_event(normalize("data_breach_attempt"), SEPSIS))
    assert risk == EventRisk(10, "critical", ("1 critical violation",), True, DEFAULT_PATH)


def test_reporting_alone_escalates() -> None:
    risk = score_event([violation("low", reporting=True)])
    assert risk == EventRisk(1, "low", ("Regulatory reporting required",), True, DEFAULT_PATH)


def test_fda_path_needs_an_fda_violation_and_164_402_wins() -> None:
    fda = violation("critical", "FDA-CLINICAL-VALIDATION", "FDA_SAMD")
    assert score_event([violation("high"), fda]).path == FDA_PATH
    breach = violation("critical", "164.402", "HIPAA")
    assert score_event([fda, breach]).path == PHI_BREACH_PATH
    assert score_event([violation("critical", "164.308(a)(4)", "HIPAA")]).path == DEFAULT_PATH


@pytest.mark.parametrize(
    ("severities", "score", "level"),
    [
        (["low"], 1, "low"),
        (["medium"], 2, "medium"),
        (["low", "low", "low", "low"], 4, "medium"),
        (["high"], 5, "high"),
        (["high", "medium", "medium"], 9, "high"),
        (["critical"], 10, "critical"),
        (["high", "high"], 10, "critical"),
        (["critical"] * 12, 120, "critical"),  # uncapped
    ],
)
def test_score_and_level(severities: list[str], score: int, level: str) -> None:
    risk = score_event([violation(s) for s in severities])
    assert (risk.score, risk.level) == (score, level)


def test_an_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown severities"):
        score_event([violation("severe")])


violations_strategy = st.lists(
    st.builds(
        Violation,
        framework_id=st.sampled_from(["HIPAA", "NIST_AI_RMF", "FDA_SAMD", "CA_BREACH"]),
        control_id=st.sampled_from(["164.402", "164.312(b)", "MANAGE-4.1", "FDA-PMS.GMLP10"]),
        control_name=st.just("A control"),
        type=st.sampled_from(["breach", "deviation", "threshold_exceeded", "state_regulation"]),
        severity=st.sampled_from(SEVERITIES),
        requires_reporting=st.booleans(),
        reporting_deadline_days=st.none() | st.integers(1, 365),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(violations=violations_strategy)
def test_any_violations_score_consistently(violations: list[Violation]) -> None:
    risk = score_event(violations)
    assert risk == score_event(list(reversed(violations)))  # order does not matter
    points = {"critical": 10, "high": 5, "medium": 2, "low": 1}
    assert risk.score == sum(points[v.severity] for v in violations)
    bounds = [(10, "critical"), (5, "high"), (2, "medium"), (0, "low")]
    assert risk.level == next(name for bound, name in bounds if risk.score >= bound)
    severities = [v.severity for v in violations]
    assert risk.escalate == (
        "critical" in severities
        or severities.count("high") >= 2
        or any(v.requires_reporting for v in violations)
    )
    assert bool(risk.path) == risk.escalate
    if risk.escalate:
        assert risk.path[-1] == "board"
        assert risk.path[0] == (
            "privacy_officer"
            if any(v.control_id == "164.402" for v in violations)
            else "compliance_officer"
            if any(v.framework_id == "FDA_SAMD" for v in violations)
            else "ciso"
        )
    assert ("Regulatory reporting required" in risk.factors) == any(
        v.requires_reporting for v in violations
    )


# --- a system's standing (issue 17, section 5) ---------------------------------------------------


def test_a_systems_posture_follows_its_findings() -> None:
    from spectral_governance.engine.scoring import SystemRisk, system_risk

    assert system_risk([], []) == SystemRisk(0, "ok")
    assert system_risk([], ["low", "low"]) == SystemRisk(2, "ok")
    assert system_risk(["medium"] * 5, []) == SystemRisk(10, "drift")
    assert system_risk(["high"], []) == SystemRisk(5, "drift")
    # Four critical open violations (a PHI exposure's) are a critical system.
    assert system_risk(["critical"] * 4, ["critical"]) == SystemRisk(50, "critical")
    assert system_risk(["critical"] * 3, []) == SystemRisk(30, "critical")
    assert system_risk(["critical"] * 20, []).score == 100  # capped
