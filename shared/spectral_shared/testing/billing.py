"""Billing's capabilities snapshot as tests and benchmarks publish it in billing's place
(``billing.entitlements.updated``): every field spelled out, versions counting up so that each
snapshot is newer than the last one a consumer holds."""

from __future__ import annotations

import itertools
from typing import Any

from spectral_shared.contracts.billing import Capabilities

# Far above what billing itself reaches for an organization in a test (its first snapshot is 1).
_versions = itertools.count(1_000_000)

# What each health-system plan allows, as billing's catalog has it (services/billing's plans.toml).
PLANS: dict[str, dict[str, Any]] = {
    "starter": {"plan_name": "Starter", "ai_system_limit": 3, "per_hour": 1_000, "custom": False},
    "professional": {
        "plan_name": "Professional",
        "ai_system_limit": 10,
        "per_hour": 10_000,
        "custom": True,
    },
    "enterprise": {
        "plan_name": "Enterprise",
        "ai_system_limit": None,
        "per_hour": 100_000,
        "custom": True,
    },
}


def capabilities(
    plan: str = "enterprise",
    *,
    ai_system_limit: int | str | None = "plan",
    writable: bool = True,
    status: str = "active",
    read_only_reason: str | None = None,
    pay_url: str | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """The payload billing would publish for ``plan`` (``ai_system_limit`` overrides the plan's)."""
    known = PLANS[plan]
    limit = known["ai_system_limit"] if ai_system_limit == "plan" else ai_system_limit
    snapshot = Capabilities(
        version=version if version is not None else next(_versions),
        plan=plan,
        plan_name=known["plan_name"],
        status=status,
        ai_system_limit=limit,
        request_quota={"limit": known["per_hour"], "window_seconds": 3600},
        threshold_overrides=known["custom"],
        control_toggles=known["custom"],
        custom_controls=100 if plan == "enterprise" else 0,
        reports=("compliance_status", "ai_inventory", "audit_trail"),
        certification_tier=None,
        writable=writable,
        read_only_reason=read_only_reason,
        pay_url=pay_url,
    )
    return snapshot.model_dump(mode="json")
