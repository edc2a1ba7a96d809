"""An organization's customization of the engine (docs/domain.md#customization-and-guardrails): threshold
overrides and control toggles, made effective, within the guardrails. Pure.

- A threshold override replaces one threshold of ``rules/thresholds.yaml``, for every event type
  or one, for the organization or one system, until it expires or is revoked. The most specific
  wins: system and event type, then system, then event type, then the organization's; among
  equals, the newest.
- A control toggle turns a control off for the organization or one system: the engine then
  produces no violation (and so no action) of it.
- Guardrails: the mandatory controls (catalog tag ``guardrail``) cannot be turned off, and PHI
  event types cannot be given a threshold (every exposure is a violation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from spectral_governance.catalog import load_catalog
from spectral_governance.engine.mapping import mapping_rules, threshold_bounds, thresholds
from spectral_governance.engine.normalizer import rules
from spectral_shared.errors import RuleBroken

# Never given a threshold above 0, nor mapped by custom controls (docs/domain.md#customization-and-guardrails).
PHI_EVENT_TYPES = frozenset(
    {"phi_exposure", "phi_leak", "phi_leakage", "unauthorized_phi_access", "phi_disclosure"}
)


class GuardrailRefused(RuleBroken):
    """A customization the regulatory guardrails do not allow (a 422 on the field)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(field, message)


@dataclass(frozen=True)
class Override:
    id: str
    threshold: str
    value: float
    event_type: str | None
    ai_system_id: str | None
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class Toggle:
    control_id: str
    ai_system_id: str | None


@cache
def mandatory_controls() -> frozenset[str]:
    return frozenset(
        control_id
        for control_id, (_, control) in load_catalog().controls.items()
        if "guardrail" in control.tags
    )


@cache
def thresholds_of(event_type: str) -> frozenset[str]:
    """The thresholds the mapping rules of a canonical event type compare with."""
    found: set[str] = set()
    for rule in mapping_rules().rules.get(event_type, []):
        for when in (rule.when, rule.stronger.when if rule.stronger else None):
            if when is not None and when.above is not None:
                found.add(when.above.threshold)
    return frozenset(found)


def canonical_event_type(name: str) -> str | None:
    return rules().canonical(name)


def check_override(event_type: str | None, threshold: str, value: float) -> str | None:
    """The canonical event type the override is for (None: every type), or GuardrailRefused."""
    canonical = None
    if event_type is not None:
        if event_type.strip().lower() in PHI_EVENT_TYPES or (
            canonical_event_type(event_type) == "phi_exposure"
        ):
            raise GuardrailRefused(
                f"{event_type} is a PHI event type: it cannot have a threshold, every exposure "
                "is a violation (regulatory guardrail)",
                field="event_type",
            )
        canonical = canonical_event_type(event_type)
        if canonical is None:
            raise GuardrailRefused(f"{event_type} is not a known event type", field="event_type")
    bound = threshold_bounds().get(threshold)
    if bound is None:
        known = ", ".join(sorted(threshold_bounds()))
        raise GuardrailRefused(
            f"there is no threshold {threshold}; the thresholds are {known}", field="threshold"
        )
    if canonical is not None and threshold not in thresholds_of(canonical):
        used = ", ".join(sorted(thresholds_of(canonical))) or "none"
        raise GuardrailRefused(
            f"{canonical} events are not compared with {threshold} (they use: {used})",
            field="threshold",
        )
    if not bound.min <= value <= bound.max:
        raise GuardrailRefused(
            f"{threshold} must be between {bound.min:g} and {bound.max:g}, not {value:g}",
            field="value",
        )
    return canonical


def check_toggle(control_id: str) -> str:
    """The catalog id of a control that may be turned off, or GuardrailRefused."""
    resolved = load_catalog().control(control_id)
    if resolved is None:
        raise GuardrailRefused(f"there is no control {control_id}", field="control_id")
    _, control = resolved
    if control.id in mandatory_controls():
        raise GuardrailRefused(
            f"{control.id} is a mandatory control and cannot be turned off (regulatory guardrail)",
            field="control_id",
        )
    return str(control.id)


def _specificity(override: Override) -> tuple[int, int, datetime]:
    return (override.ai_system_id is not None, override.event_type is not None, override.created_at)


def effective_limits(
    overrides: Iterable[Override],
    *,
    event_type: str,
    ai_system_id: str,
    now: datetime,
) -> dict[str, float]:
    """The thresholds for one event of one system: the defaults, then the overrides that apply,
    least specific first so the most specific wins."""
    applicable = sorted(
        (
            o
            for o in overrides
            if (o.ai_system_id is None or o.ai_system_id == ai_system_id)
            and (o.event_type is None or o.event_type == event_type)
            and (o.expires_at is None or o.expires_at > now)
        ),
        key=_specificity,
    )
    values = thresholds()
    bounds = threshold_bounds()
    for override in applicable:
        bound = bounds.get(override.threshold)
        # A threshold the table no longer has, or a range narrowed since: the default holds.
        if bound is not None and bound.min <= override.value <= bound.max:
            values[override.threshold] = override.value
    return values


def disabled_controls(toggles: Iterable[Toggle], *, ai_system_id: str) -> frozenset[str]:
    return frozenset(
        t.control_id
        for t in toggles
        if (t.ai_system_id is None or t.ai_system_id == ai_system_id)
        and t.control_id not in mandatory_controls()
    )
