"""The required actions of a violation (docs/domain.md#required-actions-and-deadlines): who does what, how
urgently, by when. Pure: the rules are ``rules/actions.yaml``, keyed by control (aliases resolved
through the catalog when the table loads, which fails on an unknown id).

A control's own actions come first; then, for a violation that must be reported, a notify action
due on its reporting deadline (Spectral's default when the rule gives none) unless one of its
actions is already a notify or document due then (docs/domain.md#decision-8-actions; the reference left most reportable
violations with no action at all). Per violation, actions with the same type, assignee and first
50 characters of description are one, the higher priority kept; they are sorted by priority,
then by due. Descriptions are filled from the control and the system's name, never from an
event's payload, so they carry no PHI.
"""

from __future__ import annotations

import copy
import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spectral_governance.catalog import load_catalog
from spectral_governance.engine.deadlines import Obligation
from spectral_governance.engine.mapping import Violation
from spectral_governance.engine.normalizer import Severity

ActionType = Literal["rollback", "notify", "document", "escalate", "restrict"]
Priority = Literal["immediate", "urgent", "high", "medium", "low"]
Persona = Literal["ciso", "compliance_officer", "clinical_owner", "it_owner", "privacy_officer"]
PRIORITIES: tuple[str, ...] = ("immediate", "urgent", "high", "medium", "low")
REPORTING_ACTIONS = frozenset({"notify", "document"})
PLACEHOLDERS = frozenset({"system", "control_id", "control_name", "framework", "deadline"})
DEDUPE_PREFIX = 50
OTHERWISE = "otherwise"

_DUE = re.compile(r"^(?P<n>[1-9][0-9]*) (?P<unit>hours?|days?)$")
REPORTING_DEADLINE = "reporting deadline"


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _due(text: str) -> timedelta | None:
    """``"2 hours"``, ``"7 days"``, or None for ``"reporting deadline"``."""
    if text == REPORTING_DEADLINE:
        return None
    found = _DUE.match(text)
    if found is None:
        raise ValueError(f'due must be "<n> hours", "<n> days" or "{REPORTING_DEADLINE}"')
    n = int(found["n"])
    return timedelta(hours=n) if found["unit"].startswith("hour") else timedelta(days=n)


def _template(text: str) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise ValueError(f"description has unknown placeholders {unknown}")
    return text


def _priority(spec: Priority | dict[str, Priority]) -> Priority | dict[str, Priority]:
    if isinstance(spec, dict):
        keys = set(spec)
        if OTHERWISE not in keys:
            raise ValueError(f"a priority by severity needs an '{OTHERWISE}'")
        unknown = sorted(keys - {"critical", "high", "medium", "low", OTHERWISE})
        if unknown:
            raise ValueError(f"priority by unknown severities {unknown}")
    return spec


class When(_Closed):
    severity: list[Severity] = Field(min_length=1)


class ActionRule(_Closed):
    action: ActionType
    priority: Priority | dict[str, Priority]
    assignee: Persona
    due: str
    automated: bool
    when: When | None = None
    description: str = Field(min_length=10)
    details: dict[str, Any] = Field(default_factory=dict)

    _check_priority = field_validator("priority")(_priority)
    _check_description = field_validator("description")(_template)

    @field_validator("due")
    @classmethod
    def _check_due(cls, value: str) -> str:
        _due(value)
        return value

    @model_validator(mode="after")
    def _json_details(self) -> ActionRule:
        try:
            json.dumps(self.details, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"details must be plain JSON: {error}") from error
        return self


class Reporting(_Closed):
    default_days: int = Field(ge=1, le=365)
    action: Literal["notify", "document"]
    priority: Priority | dict[str, Priority]
    automated: bool
    owners: dict[str, Persona]
    description: str = Field(min_length=10)
    to: dict[str, list[str]] = Field(default_factory=dict)

    _check_priority = field_validator("priority")(_priority)
    _check_description = field_validator("description")(_template)

    @field_validator("owners")
    @classmethod
    def _owner_otherwise(cls, value: dict[str, Persona]) -> dict[str, Persona]:
        if OTHERWISE not in value:
            raise ValueError(f"owners needs an '{OTHERWISE}'")
        return value


class ActionsFile(_Closed):
    reporting: Reporting
    actions: dict[str, list[ActionRule]]


@dataclass(frozen=True)
class ActionTable:
    reporting: Reporting
    by_control: dict[str, tuple[ActionRule, ...]]  # our control ids
    reporting_to: dict[str, tuple[str, ...]]  # our control ids


@dataclass(frozen=True)
class PlannedAction:
    action_type: str
    priority: str
    assignee: str
    due_in: timedelta
    automated: bool
    description: str
    details: dict[str, Any]  # plain JSON


def _literal_prefix(template: str) -> str:
    return next(iter(string.Formatter().parse(template)))[0]


@cache
def action_rules() -> ActionTable:
    """``rules/actions.yaml``, checked (``parse_actions``)."""
    return parse_actions(
        yaml.safe_load(files(__package__).joinpath("rules", "actions.yaml").read_text())
    )


def parse_actions(raw: Any) -> ActionTable:
    """An actions table, checked: every control and framework in the catalog, one entry per
    control, and no action that deduplication could take for the reporting action."""
    table = ActionsFile.model_validate(raw)
    catalog = load_catalog()

    def resolved(control: str, where: str) -> str:
        found = catalog.control(control)
        if found is None:
            raise ValueError(f"actions: {where} names control {control}, not in the catalog")
        return found[1].id

    by_control: dict[str, tuple[ActionRule, ...]] = {}
    for control, rules in table.actions.items():
        ours = resolved(control, "actions")
        if ours in by_control:
            raise ValueError(f"actions: {control} is listed twice (as {ours})")
        by_control[ours] = tuple(rules)
    unknown = sorted(
        f for f in table.reporting.owners if f != OTHERWISE and not catalog.framework(f)
    )
    if unknown:
        raise ValueError(f"actions: reporting owners name unknown frameworks {unknown}")
    # Dedupe must never take the reporting action for another: their fixed openings must differ.
    ours_opening = _literal_prefix(table.reporting.description)[:DEDUPE_PREFIX]
    clashing = sorted(
        control
        for control, rules in by_control.items()
        for rule in rules
        if (opening := _literal_prefix(rule.description)[:DEDUPE_PREFIX]).startswith(ours_opening)
        or ours_opening.startswith(opening)
    )
    if clashing:
        raise ValueError(f"actions of {clashing} begin like the reporting action {ours_opening!r}")
    reporting_to = {
        resolved(control, "reporting.to"): tuple(whom)
        for control, whom in table.reporting.to.items()
    }
    return ActionTable(table.reporting, by_control, reporting_to)


def _graded(spec: Priority | dict[str, Priority], severity: str) -> str:
    if isinstance(spec, dict):
        return spec.get(severity, spec[OTHERWISE])
    return spec


def _deadline(due: timedelta) -> str:
    if due % timedelta(days=1):
        hours = due // timedelta(hours=1)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return f"{due.days} day{'' if due.days == 1 else 's'}"


def _rank(action: PlannedAction) -> int:
    return PRIORITIES.index(action.priority)


def reporting_days(violation: Violation, table: ActionTable | None = None) -> tuple[str, int]:
    """A reportable violation's own day count and its basis, where no law sets one: the rule's
    (``reporting_deadline``), else its control's in the catalog (``catalog``), else Spectral's
    default (``spectral_default``)."""
    table = table if table is not None else action_rules()
    if violation.reporting_deadline_days is not None:
        return "reporting_deadline", violation.reporting_deadline_days
    found = load_catalog().control(violation.control_id)
    if found is not None and found[1].reporting_deadline_days is not None:
        return "catalog", found[1].reporting_deadline_days
    return "spectral_default", table.reporting.default_days


def _legal(obligations: Sequence[Obligation]) -> tuple[str, str, int] | None:
    """The basis, the words and the day count of a law's deadline for an action due on it: the
    earliest mandatory obligation with a date; else the law's words for one without."""
    mandatory = [o for o in obligations if o.mandatory and o.basis == "law"]
    dated = [o for o in mandatory if o.due is not None and o.days is not None]
    if dated:
        first = min(dated, key=lambda o: o.due or datetime.max.replace(tzinfo=UTC))
        assert first.days is not None
        kind = "business" if first.counting == "business" else "calendar"
        return (
            "law",
            f"{first.days} {kind} day{'' if first.days == 1 else 's'} ({first.citation})",
            first.days,
        )
    if mandatory:
        return "law_without_a_date", f"the most expedient time ({mandatory[0].citation})", 0
    return None


def plan_actions(
    violation: Violation,
    system_name: str = "the AI system",
    rules: ActionTable | None = None,
    obligations: Sequence[Obligation] = (),
) -> list[PlannedAction]:
    """The actions one violation of the system named ``system_name`` requires, sorted; by the
    rules of ``actions.yaml`` unless others are given. With the violation's ``obligations``
    (engine/deadlines.py), an action due on the reporting deadline says the law's deadline."""
    table = rules if rules is not None else action_rules()
    control_id = load_catalog().resolve(violation.control_id)
    # The law's deadline; else the rule's, the catalog's or Spectral's (reporting_days).
    basis, days = reporting_days(violation, table)
    legal = _legal(obligations)
    words: str | None = None
    if legal is not None:
        basis, words, legal_days = legal
        days = legal_days or days  # without a date: planned on the fallback's days
    reporting_due = timedelta(days=days)

    def text(template: str, due: timedelta) -> str:
        return template.format_map(
            {
                "system": system_name,
                "control_id": violation.control_id,
                "control_name": violation.control_name,
                "framework": violation.framework_id,
                "deadline": words if words is not None and due == reporting_due else _deadline(due),
            }
        )

    planned: list[PlannedAction] = []
    for rule in table.by_control.get(control_id, ()):
        if rule.when is not None and violation.severity not in rule.when.severity:
            continue
        due = _due(rule.due)
        details = copy.deepcopy(rule.details)
        if due is None:
            due = reporting_due
            details["deadline_basis"] = basis
            if basis == "law_without_a_date":  # the due date is only Spectral's planning target
                details["planning_target_days"] = reporting_due.days
        planned.append(
            PlannedAction(
                action_type=rule.action,
                priority=_graded(rule.priority, violation.severity),
                assignee=rule.assignee,
                due_in=due,
                automated=rule.automated,
                description=text(rule.description, due),
                details=details,
            )
        )
    if violation.requires_reporting and not any(
        a.action_type in REPORTING_ACTIONS and a.due_in == reporting_due for a in planned
    ):
        reporting = table.reporting
        notice: dict[str, Any] = {
            "deadline_basis": basis,
            "reporting_deadline_days": reporting_due.days,
        }
        if basis == "law_without_a_date":
            notice["planning_target_days"] = reporting_due.days
        if control_id in table.reporting_to:
            notice["to"] = list(table.reporting_to[control_id])
        planned.append(
            PlannedAction(
                action_type=reporting.action,
                priority=_graded(reporting.priority, violation.severity),
                assignee=reporting.owners.get(violation.framework_id, reporting.owners[OTHERWISE]),
                due_in=reporting_due,
                automated=reporting.automated,
                description=text(reporting.description, reporting_due),
                details=notice,
            )
        )
    kept: dict[tuple[str, str, str], PlannedAction] = {}
    for action in planned:
        key = (action.action_type, action.assignee, action.description[:DEDUPE_PREFIX])
        if key not in kept or _rank(action) < _rank(kept[key]):
            kept[key] = action
    return sorted(kept.values(), key=lambda a: (_rank(a), a.due_in))
