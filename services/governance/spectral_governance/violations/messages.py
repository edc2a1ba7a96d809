"""A violation's description: the rule, the system and the measured number; never PHI."""

from __future__ import annotations

from spectral_governance.engine.mapping import Violation as Found
from spectral_governance.engine.normalizer import Normalized
from spectral_governance.inventory.models import AISystem


def _percent(value: float) -> str:
    return f"{value:.1%}"


def describe(found: Found, event: Normalized, system: AISystem) -> str:
    """A violation's description: the rule, the system and the measured number; never PHI."""
    m = event.metrics
    if event.event_type == "phi_exposure":
        count = int(m.get("phi_exposure_count", 1))
        detail = f"{count} PHI exposure(s) reported"
    elif "accuracy_drop" in m:
        detail = f"accuracy dropped by {_percent(m['accuracy_drop'])}"
    elif "demographic_variance" in m:
        detail = f"demographic variance of {_percent(m['demographic_variance'])}"
    elif "error_rate" in m:
        detail = f"error rate of {_percent(m['error_rate'])}"
    elif "latency_increase_pct" in m:
        detail = f"latency up by {_percent(m['latency_increase_pct'])}"
    else:
        detail = f"{event.event_type.replace('_', ' ')} reported"
    described = (
        f"{found.framework_id} {found.control_id} {found.control_name}: {detail} by {system.name}."
    )
    return f"{described} {found.standing}" if found.standing else described
