"""Sign-in lockout and password age (docs/domain.md#decision-3-passwords). Pure rules: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_CONSECUTIVE_FAILURES = 5
LOCK_DURATION = timedelta(minutes=30)


@dataclass(frozen=True)
class FailureOutcome:
    failed_count: int
    locked_until: datetime | None  # set when this failure locks the account


def after_failure(failed_count: int, now: datetime) -> FailureOutcome:
    """The fifth consecutive failure locks for 30 minutes; counting restarts after the lock."""
    count = failed_count + 1
    if count >= MAX_CONSECUTIVE_FAILURES:
        return FailureOutcome(0, now + LOCK_DURATION)
    return FailureOutcome(count, None)


def locked(locked_until: datetime | None, now: datetime) -> bool:
    """An expired lock clears by itself."""
    return locked_until is not None and locked_until > now


def password_expired(changed_at: datetime | None, expiry_days: int | None, now: datetime) -> bool:
    """Expiry is off unless the organization sets it (some auditors ask for 90 days)."""
    if expiry_days is None:
        return False
    return changed_at is None or changed_at + timedelta(days=expiry_days) <= now
