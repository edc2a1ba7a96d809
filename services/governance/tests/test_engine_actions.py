"""Required actions (docs/domain.md#required-actions-and-deadlines): golden cases for every row and for the
reporting action every reportable violation gets, deduplication and order, the table's checks,
and properties over the violations of arbitrary events."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import SystemFacts
from spectral_governance.engine.actions import (
    PRIORITIES,
    PlannedAction,
    action_rules,
    parse_actions,
    plan_actions,
)
from spectral_governance.engine.deadlines import IncidentFacts, obligations
from spectral_governance.engine.mapping import Violation, map_event
from spectral_governance.engine.normalizer import SEVERITIES, normalize, rules
from spectral_governance.engine.state_law import apply_state_law
from spectral_governance.testing import CLINICAL_FACTS

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SYSTEM = "Sepsis Watch"


def violation(
    control: str,
    severity: str = "high",
    days: int | None = None,
    reporting: bool | None = None,
    name: str = "A control",
) -> Violation:
    """A violation of a catalog control (an alias resolved), as the mapping builds them."""
    resolved = load_catalog().control(control)
    assert resolved is not None
    framework, ours = resolved
    return Violation(
        framework.id,
        ours.id,
        name,
        "deviation",
        severity,
        reporting if reporting is not None else days is not None,
        days,
    )


def rows(actions: list[PlannedAction]) -> list[tuple[str, str, str, timedelta, bool]]:
    return [(a.action_type, a.priority, a.assignee, a.due_in, a.automated) for a in actions]


# --- 164.402 ------------------------------------------------------------------------------------


def test_a_critical_phi_breach() -> None:
    """3.10's three actions, plus the report to individuals and HHS due in 60 days."""
    actions = plan_actions(violation("164.402", "critical", 60), SYSTEM)
    assert rows(actions) == [
        ("rollback", "immediate", "it_owner", 1 * HOUR, False),
        ("notify", "immediate", "privacy_officer", 2 * HOUR, True),
        ("document", "urgent", "compliance_officer", 7 * DAY, False),
        ("notify", "urgent", "privacy_officer", 60 * DAY, False),
    ]
    rollback, alert, document, report = actions
    assert rollback.details == {"requires_approval": True, "approvers": ["ciso", "clinical_owner"]}
    assert alert.details == {
        "channels": ["email", "sms", "dashboard"],
        "escalation_path": ["privacy_officer", "ciso", "compliance_officer"],
    }
    assert document.details["required_fields"] == [
        "date_of_breach",
        "date_discovered",
        "affected_individuals_count",
        "phi_elements_exposed",
        "breach_cause",
        "mitigation_steps",
    ]
    assert report.details == {
        "deadline_basis": "reporting_deadline",
        "reporting_deadline_days": 60,
        "to": ["affected_individuals", "hhs_secretary", "media_when_over_500_residents_of_a_state"],
    }
    assert all(SYSTEM in a.description for a in actions)
    assert "60 days" in report.description and "164.402" in report.description


def test_a_high_phi_breach_has_no_rollback() -> None:
    actions = plan_actions(violation("164.402", "high", 60))
    assert [a.action_type for a in actions] == ["notify", "document", "notify"]


# --- the other rows of 3.10 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", "urgent"), ("high", "high"), ("medium", "high")]
)
def test_audit_controls_escalate_to_the_governance_committee(severity: str, priority: str) -> None:
    actions = plan_actions(violation("164.312(b)", severity))
    assert rows(actions) == [("escalate", priority, "ciso", 3 * DAY, True)]
    assert actions[0].details == {
        "escalation_path": ["ciso", "governance_committee"],
        "meeting_required": True,
    }


def test_performance_monitoring() -> None:
    actions = plan_actions(violation("MANAGE-4.1", "high"))
    assert rows(actions) == [
        ("escalate", "high", "ciso", 7 * DAY, True),
        ("document", "medium", "compliance_officer", 14 * DAY, False),
    ]
    assert actions[0].details == {
        "required_documentation": ["metrics_analysis", "root_cause", "remediation_plan"]
    }
    assert actions[1].details == {"register": "ai_risk_register"}
    assert "risk register" in actions[1].description


def test_fairness_monitoring() -> None:
    actions = plan_actions(violation("MEASURE-2.11", "medium"))
    assert rows(actions) == [("document", "high", "compliance_officer", 10 * DAY, False)]
    assert actions[0].details["required_analyses"] == [
        "demographic_breakdown",
        "performance_by_group",
        "disparity_metrics",
        "mitigation_recommendations",
    ]


@pytest.mark.parametrize(
    ("severity", "priority"),
    [("critical", "urgent"), ("high", "urgent"), ("medium", "medium"), ("low", "medium")],
)
def test_risk_management(severity: str, priority: str) -> None:
    assert rows(plan_actions(violation("MANAGE-1.1", severity))) == [
        ("escalate", priority, "ciso", 5 * DAY, True)
    ]


@pytest.mark.parametrize("control", ["FDA-PCCP-2", "FDA-PMS.GMLP10"])
def test_fda_post_market_surveillance(control: str) -> None:
    actions = plan_actions(violation(control, "high", 30))
    assert rows(actions) == [
        ("notify", "immediate", "compliance_officer", 30 * DAY, False),
        ("restrict", "urgent", "clinical_owner", 24 * HOUR, False),
    ]
    report, restrict = actions
    assert report.details == {
        "report": "fda_post_market_surveillance",
        "required_contents": [
            "performance_analysis",
            "root_cause",
            "corrective_action_plan",
            "timeline",
        ],
        "deadline_basis": "reporting_deadline",
    }
    assert restrict.details == {"restriction": "conditional_use", "workflow": "manual"}


def test_a_violation_naming_an_alias_gets_the_controls_actions() -> None:
    raw = Violation("FDA_SAMD", "FDA-PCCP-2", "Post-Market", "deviation", "critical", True, 30)
    assert rows(plan_actions(raw)) == rows(
        plan_actions(violation("FDA-PMS.GMLP10", "critical", 30))
    )
    assert [a.action_type for a in plan_actions(raw)] == ["notify", "restrict"]


def test_fda_post_market_surveillance_without_a_deadline_or_restriction() -> None:
    """Medium: no restriction; no reporting deadline: Spectral's 30 days, said so."""
    actions = plan_actions(violation("FDA-PCCP-2", "medium"))
    assert rows(actions) == [("notify", "immediate", "compliance_officer", 30 * DAY, False)]
    assert actions[0].details["deadline_basis"] == "spectral_default"
    reportable = plan_actions(violation("FDA-PCCP-2", "medium", 15))
    assert rows(reportable) == [("notify", "immediate", "compliance_officer", 15 * DAY, False)]


def test_california_breach_notification() -> None:
    actions = plan_actions(violation("CA-BREACH", "critical", 30))
    assert rows(actions) == [("notify", "immediate", "privacy_officer", 30 * DAY, False)]
    assert actions[0].details == {
        "recipients": ["california_residents", "california_attorney_general_when_over_500"],
        "deadline_basis": "reporting_deadline",
    }


def test_an_action_on_a_laws_deadline_says_the_law() -> None:
    """With the violation's obligations the action names the law's period and citation; a law
    without a fixed period (California before SB 446) is said as such, and planned on the
    fallback's days."""
    breach = violation("CA-BREACH", "critical", 30)
    now = obligations(
        "ca.breach",
        discovered=datetime(2026, 3, 2, 15, tzinfo=UTC),
        facts=IncidentFacts(affected_count=10, affected_by_state={"CA": 10}),
    )
    [action] = plan_actions(breach, "Chart Bot", obligations=now)
    assert action.details["deadline_basis"] == "law"
    assert "within 30 calendar days (Cal. Civ. Code 1798.82(a) (SB 446))" in action.description
    before = obligations(
        "ca.breach",
        discovered=datetime(2025, 12, 20, 15, tzinfo=UTC),
        facts=IncidentFacts(affected_count=10, affected_by_state={"CA": 10}),
    )
    [action] = plan_actions(breach, "Chart Bot", obligations=before)
    assert action.details["deadline_basis"] == "law_without_a_date"
    assert action.details["planning_target_days"] == 30  # Spectral's, and labelled so
    assert "within the most expedient time (Cal. Civ. Code 1798.82(a))" in action.description
    assert action.due_in == 30 * DAY


def expected_days(control: str, stated: int | None) -> tuple[str, int]:
    """The deadline: the rule's, else the control's in the catalog, else 30 days (docs/domain.md)."""
    if stated is not None:
        return "reporting_deadline", stated
    found = load_catalog().control(control)
    if found is not None and found[1].reporting_deadline_days is not None:
        return "catalog", found[1].reporting_deadline_days
    return "spectral_default", 30


def test_nyc_bias_audit_reported_without_a_deadline() -> None:
    """The mapping's NYC-BIAS row: the 60-day audit, and the report on the catalog's 90 days
    (NYC-LL144-1's own deadline)."""
    actions = plan_actions(violation("NYC-BIAS", "high", reporting=True))
    assert rows(actions) == [
        ("document", "high", "compliance_officer", 60 * DAY, False),
        ("notify", "high", "compliance_officer", 90 * DAY, False),
    ]
    assert actions[1].details == {"deadline_basis": "catalog", "reporting_deadline_days": 90}
    assert actions[0].details == {"audit": "independent_bias_audit", "publish_summary": True}


def test_a_reportable_violation_with_no_deadline_anywhere_gets_thirty_days() -> None:
    actions = plan_actions(violation("164.308(a)(1)(ii)(D)", "critical", reporting=True))
    [report] = [a for a in actions if a.details.get("deadline_basis")]
    assert report.due_in == 30 * DAY
    assert report.details["deadline_basis"] == "spectral_default"


def test_nyc_bias_audit_with_its_90_days() -> None:
    actions = plan_actions(violation("NYC-LL144-1", "high", 90))
    assert rows(actions) == [
        ("document", "high", "compliance_officer", 60 * DAY, False),
        ("notify", "high", "compliance_officer", 90 * DAY, False),
    ]


@pytest.mark.parametrize(
    "control",
    [
        "MEASURE-2.7",
        "164.312(d)",
        "164.308(a)(6)",
        "MEASURE-2.4",
        "MEASURE-2.9",
        "FDA-AV-1",
        "FDA-PCCP-1",
        "CO-AI-2",
        "NYC-LL144-2",
    ],
)
def test_controls_outside_the_table_ask_nothing_unless_reportable(control: str) -> None:
    for severity in SEVERITIES:
        assert plan_actions(violation(control, severity)) == []


# --- every reportable violation (docs/domain.md#decision-8-actions) ----------------------------


@pytest.mark.parametrize(
    ("control", "severity", "days", "expected", "basis"),
    [
        (
            "164.308(a)(1)(ii)(D)",
            "critical",
            None,
            ("notify", "urgent", "privacy_officer", 30 * DAY, False),
            "spectral_default",
        ),
        (
            "164.308(a)(4)",
            "critical",
            60,
            ("notify", "urgent", "privacy_officer", 60 * DAY, False),
            "reporting_deadline",
        ),
        (
            "FDA-CV-1",
            "critical",
            30,
            ("notify", "urgent", "compliance_officer", 30 * DAY, False),
            "reporting_deadline",
        ),
        (
            "FDA-AV-1",
            "high",
            30,
            ("notify", "high", "compliance_officer", 30 * DAY, False),
            "reporting_deadline",
        ),
        (
            "CA-SB1047-2",
            "critical",
            10,
            ("notify", "urgent", "compliance_officer", 10 * DAY, False),
            "reporting_deadline",
        ),
        (
            "CA-SB1047-1",
            "high",
            30,
            ("notify", "high", "compliance_officer", 30 * DAY, False),
            "reporting_deadline",
        ),
        (
            "CO-AI-1",
            "high",
            60,
            ("notify", "high", "compliance_officer", 60 * DAY, False),
            "reporting_deadline",
        ),
    ],
)
def test_a_reportable_violation_gets_a_report_on_its_deadline(
    control: str,
    severity: str,
    days: int | None,
    expected: tuple[Any, ...],
    basis: str,
) -> None:
    actions = plan_actions(violation(control, severity, days, reporting=True), SYSTEM)
    assert rows(actions) == [expected]
    assert actions[0].details["deadline_basis"] == basis
    assert actions[0].details["reporting_deadline_days"] == expected[3].days
    assert actions[0].description.startswith("Report the ")
    assert control in actions[0].description or "FDA-" in actions[0].description


def test_no_second_report_when_the_table_has_one_on_the_deadline() -> None:
    assert len(plan_actions(violation("CA-BREACH", "critical", 30))) == 1
    assert len(plan_actions(violation("FDA-PCCP-2", "high", 30))) == 2  # notify + restrict


def test_the_reporting_owner_follows_the_framework() -> None:
    owners = action_rules().reporting.owners
    assert owners == {
        "HIPAA": "privacy_officer",
        "CA_BREACH": "privacy_officer",
        "CA_HSC_1280_15": "privacy_officer",
        "otherwise": "compliance_officer",
    }


# --- from events, end to end ---------------------------------------------------------------------


def test_a_phi_exposure_in_california_end_to_end() -> None:
    facts = replace(CLINICAL_FACTS, organization_state="CA")
    event = normalize("phi_exposure", payload={"phi_count": 4, "note": "John Doe, MRN 12345678"})
    violations = map_event(event, facts)
    violations += apply_state_law(event, facts, violations)
    planned = {v.control_id: rows(plan_actions(v, facts.name)) for v in violations}
    assert planned == {
        "164.402": [
            ("rollback", "immediate", "it_owner", 1 * HOUR, False),
            ("notify", "immediate", "privacy_officer", 2 * HOUR, True),
            ("document", "urgent", "compliance_officer", 7 * DAY, False),
            ("notify", "urgent", "privacy_officer", 60 * DAY, False),
        ],
        "164.308(a)(1)(ii)(D)": [],  # a safeguard: no notice of its own
        "CA-BREACH": [("notify", "immediate", "privacy_officer", 30 * DAY, False)],
        "CA-SB1047-2": [("notify", "urgent", "compliance_officer", 10 * DAY, False)],
        "CA-HSC-1280.15": [("notify", "urgent", "privacy_officer", 15 * DAY, False)],
    }
    text = json.dumps(
        [(a.description, a.details) for v in violations for a in plan_actions(v, facts.name)]
    )
    assert "John" not in text and "12345678" not in text


# --- deduplication and order ---------------------------------------------------------------------


def table(actions: dict[str, list[dict[str, Any]]], **reporting: Any) -> dict[str, Any]:
    return {
        "reporting": {
            "default_days": 30,
            "action": "notify",
            "priority": "high",
            "automated": False,
            "owners": {"otherwise": "compliance_officer"},
            "description": "Report {control_id} for {system} within {deadline}",
            **reporting,
        },
        "actions": actions,
    }


def rule(**changes: Any) -> dict[str, Any]:
    return {
        "action": "document",
        "priority": "medium",
        "assignee": "compliance_officer",
        "due": "5 days",
        "automated": False,
        "description": "Write down what happened to {system}",
        **changes,
    }


LONG = "Write down what happened to the system, in full detail"  # over the 50 compared


def test_duplicates_keep_the_higher_priority() -> None:
    own = parse_actions(
        table(
            {
                "GOVERN-5.1": [
                    rule(priority="low", description=LONG + ", first version"),
                    rule(priority="urgent", description=LONG + ", second version"),
                    rule(priority="high", assignee="ciso"),
                    rule(action="notify", priority="low"),
                ]
            }
        )
    )
    actions = plan_actions(violation("GOVERN-5.1"), SYSTEM, own)
    assert rows(actions) == [
        ("document", "urgent", "compliance_officer", 5 * DAY, False),
        ("document", "high", "ciso", 5 * DAY, False),
        ("notify", "low", "compliance_officer", 5 * DAY, False),
    ]
    assert actions[0].description == LONG + ", second version"


def test_sorted_by_priority_then_due() -> None:
    own = parse_actions(
        table(
            {
                "GOVERN-5.1": [
                    rule(due="3 days", priority="low", description="Three days, low priority"),
                    rule(due="2 hours", priority="high", description="Two hours, high priority"),
                    rule(due="1 day", priority="high", description="One day, high priority"),
                    rule(due="1 hour", priority="immediate", description="One hour, immediate"),
                ]
            }
        )
    )
    actions = plan_actions(violation("GOVERN-5.1"), SYSTEM, own)
    assert [(a.priority, a.due_in) for a in actions] == [
        ("immediate", 1 * HOUR),
        ("high", 2 * HOUR),
        ("high", 1 * DAY),
        ("low", 3 * DAY),
    ]


def test_details_are_copies() -> None:
    first = plan_actions(violation("164.402", "critical", 60))
    first[0].details["approvers"].append("someone")
    again = plan_actions(violation("164.402", "critical", 60))
    assert again[0].details["approvers"] == ["ciso", "clinical_owner"]


# --- the table's checks --------------------------------------------------------------------------


def test_every_control_of_the_table_is_ours() -> None:
    catalog = load_catalog()
    assert sorted(action_rules().by_control) == sorted(
        [
            "164.402",
            "164.312(b)",
            "MANAGE-4.1",
            "MEASURE-2.11",
            "MANAGE-1.1",
            "FDA-PMS.GMLP10",
            "CA-BREACH",
            "NYC-LL144-1",
        ]
    )
    assert all(catalog.control(c) is not None for c in action_rules().by_control)


@pytest.mark.parametrize(
    ("actions", "reporting", "message"),
    [
        ({"GOVERN-9.9": [rule()]}, {}, "not in the catalog"),
        ({"FDA-PCCP-2": [rule()], "FDA-PMS.GMLP10": [rule()]}, {}, "listed twice"),
        ({"GOVERN-5.1": [rule(due="2 weeks")]}, {}, "due must be"),
        ({"GOVERN-5.1": [rule(due="0 days")]}, {}, "due must be"),
        ({"GOVERN-5.1": [rule(description="Tell {patient_name} now")]}, {}, "placeholders"),
        ({"GOVERN-5.1": [rule(priority={"critical": "urgent"})]}, {}, "otherwise"),
        ({"GOVERN-5.1": [rule(priority={"severe": "urgent", "otherwise": "low"})]}, {}, "unknown"),
        ({"GOVERN-5.1": [rule(details={"on": date(2026, 1, 1)})]}, {}, "plain JSON"),
        ({"GOVERN-5.1": [rule(assignee="janitor")]}, {}, "validation error"),
        ({"GOVERN-5.1": [rule(action="delete")]}, {}, "validation error"),
        ({"GOVERN-5.1": [rule(when={"severity": []})]}, {}, "validation error"),
        ({"GOVERN-5.1": [rule(owner="ciso")]}, {}, "Extra inputs"),
        ({}, {"owners": {"HIPAA": "privacy_officer"}}, "otherwise"),
        ({}, {"owners": {"GDPR": "privacy_officer", "otherwise": "ciso"}}, "unknown frameworks"),
        ({}, {"to": {"164.999": ["hhs"]}}, "not in the catalog"),
        ({"GOVERN-5.1": [rule(description="Report 164.402 for {system}")]}, {}, "begin like"),
        ({"GOVERN-5.1": [rule(description="{system} needs a look")]}, {}, "begin like"),
    ],
)
def test_a_bad_table_is_refused(
    actions: dict[str, list[dict[str, Any]]], reporting: dict[str, Any], message: str
) -> None:
    with pytest.raises((ValueError, ValidationError), match=message):
        parse_actions(table(actions, **reporting))


# --- properties ----------------------------------------------------------------------------------

facts_strategy = st.builds(
    SystemFacts,
    name=st.sampled_from(["Sepsis Watch", "Nurse hiring", "Chest CT diagnostic"])
    | st.text(max_size=80),
    department=st.sampled_from(["Imaging", "Emergency", "HR", "Finance", "IT", ""]),
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
    measured=st.none() | st.floats(0, 1),
    facts=facts_strategy,
)
def test_the_actions_of_any_event(
    event_type: str, severity: str | None, measured: float | None, facts: SystemFacts
) -> None:
    payload = {} if measured is None else {"accuracy_drop": measured, "bias_score": measured}
    event = normalize(event_type, severity=severity, payload=payload)
    violations = map_event(event, facts)
    violations += apply_state_law(event, facts, violations)
    for v in violations:
        actions = plan_actions(v, facts.name)
        assert actions == plan_actions(v, facts.name)
        keys = [(a.action_type, a.assignee, a.description[:50]) for a in actions]
        assert len(keys) == len(set(keys))
        order = [(PRIORITIES.index(a.priority), a.due_in) for a in actions]
        assert order == sorted(order)
        for action in actions:
            json.dumps(action.details)
            assert action.due_in > timedelta(0)
        if v.requires_reporting:
            deadline = timedelta(days=expected_days(v.control_id, v.reporting_deadline_days)[1])
            assert any(
                a.action_type in ("notify", "document") and a.due_in == deadline for a in actions
            )


@settings(max_examples=200, deadline=None)
@given(
    control=st.sampled_from(sorted(load_catalog().controls)),
    severity=st.sampled_from(SEVERITIES),
    days=st.none() | st.integers(1, 365),
    reporting=st.booleans(),
    system=st.text(max_size=120),
)
def test_any_reportable_control_gets_its_report(
    control: str, severity: str, days: int | None, reporting: bool, system: str
) -> None:
    """Any catalog control, any deadline, any system name (however long): docs/domain.md#decision-8-actions holds."""
    v = violation(control, severity, days, reporting=reporting or days is not None)
    actions = plan_actions(v, system)
    if v.requires_reporting:
        basis, due = expected_days(control, days)
        deadline = timedelta(days=due)
        reports = [
            a for a in actions if a.action_type in ("notify", "document") and a.due_in == deadline
        ]
        assert reports
        assert reports[0].details["deadline_basis"] == basis
    order = [(PRIORITIES.index(a.priority), a.due_in) for a in actions]
    assert order == sorted(order)
