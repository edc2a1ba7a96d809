"""Daily usage per organization, counted from the bus, and the warning at 80% of a plan limit.

Counts are kept per UTC day: AI systems as the most active that day, telemetry events and
reports as sums, API calls as auth's running count for the day (an absolute value, so a
redelivered report changes nothing). Each writer is a step in the consumer's transaction.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_billing.accounts.models import Organization
from spectral_billing.accounts.notices import tell_admins_once
from spectral_billing.db import bus
from spectral_billing.entitlements.models import Entitlement
from spectral_billing.event_types import USAGE_THRESHOLD_REACHED, UsageThresholdReached
from spectral_billing.plans.catalog import catalog
from spectral_billing.usage.models import DailyUsage
from spectral_shared.bus import record_event
from spectral_shared.bus.envelope import Actor
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import utcnow

METRICS = ("ai_systems", "telemetry_events", "reports", "api_calls")


def _row(session: Session, organization_id: str, day: date, metric: str) -> DailyUsage:
    row = session.get(DailyUsage, (organization_id, day, metric), with_for_update=True)
    if row is None:
        row = DailyUsage(organization_id=organization_id, day=day, metric=metric, value=0)
        session.add(row)
    return row


def _today(moment: datetime | None = None) -> date:
    return (moment or utcnow()).date()


def note_ai_systems(session: Session, organization_id: str, count: int) -> None:
    row = _row(session, organization_id, _today(), "ai_systems")
    row.value = max(row.value or 0, count)
    session.flush()


def add_usage(
    session: Session, organization_id: str, metric: str, amount: int, at: datetime | None = None
) -> None:
    row = _row(session, organization_id, _today(at), metric)
    row.value = (row.value or 0) + amount
    session.flush()


def set_usage(session: Session, organization_id: str, metric: str, day: date, value: int) -> None:
    row = _row(session, organization_id, day, metric)
    row.value = max(row.value or 0, value)
    session.flush()


def limits(capabilities: dict[str, object]) -> dict[str, int | None]:
    """Each metric's limit under these capabilities (None: no limit)."""
    quota = capabilities.get("request_quota")
    per_day = None
    if isinstance(quota, dict):
        per_day = int(quota["limit"]) * 86_400 // int(quota["window_seconds"])
    limit = capabilities.get("ai_system_limit")
    return {
        "ai_systems": int(limit) if isinstance(limit, int) else None,
        "telemetry_events": None,
        "reports": None,
        "api_calls": per_day,
    }


def warn_near_limit(
    session: Session,
    cipher: FieldCipher,
    organization_id: str,
    metric: str,
    used: int,
    *,
    actor: Actor,
    period: str,
) -> bool:
    """Tell the admins once (per limit and period) when ``used`` reaches 80% of the limit."""
    entitlement = session.get(Entitlement, organization_id)
    if entitlement is None:
        return False
    limit = limits(entitlement.capabilities).get(metric)
    if not limit:
        return False
    percent = catalog().money_stops.usage_warning_percent
    if used * 100 < limit * percent:
        return False
    organization = session.get(Organization, organization_id)
    if organization is None:
        return False
    what = {"ai_systems": "AI systems", "api_calls": "API requests today"}.get(metric, metric)
    told = tell_admins_once(
        session,
        cipher,
        organization,
        kind=f"usage_{metric}",
        key=f"{period}:{limit}",
        subject=f"Spectral: {used * 100 // limit}% of your plan's {what}",
        text=(
            f"Your organization uses {used} of the {limit} {what} its plan allows "
            f"({used * 100 // limit}%). Upgrade the plan before the limit stops new work."
        ),
    )
    if told:
        record_event(
            session,
            bus,
            USAGE_THRESHOLD_REACHED,
            UsageThresholdReached(
                metric=metric, used=used, limit=limit, percent=used * 100 // limit
            ),
            organization_id=organization_id,
            actor=actor,
        )
    return told


def usage_days(
    session: Session, organization_id: str, first: date, last: date
) -> dict[date, dict[str, int]]:
    days: dict[date, dict[str, int]] = {}
    for row in session.scalars(
        select(DailyUsage).where(
            DailyUsage.organization_id == organization_id,
            DailyUsage.day >= first,
            DailyUsage.day <= last,
        )
    ):
        days.setdefault(row.day, {})[row.metric] = int(row.value)
    return days
