"""State law (docs/domain.md#state-law), with the law pass after it as the pipeline runs them:
golden cases per rule (gated in, place not in play, before the effective date, severity, a
control the mapping already produced, a source that is not law), the table's checks, and
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
from spectral_governance.catalog.applicability import (
    STATE_FRAMEWORKS,
    SystemFacts,
    applicability,
    state_gate,
)
from spectral_governance.engine.law import apply_law
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
# Outside Texas, where the clinical facts' organization is (and TRAIGA would apply too).
COLORADO = replace(CLINICAL_FACTS, serves_states=("CO",), organization_state=None)
HIRING = replace(
    CLINICAL_FACTS,
    name="Nurse Hiring Screener",
    department="HR",
    serves_states=("NY",),
    serves_localities=("NYC",),
    organization_state=None,
)
# Employment AI by name and category, but not the mapping's strict "HR or hiring" test.
RECRUITING = replace(
    CLINICAL_FACTS,
    name="Recruitment Ranker",
    department="Talent Acquisition",
    category="workforce",
    organization_state="NY",
    serves_localities=("NYC",),
)
TEXAS = CLINICAL_FACTS


def rows(violations: list[Violation]) -> list[tuple[str, str, str, bool, int | None]]:
    return [
        (v.control_id, v.type, v.severity, v.requires_reporting, v.reporting_deadline_days)
        for v in violations
    ]


# A vetoed or repealed source: a low, non-reportable recommendation, labelled.
RECOMMENDED = ("state_regulation", "low", False, None)


def state_law(event_type: str, facts: SystemFacts, on: date = ON, **kw: Any) -> list[Violation]:
    """The state-law pass after the mapping, weighed by the law pass, as the pipeline runs it."""
    event = normalize(event_type, **kw)
    return apply_law(apply_state_law(event, facts, map_event(event, facts)), facts, on)


def test_the_table_has_the_domains_rules_and_the_2025_2026_ones() -> None:
    table = state_law_rules().regulations
    assert [(r.control, r.framework, r.reporting_days, r.obligation) for r in table] == [
        ("CA-SB1047-1", "CA_SB1047", 30, None),
        ("CA-SB1047-2", "CA_SB1047", 10, None),
        ("CO-AI-1", "CO_AI_ACT", 60, None),
        ("CO-AI-2", "CO_AI_ACT", None, None),
        ("NYC-LL144-1", "NYC_LL144", 90, None),
        ("NYC-LL144-2", "NYC_LL144", None, None),
        ("CA-HSC-1280.15", "CA_HSC_1280_15", None, "ca.hs_1280_15"),
        ("CA-AB3030-1", "CA_AB3030", None, None),
        ("UT-AIPA-1", "UT_AI_POLICY", None, None),
        ("TX-TRAIGA-1", "TX_TRAIGA", None, None),
    ]


# --- CA-SB1047-1: safety testing ---------------------------------------------------------------


def test_ca_sb1047_1_drift_in_a_california_high_risk_department_is_only_a_recommendation() -> None:
    """SB 1047 was vetoed: no report within 30 days, a labelled recommendation instead."""
    found = state_law("model_drift", CALIFORNIA, payload={"accuracy_drop": 0.12})
    assert rows(found) == [("CA-SB1047-1", *RECOMMENDED)]
    assert found[0].framework_id == "CA_SB1047"
    assert found[0].control_name == "Safety testing of high-risk AI"  # the catalog title
    assert found[0].standing is not None and "not law" in found[0].standing
    assert "vetoed" in found[0].standing.lower()
    assert found[0].obligation is None


def test_the_state_law_pass_takes_the_rules_severity_unless_the_event_is_critical() -> None:
    event = normalize("model_drift", severity="low")
    [low] = apply_state_law(event, CALIFORNIA, map_event(event, CALIFORNIA))
    assert (low.severity, low.requires_reporting, low.reporting_deadline_days) == ("high", True, 30)
    critical = normalize("model_drift", severity="critical")
    assert apply_state_law(critical, CALIFORNIA)[0].severity == "critical"
    stated_high = normalize("clinical_accuracy_failure", severity="high")
    assert apply_state_law(stated_high, CALIFORNIA)[0].severity == "critical"


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
def test_ca_sb1047_2_incidents_in_california_raise_no_report(event_type: str) -> None:
    """The "report within 10 days" SB 1047 would have required is no obligation: the bill was
    vetoed. The California facility's real duty is H&S Code 1280.15 (15 business days)."""
    found = {v.control_id: v for v in state_law(event_type, CALIFORNIA)}
    assert rows([found["CA-SB1047-2"]]) == [("CA-SB1047-2", *RECOMMENDED)]
    assert found["CA-SB1047-2"].control_name == "AI safety incident reporting"
    real = found["CA-HSC-1280.15"]
    assert (real.severity, real.requires_reporting, real.obligation) == (
        "critical",
        True,
        "ca.hs_1280_15",
    )
    assert real.standing is None


def test_harmful_output_yields_ca_sb1047_2_once() -> None:
    """The mapping produces CA-SB1047-2 for every harmful output; state law adds only -1."""
    event = normalize("harmful_output")
    mapped = map_event(event, CALIFORNIA)
    assert [v.control_id for v in mapped] == ["CA-SB1047-2"]
    added = apply_state_law(event, CALIFORNIA, mapped)
    assert [v.control_id for v in added] == ["CA-SB1047-1"]
    without = apply_state_law(event, CALIFORNIA)
    assert [v.control_id for v in without] == ["CA-SB1047-1", "CA-SB1047-2"]
    # Outside California the mapping's SB 1047 row is not in play at all.
    assert apply_law(map_event(event, TEXAS), TEXAS, ON) == []


# --- CO-AI-1: algorithmic impact assessment -----------------------------------------------------


@pytest.mark.parametrize(
    "event_type", ["bias_detected", "disparate_impact", "fairness_threshold_violation"]
)
def test_co_ai_1_fairness_events_in_colorado_are_recommendations(event_type: str) -> None:
    """SB 24-205 never took effect and SB 26-189 repealed it: no 60-day report."""
    found = state_law(event_type, COLORADO, severity="medium")
    assert rows(found) == [("CO-AI-1", *RECOMMENDED)]
    assert found[0].framework_id == "CO_AI_ACT"
    assert found[0].standing is not None and "repeal" in found[0].standing.lower()
    assert rows(state_law(event_type, COLORADO, severity="critical"))[0][2] == "low"


def test_co_ai_1_gate_high_impact_department_or_risk() -> None:
    clinic = replace(COLORADO, department="Dermatology")
    assert state_law("bias_detected", clinic, severity="medium") == []
    assert state_law("bias_detected", replace(clinic, risk_level="critical"), severity="medium")
    finance = replace(COLORADO, department="Finance", uses_phi=False)
    assert [v.control_id for v in state_law("bias_detected", finance)] == ["CO-AI-1"]


def test_an_organization_may_turn_recommendations_off() -> None:
    event = normalize("bias_detected", severity="medium")
    found = apply_state_law(event, COLORADO, map_event(event, COLORADO))
    assert [v.control_id for v in apply_law(found, COLORADO, ON)] == ["CO-AI-1"]
    assert apply_law(found, COLORADO, ON, recommendations=False) == []


# --- CO-AI-2: consumer notice -------------------------------------------------------------------


def test_co_ai_2_explainability_in_colorado() -> None:
    found = [
        v for v in state_law("explainability_failure", COLORADO) if v.framework_id != "NIST_AI_RMF"
    ]
    assert rows(found) == [("CO-AI-2", *RECOMMENDED)]
    assert found[0].control_name == "Consumer notice of AI use"
    # the rule's own severity, even below the event's; critical stays critical, before the law
    event = normalize("explainability_failure", severity="high")
    assert apply_state_law(event, COLORADO)[0].severity == "medium"
    critical = normalize("explainability_failure", severity="critical")
    assert apply_state_law(critical, COLORADO)[0].severity == "critical"


# --- NYC-LL144-1: bias audit --------------------------------------------------------------------


def test_nyc_ll144_1_bias_in_recruitment_ai_serving_new_york_city() -> None:
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
    assert apply_state_law(event, HIRING, mapped) == []
    low = normalize("bias_detected", severity="medium", payload={"bias_score": 0.01})
    assert [v.control_id for v in apply_state_law(low, HIRING, map_event(low, HIRING))] == [
        "NYC-LL144-1"
    ]


def test_nyc_ll144_gate_employment_ai() -> None:
    clinical_in_ny = replace(CLINICAL_FACTS, serves_states=("NY",), serves_localities=("NYC",))
    assert "NYC-LL144-1" not in [v.control_id for v in state_law("bias_detected", clinical_in_ny)]
    assert not [
        v
        for v in state_law("explainability_failure", clinical_in_ny)
        if v.framework_id == "NYC_LL144"
    ]


def test_nyc_ll144_is_new_york_citys_not_the_states_nor_texas() -> None:
    """A hiring tool in Albany, or in Texas, is outside New York City's law, even when the
    mapping's own bias-audit row matched it."""
    event = normalize("bias_detected", severity="medium", payload={"bias_score": 0.06})
    albany = replace(HIRING, serves_localities=())
    texas = replace(HIRING, serves_states=(), serves_localities=(), organization_state="TX")
    for facts in (albany, texas):
        found = apply_law(
            [*map_event(event, facts), *apply_state_law(event, facts, map_event(event, facts))],
            facts,
            ON,
        )
        assert not [v for v in found if v.framework_id == "NYC_LL144"], facts
    assert "NYC-LL144-1" in [v.control_id for v in state_law("bias_detected", HIRING)]


def test_nyc_ll144_before_its_enforcement_date_is_only_a_recommendation() -> None:
    [before] = [
        v
        for v in state_law("bias_detected", RECRUITING, date(2023, 7, 4), severity="medium")
        if v.framework_id == "NYC_LL144"
    ]
    assert rows([before]) == [("NYC-LL144-1", *RECOMMENDED)]
    assert before.standing is not None and "2023-07-05" in before.standing


# --- NYC-LL144-2: candidate notice --------------------------------------------------------------


def test_nyc_ll144_2_explainability_in_hiring_ai() -> None:
    """The mapping gives NYC-LL144-1 for an HR system; state law adds the candidate notice."""
    found = [
        v
        for v in state_law("explainability_failure", HIRING, severity="high")
        if v.type == "state_regulation"
    ]
    assert rows(found) == [("NYC-LL144-2", "state_regulation", "medium", False, None)]
    assert found[0].control_name == "AEDT candidate notice"


# --- 2025-2026: California 1280.15 and AB 3030, Texas TRAIGA, Utah ------------------------------


def test_ca_1280_15_binds_a_california_facility_not_a_system_serving_california() -> None:
    """H&S Code 1280.15 binds licensed California facilities: an out-of-state organization
    whose system serves Californians is under the breach law, not the facility law."""
    found = {v.control_id: v for v in state_law("unauthorized_data_access", CALIFORNIA)}
    assert found["CA-HSC-1280.15"].obligation == "ca.hs_1280_15"
    serving = replace(TEXAS, serves_states=("CA",))
    assert "CA-HSC-1280.15" not in [v.control_id for v in state_law("phi_exposure", serving)]
    no_phi = replace(CALIFORNIA, uses_phi=False)
    assert "CA-HSC-1280.15" not in [v.control_id for v in state_law("phi_exposure", no_phi)]
    before = state_law("phi_exposure", CALIFORNIA, date(2014, 12, 31))
    assert next(v for v in before if v.control_id == "CA-HSC-1280.15").standing is not None


PATIENT_CHAT = replace(
    CLINICAL_FACTS, name="Discharge Chat", department="Nursing", category="patient_engagement"
)


@pytest.mark.parametrize(
    ("control", "state", "effective"),
    [
        ("CA-AB3030-1", "CA", date(2025, 1, 1)),
        ("UT-AIPA-1", "UT", date(2024, 5, 1)),
        ("TX-TRAIGA-1", "TX", date(2026, 1, 1)),
    ],
)
def test_patient_communication_disclosure_rules(control: str, state: str, effective: date) -> None:
    facts = replace(PATIENT_CHAT, organization_state=state)
    found = {v.control_id: v for v in state_law("explainability_failure", facts, date(2026, 6, 1))}
    assert rows([found[control]]) == [(control, "state_regulation", "medium", False, None)]
    assert found[control].standing is None
    early = {
        v.control_id: v
        for v in state_law("explainability_failure", facts, effective - timedelta(days=1))
    }
    assert early[control].standing is not None  # not yet law: a recommendation
    elsewhere = replace(PATIENT_CHAT, organization_state="NV")
    assert control not in [v.control_id for v in state_law("explainability_failure", elsewhere)]
    billing = replace(facts, category="revenue_cycle")
    assert control not in [v.control_id for v in state_law("explainability_failure", billing)]


# --- every rule: the state, the dates ------------------------------------------------------------

CASES = [
    ("CA-SB1047-1", "model_drift", CALIFORNIA, None),
    ("CA-SB1047-2", "phi_exposure", CALIFORNIA, None),
    ("CO-AI-1", "bias_detected", COLORADO, None),
    ("CO-AI-2", "explainability_failure", COLORADO, None),
    ("NYC-LL144-1", "bias_detected", RECRUITING, date(2023, 7, 5)),
    ("NYC-LL144-2", "explainability_failure", HIRING, date(2023, 7, 5)),
    ("CA-HSC-1280.15", "phi_exposure", CALIFORNIA, date(2015, 1, 1)),
]


@pytest.mark.parametrize(("control", "event_type", "facts", "effective"), CASES)
def test_each_rule_only_where_its_place_is_in_play(
    control: str, event_type: str, facts: SystemFacts, effective: date | None
) -> None:
    assert control in [v.control_id for v in state_law(event_type, facts)]
    elsewhere = replace(
        facts, organization_state="TX", serves_states=("NV", "TX"), serves_localities=()
    )
    assert control not in [v.control_id for v in state_law(event_type, elsewhere)]
    assert control not in [
        v.control_id
        for v in state_law(
            event_type,
            replace(facts, organization_state=None, serves_states=(), serves_localities=()),
        )
    ]


@pytest.mark.parametrize(("control", "event_type", "facts", "effective"), CASES)
def test_each_rule_binds_only_from_its_effective_date(
    control: str, event_type: str, facts: SystemFacts, effective: date | None
) -> None:
    """Before its law is in force (or ever, for a vetoed or repealed one) a rule is at most a
    recommendation: never reportable."""
    if effective is None:
        found = next(v for v in state_law(event_type, facts) if v.control_id == control)
        assert found.standing is not None and not found.requires_reporting
        return
    on = next(v for v in state_law(event_type, facts, effective) if v.control_id == control)
    assert on.standing is None
    before = next(
        v
        for v in state_law(event_type, facts, effective - timedelta(days=1))
        if v.control_id == control
    )
    assert before.standing is not None and not before.requires_reporting
    assert before.severity == "low"


def test_served_states_count_like_the_organizations() -> None:
    serving = replace(TEXAS, serves_states=("NV", "CA"))
    event = normalize("phi_exposure")
    assert [v.control_id for v in apply_state_law(event, serving)] == ["CA-SB1047-2"]
    assert apply_state_law(event, TEXAS) == []


def test_other_events_trigger_no_state_rule() -> None:
    for facts in (CALIFORNIA, COLORADO, HIRING, RECRUITING):
        for event_type in ("rate_limit_exceeded", "authentication_failure"):
            assert apply_state_law(normalize(event_type), facts) == []


def test_a_row_names_a_known_gate_and_deadline_rule() -> None:
    row = state_law_rules().regulations[0].model_dump()
    with pytest.raises(ValidationError, match="no gate"):
        Regulation.model_validate({**row, "gate": "HIPAA"})


def test_state_gate_is_applicabilitys_verdict() -> None:
    for facts in (CALIFORNIA, COLORADO, HIRING, RECRUITING, TEXAS):
        verdicts = {v.framework_id: v for v in applicability(facts, load_catalog()).frameworks}
        for framework in STATE_FRAMEWORKS:
            gate, verdict = state_gate(facts, framework), verdicts[framework]
            assert gate.applies == verdict.applies
            assert verdict.reason.startswith(gate.reason)  # plus the legal status, if not law
    verdict = state_gate(CALIFORNIA, "CA_SB1047")
    assert verdict.applies
    assert "Emergency is a high-risk department" in verdict.reason
    with pytest.raises(KeyError):
        state_gate(CALIFORNIA, "HIPAA")


# --- the table's checks -------------------------------------------------------------------------


def table_with(**changes: Any) -> dict[str, Any]:
    row = {
        "control": "CO-AI-2",
        "framework": "CO_AI_ACT",
        "gate": "CO_AI_ACT",
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
        ({"gate": "HIPAA"}, "no gate"),
        ({"reporting_days": 30}, "without reporting"),
        ({"reporting": True, "obligation": "co.nothing"}, "no deadline rule"),
        ({"location": "CO"}, "Extra inputs"),
        ({"effective": "2024-02-01"}, "Extra inputs"),
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
    serves_states=st.lists(st.sampled_from(["CA", "CO", "NY", "TX", "UT"]), max_size=3).map(tuple),
    has_vendor=st.booleans(),
    organization_state=st.none() | st.sampled_from(["CA", "CO", "NY", "TX", "UT"]),
    serves_localities=st.sampled_from([(), ("NYC",)]),
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
    found = apply_state_law(event, facts, mapped)
    assert found == apply_state_law(event, facts, mapped)
    controls = [v.control_id for v in [*mapped, *found]]
    assert len(controls) == len(set(controls))  # one event, each control at most once
    by_control = {r.control: r for r in state_law_rules().regulations}
    for violation in found:
        row = by_control[violation.control_id]
        assert violation.type == "state_regulation"
        assert event.event_type in row.events
        assert state_gate(facts, row.gate).applies
        if event.severity == "critical":
            assert violation.severity == "critical"
        else:
            assert violation.severity == row.events[event.event_type]
        assert violation.requires_reporting or violation.reporting_deadline_days is None
    catalog = load_catalog()
    weighed = apply_law([*mapped, *found], facts, on)
    assert len(weighed) <= len(mapped) + len(found)
    for violation in weighed:
        framework = catalog.framework(violation.framework_id).framework  # type: ignore[union-attr]
        if violation.standing is None:
            assert framework.status == "voluntary" or framework.in_force(on)
        else:  # a recommendation: never a duty
            assert not violation.requires_reporting and violation.obligation is None
            assert violation.severity == "low"
            assert not framework.in_force(on)
        if violation.obligation is not None:
            assert framework.in_force(on)
