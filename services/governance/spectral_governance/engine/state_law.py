"""The state-law pass (docs/domain.md#state-law): the state and local rules a normalized event triggers
for a system, on a given day, after the compliance mapping. Pure: the rules are
``rules/state_law.yaml``; a rule applies within its dates, when its state is the organization's or
one the system serves and its applicability gate holds (``applicability.state_gate``; the
reference gated on a ``location`` field that never existed, so nothing fired). A control the
mapping already produced for the event is not produced again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import SystemFacts, state_gate
from spectral_governance.engine.mapping import Violation
from spectral_governance.engine.normalizer import Normalized, Severity, rules

# The frameworks whose applicability rule is a state gate (applicability.state_gate).
Gate = Literal["CA_SB1047", "CA_BREACH", "CO_AI_ACT", "NYC_LL144"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Regulation(_Closed):
    control: str
    name: str = Field(min_length=3)
    state: str = Field(pattern=r"^[A-Z]{2}$")
    regulation: str = Field(min_length=3)
    framework: str
    gate: Gate
    effective: date
    sunset: date | None = None
    events: dict[str, Severity | Literal["event"]] = Field(min_length=1)
    reporting: bool = False
    reporting_days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _consistent(self) -> Regulation:
        if self.sunset is not None and self.sunset < self.effective:
            raise ValueError(f"{self.control}: sunset {self.sunset} before {self.effective}")
        if self.reporting_days is not None and not self.reporting:
            raise ValueError(f"{self.control}: reporting_days without reporting: true")
        return self

    def in_force(self, on: date) -> bool:
        return self.effective <= on and (self.sunset is None or on <= self.sunset)


class StateLawRules(_Closed):
    regulations: list[Regulation] = Field(min_length=1)


@cache
def state_law_rules() -> StateLawRules:
    """``rules/state_law.yaml``, checked (``parse_state_law``)."""
    return parse_state_law(
        yaml.safe_load(files(__package__).joinpath("rules", "state_law.yaml").read_text())
    )


def parse_state_law(raw: Any) -> StateLawRules:
    """A state-law table, checked: every control in the catalog under the framework the row
    names, at most one row per control, and only canonical event types."""
    table = StateLawRules.model_validate(raw)
    catalog = load_catalog()
    types = rules().types
    seen: set[str] = set()
    for row in table.regulations:
        resolved = catalog.control(row.control)
        if resolved is None:
            raise ValueError(f"state law: control {row.control} is not in the catalog")
        framework, control = resolved
        if framework.id != row.framework:
            raise ValueError(f"state law: {row.control} is in {framework.id}, not {row.framework}")
        if control.id in seen:
            raise ValueError(f"state law: {control.id} has more than one row")
        seen.add(control.id)
        unknown = sorted(set(row.events) - set(types))
        if unknown:
            raise ValueError(f"state law: {row.control} names unknown event types {unknown}")
    return table


def _severity(row: Regulation, event: Normalized) -> str:
    if event.severity == "critical":
        return "critical"
    stated = row.events[event.event_type]
    return event.severity if stated == "event" else stated


def apply_state_law(
    event: Normalized, facts: SystemFacts, on: date, already: Sequence[Violation] = ()
) -> list[Violation]:
    """The ``state_regulation`` violations of one normalized event of this system on day ``on``,
    in the table's order, leaving out the controls ``already`` holds (the mapping's)."""
    catalog = load_catalog()
    states = {facts.organization_state} | set(facts.serves_states)
    produced = {v.control_id for v in already}
    found: list[Violation] = []
    for row in state_law_rules().regulations:
        if event.event_type not in row.events or not row.in_force(on) or row.state not in states:
            continue
        resolved = catalog.control(row.control)
        assert resolved is not None  # checked when the table loaded
        framework, control = resolved
        if control.id in produced or not state_gate(facts, row.gate).applies:
            continue
        produced.add(control.id)
        found.append(
            Violation(
                framework_id=framework.id,
                control_id=control.id,
                control_name=control.title,
                type="state_regulation",
                severity=_severity(row, event),
                requires_reporting=row.reporting,
                reporting_deadline_days=row.reporting_days,
            )
        )
    return found
