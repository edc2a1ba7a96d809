"""Request quotas per plan tier (docs/domain.md#plans-and-limits). Pure data and rules.

An organization without a known plan gets the deployment's defaults (RATE_LIMIT_WINDOW_MS,
RATE_LIMIT_MAX_REQUESTS). Billing sets the tier from its subscription events (issue: billing);
until then an operator sets it with ``spectral auth set-plan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PlanTier = Literal["starter", "professional", "enterprise"]


@dataclass(frozen=True)
class Quota:
    limit: int
    window_seconds: float


# Hourly allowances from the reference's tier table (its 'basic' row is our starter).
PLAN_QUOTAS: dict[PlanTier, Quota] = {
    "starter": Quota(1_000, 3600),
    "professional": Quota(10_000, 3600),
    "enterprise": Quota(100_000, 3600),
}


def quota_for(plan_tier: str | None, *, default_limit: int, default_window_seconds: float) -> Quota:
    if plan_tier in PLAN_QUOTAS:
        return PLAN_QUOTAS[plan_tier]
    return Quota(default_limit, default_window_seconds)
