"""An event's risk score and whether to escalate it (docs/domain.md#scoring-and-escalation), from its violations.

Score: 10 per critical violation, 5 per high, 2 per medium, 1 per low, uncapped; level critical
from 10, high from 5, medium from 2, else low. Escalate when any violation is critical, two or
more are high, or any must be reported. The path names the persona tags that handle it
(docs/domain.md#decision-2-roles), first to last: a PHI breach (HIPAA 164.402) goes to the privacy officer first, an FDA
matter to the compliance officer and the clinical owner, anything else to the CISO first.
Pure; computed per event, not a rule table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from spectral_governance.engine.mapping import Violation

RiskLevel = Literal["critical", "high", "medium", "low"]

POINTS = {"critical": 10, "high": 5, "medium": 2, "low": 1}
LEVELS: tuple[tuple[int, RiskLevel], ...] = ((10, "critical"), (5, "high"), (2, "medium"))

PHI_BREACH_CONTROL = "164.402"

# Escalation paths (docs/domain.md), first match wins: a violation of PHI_BREACH_CONTROL, then any of
# the FDA framework, then the rest. "board" is the board of directors (no persona tag).
PHI_BREACH_PATH = ("privacy_officer", "ciso", "compliance_officer", "board")
FDA_PATH = ("compliance_officer", "ciso", "clinical_owner", "board")
DEFAULT_PATH = ("ciso", "compliance_officer", "board")
FDA_FRAMEWORK = "FDA_SAMD"


@dataclass(frozen=True)
class EventRisk:
    score: int
    level: RiskLevel
    factors: tuple[str, ...]
    escalate: bool
    path: tuple[str, ...]  # empty when not escalated


def _count(n: int, what: str) -> str:
    return f"{n} {what} violation{'' if n == 1 else 's'}"


def score_event(violations: Sequence[Violation]) -> EventRisk:
    """The risk of one event from the violations it produced (the mapping's and state law's)."""
    unknown = sorted({v.severity for v in violations} - set(POINTS))
    if unknown:
        raise ValueError(f"violations with unknown severities: {unknown}")
    score = sum(POINTS[v.severity] for v in violations)
    level: RiskLevel = next((name for bound, name in LEVELS if score >= bound), "low")
    critical = sum(v.severity == "critical" for v in violations)
    high = sum(v.severity == "high" for v in violations)
    # The reference looked for the legacy "phi_leakage" event type only; a 164.402 violation is
    # what a PHI breach produces, whatever the event was called.
    breach = any(v.control_id == PHI_BREACH_CONTROL for v in violations)
    reporting = any(v.requires_reporting for v in violations)
    factors = tuple(
        text
        for text, present in (
            (_count(critical, "critical"), critical > 0),
            (_count(high, "high-severity"), high > 0),
            ("PHI breach detected", breach),
            ("Regulatory reporting required", reporting),
        )
        if present
    )
    escalate = critical > 0 or high >= 2 or reporting
    if not escalate:
        path: tuple[str, ...] = ()
    elif breach:
        path = PHI_BREACH_PATH
    elif any(v.framework_id == FDA_FRAMEWORK for v in violations):
        path = FDA_PATH
    else:
        path = DEFAULT_PATH
    return EventRisk(score, level, factors, escalate, path)


# ---- a system's standing (docs/domain.md#system-risk-and-posture) --------------------------------

Posture = Literal["ok", "drift", "critical"]
SYSTEM_SCORE_CAP = 100


@dataclass(frozen=True)
class SystemRisk:
    score: int  # 0 to 100
    posture: Posture


def system_risk(open_violations: Sequence[str], recent_alerts: Sequence[str]) -> SystemRisk:
    """A system's risk from the severities of its open violations and of its alerts of the last
    24 hours: 10 points per critical, 5 per high, 2 per medium, 1 per low, at most 100. Critical
    from 50 points or three critical findings; drift from 10 points, or any critical or high, or
    five medium; else ok."""
    severities = [*open_violations, *recent_alerts]
    score = min(SYSTEM_SCORE_CAP, sum(POINTS.get(s, 0) for s in severities))
    critical, high = severities.count("critical"), severities.count("high")
    if score >= 50 or critical >= 3:
        return SystemRisk(score, "critical")
    if score >= 10 or critical or high or severities.count("medium") >= 5:
        return SystemRisk(score, "drift")
    return SystemRisk(score, "ok")
