"""Browser sessions, stored server-side in Redis (in memory in the embedded default).

The cookie holds only a random id; the store keeps the session under the id's SHA-256, so a
leaked Redis dump holds no usable cookie. The idle timeout is the entry's time-to-live, renewed on
each use; the absolute timeout is a fixed deadline inside the entry (docs/domain.md#decision-4-sessions, per
organization). Each session has a CSRF token that unsafe requests must echo in X-CSRF-Token.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from spectral_auth import event_types as ev
from spectral_auth.models import Organization, User, bus
from spectral_auth.roles import OrganizationSettings
from spectral_auth.services.registration import login
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.crypto import hash_token
from spectral_shared.db import utcnow
from spectral_shared.errors import DomainError, Forbidden

__all__ = [
    "SESSION_COOKIE",
    "BrowserSession",
    "CsrfRefused",
    "NoSession",
    "csrf_ok",
    "end_session",
    "load_session",
    "sign_in_browser",
    "sign_out_browser",
    "start_session",
]

SESSION_COOKIE = "spectral_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NoSession(DomainError):
    status = 401
    title = "Not signed in"
    slug = "no-session"

    def __init__(self) -> None:
        super().__init__("No live session: sign in again.")


class CsrfRefused(Forbidden):
    """A cookie-authenticated unsafe request without the session's CSRF token."""

    title = "CSRF token missing or wrong"
    slug = "csrf"

    def __init__(self, *, headers: dict[str, str] | None = None) -> None:
        super().__init__("Send the session's csrf_token as X-CSRF-Token.", headers=headers)


@dataclass(frozen=True)
class BrowserSession:
    user_id: str
    organization_id: str
    csrf_token: str
    created_at: str
    expires_at: str  # the absolute deadline
    idle_seconds: int

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    @property
    def deadline(self) -> datetime:
        return datetime.fromisoformat(self.expires_at)


def _key(session_id: str) -> str:
    return f"session:{hash_token(session_id)}"


def start_session(
    runtime: Runtime, *, user_id: str, organization_id: str
) -> tuple[str, BrowserSession]:
    """A new session for a user who just proved who they are; returns the cookie value and the session."""
    with runtime.database.read_session() as session:
        organization = session.get(Organization, organization_id)
        settings = OrganizationSettings.model_validate_json(
            organization.settings if organization else "{}"
        )
    now = utcnow()
    record = BrowserSession(
        user_id=user_id,
        organization_id=organization_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now.isoformat(),
        expires_at=(now + timedelta(hours=settings.absolute_timeout_hours)).isoformat(),
        idle_seconds=settings.idle_timeout_minutes * 60,
    )
    session_id = secrets.token_urlsafe(32)
    runtime.kv.set(
        _key(session_id), json.dumps(asdict(record)).encode(), ttl_seconds=record.idle_seconds
    )
    return session_id, record


def sign_in_browser(
    runtime: Runtime,
    *,
    email: str,
    password: str,
    mfa_code: str | None = None,
    backup_code: str | None = None,
) -> tuple[str, BrowserSession]:
    """Sign in with the same checks as token sign-in (lockout, MFA, expiry) and start a browser
    session; returns the cookie value and the session."""
    grant = login(
        runtime,
        email=email,
        password=password,
        mfa_code=mfa_code,
        backup_code=backup_code,
        browser=True,
    )
    return start_session(runtime, user_id=grant.user_id, organization_id=grant.organization_id)


def load_session(
    runtime: Runtime, session_id: str, *, touch: bool = True, check_account: bool = True
) -> BrowserSession | None:
    """The live session for this cookie, its idle timer renewed; None when expired, signed out,
    revoked ("sign out everywhere", deactivation, password change) or the user is inactive."""
    if not session_id or len(session_id) > 100:
        return None
    stored = runtime.kv.get(_key(session_id))
    if stored is None:
        return None
    record = BrowserSession(**json.loads(stored))
    now = utcnow()
    if record.deadline <= now:
        runtime.kv.delete(_key(session_id))
        return None
    if check_account:  # /internal/authorize checks its cached account facts instead
        with runtime.database.session() as session:
            user = session.scalars(
                select(User).where(
                    User.id == record.user_id, User.organization_id == record.organization_id
                )
            ).first()
            if user is None or user.deactivated_at is not None or user.status != "active":
                return None
            if user.sessions_revoked_at is not None and record.created <= user.sessions_revoked_at:
                return None
    if touch:
        remaining = int((record.deadline - now).total_seconds())
        runtime.kv.set(
            _key(session_id), stored, ttl_seconds=max(1, min(record.idle_seconds, remaining))
        )
    return record


def end_session(runtime: Runtime, session_id: str) -> None:
    record = load_session(runtime, session_id, touch=False)
    runtime.kv.delete(_key(session_id))
    if record is None:
        return
    with runtime.database.session() as session:
        record_event(
            session,
            bus,
            ev.SIGNED_OUT,
            ev.SignedOut(user_id=record.user_id),
            organization_id=record.organization_id,
            actor=Actor.user(record.user_id),
        )


def sign_out_browser(runtime: Runtime, session_id: str, *, csrf_token: str | None) -> None:
    """End the browser session of this cookie; the request must echo its CSRF token."""
    record = load_session(runtime, session_id, touch=False)
    if record is None:
        raise NoSession()
    if not csrf_ok(record, "DELETE", csrf_token):
        raise CsrfRefused()
    end_session(runtime, session_id)


def csrf_ok(record: BrowserSession, method: str, presented: str | None) -> bool:
    """Safe methods need nothing; unsafe ones must echo the session's token (timing-safe)."""
    if method.upper() not in UNSAFE_METHODS:
        return True
    return presented is not None and hmac.compare_digest(
        presented.encode(), record.csrf_token.encode()
    )
