"""Enrol, confirm and disable TOTP; check a second factor at sign-in."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spectral_auth import event_types as ev
from spectral_auth import mfa
from spectral_auth.models import MfaBackupCode, Organization, User, bus
from spectral_auth.passwords import verify_password
from spectral_auth.roles import OrganizationSettings
from spectral_auth.services.registration import AccessGrant, count_failed_attempt, grant_for
from spectral_auth.services.second_factor import backup_key, secret_aad, spend_step
from spectral_shared.bus import record_event
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.errors import Conflict, DomainError, Forbidden
from spectral_shared.identity import Identity

__all__ = [
    "AlreadyEnrolled",
    "Enrollment",
    "InvalidMfaCode",
    "MfaRequiredByOrganization",
    "NotEnrolling",
    "WrongPassword",
    "confirm_enrollment",
    "disable_mfa",
    "start_enrollment",
]


class AlreadyEnrolled(Conflict):
    title = "MFA already enabled"
    slug = "mfa-already-enabled"

    def __init__(self) -> None:
        super().__init__("Disable it first to enrol a new device.")


class NotEnrolling(DomainError):
    """The account behind the (enrolment) token is gone or no longer active."""

    status = 401
    title = "Authentication required"

    def __init__(self) -> None:
        super().__init__("Your account is not active.")


class InvalidMfaCode(DomainError):
    """A confirming code that does not match, or no enrolment to confirm."""

    title = "Invalid code"
    slug = "invalid-mfa-code"

    def __init__(self) -> None:
        super().__init__(
            "The code does not match (or no enrolment was started). Try the next code."
        )


class WrongPassword(Forbidden):
    title = "Wrong password"
    slug = "wrong-password"

    def __init__(self) -> None:
        super().__init__("Enter your password to turn MFA off.")


class MfaRequiredByOrganization(Conflict):
    title = "MFA is required"
    slug = "mfa-required-by-organization"

    def __init__(self) -> None:
        super().__init__("Your organization requires MFA; it cannot be turned off.")


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str
    backup_codes: list[str]


def _user(session: Session, user_id: str, organization_id: str) -> User:
    user = session.scalars(
        select(User)
        .where(User.id == user_id, User.organization_id == organization_id)
        .with_for_update()
    ).first()
    if user is None or user.deactivated_at is not None:
        raise NotEnrolling()
    return user


def start_enrollment(runtime: Runtime, identity: Identity) -> Enrollment:
    """A new secret and ten backup codes; nothing changes for sign-in until confirmed. The
    identity may be the enrolment token sign-in hands out when the organization requires MFA."""
    secret = mfa.new_secret()
    codes = mfa.new_backup_codes()
    key = backup_key(runtime)
    with runtime.database.session() as session:
        user = _user(session, identity.subject_id, identity.organization_id)
        if user.mfa_enabled_at is not None:
            raise AlreadyEnrolled()
        user.mfa_pending_secret = runtime.cipher.encrypt(secret, secret_aad(user.id).encode())
        session.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user.id))
        session.add_all(
            MfaBackupCode(user_id=user.id, code_hash=mfa.backup_code_hash(c, key)) for c in codes
        )
        return Enrollment(mfa.secret_b32(secret), mfa.provisioning_uri(secret, user.email), codes)


def confirm_enrollment(runtime: Runtime, identity: Identity, *, code: str) -> AccessGrant:
    """The first good code switches MFA on; the caller gets fresh tokens."""
    with runtime.database.session() as session:
        try:
            user = _user(session, identity.subject_id, identity.organization_id)
        except NotEnrolling:
            raise InvalidMfaCode() from None  # nothing to confirm: answered like a wrong code
        if user.mfa_pending_secret is None:
            raise InvalidMfaCode()
        secret = runtime.cipher.decrypt(user.mfa_pending_secret, secret_aad(user.id).encode())
        step = mfa.matching_step(secret, code, time.time())
        if step is None:
            raise InvalidMfaCode()
        spend_step(runtime, user.id, step)
        user.mfa_secret, user.mfa_pending_secret, user.mfa_enabled_at = (
            user.mfa_pending_secret,
            None,
            utcnow(),
        )
        record_event(
            session,
            bus,
            ev.MFA_ENABLED,
            ev.MfaChanged(user_id=user.id),
            organization_id=user.organization_id,
            actor=identity.actor,
        )
        return grant_for(session, runtime, user)


def disable_mfa(runtime: Runtime, identity: Identity, *, password: str) -> None:
    """Needs the password; a wrong one counts toward the lockout like a failed sign-in."""
    with runtime.database.session() as session:
        user = _user(session, identity.subject_id, identity.organization_id)
        organization = session.get(Organization, user.organization_id)
        required = bool(
            organization
            and OrganizationSettings.model_validate_json(organization.settings).mfa_required
        )
        if not verify_password(user.password_hash, password):
            count_failed_attempt(session, user, utcnow())
            outcome = "wrong_password"
        elif required:
            outcome = "required"
        else:
            user.mfa_secret = user.mfa_pending_secret = None
            user.mfa_enabled_at = None
            session.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user.id))
            record_event(
                session,
                bus,
                ev.MFA_DISABLED,
                ev.MfaChanged(user_id=user.id),
                organization_id=user.organization_id,
                actor=identity.actor,
            )
            outcome = "disabled"
    if outcome == "wrong_password":
        raise WrongPassword()
    if outcome == "required":
        raise MfaRequiredByOrganization()
