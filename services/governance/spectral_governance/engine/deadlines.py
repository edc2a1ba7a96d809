"""Computed reporting deadlines (docs/domain.md#computed-deadlines, ADR 0035): who must be told of an
incident, under which provision, by when. Pure: the rules are ``rules/deadlines.yaml``; this
module counts the days.

The clock starts when the organization knew or should reasonably have known (45 CFR
164.404(a)(2)), passed in as an aware datetime (for an event, its ``occurred_at``). Days are
counted on the local calendar of a time zone: "within N days after" makes day 1 the day after the
start's local date, and the obligation is due at the end of day N (local 23:59:59.999999),
returned both as that local date and as an aware UTC datetime.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Counting = Literal["calendar", "business"]
Anchor = Literal["discovery", "awareness", "detection"]
Harm = Literal["death", "serious_injury", "malfunction"]
CalendarName = Literal["US", "US-CA"]
Basis = Literal["law", "spectral"]

# For a caller that names no time zone: US Eastern, where HHS and FDA keep their clocks. The
# translation passes the organization's state's zone (ADR 0035).
DEFAULT_TZ = "America/New_York"

_STATE = r"^[A-Z]{2}$"


class UnknownDeadlineRule(ValueError):
    """A deadline rule id the table does not have."""


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AffectedCount(_Closed):
    """A condition on a count of affected people: ``min <= count <= max``. ``of`` names the count:
    ``total``, one state's residents (``CA``), or ``each_state`` (one obligation per state that
    meets it). ``unknown`` is whether a count not yet known meets it."""

    of: str = Field(pattern=r"^(total|each_state|[A-Z]{2})$")
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    unknown: bool

    @model_validator(mode="after")
    def _bounded(self) -> AffectedCount:
        if self.min is None and self.max is None:
            raise ValueError("an affected-count condition needs min or max")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"max {self.max} below min {self.min}")
        return self

    def meets(self, count: int) -> bool:
        return (self.min is None or count >= self.min) and (self.max is None or count <= self.max)


class When(_Closed):
    affected: AffectedCount | None = None
    harm: list[Harm] | None = Field(default=None, min_length=1)
    manufacturer: bool | None = None
    remedial_action: bool | None = None


class Part(_Closed):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    recipient: str = Field(min_length=2)
    citation: str = Field(min_length=4)
    anchor: Anchor
    start: Literal["anchor", "year_end"] = "anchor"
    after: str | None = None
    counting: Counting
    calendars: tuple[CalendarName, ...] = ()
    days: Annotated[int, Field(ge=1, le=400)] | Literal["given"] | None
    basis: Basis = "law"
    mandatory: bool = True
    discovered_from: date | None = None
    discovered_before: date | None = None
    when: When | None = None
    note: str = Field(min_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> Part:
        if (self.counting == "business") != bool(self.calendars):
            raise ValueError(f"{self.id}: business days need calendars, calendar days take none")
        if (self.basis == "spectral") != (self.days == "given"):
            raise ValueError(
                f"{self.id}: only Spectral's own deadlines take a given number of days"
            )
        if (
            self.discovered_from is not None
            and self.discovered_before is not None
            and self.discovered_before <= self.discovered_from
        ):
            raise ValueError(f"{self.id}: discovered_before not after discovered_from")
        try:
            self.note.format(affected="1", state="CA", state_affected="1", days="1")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{self.id}: the note names an unknown field {error}") from error
        return self

    def in_force(self, discovered: date) -> bool:
        return (self.discovered_from is None or self.discovered_from <= discovered) and (
            self.discovered_before is None or discovered < self.discovered_before
        )


class DeadlineRules(_Closed):
    rules: dict[str, tuple[Part, ...]]

    @field_validator("rules")
    @classmethod
    def _parts(cls, rules: dict[str, tuple[Part, ...]]) -> dict[str, tuple[Part, ...]]:
        for rule, parts in rules.items():
            if not parts:
                raise ValueError(f"{rule}: no parts")
            seen: set[str] = set()
            for part in parts:
                if part.id in seen:
                    raise ValueError(f"{rule}: part {part.id} twice")
                if part.after is not None and part.after not in seen:
                    raise ValueError(f"{rule}.{part.id}: after {part.after}, not an earlier part")
                seen.add(part.id)
        return rules


@dataclass(frozen=True)
class IncidentFacts:
    """What an incident's obligations depend on. ``None`` and an empty mapping mean "not yet
    known", which the rules read the safer way (ADR 0035)."""

    affected_count: int | None = None
    # Residents affected per US state or jurisdiction code; when given, taken as complete.
    affected_by_state: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    patient_harm: Harm | None = None
    # The organization made the device itself (an in-house system) rather than using another's.
    manufacturer: bool = False
    # 21 CFR 803.53(a): the event needs remedial action to prevent an unreasonable risk of
    # substantial harm to the public health.
    remedial_action: bool = False

    def __post_init__(self) -> None:
        if self.affected_count is not None and self.affected_count < 0:
            raise ValueError("affected_count must not be negative")
        for state, count in self.affected_by_state.items():
            if len(state) != 2 or not state.isascii() or not state.isupper() or count < 0:
                raise ValueError(f"affected_by_state: {state!r}: {count} is not a state count")
        object.__setattr__(
            self, "affected_by_state", MappingProxyType(dict(self.affected_by_state))
        )


@dataclass(frozen=True)
class Obligation:
    rule: str  # "hipaa.breach"
    part: str  # the part's id in the rule table: "hhs_annual"; stable, a key for storage
    recipient: str  # "individuals", "HHS", "media", "FDA", "CDPH", ...
    citation: str  # "45 CFR 164.404(b)"
    anchor: Anchor  # what the law calls the start: discovery, awareness, detection
    counting: Counting
    days: int | None  # None: no fixed number of days (the note says what the law asks)
    counted_from: date  # the local date day 1 follows: the anchor's, Dec 31, or another due date
    due: datetime | None  # aware UTC, the end of the local due date; None: no fixed date
    due_local: date | None
    tz: str
    basis: Basis  # law, or Spectral's own default
    mandatory: bool  # False: the law invites the report but does not require it
    state: str | None  # the state whose residents' count made it apply (media, CA), if any
    calendars: tuple[str, ...]  # the holiday calendars of business days
    note: str  # one sentence for people


@dataclass(frozen=True)
class HolidayCalendar:
    """Days that are a holiday on every named calendar (``US``: federal public holidays, observed
    days included; ``US-CA``: California's). Naming two where the law's calendar is uncertain
    keeps a business-day deadline no later than either reading."""

    names: tuple[CalendarName, ...]

    def __contains__(self, day: object) -> bool:
        return (
            isinstance(day, date)
            and bool(self.names)
            and all(day in _holidays(name, day.year) for name in self.names)
        )


@cache
def _holidays(name: CalendarName, year: int) -> frozenset[date]:
    if name == "US":
        table = holidays.US(categories=("public",), years=year)
    else:
        table = holidays.US(subdiv=name.removeprefix("US-"), categories=("public",), years=year)
    return frozenset(table)


def add_days(
    start: date, days: int, counting: Counting, calendar: Container[date] = frozenset()
) -> date:
    """The N-th day after ``start``: calendar days, or business days (not a Saturday, a Sunday or
    a day in ``calendar``). Day 1 is the first counted day after ``start``."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    if counting == "calendar":
        return start + timedelta(days=days)
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in calendar:
            counted += 1
    return day


def end_of_day(day: date, tz: str) -> datetime:
    """The last instant of a local day, in UTC."""
    return datetime.combine(day, time.max, tzinfo=_zone(tz)).astimezone(UTC)


@cache
def deadline_rules() -> DeadlineRules:
    """``rules/deadlines.yaml``, checked."""
    return parse_deadline_rules(
        yaml.safe_load(files(__package__).joinpath("rules", "deadlines.yaml").read_text())
    )


def parse_deadline_rules(raw: Any) -> DeadlineRules:
    """A deadline table, checked: closed fields, unique part ids, ``after`` an earlier part."""
    table = DeadlineRules.model_validate(raw)
    for rule in table.rules:
        if not rule.replace(".", "").replace("_", "").isalnum() or "." not in rule:
            raise ValueError(f"deadline rule id {rule!r} is not <source>.<name>")
    return table


def rule_ids() -> tuple[str, ...]:
    return tuple(deadline_rules().rules)


def obligations(
    rule: str,
    *,
    discovered: datetime,
    facts: IncidentFacts | None = None,
    tz: str = DEFAULT_TZ,
    days: int | None = None,
) -> tuple[Obligation, ...]:
    """The obligations ``rule`` gives an incident discovered at ``discovered`` (aware), in the
    table's order (per state in code order), counted on ``tz``'s calendar. ``days`` is the number
    of days of a Spectral-own rule (``spectral.days``), and only of one."""
    parts = deadline_rules().rules.get(rule)
    if parts is None:
        raise UnknownDeadlineRule(f"there is no deadline rule {rule!r}")
    if discovered.tzinfo is None or discovered.utcoffset() is None:
        raise ValueError("discovered must be an aware datetime")
    takes_days = any(p.days == "given" for p in parts)
    if takes_days != (days is not None):
        raise ValueError(
            f"{rule} needs days" if takes_days else f"{rule} sets its own days; days not taken"
        )
    facts = facts or IncidentFacts()
    local = discovered.astimezone(_zone(tz)).date()
    found: list[Obligation] = []
    produced: dict[str, Obligation] = {}
    for part in parts:
        if not part.in_force(local) or not _facts_hold(part.when, facts):
            continue
        for state, state_count in _states(part, facts):
            obligation = _obligation(
                rule, part, local, tz, facts, state, state_count, produced, days
            )
            produced.setdefault(part.id, obligation)
            found.append(obligation)
    return tuple(found)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {tz!r}") from error


def _facts_hold(when: When | None, facts: IncidentFacts) -> bool:
    if when is None:
        return True
    if when.harm is not None and facts.patient_harm not in when.harm:
        return False
    if when.manufacturer is not None and facts.manufacturer != when.manufacturer:
        return False
    return when.remedial_action is None or facts.remedial_action == when.remedial_action


def _states(part: Part, facts: IncidentFacts) -> list[tuple[str | None, int | None]]:
    """The (state, residents affected) pairs the part applies to: one with no state unless it
    counts each state's residents; none when its count condition fails."""
    condition = part.when.affected if part.when else None
    if condition is None:
        return [(None, None)]
    by_state = facts.affected_by_state
    total = facts.affected_count
    # A known total bounds every state's count from above.
    total_too_small = total is not None and condition.min is not None and total < condition.min
    if condition.of == "total":
        if total is None:
            return [(None, None)] if condition.unknown else []
        return [(None, total)] if condition.meets(total) else []
    if condition.of == "each_state":
        if by_state:
            return [(s, n) for s, n in sorted(by_state.items()) if condition.meets(n)]
        return [(None, None)] if condition.unknown and not total_too_small else []
    state = condition.of
    if by_state:
        count = by_state.get(state, 0)
        return [(state, count)] if condition.meets(count) else []
    return [(state, None)] if condition.unknown and not total_too_small else []


def _obligation(
    rule: str,
    part: Part,
    local: date,
    tz: str,
    facts: IncidentFacts,
    state: str | None,
    state_count: int | None,
    produced: Mapping[str, Obligation],
    given: int | None,
) -> Obligation:
    number = given if part.days == "given" else part.days
    assert not isinstance(number, str)
    counted_from: date | None = local
    if part.after is not None:
        # From an earlier part's due date; with year_end, from December 31 of its year (an
        # annual report of the reports due that year, 21 CFR 803.33).
        earlier = produced.get(part.after)
        counted_from = earlier.due_local if earlier else None
        if counted_from is not None and part.start == "year_end":
            counted_from = date(counted_from.year, 12, 31)
    elif part.start == "year_end":
        counted_from = date(local.year, 12, 31)
    calendar = HolidayCalendar(part.calendars)
    due_local = (
        add_days(counted_from, number, part.counting, calendar)
        if number is not None and counted_from is not None
        else None
    )
    affected = "an unknown number" if facts.affected_count is None else str(facts.affected_count)
    note = part.note.format(
        affected=affected,
        state=state or "each state or jurisdiction",
        state_affected="an unknown number" if state_count is None else str(state_count),
        days="" if number is None else str(number),
    )
    return Obligation(
        rule=rule,
        part=part.id,
        recipient=part.recipient,
        citation=part.citation,
        anchor=part.anchor,
        counting=part.counting,
        days=number,
        counted_from=counted_from or local,
        due=end_of_day(due_local, tz) if due_local else None,
        due_local=due_local,
        tz=tz,
        basis=part.basis,
        mandatory=part.mandatory,
        state=state,
        calendars=part.calendars,
        note=note,
    )
