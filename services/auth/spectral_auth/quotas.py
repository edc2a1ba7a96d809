"""Request quotas (docs/billing.md#plans). Pure rules.

Billing decides each organization's quota and publishes it in its capabilities snapshot; auth
keeps the newest one it has seen on the organization's row. An organization billing has said
nothing of yet gets the deployment's defaults (RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX_REQUESTS).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    limit: int
    window_seconds: float


def quota_for(
    limit: int | None,
    window_seconds: int | None,
    *,
    default_limit: int,
    default_window_seconds: float,
) -> Quota:
    if limit and window_seconds:
        return Quota(limit, float(window_seconds))
    return Quota(default_limit, default_window_seconds)
