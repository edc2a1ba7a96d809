"""The engine as a whole (engine/translate.py): mapping, turned-off controls, state law only for
events that are a problem, scores and actions, deterministic."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_governance.catalog.applicability import SystemFacts
from spectral_governance.engine.normalizer import SEVERITIES, normalize, rules
from spectral_governance.engine.translate import translate
from spectral_governance.testing import CLINICAL_FACTS

CALIFORNIA_HIGH_RISK = replace(CLINICAL_FACTS, risk_level="high", organization_state="CA")
TODAY = date(2026, 11, 26)


def controls(
    event_type: str,
    facts: SystemFacts = CALIFORNIA_HIGH_RISK,
    *,
    severity: str | None = None,
    payload: dict[str, Any] | None = None,
) -> list[str]:
    event = normalize(event_type, severity=severity, payload=payload)
    return [f.violation.control_id for f in translate(event, facts, on=TODAY).findings]


def test_a_routine_drift_reading_brings_no_state_rule() -> None:
    """A 1% drift at low severity: nothing, not even California's SB 1047 safety report."""
    assert controls("model_drift", severity="low", payload={"accuracy_drop": 0.01}) == []


def test_a_real_drift_brings_the_state_rule_with_the_federal_ones() -> None:
    found = controls("model_drift", payload={"accuracy_drop": 0.12})
    assert found[0] == "MANAGE-4.1"
    assert "164.312(b)" not in found  # audit controls are no drift control
    assert "CA-SB1047-1" in found
    assert "CA-SB1047-1" not in controls(
        "model_drift",
        replace(CALIFORNIA_HIGH_RISK, organization_state="TX"),
        payload={"accuracy_drop": 0.12},
    )


def test_a_turned_off_control_yields_no_violation_and_no_action() -> None:
    event = normalize("model_drift", payload={"accuracy_drop": 0.12})
    on = translate(event, CALIFORNIA_HIGH_RISK, on=TODAY)
    off = translate(event, CALIFORNIA_HIGH_RISK, on=TODAY, disabled=frozenset({"MANAGE-4.1"}))
    assert "MANAGE-4.1" in [f.violation.control_id for f in on.findings]
    assert "MANAGE-4.1" not in [f.violation.control_id for f in off.findings]
    assert off.risk.score < on.risk.score


@settings(max_examples=150, deadline=None)
@given(
    event_type=st.sampled_from(sorted(rules().types)),
    severity=st.sampled_from(SEVERITIES),
    drop=st.floats(0, 1),
    states=st.lists(st.sampled_from(["CA", "CO", "NY", "TX"]), max_size=3),
)
def test_every_event_translates_the_same_twice(
    event_type: str, severity: str, drop: float, states: list[str]
) -> None:
    facts = replace(CALIFORNIA_HIGH_RISK, serves_states=tuple(states))
    event = normalize(event_type, severity=severity, payload={"accuracy_drop": drop})
    first = translate(event, facts, on=TODAY)
    assert first == translate(event, facts, on=TODAY)
    ids = [f.violation.control_id for f in first.findings]
    assert len(ids) == len(set(ids))  # one event never yields the same control twice
    for finding in first.findings:
        if finding.violation.requires_reporting:
            assert any(a.action_type in ("notify", "document") for a in finding.actions)
