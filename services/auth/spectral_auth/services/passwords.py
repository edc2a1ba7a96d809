"""Forgot, reset and change a password; resend the verification e-mail."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import select, update

from spectral_auth import event_types as ev
from spectral_auth.models import PasswordResetToken, User, bus
from spectral_auth.passwords import hash_password, verify_password
from spectral_auth.services import tokens
from spectral_auth.services.registration import (
    AccessGrant,
    count_failed_attempt,
    grant_for,
    normalize_email,
    renew_verification,
)
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.crypto import hash_token
from spectral_shared.db import utcnow
from spectral_shared.email import OutgoingEmail, queue_email
from spectral_shared.errors import DomainError, Forbidden
from spectral_shared.identity import Identity

__all__ = [
    "InvalidResetToken",
    "WrongCurrentPassword",
    "change_password",
    "request_password_reset",
    "resend_verification",
    "reset_password",
]

RESET_TOKEN_LIFETIME = timedelta(hours=1)


class InvalidResetToken(DomainError):
    title = "Invalid reset link"
    slug = "invalid-token"

    def __init__(self) -> None:
        super().__init__(
            "This link is invalid, was already used, or has expired. Ask for a new one."
        )


class WrongCurrentPassword(Forbidden):
    title = "Current password is wrong"
    slug = "wrong-password"

    def __init__(self) -> None:
        super().__init__("Enter your current password to change it.")


def request_password_reset(runtime: Runtime, email: str) -> None:
    """Sends a link when an active account has this address; answers the same either way."""
    email = normalize_email(email)
    token = secrets.token_urlsafe(32)
    with runtime.database.session() as session:
        user = session.scalars(select(User).where(User.email == email)).first()
        if user is None or user.deactivated_at is not None:
            return
        if user.sso_provider is not None:
            # Provisioned by the identity provider: a password would let them sign in around it.
            return
        session.add(
            PasswordResetToken(
                user_id=user.id,
                token_hash=hash_token(token),
                expires_at=utcnow() + RESET_TOKEN_LIFETIME,
            )
        )
        link = (
            f"{runtime.settings.base_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"
        )
        queue_email(
            session,
            bus,
            runtime.cipher,
            OutgoingEmail(
                to=user.email,
                subject="Reset your Spectral password",
                text=(
                    f"Hello {user.name},\n\nSomeone asked to reset the password of your Spectral account. "
                    f"If it was you, choose a new one here (the link works once, for one hour):\n\n{link}\n\n"
                    f"Or send the token to POST /api/v1/auth/password/reset: {token}\n\n"
                    "If it was not you, ignore this message: your password is unchanged.\n"
                ),
            ),
        )
        record_event(
            session,
            bus,
            ev.PASSWORD_RESET_REQUESTED,
            ev.PasswordResetRequested(user_id=user.id),
            organization_id=user.organization_id,
            actor=Actor.user(user.id),
        )


def reset_password(runtime: Runtime, *, token: str, password: str) -> User:
    password_hash = hash_password(password)
    with runtime.database.session() as session:
        record = session.scalars(
            select(PasswordResetToken)
            .where(PasswordResetToken.token_hash == hash_token(token))
            .with_for_update()
        ).first()
        now = utcnow()
        if record is None or record.used_at is not None or record.expires_at <= now:
            raise InvalidResetToken()
        user = session.get(User, record.user_id, with_for_update=True)
        if user is None or user.deactivated_at is not None:
            raise InvalidResetToken()
        user.password_hash = password_hash
        user.password_changed_at = now
        user.failed_login_count = 0
        user.locked_until = None  # proving control of the mailbox unlocks the account
        tokens.revoke_all_sessions(
            runtime, session, user, reason="password_reset", actor=Actor.user(user.id), at=now
        )
        # This token and every other outstanding one for the user are spent.
        session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
            .values(used_at=now)
        )
        record_event(
            session,
            bus,
            ev.PASSWORD_RESET,
            ev.PasswordReset(user_id=user.id),
            organization_id=user.organization_id,
            actor=Actor.user(user.id),
        )
        return user


def change_password(
    runtime: Runtime, identity: Identity, *, current_password: str, new_password: str
) -> AccessGrant:
    """Ends every other session; the caller gets fresh tokens for this one."""
    new_hash = hash_password(new_password)
    with runtime.database.session() as session:
        user = session.scalars(
            select(User)
            .where(User.id == identity.subject_id, User.organization_id == identity.organization_id)
            .with_for_update()
        ).first()
        if user is None or user.deactivated_at is not None:
            raise WrongCurrentPassword()
        current_ok = verify_password(user.password_hash, current_password)
        if not current_ok:  # a guessed current password counts toward the lockout like a sign-in
            count_failed_attempt(session, user, utcnow())
        if current_ok:
            user.password_hash = new_hash
            user.password_changed_at = utcnow()
            tokens.revoke_all_sessions(
                runtime, session, user, reason="password_changed", actor=identity.actor
            )
            grant = grant_for(session, runtime, user)
            record_event(
                session,
                bus,
                ev.PASSWORD_CHANGED,
                ev.PasswordChanged(user_id=user.id),
                organization_id=user.organization_id,
                actor=identity.actor,
            )
    if not current_ok:
        raise WrongCurrentPassword()
    return grant


def resend_verification(runtime: Runtime, email: str) -> None:
    """A fresh link for an unverified account; answers the same whether or not there is one."""
    email = normalize_email(email)
    with runtime.database.session() as session:
        user = session.scalars(select(User).where(User.email == email)).first()
        if user is None or user.email_verified_at is not None or user.deactivated_at is not None:
            return
        renew_verification(session, runtime, user)
