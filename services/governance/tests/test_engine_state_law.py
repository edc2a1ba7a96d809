"""State law (docs/domain.md#state-law): golden cases per rule (gated in, state not in play, before the
effective date, severity, a control the mapping already produced), the table's checks, and
properties over arbitrary events, systems and days."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import SystemFacts, applicability, state_gate
from spectral_governance.engine.mapping import Violation, map_event
from spectral_governance.engine.normalizer import SEVERITIES, Normalized, normalize, rules
from spectral_governance.engine.state_law import (
    Regulation,
    apply_state_law,
    parse_state_law,
    state_law_rules,
)
from spectral_governance.testing import CLINICAL_FACTS

ON = date(2026, 6, 1)
# Emergency is a California high-risk and a Colorado high-impact department.
CALIFORNIA = replace(CLINICAL_FACTS, organization_state="CA")
COLORADO = replace(CLINICAL_FACTS, serves_states=("CO",))
HIRING = replace(
    CLINICAL_FACTS, name="Nurse Hiring Screener", department="HR", serves_states=("NY",)
)
# Employment AI by name and category, but not the mapping's strict "HR or hiring" test.
RECRUITING = replace(
    CLINICAL_FACTS,
    name="Recruitment Ranker",
    department="Talent Acquisition",
    category="workforce",
    organization_state="NY",
)
TEXAS = CLINICAL_FACTS


def rows(violations: list[Violation]) -> list[tuple[str, str, str, bool, int | None]]:
    return [
        (v.control_id, v.type, v.severity, v.requires_reporting, v.reporting_deadline_days)
        for v in violations
    ]


def state_law(event_type: str, facts: SystemFacts, on: date = ON, **kw: Any) -> list[Violation]:
    """The state-law pass after the mapping, as the pipeline runs it."""
    event = normalize(event_type, **kw)
    return apply_state_law(event, facts, on, map_event(event, facts))


def test_the_table_has_domains_six_rules() -> None:
    table = state_law_rules().regulations
    assert [(r.control, r.state, r.framework, r.reporting_days) for r in table] == [
        ("CA-SB1047-1", "CA", "CA_SB1047", 30),
        ("CA-SB1047-2", "CA", "CA_SB1047", 10),
        ("CO-AI-1", "CO", "CO_AI_ACT", 60),
        ("CO-AI-2", "CO", "CO_AI_ACT", None),
        ("NYC-LL144-1", "NY", "NYC_LL144", 90),
        ("NYC-LL144-2", "NY", "NYC_LL144", None),
    ]
    assert all(r.sunset is None for r in table)


# --- CA-SB1047-1: safety testing ---------------------------------------------------------------


def test_ca_sb1047_1_drift_in_a_california_high_risk_department() -> None:
    found = state_law("model_drift", CALIFORNIA, payload={"accuracy_drop": 0.12})
    assert rows(found) == [("CA-SB1047-1", "state_regulation", "high", True, 30)]
    assert found[0].framework_id == "CA_SB1047"
    assert found[0].control_name == "Safety testing of high-risk AI"  # the catalog title


def test_ca_sb1047_1_takes_the_rules_severity_unless_the_event_is_critical() -> None:
    low_drift = state_law("model_drift", CALIFORNIA, severity="low")
    assert rows(low_drift) == [("CA-SB1047-1", "state_regulation", "high", True, 30)]
    critical_drift = state_law("model_drift", CALIFORNIA, severity="critical")
    assert rows(critical_drift) == [("CA-SB1047-1", "state_regulation", "critical", True, 30)]
    stated_high = state_law("clinical_accuracy_failure", CALIFORNIA, severity="high")
    assert rows(stated_high) == [("CA-SB1047-1", "state_regulation", "critical", True, 30)]


def test_ca_sb1047_1_gate_risk_or_department() -> None:
    primary = replace(CALIFORNIA, department="Primary Care", risk_level="low")
    assert state_law("model_drift", primary) == []
    assert [
        v.control_id for v in state_law("model_drift", replace(primary, risk_level="high"))
    ] == ["CA-SB1047-1"]
    assert [
        v.control_id for v in state_law("model_drift", replace(primary, department="Cardiology"))
    ] == ["CA-SB1047-1"]


# --- CA-SB1047-2: incident reporting ------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["phi_exposure", "unauthorized_data_access"])
def test_ca_sb1047_2_incidents_in_california(event_type: str) -> None:
    found = state_law(event_type, CALIFORNIA)
    assert rows(found) == [("CA-SB1047-2", "state_regulation", "critical", True, 10)]
    assert found[0].framework_id == "CA_SB1047"
    assert found[0].control_name == "AI safety incident reporting"
    stated_high = state_law(event_type, CALIFORNIA, severity="high")
    assert rows(stated_high)[0][2] == "critical"  # the rule's severity


def test_harmful_output_yields_ca_sb1047_2_once() -> None:
    """The mapping produces CA-SB1047-2 for every harmful output; state law adds only -1."""
    event = normalize("harmful_output")
    mapped = map_event(event, CALIFORNIA)
    assert [v.control_id for v in mapped] == ["CA-SB1047-2"]
    added = apply_state_law(event, CALIFORNIA, ON, mapped)
    assert rows(added) == [("CA-SB1047-1", "state_regulation", "critical", True, 30)]
    without = apply_state_law(event, CALIFORNIA, ON)
    assert [v.control_id for v in without] == ["CA-SB1047-1", "CA-SB1047-2"]


# --- CO-AI-1: algorithmic impact assessment -----------------------------------------------------


@pytest.mark.parametrize(
    "event_type", ["bias_detected", "disparate_impact", "fairness_threshold_violation"]
)
def test_co_ai_1_fairness_events_in_colorado(event_type: str) -> None:
    found = state_law(event_type, COLORADO, severity="medium")
    assert rows(found) == [("CO-AI-1", "state_regulation", "high", True, 60)]
    assert found[0].framework_id == "CO_AI_ACT"
    assert rows(state_law(event_type, COLORADO, severity="critical"))[0][2] == "critical"


def test_co_ai_1_gate_high_impact_department_or_risk() -> None:
    clinic = replace(COLORADO, department="Dermatology")
    assert state_law("bias_detected", clinic, severity="medium") == []
    assert state_law("bias_detected", replace(clinic, risk_level="critical"), severity="medium")
    finance = replace(COLORADO, department="Finance", uses_phi=False)
    assert [v.control_id for v in state_law("bias_detected", finance)] == ["CO-AI-1"]


# --- CO-AI-2: consumer notice -------------------------------------------------------------------


def test_co_ai_2_explainability_in_colorado() -> None:
    found = state_law("explainability_failure", COLORADO)
    assert rows(found) == [("CO-AI-2", "state_regulation", "medium", False, None)]
    assert found[0].control_name == "Consumer notice of AI use"
    # the rule's own severity, even below the event's; critical stays critical
    assert rows(state_law("explainability_failure", COLORADO, severity="high"))[0][2] == "medium"
    assert rows(state_law("explainability_failure", COLORADO, severity="critical"))[0][2] == (
        "critical"
    )


# --- NYC-LL144-1: bias audit --------------------------------------------------------------------


def test_nyc_ll144_1_bias_in_recruitment_ai_serving_new_york() -> None:
    found = state_law("bias_detected", RECRUITING, severity="medium")
    assert rows(found) == [("NYC-LL144-1", "state_regulation", "high", True, 90)]
    assert found[0].framework_id == "NYC_LL144"
    assert found[0].control_name == "AEDT bias audit"
    explain = state_law("explainability_failure", RECRUITING)
    assert [v.control_id for v in explain] == ["NYC-LL144-1", "NYC-LL144-2"]


def test_nyc_ll144_1_not_twice_when_the_mapping_found_the_bias_audit() -> None:
    """Above the NYC variance the mapping's NYC-BIAS row is NYC-LL144-1 already."""
    event = normalize("bias_detected", severity="medium", payload={"bias_score": 0.06})
    mapped = map_event(event, HIRING)
    assert "NYC-LL144-1" in [v.control_id for v in mapped]
    assert apply_state_law(event, HIRING, ON, mapped) == []
    low = normalize("bias_detected", severity="medium", payload={"bias_score": 0.01})
    assert [v.control_id for v in apply_state_law(low, HIRING, ON, map_event(low, HIRING))] == [
        "NYC-LL144-1"
    ]


def test_nyc_ll144_gate_employment_ai() -> None:
    clinical_in_ny = replace(CLINICAL_FACTS, serves_states=("NY",))
    assert state_law("bias_detected", clinical_in_ny) == []
    assert state_law("explainability_failure", clinical_in_ny) == []


# --- NYC-LL144-2: candidate notice --------------------------------------------------------------


def test_nyc_ll144_2_explainability_in_hiring_ai() -> None:
    """The mapping gives NYC-LL144-1 for an HR system; state law adds the candidate notice."""
    found = state_law("explainability_failure", HIRING, severity="high")
    assert rows(found) == [("NYC-LL144-2", "state_regulation", "medium", False, None)]
    assert found[0].control_name == "AEDT candidate notice"


# --- every rule: the state, the dates ------------------------------------------------------------

CASES = [
    ("CA-SB1047-1", "model_drift", CALIFORNIA, date(2024, 1, 1)),
    ("CA-SB1047-2", "phi_exposure", CALIFORNIA, date(2024, 1, 1)),
    ("CO-AI-1", "bias_detected", COLORADO, date(2024, 2, 1)),
    ("CO-AI-2", "explainability_failure", COLORADO, date(2024, 2, 1)),
    ("NYC-LL144-1", "bias_detected", RECRUITING, date(2023, 7, 5)),
    ("NYC-LL144-2", "explainability_failure", HIRING, date(2023, 7, 5)),
]


@pytest.mark.parametrize(("control", "event_type", "facts", "effective"), CASES)
def test_each_rule_only_where_its_state_is_in_play(
    control: str, event_type: str, facts: SystemFacts, effective: date
) -> None:
    assert control in [v.control_id for v in state_law(event_type, facts)]
    elsewhere = replace(facts, organization_state="TX", serves_states=("NV", "TX"))
    assert control not in [v.control_id for v in state_law(event_type, elsewhere)]
    assert control not in [
        v.control_id
        for v in state_law(event_type, replace(facts, organization_state=None, serves_states=()))
    ]


@pytest.mark.parametrize(("control", "event_type", "facts", "effective"), CASES)
def test_each_rule_only_from_its_effective_date(
    control: str, event_type: str, facts: SystemFacts, effective: date
) -> None:
    assert control in [v.control_id for v in state_law(event_type, facts, effective)]
    before = effective - timedelta(days=1)
    assert control not in [v.control_id for v in state_law(event_type, facts, before)]


def test_served_states_count_like_the_organizations() -> None:
    serving = replace(TEXAS, serves_states=("NV", "CA"))
    assert [v.control_id for v in state_law("phi_exposure", serving)] == ["CA-SB1047-2"]
    assert state_law("phi_exposure", TEXAS) == []


def test_other_events_trigger_no_state_rule() -> None:
    for facts in (CALIFORNIA, COLORADO, HIRING, RECRUITING):
        assert state_law("rate_limit_exceeded", facts) == []
        assert state_law("authentication_failure", facts) == []


def test_a_rule_is_in_force_up_to_its_sunset() -> None:
    row = Regulation.model_validate(
        {
            **state_law_rules().regulations[0].model_dump(),
            "sunset": date(2025, 12, 31),
        }
    )
    assert row.in_force(date(2024, 1, 1))
    assert row.in_force(date(2025, 12, 31))
    assert not row.in_force(date(2026, 1, 1))
    assert not row.in_force(date(2023, 12, 31))


def test_state_gate_is_applicabilitys_verdict() -> None:
    for facts in (CALIFORNIA, COLORADO, HIRING, RECRUITING, TEXAS):
        verdicts = {v.framework_id: v for v in applicability(facts, load_catalog()).frameworks}
        for framework in ("CA_SB1047", "CA_BREACH", "CO_AI_ACT", "NYC_LL144"):
            assert state_gate(facts, framework) == verdicts[framework]
    verdict = state_gate(CALIFORNIA, "CA_SB1047")
    assert verdict.applies
    assert "Emergency is a high-risk department" in verdict.reason
    with pytest.raises(KeyError):
        state_gate(CALIFORNIA, "HIPAA")


# --- the table's checks -------------------------------------------------------------------------


def table_with(**changes: Any) -> dict[str, Any]:
    row = {
        "control": "CO-AI-2",
        "name": "Consumer Notice Requirements",
        "state": "CO",
        "regulation": "Colorado AI Act",
        "framework": "CO_AI_ACT",
        "gate": "CO_AI_ACT",
        "effective": "2024-02-01",
        "events": {"explainability_failure": "medium"},
    }
    return {"regulations": [{**row, **changes}]}


def test_a_valid_row_parses() -> None:
    assert parse_state_law(table_with()).regulations[0].control == "CO-AI-2"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"control": "CO-AI-9"}, "not in the catalog"),
        ({"framework": "CA_SB1047"}, "is in CO_AI_ACT"),
        ({"events": {"explanation_failure": "medium"}}, "unknown event types"),
        ({"events": {"explainability_failure": "severe"}}, "validation error"),
        ({"gate": "HIPAA"}, "validation error"),
        ({"state": "Colorado"}, "validation error"),
        ({"sunset": "2024-01-01"}, "before"),
        ({"reporting_days": 30}, "without reporting"),
        ({"location": "CO"}, "Extra inputs"),
    ],
)
def test_a_bad_row_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, ValidationError), match=message):
        parse_state_law(table_with(**changes))


def test_two_rows_for_one_control_are_refused() -> None:
    table = table_with()
    with pytest.raises(ValueError, match="more than one row"):
        parse_state_law({"regulations": table["regulations"] * 2})


# --- properties ----------------------------------------------------------------------------------

facts_strategy = st.builds(
    SystemFacts,
    name=st.sampled_from(["Sepsis Watch", "Nurse hiring", "Recruitment AI", ""])
    | st.text(max_size=20),
    department=st.sampled_from(
        ["Imaging", "Emergency", "HR", "Finance", "Cardiology", "IT", "Dermatology", ""]
    )
    | st.text(max_size=12),
    category=st.sampled_from(["diagnostic_imaging", "workforce", "other"]),
    uses_phi=st.booleans(),
    fda_status=st.sampled_from(["unknown", "cleared_510k"]),
    fda_submission_number=st.none(),
    risk_level=st.sampled_from(["low", "medium", "high", "critical"]),
    serves_states=st.lists(st.sampled_from(["CA", "CO", "NY", "TX"]), max_size=3).map(tuple),
    has_vendor=st.booleans(),
    organization_state=st.none() | st.sampled_from(["CA", "CO", "NY", "TX"]),
)


@settings(max_examples=300, deadline=None)
@given(
    event_type=st.sampled_from(sorted(rules().types)) | st.text(max_size=20),
    severity=st.none() | st.sampled_from(SEVERITIES),
    variance=st.none() | st.floats(0, 0.5),
    facts=facts_strategy,
    on=st.dates(date(2023, 1, 1), date(2030, 12, 31)),
)
def test_any_event_anywhere_any_day(
    event_type: str, severity: str | None, variance: float | None, facts: SystemFacts, on: date
) -> None:
    payload = {} if variance is None else {"bias_score": variance, "accuracy_drop": variance}
    event: Normalized = normalize(event_type, severity=severity, payload=payload)
    mapped = map_event(event, facts)
    found = apply_state_law(event, facts, on, mapped)
    assert found == apply_state_law(event, facts, on, mapped)
    controls = [v.control_id for v in [*mapped, *found]]
    assert len(controls) == len(set(controls))  # one event, each control at most once
    states = {facts.organization_state, *facts.serves_states}
    by_control = {r.control: r for r in state_law_rules().regulations}
    for violation in found:
        row = by_control[violation.control_id]
        assert violation.type == "state_regulation"
        assert row.state in states and row.in_force(on) and event.event_type in row.events
        assert state_gate(facts, row.gate).applies
        if event.severity == "critical":
            assert violation.severity == "critical"
        else:
            assert violation.severity == row.events[event.event_type]
        assert violation.requires_reporting or violation.reporting_deadline_days is None
