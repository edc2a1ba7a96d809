"""The whole translation of one normalized event (docs/domain.md#the-translation-pipeline): map it to violations
with the organization's thresholds, leave out the controls it turned off, add the state-law
violations, score it and decide escalation, and plan each violation's actions. Pure.

State law applies to events that are a problem: ones the mapping found violations in, or of
high or critical severity. The reference fired a state rule on the event type alone, so an
hourly drift reading of 1% on a California high-risk system would have demanded a 30-day SB 1047
safety report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from spectral_governance.catalog.applicability import SystemFacts
from spectral_governance.engine.actions import PlannedAction, plan_actions
from spectral_governance.engine.mapping import Violation, map_event
from spectral_governance.engine.normalizer import Normalized
from spectral_governance.engine.scoring import EventRisk, score_event
from spectral_governance.engine.state_law import apply_state_law

SIGNIFICANT = frozenset({"critical", "high"})


@dataclass(frozen=True)
class Finding:
    violation: Violation
    actions: tuple[PlannedAction, ...]


@dataclass(frozen=True)
class Translation:
    findings: tuple[Finding, ...]
    risk: EventRisk


def translate(
    event: Normalized,
    facts: SystemFacts,
    *,
    limits: Mapping[str, float] | None = None,
    disabled: frozenset[str] = frozenset(),
    on: date,
) -> Translation:
    mapped = [v for v in map_event(event, facts, limits) if v.control_id not in disabled]
    state = (
        [
            v
            for v in apply_state_law(event, facts, on, already=mapped)
            if v.control_id not in disabled
        ]
        if mapped or event.severity in SIGNIFICANT
        else []
    )
    violations = [*mapped, *state]
    return Translation(
        tuple(Finding(v, tuple(plan_actions(v, facts.name))) for v in violations),
        score_event(violations),
    )
