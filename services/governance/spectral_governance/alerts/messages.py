"""An alert's text and the numbers its automatic severity is judged on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from spectral_governance.engine.mapping import Violation as Found
from spectral_governance.engine.normalizer import SEVERITIES, Normalized
from spectral_governance.inventory.models import AISystem


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def highest(severities: Iterable[str]) -> str:
    return min(severities, key=_rank, default="low")


# Words an event type's name spells as an initialism.
_INITIALISMS = {"phi": "PHI", "ai": "AI"}


def event_label(event_type: str) -> str:
    """``phi_exposure`` as people write it: "PHI exposure"."""
    words = [_INITIALISMS.get(w, w) for w in event_type.split("_")]
    first = words[0] if words[0].isupper() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def alert_metadata(event: Normalized, findings: Sequence[Found]) -> dict[str, Any]:
    m = event.metrics
    metadata: dict[str, Any] = {}
    if findings:
        top = min(findings, key=lambda f: _rank(f.severity))
        metadata.update(control_id=top.control_id, framework_id=top.framework_id)
    if "latency_increase_pct" in m:
        metadata["percent_degraded"] = m["latency_increase_pct"] * 100
    if "accuracy_drop" in m:
        metadata["percent_degraded"] = m["accuracy_drop"] * 100
    if "error_rate" in m:
        metadata["error_rate"] = m["error_rate"]
    if "value" in m:
        metadata["drift_score"] = m["value"]
    return metadata


def alert_message(event: Normalized, system: AISystem, findings: Sequence[Found]) -> str:
    label = event_label(event.event_type)
    if not findings:
        return f"{label} ({event.severity}) reported by {system.name}."
    controls = ", ".join(dict.fromkeys(f"{f.framework_id} {f.control_id}" for f in findings))
    return f"{label} on {system.name}: {len(findings)} violation(s) of {controls}."
