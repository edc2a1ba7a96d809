"""HTTP API: the organization's usage beside its plan's limits."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response
from pydantic import BaseModel, Field

from spectral_billing.accounts.use_cases import count_systems
from spectral_billing.entitlements.models import Entitlement
from spectral_billing.usage.use_cases import METRICS, limits, usage_days
from spectral_billing.web import BILLING, api
from spectral_shared.db import utcnow
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import parse_query

bp = Blueprint("usage", __name__)


class UsageQuery(BaseModel):
    days: int = Field(default=30, ge=1, le=366, description="How many days back, today included")


class Metric(BaseModel):
    metric: str
    used: int  # today (AI systems: kept now)
    limit: int | None  # None: the plan sets no limit
    percent: int | None
    period: str  # what `used` and `limit` count over


class UsageDay(BaseModel):
    day: date
    ai_systems: int
    telemetry_events: int
    reports: int
    api_calls: int


class UsageOut(BaseModel):
    plan: str | None
    status: str
    metrics: list[Metric]
    days: list[UsageDay]


PERIODS = {
    "ai_systems": "kept now",
    "telemetry_events": "today (UTC)",
    "reports": "today (UTC)",
    "api_calls": "today (UTC)",
}


@bp.get(f"{BILLING}/usage")
@api.operation(
    "Daily usage (AI systems, telemetry events, reports, API calls) beside the plan's limits",
    query=UsageQuery,
    responses={200: UsageOut},
)
@requires("billing:read")
def get_usage() -> tuple[Response, int]:
    query = parse_query(UsageQuery)
    organization_id = current_identity().organization_id
    today = utcnow().date()
    first = today - timedelta(days=query.days - 1)
    with current_runtime().database.read_session() as session:
        entitlement = session.get(Entitlement, organization_id)
        by_day = usage_days(session, organization_id, first, today)
        kept = count_systems(session, organization_id)
    capabilities = entitlement.capabilities if entitlement else {}
    caps = limits(capabilities) if entitlement else dict.fromkeys(METRICS)
    now = {**by_day.get(today, {}), "ai_systems": kept}
    metrics = []
    for metric in METRICS:
        used, limit = int(now.get(metric, 0)), caps.get(metric)
        metrics.append(
            Metric(
                metric=metric,
                used=used,
                limit=limit,
                percent=(used * 100 // limit) if limit else None,
                period=PERIODS[metric],
            )
        )
    days = [
        UsageDay(
            day=first + timedelta(days=i),
            **{m: by_day.get(first + timedelta(days=i), {}).get(m, 0) for m in METRICS},
        )
        for i in range(query.days)
    ]
    return json_response(
        UsageOut(
            plan=capabilities.get("plan") if entitlement else None,
            status=entitlement.status if entitlement else "none",
            metrics=metrics,
            days=days,
        )
    )
