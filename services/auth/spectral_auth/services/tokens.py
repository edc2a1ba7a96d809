"""Refresh tokens (opaque, rotated on use, family revoked on reuse) and revocation by time.

A refresh token's family is one sign-in. Rotation spends the presented token and issues the
next one in the family; a spent token presented again means two parties hold the family, so the
whole family dies (RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14). "Sign out everywhere",
deactivation and password changes set ``users.sessions_revoked_at``: everything issued before
that moment is refused, without enumerating sessions.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from spectral_auth import event_types as ev
from spectral_auth.account_state import bump_account
from spectral_auth.models import RefreshToken, User, bus
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.crypto import hash_token
from spectral_shared.db import utcnow
from spectral_shared.errors import DomainError

__all__ = [
    "REFRESH_TOKEN_LIFETIME",
    "InvalidRefreshToken",
    "RefreshTokenReused",
    "end_sign_in",
    "issue_refresh_token",
    "revoke_all_sessions",
    "revoke_refresh_family",
    "use_refresh_token",
]

REFRESH_TOKEN_LIFETIME = timedelta(days=14)


class InvalidRefreshToken(DomainError):
    status = 401
    title = "Invalid refresh token"
    slug = "invalid-token"

    def __init__(self) -> None:
        super().__init__(
            "This refresh token is invalid, already used, revoked or expired. Sign in again."
        )


def issue_refresh_token(session: Session, user: User, *, family_id: str | None = None) -> str:
    token = "rt_" + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or str(uuid.uuid4()),
            token_hash=hash_token(token),
            expires_at=utcnow() + REFRESH_TOKEN_LIFETIME,
        )
    )
    return token


def revoke_all_sessions(
    runtime: Runtime,
    session: Session,
    user: User,
    *,
    reason: str,
    actor: Actor,
    at: datetime | None = None,
) -> None:
    """Ends every session and refresh token of ``user`` issued up to now, in the caller's transaction."""
    now = at or utcnow()
    user.sessions_revoked_at = now
    bump_account(session, runtime.kv, user.id)
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    record_event(
        session,
        bus,
        ev.SESSIONS_REVOKED,
        ev.SessionsRevoked(user_id=user.id, reason=reason),
        organization_id=user.organization_id,
        actor=actor,
    )


def revoke_refresh_family(session: Session, family_id: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def use_refresh_token(session: Session, token: str) -> tuple[User, str]:
    """Spend ``token`` and return its user and the next token of its family.

    Raises InvalidRefreshToken for anything unusable. A reused (already rotated) token revokes
    its whole family and records auth.refresh_token.reused; the caller must commit that before
    answering, so the revocation stands.
    """
    record = session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(token)).with_for_update()
    ).first()
    now = utcnow()
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        raise InvalidRefreshToken()
    user = session.get(User, record.user_id)
    if user is None or user.deactivated_at is not None:
        raise InvalidRefreshToken()
    if user.sessions_revoked_at is not None and record.created_at <= user.sessions_revoked_at:
        raise InvalidRefreshToken()
    if record.rotated_at is not None:
        revoke_refresh_family(session, record.family_id)
        record_event(
            session,
            bus,
            ev.REFRESH_TOKEN_REUSED,
            ev.RefreshTokenReused(user_id=user.id, family_id=record.family_id),
            organization_id=user.organization_id,
            actor=Actor.user(user.id),
        )
        raise RefreshTokenReused()
    record.rotated_at = now
    return user, issue_refresh_token(session, user, family_id=record.family_id)


class RefreshTokenReused(InvalidRefreshToken):
    """Answered like any invalid token; the family revocation must still be committed."""


def end_sign_in(session: Session, token: str) -> User | None:
    """Ends the refresh-token family of ``token`` (this sign-in only). Unknown tokens are a no-op."""
    record = session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
    ).first()
    if record is None:
        return None
    revoke_refresh_family(session, record.family_id)
    user = session.get(User, record.user_id)
    if user is not None:
        record_event(
            session,
            bus,
            ev.SIGNED_OUT,
            ev.SignedOut(user_id=user.id),
            organization_id=user.organization_id,
            actor=Actor.user(user.id),
        )
    return user
