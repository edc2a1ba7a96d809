"""Billing's events that other services consume: what an organization may do (ADR 0041).

Billing decides capabilities; services obey them. The snapshot names what is allowed, never a plan
to be interpreted: a consumer reads the AI-system limit, the request quota, the customization
rights and whether the organization may create anything new, and keeps a snapshot only when its
``version`` is newer than the one it holds (versions count up per organization, so a redelivered
or late snapshot changes nothing).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spectral_shared.bus.catalog import Contract, EventData

# The report kinds a plan may produce (the reports service checks these).
ReportKind = Literal[
    "compliance_status", "executive_summary", "ai_inventory", "audit_trail", "evidence_package"
]
# Where an organization stands with billing (for messages and the console, not for decisions).
BillingStatus = Literal[
    "none", "trialing", "active", "past_due", "read_only", "paused", "canceled", "expired"
]


class RequestQuota(EventData):
    """Requests the organization may make per window, across all its users and keys."""

    limit: int = Field(ge=1)
    window_seconds: int = Field(ge=1)


class Capabilities(EventData):
    """What an organization may do, as billing decided it at ``version``."""

    version: int = Field(ge=1)
    # For messages only ("Your plan (Starter) allows 3 AI systems"); never interpreted.
    plan: str | None
    plan_name: str | None
    status: BillingStatus
    # AI systems it may keep (None: unlimited).
    ai_system_limit: int | None = Field(ge=0)
    # None: the deployment's default quota (RATE_LIMIT_MAX_REQUESTS per RATE_LIMIT_WINDOW_MS).
    request_quota: RequestQuota | None
    threshold_overrides: bool
    control_toggles: bool
    custom_controls: int = Field(ge=0)  # how many custom controls it may keep (0: none)
    reports: tuple[ReportKind, ...]
    certification_tier: Literal["verified", "certified", "trusted"] | None
    # False: read-only. Nothing new (AI systems, customizations), everything readable and
    # exportable; telemetry and its findings keep flowing.
    writable: bool
    read_only_reason: str | None
    # Where an admin settles the account (the billing page, or the unpaid invoice's page).
    pay_url: str | None


ENTITLEMENTS_UPDATED = Contract("billing.entitlements.updated", Capabilities, version=2)
