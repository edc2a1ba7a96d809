"""API calls per organization per UTC day: counted by the quota check in the same round trip
(``spectral_shared.ratelimit.Tally``), reported to the bus by the worker every minute while they
grow (``auth.usage.recorded``, a running total), kept in ``api_usage`` so a report is sent once
per change."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from spectral_auth import event_types as ev
from spectral_auth.models import ApiUsage, bus
from spectral_shared.bus import Actor, PendingEvent, record_events
from spectral_shared.component import Runtime


def utc_day(now: float | None = None) -> date:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).date()


def api_calls_key(day: date) -> str:
    return f"usage:api_calls:{day.isoformat()}"


def report_usage(runtime: Runtime) -> int:
    """Publish each organization's API calls today (and yesterday's last count) that grew since
    the last report. Returns how many reports were recorded."""
    today = utc_day()
    counted = {
        day: runtime.kv.tallies(api_calls_key(day)) for day in (today - timedelta(days=1), today)
    }
    events: list[PendingEvent] = []
    with runtime.database.session() as session:
        for day, counts in counted.items():
            if not counts:
                continue
            known = {
                row.organization_id: row
                for row in session.scalars(
                    select(ApiUsage)
                    .where(ApiUsage.day == day, ApiUsage.organization_id.in_(list(counts)))
                    .with_for_update()
                )
            }
            for organization_id, calls in sorted(counts.items()):
                row = known.get(organization_id)
                if row is not None and row.calls >= calls:
                    continue
                if row is None:
                    row = ApiUsage(organization_id=organization_id, day=day, calls=calls)
                    session.add(row)
                row.calls = calls
                events.append(
                    PendingEvent(
                        ev.USAGE_RECORDED,
                        ev.UsageRecorded(day=day, api_calls=calls),
                        organization_id=organization_id,
                        actor=Actor.system("auth.usage"),
                    )
                )
        session.flush()
        record_events(session, bus, events)
    return len(events)
