"""The AI-system inventory's vocabulary and rules (docs/domain.md#the-ai-system-inventory). Pure: no I/O.

An AI system has a lifecycle (``testing`` -> ``active`` <-> ``paused``, any -> ``deprecated``,
which is terminal) and, separately, a computed compliance posture (``ok``, ``drift``,
``critical``) that is never a lifecycle state. High or critical risk forces monitoring on; a
provider link is a type and an external id, both or neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from spectral_shared.errors import Conflict, RuleBroken

Lifecycle = Literal["testing", "active", "paused", "deprecated"]
RiskLevel = Literal["low", "medium", "high", "critical"]
Posture = Literal["ok", "drift", "critical"]
FdaStatus = Literal["not_a_device", "cleared_510k", "cleared_de_novo", "exempt", "unknown"]
ProviderType = Literal["epic", "cerner", "athenahealth", "langsmith", "langfuse", "arize", "wandb"]
Category = Literal[
    "clinical_decision_support",
    "diagnostic_imaging",
    "pathology",
    "clinical_documentation",
    "patient_engagement",
    "population_health",
    "operations",
    "revenue_cycle",
    "workforce",
    "research",
    "other",
]

LIFECYCLES: tuple[str, ...] = get_args(Lifecycle)
RISK_LEVELS: tuple[str, ...] = get_args(RiskLevel)
FDA_STATUSES: tuple[str, ...] = get_args(FdaStatus)
PROVIDER_TYPES: tuple[str, ...] = get_args(ProviderType)
CATEGORIES: tuple[str, ...] = get_args(Category)

# Where a system may go next from each lifecycle state.
TRANSITIONS: dict[str, frozenset[str]] = {
    "testing": frozenset({"active", "deprecated"}),
    "active": frozenset({"paused", "deprecated"}),
    "paused": frozenset({"active", "deprecated"}),
    "deprecated": frozenset(),
}
# A system enters the inventory still being evaluated, or already in use.
INITIAL_STATES = frozenset({"testing", "active"})

MONITORED_RISKS = frozenset({"high", "critical"})
# Risk levels in order, for sorting: low first.
RISK_RANKS = {level: rank for rank, level in enumerate(RISK_LEVELS, start=1)}
NAME_MIN_LENGTH = 3
NAME_MAX_LENGTH = 200

# The number FDA assigned: K + 6 digits for a 510(k), DEN + 6 digits for a De Novo.
SUBMISSION_NUMBER = {
    "cleared_510k": re.compile(r"^K\d{6}$"),
    "cleared_de_novo": re.compile(r"^DEN\d{6}$"),
}
SUBMISSION_EXAMPLE = {"cleared_510k": "K201234", "cleared_de_novo": "DEN200012"}


class TransitionRefused(Conflict):
    """A lifecycle move the inventory lifecycle does not allow (a 409, not a validation error)."""

    title = "Lifecycle transition not allowed"
    slug = "invalid-transition"

    def __init__(self, current: str, wanted: str) -> None:
        allowed = sorted(TRANSITIONS[current])
        hint = (
            f"from {current} it can go to {', '.join(allowed)}"
            if allowed
            else (f"{current} is final")
        )
        super().__init__(
            f"An AI system cannot go from {current} to {wanted}: {hint}.",
            current_status=current,
            allowed=allowed,
        )
        self.current = current
        self.wanted = wanted
        self.allowed = allowed


def check_transition(current: str, wanted: str) -> None:
    if wanted != current and wanted not in TRANSITIONS[current]:
        raise TransitionRefused(current, wanted)


@dataclass(frozen=True)
class Shape:
    """The fields the rules look at, after a create or an update is applied."""

    risk_level: str
    monitoring_enabled: bool | None  # None: not stated, the rules choose
    fda_status: str
    fda_submission_number: str | None
    provider_type: str | None
    provider_system_id: str | None


def settle(shape: Shape, *, monitoring_stated: bool) -> bool:
    """Check the cross-field rules and return the monitoring flag to store.

    High or critical risk turns monitoring on when the request did not say; a request that says
    "off" for such a system is refused rather than silently overridden."""
    if shape.fda_status in SUBMISSION_NUMBER:
        number = shape.fda_submission_number
        if not number:
            raise RuleBroken(
                "fda_submission_number",
                f"Give the FDA submission number of a {shape.fda_status} device "
                f"(e.g. {SUBMISSION_EXAMPLE[shape.fda_status]}).",
            )
        if not SUBMISSION_NUMBER[shape.fda_status].match(number):
            raise RuleBroken(
                "fda_submission_number",
                f"A {shape.fda_status} number looks like {SUBMISSION_EXAMPLE[shape.fda_status]}.",
            )
    elif shape.fda_submission_number:
        raise RuleBroken(
            "fda_submission_number",
            "Only a cleared device (cleared_510k or cleared_de_novo) has a submission number.",
        )
    if (shape.provider_type is None) != (shape.provider_system_id is None):
        raise RuleBroken(
            "provider_system_id" if shape.provider_type else "provider_type",
            "Give the provider type and the provider's system id together, or neither.",
        )
    if shape.risk_level in MONITORED_RISKS:
        if monitoring_stated and shape.monitoring_enabled is False:
            raise RuleBroken(
                "monitoring_enabled",
                f"A {shape.risk_level}-risk system must be monitored; monitoring cannot be off.",
            )
        return True
    return bool(shape.monitoring_enabled)


# Localities with their own AI law, by code: the state they are in and their name. A system
# serving one is in play for the locality's law (docs/domain.md#state-law).
Locality = Literal["NYC"]
LOCALITIES: dict[str, tuple[str, str]] = {"NYC": ("NY", "New York City")}


def normalize_states(codes: list[str]) -> list[str]:
    """Upper-cased, de-duplicated, sorted (codes are validated by the schema)."""
    return sorted({c.strip().upper() for c in codes})
