"""Compliance mapping (docs/domain.md#from-events-to-controls): the violations a normalized event produces,
with the organization's thresholds. Pure: the rules are ``rules/mapping.yaml`` and
``rules/thresholds.yaml``; control ids resolve through the catalog (aliases included).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import SystemFacts, is_device, is_employment_ai
from spectral_governance.engine.deadlines import rule_ids as deadline_rule_ids
from spectral_governance.engine.normalizer import Metric, Normalized, Severity, rules

ViolationType = Literal["breach", "deviation", "threshold_exceeded", "state_regulation"]
SystemCondition = Literal[
    "fda_relevant",
    "fda_user_facility",
    "fda_manufacturer",
    "employment",
    "employment_strict",
    "not_employment_strict",
]
Harm = Literal["death", "serious_injury", "malfunction"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Above(_Closed):
    metric: Metric
    threshold: str


class Below(_Closed):
    metric: Metric
    threshold: str


class When(_Closed):
    above: Above | None = None
    below: Below | None = None
    event_severity: list[Severity] | None = None
    system: SystemCondition | None = None
    harm: list[Harm] | None = None
    state: str | None = None


class Stronger(_Closed):
    when: When
    type: ViolationType
    severity: Severity
    reporting_days: int | None = Field(default=None, ge=1, le=365)


class ViolationRule(_Closed):
    control: str
    type: ViolationType
    severity: Severity | Literal["event"]
    when: When | None = None
    stronger: Stronger | None = None
    reporting: bool = False
    reporting_days: int | None = Field(default=None, ge=1, le=365)
    # The legal obligation whose deadlines the violation carries (engine/rules/deadlines.yaml).
    obligation: str | None = None


class MappingRules(_Closed):
    rules: dict[str, list[ViolationRule]]
    # Rules for an event of any type (patient harm reported with it).
    every_event: list[ViolationRule] = Field(default_factory=list)


class Bound(_Closed):
    default: float
    min: float
    max: float


class ThresholdRefused(ValueError):
    """A threshold outside its allowed range, or one that does not exist."""


SEVERITY_ORDER = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Violation:
    framework_id: str
    control_id: str  # the catalog's own id (an alias resolved)
    control_name: str  # the catalog's title: one control, one name
    type: str
    severity: str
    requires_reporting: bool
    reporting_deadline_days: int | None
    obligation: str | None = None  # a rule of engine/rules/deadlines.yaml
    # None: the finding stands on a law in force or a standard the organization follows; else
    # why it is only a recommendation (engine/law.py).
    standing: str | None = None


def _table(name: str) -> Any:
    return yaml.safe_load(files(__package__).joinpath("rules", name).read_text())


@cache
def threshold_bounds() -> dict[str, Bound]:
    groups = _table("thresholds.yaml")
    return {
        f"{group}.{key}": Bound.model_validate(bound)
        for group, keys in groups.items()
        for key, bound in keys.items()
    }


@cache
def mapping_rules() -> MappingRules:
    table = MappingRules.model_validate(_table("mapping.yaml"))
    catalog = load_catalog()
    bounds = threshold_bounds()
    types = rules().types
    known = deadline_rule_ids()
    for event_type, violations in [*table.rules.items(), ("every_event", table.every_event)]:
        for rule in violations:
            if rule.obligation is not None and rule.obligation not in known:
                raise ValueError(f"{event_type}: no deadline rule {rule.obligation}")
            if catalog.control(rule.control) is None:
                raise ValueError(f"{event_type}: control {rule.control} is not in the catalog")
            for when in (rule.when, rule.stronger.when if rule.stronger else None):
                for bound in (when.above, when.below) if when else ():
                    if bound and bound.threshold not in bounds:
                        raise ValueError(f"{event_type}: no threshold {bound.threshold}")
            measured = types.get(event_type) if event_type != "every_event" else None
            if (
                measured
                and measured.measured
                and not (rule.when and (rule.when.above or rule.when.below))
            ):
                raise ValueError(f"{event_type} is measured: {rule.control} needs a threshold")
    return table


def thresholds(settings: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
    """The defaults with an organization's values (``{"drift": {"accuracy_drop_high": 0.2}}``)
    in their place, each checked against its range."""
    values = {name: bound.default for name, bound in threshold_bounds().items()}
    for group, keys in (settings or {}).items():
        for key, value in keys.items():
            name = f"{group}.{key}"
            bound = threshold_bounds().get(name)
            if bound is None:
                raise ThresholdRefused(f"there is no threshold {name}")
            if not bound.min <= value <= bound.max:
                raise ThresholdRefused(
                    f"{name} must be between {bound.min:g} and {bound.max:g}, not {value:g}"
                )
            values[name] = float(value)
    return values


def _system(condition: str, facts: SystemFacts) -> bool:
    strict = facts.department.strip().lower() == "hr" or "hiring" in facts.name.lower()
    fda = is_device(facts)
    return {
        "fda_relevant": fda,
        "fda_user_facility": fda and facts.has_vendor,
        "fda_manufacturer": fda and not facts.has_vendor,
        "employment": is_employment_ai(facts),
        "employment_strict": strict,
        "not_employment_strict": not strict,
    }[condition]


def _holds(
    when: When | None, event: Normalized, facts: SystemFacts, limits: Mapping[str, float]
) -> bool:
    if when is None:
        return True
    if when.above is not None:
        measured = event.metrics.get(when.above.metric)
        if measured is None or not measured > limits[when.above.threshold]:
            return False
    if when.below is not None:
        measured = event.metrics.get(when.below.metric)
        if measured is None or not measured < limits[when.below.threshold]:
            return False
    if when.event_severity is not None and event.severity not in when.event_severity:
        return False
    if when.system is not None and not _system(when.system, facts):
        return False
    if when.harm is not None and event.harm not in when.harm:
        return False
    return when.state is None or when.state in (
        {facts.organization_state} | set(facts.serves_states)
    )


def map_event(
    event: Normalized, facts: SystemFacts, limits: Mapping[str, float] | None = None
) -> list[Violation]:
    """The violations of one normalized event of this system, in the rule table's order; a
    control two rules raise (an accuracy drop and an error rate, say) is one violation, as
    severe and as urgent as the stronger of the two."""
    limits = limits if limits is not None else thresholds()
    catalog = load_catalog()
    found: list[Violation] = []
    table = mapping_rules()
    for rule in [*table.rules.get(event.event_type, []), *table.every_event]:
        if not _holds(rule.when, event, facts, limits):
            continue
        kind, severity = rule.type, rule.severity
        reporting, days = rule.reporting, rule.reporting_days
        if rule.stronger is not None and _holds(rule.stronger.when, event, facts, limits):
            kind, severity = rule.stronger.type, rule.stronger.severity
            days = rule.stronger.reporting_days or days
        resolved = catalog.control(rule.control)
        assert resolved is not None  # checked when the table loaded
        framework, control = resolved
        violation = Violation(
            framework_id=framework.id,
            control_id=control.id,
            control_name=control.title,
            type=kind,
            severity=event.severity if severity == "event" else severity,
            requires_reporting=reporting or days is not None,
            reporting_deadline_days=days,
            obligation=rule.obligation,
        )
        earlier = next((i for i, v in enumerate(found) if v.control_id == control.id), None)
        if earlier is None:
            found.append(violation)
        else:
            found[earlier] = _stronger(found[earlier], violation)
    return found


def _stronger(first: Violation, second: Violation) -> Violation:
    """One violation of a control two rules raised: the more severe, reportable if either is,
    by the earlier of their deadlines."""
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    kept = first if rank.get(first.severity, 99) <= rank.get(second.severity, 99) else second
    days = [d for d in (first.reporting_deadline_days, second.reporting_deadline_days) if d]
    return replace(
        kept,
        requires_reporting=first.requires_reporting or second.requires_reporting,
        reporting_deadline_days=min(days) if days else None,
        obligation=first.obligation or second.obligation,
    )
