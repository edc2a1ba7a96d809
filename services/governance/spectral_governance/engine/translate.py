"""The whole translation of one normalized event (docs/domain.md#the-translation-pipeline): map it to violations
with the organization's thresholds, leave out the controls it turned off, add the state-law
violations, weigh each on its legal source (``engine.law``: the place, and the law in force on the
event's date), score it and decide escalation, and plan each violation's actions. Pure.

State law applies to events that are a problem: ones the mapping found violations in, or
high or critical events of a type that is not measured (``noteworthy``). The reference fired a
state rule on the event type alone, so an hourly drift reading of 1% on a California high-risk
system would have demanded a 30-day SB 1047 safety report. An unclassified event gives
nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from spectral_governance.catalog.applicability import SystemFacts
from spectral_governance.engine.actions import PlannedAction, plan_actions, reporting_days
from spectral_governance.engine.deadlines import IncidentFacts, Obligation, obligations
from spectral_governance.engine.law import apply_law
from spectral_governance.engine.mapping import Violation, map_event
from spectral_governance.engine.normalizer import Normalized, rules
from spectral_governance.engine.scoring import EventRisk, score_event
from spectral_governance.engine.state_law import apply_state_law
from spectral_shared.us_states import DEFAULT_TIME_ZONE, state_time_zone

SIGNIFICANT = frozenset({"critical", "high"})


def noteworthy(event: Normalized) -> bool:
    """Whether an event that raised no violation still matters (state law, an alert): a high or
    critical event of a type that is not measured. A measured type speaks through its thresholds
    only: a drift report under them is no problem, whatever severity its source put on it."""
    kind = rules().types.get(event.event_type)
    return event.severity in SIGNIFICANT and kind is not None and not kind.measured


@dataclass(frozen=True)
class Finding:
    violation: Violation
    actions: tuple[PlannedAction, ...]
    # Who must be told by when (engine/deadlines.py), when the translation knew the discovery.
    obligations: tuple[Obligation, ...] = ()

    @property
    def reporting_deadline(self) -> datetime | None:
        """The earliest mandatory due date; None when no obligation has a fixed date."""
        dues = [o.due for o in self.obligations if o.mandatory and o.due is not None]
        return min(dues) if dues else None


def obligations_of(
    violation: Violation,
    discovered: datetime,
    incident: IncidentFacts,
    tz: str = DEFAULT_TIME_ZONE,
) -> tuple[Obligation, ...]:
    """A reportable violation's obligations: its law's rule, else Spectral's own day count (the
    rule's, else the control's in the catalog, else Spectral's default), labelled as Spectral's;
    due at the end of the day in ``tz``, the organization's."""
    if not violation.requires_reporting:
        return ()
    if violation.obligation is not None:
        return obligations(violation.obligation, discovered=discovered, facts=incident, tz=tz)
    _basis, days = reporting_days(violation)
    return obligations("spectral.days", discovered=discovered, facts=incident, tz=tz, days=days)


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
    discovered: datetime | None = None,
    incident: IncidentFacts | None = None,
    recommendations: bool = True,
) -> Translation:
    """``on`` is the event's date (the law in force then, ``engine.law``); with ``discovered``
    (aware) each reportable finding gets its obligations, from the ``incident``'s facts. Without
    ``recommendations`` the findings of sources that are not law are left out."""
    mapped = [v for v in map_event(event, facts, limits) if v.control_id not in disabled]
    state = (
        [v for v in apply_state_law(event, facts, already=mapped) if v.control_id not in disabled]
        if mapped or noteworthy(event)
        else []
    )
    violations = apply_law(
        [*mapped, *state],
        facts,
        on,
        recommendations=recommendations,
        phi_exposed=event.event_type == "phi_exposure",
    )
    facts_of_incident = incident or IncidentFacts(manufacturer=not facts.has_vendor)
    tz = state_time_zone(facts.organization_state)
    findings = []
    for v in violations:
        owed = obligations_of(v, discovered, facts_of_incident, tz) if discovered else ()
        planned = tuple(plan_actions(v, facts.name, obligations=owed)) if v.standing is None else ()
        findings.append(Finding(v, planned, owed))
    return Translation(
        tuple(findings),
        score_event(violations),
    )
