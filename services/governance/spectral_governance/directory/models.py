"""What governance knows of auth's organizations and users, kept from ``auth.*`` events (state
for the state-law rules, vendor organizations, owners, who is notified) and of billing's
entitlements (the AI-system limit). Governance never reads auth's tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from spectral_governance.db import Base
from spectral_shared.directory import DirectoryMember, DirectoryOrganization


class Organization(DirectoryOrganization, Base):
    __tablename__ = "organizations"

    # Billing's capabilities (ADR 0041), as of the newest snapshot applied. Until the first one
    # arrives, an unsubscribed health system's allowance applies (3 AI systems, no customization).
    plan: Mapped[str | None] = mapped_column(String(40))  # for messages only
    plan_name: Mapped[str | None] = mapped_column(String(60))
    # None: no snapshot yet (the starter limit applies); -1: unlimited.
    ai_system_limit: Mapped[int | None]
    entitlements_version: Mapped[int | None]
    threshold_overrides: Mapped[bool] = mapped_column(default=False, server_default=false())
    control_toggles: Mapped[bool] = mapped_column(default=False, server_default=false())
    # False: read-only (nothing new: AI systems, customizations); why, and where to pay.
    writable: Mapped[bool] = mapped_column(default=True, server_default=true())
    read_only_reason: Mapped[str | None] = mapped_column(Text)
    pay_url: Mapped[str | None] = mapped_column(Text)
    # Alerting settings (docs/domain.md#decision-9-alerts): the Slack incoming webhook (encrypted) and the SLA minutes
    # per severity that replace the defaults.
    slack_webhook_url: Mapped[str | None] = mapped_column(Text)
    alert_sla_minutes: Mapped[dict[str, Any] | None]
    # Findings of sources that are not law (a vetoed bill, a repealed law) raised as labelled
    # recommendations; an organization may turn them off (docs/domain.md#state-law).
    recommendations: Mapped[bool] = mapped_column(default=True, server_default=true())


class Member(DirectoryMember, Base):
    """Where required actions and alerts are sent: the role, persona tags and e-mail auth gave."""

    __tablename__ = "members"
