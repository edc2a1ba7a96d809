"""The events catalog rendered as Markdown: docs/events.md embeds this output, and a test
compares the two, so the documentation cannot drift from what the code publishes and consumes."""

from __future__ import annotations

import json

from spectral_shared.bus.catalog import routing_key_matches
from spectral_shared.component import Component, Runtime
from spectral_shared.config import Settings

BEGIN = "<!-- BEGIN GENERATED CATALOG (spectral events catalog) -->"
END = "<!-- END GENERATED CATALOG -->"


def render_catalog(components: dict[str, Component], settings: Settings) -> str:
    subscriptions = [s for c in components.values() for s in Runtime(c, settings).subscriptions]
    lines = [BEGIN, "", "### Event types", ""]
    lines += ["| type | producer | consumers (queue) | description |", "|---|---|---|---|"]
    event_types = sorted(
        (t for c in components.values() for t in c.events.types.values()), key=lambda t: t.name
    )
    for event_type in event_types:
        consumers = ", ".join(
            f"`{s.name}`"
            for s in subscriptions
            if any(routing_key_matches(b, event_type.name) for b in s.bindings)
        )
        lines.append(
            f"| `{event_type.name}` | {event_type.producer} | {consumers or '-'} | {event_type.description} |"
        )
    lines += ["", "### Consumer queues", "", "| queue | bound to |", "|---|---|"]
    for subscription in sorted(subscriptions, key=lambda s: s.name):
        lines.append(
            f"| `{subscription.name}` | {', '.join(f'`{b}`' for b in subscription.bindings)} |"
        )
    lines += ["", "### Payload schemas (`data`)", ""]
    for event_type in event_types:
        schema = event_type.json_schema()
        lines += [f"#### `{event_type.name}` (version {event_type.version})", "", "```json"]
        lines += [json.dumps(schema, indent=2, sort_keys=True), "```", ""]
    lines += [END, ""]
    return "\n".join(lines)
