"""The state-law pass (docs/domain.md#state-law): the state and local rules a normalized event triggers
for a system, after the compliance mapping. Pure: the rules are ``rules/state_law.yaml``; a rule
applies when its applicability gate holds (``applicability.state_gate``: its place is in play and
its condition holds; the reference gated on a ``location`` field that never existed, so nothing
fired). A control the mapping already produced for the event is not produced again. Whether a
rule binds on the event's date is the law pass's (``engine.law``), from the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import STATE_FRAMEWORKS, SystemFacts, state_gate
from spectral_governance.engine.deadlines import rule_ids
from spectral_governance.engine.mapping import Violation
from spectral_governance.engine.normalizer import Normalized, Severity, rules


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Regulation(_Closed):
    control: str
    framework: str
    gate: str  # a framework of applicability.STATE_FRAMEWORKS
    events: dict[str, Severity | Literal["event"]] = Field(min_length=1)
    reporting: bool = False
    reporting_days: int | None = Field(default=None, ge=1, le=365)
    # The legal obligation whose deadlines the violation carries (engine/rules/deadlines.yaml).
    obligation: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Regulation:
        if (self.reporting_days is not None or self.obligation) and not self.reporting:
            raise ValueError(f"{self.control}: a deadline without reporting: true")
        if self.gate not in STATE_FRAMEWORKS:
            raise ValueError(f"{self.control}: no gate {self.gate} (one of {STATE_FRAMEWORKS})")
        return self


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
        if row.obligation is not None and row.obligation not in rule_ids():
            raise ValueError(f"state law: {row.control} names no deadline rule {row.obligation}")
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
    event: Normalized, facts: SystemFacts, already: Sequence[Violation] = ()
) -> list[Violation]:
    """The ``state_regulation`` violations of one normalized event of this system, in the
    table's order, leaving out the controls ``already`` holds (the mapping's). Whether each binds
    on the event's date is the law pass's to say (``engine.law``)."""
    catalog = load_catalog()
    produced = {v.control_id for v in already}
    found: list[Violation] = []
    for row in state_law_rules().regulations:
        if event.event_type not in row.events:
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
                obligation=row.obligation,
            )
        )
    return found
