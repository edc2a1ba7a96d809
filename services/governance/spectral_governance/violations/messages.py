"""A violation's description: the rule, the system and the measured number; never PHI."""

from __future__ import annotations

from spectral_governance.engine.mapping import Violation as Found
from spectral_governance.engine.normalizer import Normalized
from spectral_governance.inventory.models import AISystem


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _points(value: float) -> str:
    """A drop in a fraction (accuracy 0.91 to 0.79) in percentage points: "12 percentage points"."""
    points = value * 100
    return f"{points:.1f}".rstrip("0").rstrip(".") + " percentage points"


def describe(found: Found, event: Normalized, system: AISystem) -> str:
    """A violation's description: the rule, the system and the measured number; never PHI."""
    m = event.metrics
    if event.event_type == "phi_exposure":
        count = int(m.get("phi_exposure_count", 1))
        detail = f"{count} PHI exposure(s) reported"
    elif "accuracy_drop" in m:
        detail = f"accuracy dropped by {_points(m['accuracy_drop'])}"
    elif "impact_ratio" in m:
        detail = f"selection-rate impact ratio of {m['impact_ratio']:.2f} (four-fifths: 0.80)"
    elif "demographic_variance" in m:
        detail = f"demographic variance of {_percent(m['demographic_variance'])}"
    elif "error_rate" in m:
        detail = f"error rate of {_percent(m['error_rate'])}"
    elif "latency_increase_pct" in m:
        detail = f"latency up by {_percent(m['latency_increase_pct'])}"
    else:
        detail = f"{event.event_type.replace('_', ' ')} reported"
    described = (
        f"{found.framework_id} {found.control_id} {found.control_name}: {detail} "
        f"(AI system {system.name})."
    )
    return f"{described} {found.standing}" if found.standing else described
