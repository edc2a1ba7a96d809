"""The translation engine's rule tables rendered as Markdown, per control: docs/rules.md embeds
this output, and a test compares the two, so the document cannot drift from the tables the engine
runs. Pure: it reads the same loaded tables as the engine (``mapping_rules``, ``threshold_bounds``,
``state_law_rules``, ``action_rules``, ``load_catalog``), never the YAML files by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from spectral_governance.catalog import Catalog, Framework, load_catalog
from spectral_governance.catalog.applicability import (
    CA_HIGH_RISK_DEPARTMENTS,
    CO_HIGH_IMPACT_DEPARTMENTS,
    FDA_CATEGORIES,
    FDA_DEPARTMENTS,
)
from spectral_governance.engine.actions import OTHERWISE, ActionRule, Reporting, action_rules
from spectral_governance.engine.customization import mandatory_controls
from spectral_governance.engine.deadlines import Part, deadline_rules
from spectral_governance.engine.mapping import (
    Bound,
    ViolationRule,
    When,
    mapping_rules,
    threshold_bounds,
)
from spectral_governance.engine.normalizer import rules as normalizer_rules
from spectral_governance.engine.state_law import Regulation, state_law_rules
from spectral_governance.engine.translate import SIGNIFICANT

BEGIN = "<!-- BEGIN GENERATED RULES (spectral governance rules-doc) -->"
EVERY_EVENT = "every event type"
END = "<!-- END GENERATED RULES -->"


def _departments(names: Iterable[str]) -> str:
    return ", ".join(sorted(name.title() if name != "hr" else "HR" for name in names))


SYSTEM_CONDITIONS = {
    "fda_relevant": (
        f"the system is FDA-relevant (department {_departments(FDA_DEPARTMENTS)}, category "
        f'{", ".join(sorted(FDA_CATEGORIES))}, or "diagnostic" in its name)'
    ),
    "employment": (
        "the system is employment AI (department HR, or one naming employment or human "
        'resources, category workforce, or "hiring" or "recruitment" in its name)'
    ),
    "fda_user_facility": "the system is FDA-relevant and another makes it (it has a vendor): "
    "the organization is a device user facility",
    "fda_manufacturer": "the system is FDA-relevant and made in house (no vendor): the "
    "organization is its manufacturer",
    "employment_strict": 'the system\'s department is exactly HR or its name has "hiring"',
    "not_employment_strict": 'the system\'s department is not HR and its name has no "hiring"',
}

STATE_GATES = {
    "CA_HSC_1280_15": "the organization is in California (a licensed facility) and the system "
    "uses PHI",
    "CA_AB3030": "California is in play and the system communicates with patients (patient "
    "engagement or clinical documentation)",
    "UT_AI_POLICY": "Utah is in play and the system communicates with patients (patient "
    "engagement or clinical documentation)",
    "TX_TRAIGA": "Texas is in play and the system is used in patient care",
    "TX_SB1188": "Texas is in play and the system is used for diagnosis or keeps health records",
    "CA_SB1047": (
        "the system is high or critical risk, or its department is a California high-risk one "
        f"({_departments(CA_HIGH_RISK_DEPARTMENTS)})"
    ),
    "CO_AI_ACT": (
        "the system is high or critical risk, or its department is a Colorado high-impact one "
        f"({_departments(CO_HIGH_IMPACT_DEPARTMENTS)})"
    ),
    "NYC_LL144": "the system serves New York City and "
    + SYSTEM_CONDITIONS["employment"].removeprefix("the system "),
    "CA_BREACH": "the system uses PHI",
}


@dataclass
class _Raised:
    """One mapping rule, with every event type that shares it (YAML anchors, one rule)."""

    rule: ViolationRule
    event_types: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    raised: list[_Raised] = field(default_factory=list)
    state_law: list[Regulation] = field(default_factory=list)
    actions: tuple[ActionRule, ...] = ()
    aliases: list[str] = field(default_factory=list)


def _threshold(name: str, bounds: dict[str, Bound]) -> str:
    return f"`{name}` (default {bounds[name].default:g})"


def _condition(when: When | None, bounds: dict[str, Bound]) -> str:
    if when is None:
        return "always"
    parts: list[str] = []
    if when.above is not None:
        parts.append(f"`{when.above.metric}` > {_threshold(when.above.threshold, bounds)}")
    if when.below is not None:
        parts.append(f"`{when.below.metric}` < {_threshold(when.below.threshold, bounds)}")
    if when.harm is not None:
        parts.append(f"the event reports patient harm: {' or '.join(when.harm)}")
    if when.event_severity is not None:
        parts.append(f"the event's severity is {' or '.join(when.event_severity)}")
    if when.system is not None:
        parts.append(SYSTEM_CONDITIONS[when.system])
    if when.state is not None:
        parts.append(f"{when.state} is the organization's state or one the system serves")
    return "; ".join(parts)


def _severity(severity: str) -> str:
    return "the event's own" if severity == "event" else severity


def _reporting(
    days: int | None,
    reporting: bool,
    catalogued: int | None,
    default: int,
    obligation: str | None = None,
) -> str:
    if obligation is not None:
        return (
            f"yes, on the deadlines of [`{obligation}`](#deadline-{obligation.replace('.', '-')})"
        )
    if days is not None:
        return f"yes, within {days} days"
    if not reporting:
        return "no"
    if catalogued is not None:
        return f"yes, no deadline in the rule: the catalog's {catalogued} days"
    return f"yes, no deadline in the rule or catalog: Spectral's default {default} days"


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _priority(spec: str | Mapping[str, str]) -> str:
    if isinstance(spec, str):
        return spec
    graded = [f"{p} if {s}" for s, p in spec.items() if s != OTHERWISE]
    return ", ".join([*graded, f"else {spec[OTHERWISE]}"])


def _due(due: str, catalogued: int | None, reporting: Reporting) -> str:
    if due != "reporting deadline":
        return due
    fallback = (
        f"the catalog's {catalogued} days" if catalogued else f"{reporting.default_days} days"
    )
    return f"the reporting deadline (else {fallback})"


def _entries(catalog: Catalog) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}

    def entry(control: str) -> _Entry:
        found = catalog.control(control)
        assert found is not None  # the tables check their ids when they load
        return entries.setdefault(found[1].id, _Entry())

    table = mapping_rules()
    for event_type, rules in [*table.rules.items(), (EVERY_EVENT, table.every_event)]:
        for rule in rules:
            raised = entry(rule.control).raised
            same = next((r for r in raised if r.rule == rule), None)
            if same is None:
                raised.append(_Raised(rule, [event_type]))
            else:
                same.event_types.append(event_type)
    for regulation in state_law_rules().regulations:
        entry(regulation.control).state_law.append(regulation)
    for control, actions in action_rules().by_control.items():
        entry(control).actions = actions
    for alias, ours in catalog.aliases.items():
        if ours in entries:
            entries[ours].aliases.append(alias)
    return entries


def _thresholds_table(bounds: dict[str, Bound]) -> list[str]:
    used: dict[str, set[str]] = {name: set() for name in bounds}
    for event_type, rules in mapping_rules().rules.items():
        for rule in rules:
            for when in (rule.when, rule.stronger.when if rule.stronger else None):
                for compared in (when.above, when.below) if when is not None else ():
                    if compared is not None:
                        used[compared.threshold].add(event_type)
    lines = [
        "### Thresholds",
        "",
        "| threshold | default | allowed range | compared by the rules of |",
        "|---|---|---|---|",
    ]
    for name, bound in bounds.items():
        types = ", ".join(f"`{t}`" for t in sorted(used[name])) or "no rule (unused)"
        lines.append(f"| `{name}` | {bound.default:g} | {bound.min:g}-{bound.max:g} | {types} |")
    return [*lines, ""]


def _aliases_table() -> list[str]:
    aliases = normalizer_rules().taxonomy.aliases
    lines = ["### Event type aliases", "", "| a source says | taken as |", "|---|---|"]
    lines += [f"| `{alias}` | `{canonical}` |" for alias, canonical in aliases.items()]
    return [*lines, ""]


def _control_section(
    control_id: str, entry: _Entry, catalog: Catalog, bounds: dict[str, Bound]
) -> list[str]:
    found = catalog.control(control_id)
    assert found is not None
    framework, control = found
    reporting = action_rules().reporting
    catalogued = control.reporting_deadline_days
    lines = [f"#### `{control_id}` {control.title}", ""]
    facts: list[str] = []
    if entry.aliases:
        facts.append(f"Rules may name it {', '.join(f'`{a}`' for a in sorted(entry.aliases))}.")
    facts.append(
        f"Catalog reporting deadline: {catalogued} days."
        if catalogued
        else "No reporting deadline in the catalog."
    )
    if control.id in mandatory_controls():
        facts.append("Mandatory: an organization cannot turn it off.")
    facts.append(_standing_of(framework))
    lines += [" ".join(facts), ""]

    if entry.raised or entry.state_law:
        lines += [
            "| raised by | event types | when | violation type | severity | must be reported |",
            "|---|---|---|---|---|---|",
        ]
    for raised in entry.raised:
        rule = raised.rule
        severity = _severity(rule.severity)
        kind: str = rule.type
        if rule.stronger is not None:
            stronger = _condition(rule.stronger.when, bounds)
            if rule.stronger.type != rule.type:
                kind = f"{rule.type}; {rule.stronger.type} when {stronger}"
            if rule.stronger.severity != rule.severity:
                severity = f"{severity}; {rule.stronger.severity} when {stronger}"
        reported = _reporting(
            rule.reporting_days,
            rule.reporting,
            catalogued,
            reporting.default_days,
            rule.obligation,
        )
        if rule.stronger is not None and rule.stronger.reporting_days:
            reported = (
                f"{reported}; within {rule.stronger.reporting_days} days when "
                f"{_condition(rule.stronger.when, bounds)}"
            )
        lines.append(
            _row(
                "mapping",
                ", ".join(t if t == EVERY_EVENT else f"`{t}`" for t in raised.event_types),
                _condition(rule.when, bounds),
                kind,
                severity,
                reported,
            )
        )
    for regulation in entry.state_law:
        events = ", ".join(f"`{t}` ({_severity(s)})" for t, s in regulation.events.items())
        place = (
            ""
            if regulation.gate in ("CA_HSC_1280_15", "NYC_LL144", "CA_AB3030", "UT_AI_POLICY")
            or regulation.gate.startswith("TX_")
            else f"{framework.jurisdiction.removeprefix('US-')} is the organization's state or "
            "one the system serves; "
        )
        lines.append(
            _row(
                f"state law (`{regulation.framework}`)",
                events,
                f"{place}{STATE_GATES[regulation.gate]}; the mapping found a violation in the "
                f"event or it is {' or '.join(sorted(SIGNIFICANT))}; the mapping did not raise "
                "this control",
                "state_regulation",
                "critical when the event is critical, else as listed per event type",
                _reporting(
                    regulation.reporting_days,
                    regulation.reporting,
                    catalogued,
                    reporting.default_days,
                    regulation.obligation,
                ),
            )
        )
    if not entry.raised and not entry.state_law:
        lines.append("No rule raises this control, so its actions below never run.")
    lines.append("")

    if entry.actions:
        lines += [
            "| action | priority | assignee | due | automated | only when the violation is |",
            "|---|---|---|---|---|---|",
        ]
        for action in entry.actions:
            lines.append(
                _row(
                    action.action,
                    _priority(action.priority),
                    action.assignee,
                    _due(action.due, catalogued, reporting),
                    "yes" if action.automated else "no",
                    " or ".join(action.when.severity) if action.when else "any",
                )
            )
        lines.append("")
    else:
        lines += ["No actions of its own.", ""]
    reportable = any(r.rule.reporting or r.rule.reporting_days for r in entry.raised) or any(
        r.reporting for r in entry.state_law
    )
    if not reportable:
        return lines
    owner = reporting.owners.get(framework.id, reporting.owners[OTHERWISE])
    to = action_rules().reporting_to.get(control.id)
    recipients = f", to {', '.join(to)}" if to else ""
    lines += [
        f"When reportable, and no notify or document action above is due on the reporting "
        f"deadline: {reporting.action}, {_priority(reporting.priority)}, {owner}, due on the "
        f"reporting deadline{recipients}.",
        "",
    ]
    return lines


def _deadline_period(part: Part) -> str:
    if part.days is None:
        return "no fixed number of days"
    if part.days == "given":
        return "the rule's own number of days"
    kind = "business" if part.counting == "business" else "calendar"
    return f"{part.days} {kind} day{'s' if part.days != 1 else ''}"


def _deadline_start(part: Part) -> str:
    if part.after is not None and part.start == "year_end":
        return f"after December 31 of the year `{part.after}` is due"
    if part.after is not None:
        return f"after `{part.after}` is due"
    if part.start == "year_end":
        return f"after December 31 of the year of {part.anchor}"
    return f"after {part.anchor}"


def _deadline_conditions(part: Part) -> str:
    parts: list[str] = []
    if part.discovered_from is not None:
        parts.append(f"discovered from {part.discovered_from}")
    if part.discovered_before is not None:
        parts.append(f"discovered before {part.discovered_before}")
    when = part.when
    if when is not None and when.affected is not None:
        count = {"total": "people affected", "each_state": "residents of a state affected"}.get(
            when.affected.of, f"{when.affected.of} residents affected"
        )
        bounds = []
        if when.affected.min is not None:
            bounds.append(f"at least {when.affected.min}")
        if when.affected.max is not None:
            bounds.append(f"at most {when.affected.max}")
        unknown = " (or not yet known)" if when.affected.unknown else ""
        parts.append(f"{' and '.join(bounds)} {count}{unknown}")
    if when is not None and when.harm is not None:
        parts.append(f"harm: {' or '.join(when.harm)}")
    if when is not None and when.manufacturer is not None:
        parts.append(
            "the organization made the device" if when.manufacturer else "another made the device"
        )
    if when is not None and when.remedial_action:
        parts.append("remedial action needed")
    return "; ".join(parts) or "always"


def _deadlines_section() -> list[str]:
    lines = [
        "### Deadlines",
        "",
        "A reportable violation carries one obligation per part of its rule whose conditions "
        "hold on the incident's facts. Day 1 is the day after the start; an obligation is due "
        "at the end of its last day in the organization's time zone. Business days skip "
        "weekends and the holidays of the calendars named.",
        "",
    ]
    for rule, parts in deadline_rules().rules.items():
        lines += [
            f'<a id="deadline-{rule.replace(".", "-")}"></a>',
            "",
            f"#### `{rule}`",
            "",
            "| part | recipient | citation | within | counted | calendars | applies when "
            "| mandatory |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for part in parts:
            lines.append(
                _row(
                    f"`{part.id}`",
                    part.recipient,
                    part.citation,
                    _deadline_period(part),
                    _deadline_start(part),
                    ", ".join(part.calendars) or "-",
                    _deadline_conditions(part),
                    ("yes" if part.mandatory else "no")
                    + (" (Spectral's default)" if part.basis == "spectral" else ""),
                )
            )
        lines.append("")
    return lines


def _standing_of(framework: Framework) -> str:
    """What the law pass makes of a finding under this framework."""
    if framework.binding:
        return (
            "Binding law: its findings stand (and are reportable as listed) on events from "
            f"{framework.effective_date}"
            + (f" to {framework.end_date} (exclusive)" if framework.end_date else "")
            + "; before or after that, a recommendation."
        )
    if framework.status == "voluntary":
        return "A voluntary standard: its findings stand, and no law sets a deadline for them."
    return (
        f"Not law ({framework.status}): every finding is a low-severity, non-reportable "
        "recommendation, which an organization can turn off."
    )


def _sources_table(catalog: Catalog) -> list[str]:
    lines = [
        "### Legal sources",
        "",
        "Every finding stands on a framework of the catalog: its place, status and dates decide "
        "whether it binds on the event's date (`engine/law.py`).",
        "",
        "| framework | jurisdiction | status | in force from | until | citation |",
        "|---|---|---|---|---|---|",
    ]
    for file in catalog.frameworks:
        f = file.framework
        lines.append(
            _row(
                f"`{f.id}` {f.name}",
                f.jurisdiction,
                f.status.replace("_", " ") + (f" ({f.status_date})" if f.status_date else ""),
                str(f.effective_date or "-"),
                str(f.end_date or "-"),
                f.citation,
            )
        )
    return [*lines, ""]


def render_rules() -> str:
    """The generated part of docs/rules.md: thresholds, aliases, then one section per control
    that a rule raises or that has actions, by framework, in catalog order."""
    catalog = load_catalog()
    bounds = threshold_bounds()
    entries = _entries(catalog)
    lines = [BEGIN, "", *_sources_table(catalog), *_thresholds_table(bounds), *_aliases_table()]
    lines += [
        f"Catalog version {catalog.version}. Reporting fallback: a reportable violation with no "
        f"deadline in its rule takes its control's deadline in the catalog, else "
        f"{action_rules().reporting.default_days} days.",
        "",
    ]
    for file in catalog.frameworks:
        listed = [c.id for c in file.controls if c.id in entries]
        if not listed:
            continue
        lines += [f"### {file.framework.name} (`{file.framework.id}`)", ""]
        for control_id in listed:
            lines += _control_section(control_id, entries[control_id], catalog, bounds)
    lines += [*_deadlines_section(), END, ""]
    return "\n".join(lines)
