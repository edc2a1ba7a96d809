"""The telemetry reference for integrators rendered from the tables the normalizer and the mapping
run: docs/telemetry.md embeds this output and a test compares the two. Pure."""

from __future__ import annotations

from spectral_governance.engine.mapping import mapping_rules
from spectral_governance.engine.normalizer import rules as normalizer_rules

BEGIN = "<!-- BEGIN GENERATED TELEMETRY (spectral governance telemetry-doc) -->"
END = "<!-- END GENERATED TELEMETRY -->"


def _units() -> list[str]:
    units = normalizer_rules().normalizer.metric_units
    lines = [
        "### The numbers the rules read",
        "",
        "A payload value under one of these metrics' keys (below, per event type) must be a "
        "number in its range, or the event is rejected pointing at the key.",
        "",
        "| metric | unit and range |",
        "|---|---|",
    ]
    for name, unit in units.items():
        bounds = []
        if unit.min is not None:
            bounds.append(f">= {unit.min:g}")
        if unit.max is not None:
            bounds.append(f"<= {unit.max:g}")
        if unit.integer:
            bounds.append("whole")
        lines.append(f"| `{name}` | {unit.unit} ({', '.join(bounds)}) |")
    return [*lines, ""]


def _event_types() -> list[str]:
    table = normalizer_rules()
    mapping = mapping_rules().rules
    lines = [
        "### Event types",
        "",
        "| event type | category | severity when none is sent | numbers read (payload keys) "
        "| controls it can raise ([rules](rules.md)) |",
        "|---|---|---|---|---|",
    ]
    for kind in table.taxonomy.event_types:
        rule = next((r for r in table.normalizer.keyword_rules if r.type == kind.type), None)
        metrics = rule.metrics if rule else {}
        read = "; ".join(
            f"`{name}`: " + ", ".join(f"`{k}`" for k in source.keys)
            for name, source in metrics.items()
        )
        controls = ", ".join(dict.fromkeys(f"`{v.control}`" for v in mapping.get(kind.type, [])))
        lines.append(
            f"| `{kind.type}` | {kind.category} | {kind.default_severity} | {read or '-'} "
            f"| {controls or 'none'} |"
        )
    return [*lines, ""]


def _aliases() -> list[str]:
    aliases = normalizer_rules().taxonomy.aliases
    lines = ["### Other names a type is known by", "", "| a source says | taken as |", "|---|---|"]
    lines += [f"| `{alias}` | `{canonical}` |" for alias, canonical in aliases.items()]
    return [*lines, ""]


def render_telemetry() -> str:
    body = [BEGIN, "", *_event_types(), *_units(), *_aliases(), END]
    return "\n".join(body) + "\n"
