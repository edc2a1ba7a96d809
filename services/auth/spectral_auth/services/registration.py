"""Auth's use cases: the only code that writes, and it records outbox events in the same transaction."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_auth import event_types as ev
from spectral_auth import lockout
from spectral_auth.event_types import OrganizationType, RefusalReason
from spectral_auth.models import EmailVerificationToken, Organization, User, bus
from spectral_auth.passwords import hash_password, verify_password
from spectral_auth.roles import OrganizationSettings
from spectral_auth.services import tokens
from spectral_auth.services.second_factor import second_factor_ok
from spectral_auth.signing_keys import (
    current_signing_key,
    issue_access_token,
    issue_mfa_enrollment_token,
)
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.crypto import hash_token
from spectral_shared.db import utcnow
from spectral_shared.email import OutgoingEmail, queue_email
from spectral_shared.errors import DomainError
from spectral_shared.identity import Identity, Role

__all__ = [
    "AccessGrant",
    "AccountLocked",
    "InvalidVerificationToken",
    "LoginRefused",
    "MfaEnrollmentRequired",
    "MfaRequired",
    "PasswordExpired",
    "count_failed_attempt",
    "grant_for",
    "login",
    "normalize_email",
    "profile",
    "refresh",
    "register",
    "renew_verification",
    "sign_out",
    "sign_out_everywhere",
    "verify_email",
]

VERIFICATION_TOKEN_LIFETIME = timedelta(hours=24)


class InvalidVerificationToken(DomainError):
    title = "Invalid verification link"
    slug = "invalid-token"

    def __init__(self) -> None:
        super().__init__(
            "This link is invalid, was already used, or has expired. Ask for a new one."
        )


class LoginRefused(DomainError):
    """Deliberately says nothing about why: the caller must not learn whether the account exists.
    The same problem answers token sign-in and browser sign-in; only refusals the right password
    reaches (the subclasses) say more than 'invalid'."""

    status = 401
    title = "Invalid credentials"
    slug = "invalid-credentials"

    def __init__(self) -> None:
        super().__init__(
            "The e-mail address or password is incorrect, or the account is not active yet.",
            headers={"WWW-Authenticate": 'Bearer realm="spectral"'},
        )


class AccountLocked(LoginRefused):
    status = 423
    title = "Account locked"
    slug = "account-locked"

    def __init__(self, until: datetime) -> None:
        retry_after = max(1, int((until - utcnow()).total_seconds()))
        DomainError.__init__(
            self,
            f"Too many failed sign-ins. Try again after {until.isoformat()} or reset your password.",
            headers={"Retry-After": str(retry_after)},
            locked_until=until.isoformat(),
        )
        self.until = until


class PasswordExpired(LoginRefused):
    """Only ever raised after the right password: the account holder must set a new one."""

    status = 403
    title = "Password expired"
    slug = "password-expired"

    def __init__(self) -> None:
        DomainError.__init__(
            self,
            "Your organization requires a new password. Reset it through 'forgot password'.",
        )


class MfaRequired(LoginRefused):
    """The right password; now the TOTP or a backup code (the client asks the user for it)."""

    status = 401
    title = "Second factor required"
    slug = "mfa-required"

    def __init__(self) -> None:
        DomainError.__init__(
            self,
            "Send the code from your authenticator app as mfa_code (or a backup_code).",
            mfa_required=True,
        )


class MfaEnrollmentRequired(LoginRefused):
    """The organization requires MFA and this user has none: enrol with this short-lived token."""

    status = 403
    title = "MFA enrolment required"
    slug = "mfa-enrollment-required"

    def __init__(self, enrollment_token: str) -> None:
        DomainError.__init__(
            self,
            "Your organization requires MFA. Enrol with this token at POST /api/v1/auth/mfa/enroll, "
            "then confirm at /api/v1/auth/mfa/confirm to finish signing in.",
            enrollment_token=enrollment_token,
        )
        self.enrollment_token = enrollment_token


@dataclass(frozen=True)
class AccessGrant:
    access_token: str
    expires_in: int
    refresh_token: str
    user_id: str
    organization_id: str


def normalize_email(email: str) -> str:
    return email.strip().lower()


def register(
    runtime: Runtime,
    *,
    organization_name: str,
    organization_type: OrganizationType,
    name: str,
    email: str,
    password: str,
) -> None:
    """Create an organization and its admin, pending verification, and e-mail the link.

    The caller's answer never says whether the address already has an account (ADR 0038): for
    one that has, in any organization and any state, nothing is created and its owner is
    e-mailed instead (:func:`_tell_the_owner`). Both paths hash the password, so they cost alike.
    """
    email = normalize_email(email)
    password_hash = hash_password(password)  # slow on purpose: outside the transaction, always
    token = secrets.token_urlsafe(32)
    try:
        with runtime.database.session() as session:
            existing = session.scalars(
                select(User).where(User.email == email).with_for_update()
            ).first()
            if existing is not None:
                _tell_the_owner(session, runtime, existing)
                return
            organization = Organization(name=organization_name, type=organization_type)
            session.add(organization)
            session.flush()
            user = User(
                organization_id=organization.id,
                name=name,
                email=email,
                password_hash=password_hash,
                role=Role.ADMIN.value,
                status="pending_verification",
            )
            session.add(user)
            session.flush()
            session.add(
                EmailVerificationToken(
                    user_id=user.id,
                    token_hash=hash_token(token),
                    expires_at=utcnow() + VERIFICATION_TOKEN_LIFETIME,
                )
            )
            actor = Actor.user(user.id)
            record_event(
                session,
                bus,
                ev.ORGANIZATION_CREATED,
                ev.OrganizationCreated(
                    organization_id=organization.id, name=organization.name, type=organization_type
                ),
                organization_id=organization.id,
                actor=actor,
            )
            record_event(
                session,
                bus,
                ev.USER_REGISTERED,
                ev.UserRegistered(
                    user_id=user.id, email=user.email, name=user.name, role=user.role
                ),
                organization_id=organization.id,
                actor=actor,
            )
            queue_email(session, bus, runtime.cipher, verification_email(runtime, user, token))
    except IntegrityError:  # two registrations raced for the same e-mail: the other one won
        with runtime.database.session() as session:
            winner = session.scalars(select(User).where(User.email == email)).first()
            if winner is None:
                raise
            _tell_the_owner(session, runtime, winner)


def _tell_the_owner(session: Session, runtime: Runtime, user: User) -> None:
    """Someone registered with an address that has an account. An unverified one gets a fresh
    verification link (the registration most likely was its owner's second try); any other gets
    a notice. Nothing else changes: not the name, the password or the organization."""
    if user.email_verified_at is None and user.deactivated_at is None:
        renew_verification(
            session,
            runtime,
            user,
            note=(
                "Someone registered again with this address, which already has an account "
                "waiting for this confirmation. That registration created nothing: the account "
                "keeps the name, organization and password it was registered with first (if "
                "you forgot the password, reset it after confirming).\n\n"
            ),
        )
        return
    queue_email(session, bus, runtime.cipher, registration_attempt_email(runtime, user))


def renew_verification(session: Session, runtime: Runtime, user: User, *, note: str = "") -> None:
    """A new verification link for an unverified account: the links sent before stop working."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(
        update(EmailVerificationToken)
        .where(EmailVerificationToken.user_id == user.id, EmailVerificationToken.used_at.is_(None))
        .values(used_at=now)
    )
    session.add(
        EmailVerificationToken(
            user_id=user.id,
            token_hash=hash_token(token),
            expires_at=now + VERIFICATION_TOKEN_LIFETIME,
        )
    )
    queue_email(session, bus, runtime.cipher, verification_email(runtime, user, token, note=note))
    record_event(
        session,
        bus,
        ev.VERIFICATION_RESENT,
        ev.VerificationResent(user_id=user.id),
        organization_id=user.organization_id,
        actor=Actor.user(user.id),
    )


def registration_attempt_email(runtime: Runtime, user: User) -> OutgoingEmail:
    """What the owner of a registered address learns when someone registers with it again. It
    carries no link with a token: only what the owner can do themselves."""
    base = runtime.settings.base_url.rstrip("/")
    if user.deactivated_at is not None:
        advice = (
            "Your account is deactivated. If you need it back, ask an admin of your "
            "organization to reactivate it."
        )
    elif user.sso_provider is not None:
        advice = f"If it was you, sign in to {base} through your organization's single sign-on."
    else:
        advice = (
            f"If it was you, sign in to {base} with your password, or reset it with "
            "'forgot password' (POST /api/v1/auth/password/forgot)."
        )
    return OutgoingEmail(
        to=user.email,
        subject="Someone tried to register with your Spectral address",
        text=(
            f"Hello {user.name},\n\n"
            "Someone tried to register a new organization on Spectral with this e-mail address, "
            "which already has an account. Nothing was created and your account is unchanged.\n\n"
            f"{advice} An address belongs to one Spectral account: to start another "
            "organization, register with another address.\n\n"
            "If it was not you, you need not do anything.\n"
        ),
    )


def verification_email(
    runtime: Runtime, user: User, token: str, *, note: str = ""
) -> OutgoingEmail:
    link = f"{runtime.settings.base_url.rstrip('/')}/api/v1/auth/verify-email?{urlencode({'token': token})}"
    return OutgoingEmail(
        to=user.email,
        subject="Verify your e-mail address for Spectral",
        text=(
            f"Hello {user.name},\n\n"
            f"{note}"
            "Welcome to Spectral. Confirm your e-mail address to activate your account:\n\n"
            f"{link}\n\n"
            "The link works once and expires in 24 hours. If you did not register, ignore this message.\n"
        ),
    )


def verify_email(runtime: Runtime, token: str) -> User:
    with runtime.database.session() as session:
        record = session.scalars(
            select(EmailVerificationToken)
            .where(EmailVerificationToken.token_hash == hash_token(token))
            .with_for_update()
        ).first()
        if record is None or record.used_at is not None or record.expires_at <= utcnow():
            raise InvalidVerificationToken()
        user = session.get(User, record.user_id)
        if user is None:
            raise InvalidVerificationToken()
        now = utcnow()
        record.used_at = now
        user.email_verified_at = now
        if user.status == "pending_verification":
            user.status = "active"
        record_event(
            session,
            bus,
            ev.USER_EMAIL_VERIFIED,
            ev.UserEmailVerified(user_id=user.id),
            organization_id=user.organization_id,
            actor=Actor.user(user.id),
        )
        return user


def login(
    runtime: Runtime,
    *,
    email: str,
    password: str,
    mfa_code: str | None = None,
    backup_code: str | None = None,
    browser: bool = False,
) -> AccessGrant:
    """Sign in with a password (and a second factor when the account has one). A browser gets a
    cookie session instead of a refresh token (``browser=True``: no refresh family is started).

    Refusals commit their audit event and lockout count before they are raised. Whether an
    account exists is never revealed: unknown addresses fail and lock exactly like real ones.
    """
    email = normalize_email(email)
    email_digest = hashlib.sha256(email.encode()).hexdigest()
    unknown_lock = _unknown_account_lock(runtime, email_digest)
    now = utcnow()
    reason: RefusalReason | None = None
    refusal: LoginRefused | None = None
    with runtime.database.session() as session:
        user = session.scalars(select(User).where(User.email == email).with_for_update()).first()
        if (
            user is not None
            and user.locked_until is not None
            and lockout.locked(user.locked_until, now)
        ):
            reason, refusal = "locked", AccountLocked(user.locked_until)
        elif user is None and unknown_lock is not None:
            reason, refusal = "locked", AccountLocked(unknown_lock)
        else:
            reason = _refusal_reason(
                user, verify_password(user.password_hash if user else None, password)
            )
            if reason is None and user is not None:
                reason, refusal = _after_password(
                    session, runtime, user, now, mfa_code, backup_code
                )
        if user is not None and reason in ("bad_password", "bad_mfa_code"):
            refusal = count_failed_attempt(session, user, now) or refusal
        if user is None and reason == "unknown_account":
            locked_until = _count_unknown_account_failure(runtime, email_digest, now)
            refusal = AccountLocked(locked_until) if locked_until else None
        if reason is not None:
            record_event(
                session,
                bus,
                ev.LOGIN_FAILED,
                ev.LoginFailed(
                    reason=reason,
                    user_id=user.id if user else None,
                    email_sha256=None if user else email_digest,
                ),
                organization_id=user.organization_id if user else None,
                actor=Actor.user(user.id) if user else Actor.anonymous(),
            )
        elif refusal is None:
            assert user is not None
            user.failed_login_count = 0
            user.locked_until = None
            grant = grant_for(session, runtime, user, issue_refresh=not browser)
            record_event(
                session,
                bus,
                ev.USER_LOGGED_IN,
                ev.UserLoggedIn(user_id=user.id, method="password"),
                organization_id=user.organization_id,
                actor=Actor.user(user.id),
            )
    if reason is not None or refusal is not None:
        raise refusal or LoginRefused()
    return grant


def _after_password(
    session: Session,
    runtime: Runtime,
    user: User,
    now: datetime,
    mfa_code: str | None,
    backup_code: str | None,
) -> tuple[RefusalReason | None, LoginRefused | None]:
    """The steps only the right password reaches: expiry, then the second factor."""
    organization = session.get(Organization, user.organization_id)
    settings = OrganizationSettings.model_validate_json(
        organization.settings if organization else "{}"
    )
    if lockout.password_expired(user.password_changed_at, settings.password_expiry_days, now):
        return "password_expired", PasswordExpired()
    if user.mfa_enabled_at is not None:
        if not (mfa_code or backup_code):
            return None, MfaRequired()  # not a failure: the client asks for the code next
        if not second_factor_ok(session, runtime, user, mfa_code=mfa_code, backup_code=backup_code):
            return "bad_mfa_code", None
        return None, None
    if settings.mfa_required:
        key = current_signing_key(session, runtime.cipher)
        token = issue_mfa_enrollment_token(
            key,
            issuer=runtime.settings.base_url,
            user_id=user.id,
            organization_id=user.organization_id,
        )
        return None, MfaEnrollmentRequired(token)
    return None, None


def count_failed_attempt(session: Session, user: User, now: datetime) -> LoginRefused | None:
    """The fifth consecutive failure (password or second factor) locks the account."""
    outcome = lockout.after_failure(user.failed_login_count, now)
    user.failed_login_count = outcome.failed_count
    if outcome.locked_until is None:
        return None
    user.locked_until = outcome.locked_until
    record_event(
        session,
        bus,
        ev.USER_LOCKED,
        ev.UserLocked(user_id=user.id, locked_until=outcome.locked_until.isoformat()),
        organization_id=user.organization_id,
        actor=Actor.user(user.id),
    )
    return AccountLocked(outcome.locked_until)


def grant_for(
    session: Session,
    runtime: Runtime,
    user: User,
    *,
    refresh_token: str | None = None,
    issue_refresh: bool = True,
) -> AccessGrant:
    """What a successful sign-in hands out, whatever proved the identity (password, SSO): an
    access token and a refresh token starting a new family (or the given rotated one)."""
    if refresh_token is None:
        user.last_login_at = utcnow()
        refresh_token = tokens.issue_refresh_token(session, user) if issue_refresh else ""
    key = current_signing_key(session, runtime.cipher)
    lifetime = runtime.settings.jwt_lifetime
    token = issue_access_token(
        key,
        issuer=runtime.settings.base_url,
        lifetime=lifetime,
        user_id=user.id,
        organization_id=user.organization_id,
        role=user.role,
    )
    return AccessGrant(
        token, int(lifetime.total_seconds()), refresh_token, user.id, user.organization_id
    )


def refresh(runtime: Runtime, refresh_token: str) -> AccessGrant:
    """Rotate a refresh token into a new access token and the family's next refresh token."""
    reused = False
    with runtime.database.session() as session:
        try:
            user, next_token = tokens.use_refresh_token(session, refresh_token)
        except tokens.RefreshTokenReused:
            reused = True  # commit the family's revocation, then refuse
        else:
            grant = grant_for(session, runtime, user, refresh_token=next_token)
    if reused:
        raise tokens.InvalidRefreshToken()
    return grant


def sign_out(runtime: Runtime, refresh_token: str) -> None:
    with runtime.database.session() as session:
        tokens.end_sign_in(session, refresh_token)


def sign_out_everywhere(runtime: Runtime, identity: Identity) -> None:
    with runtime.database.session() as session:
        user = session.scalars(
            select(User).where(
                User.id == identity.subject_id, User.organization_id == identity.organization_id
            )
        ).first()
        if user is not None:
            tokens.revoke_all_sessions(
                runtime, session, user, reason="sign_out_everywhere", actor=identity.actor
            )


def _refusal_reason(user: User | None, password_ok: bool) -> RefusalReason | None:
    if user is None:
        return "unknown_account"
    if not password_ok:
        return "bad_password"
    if user.email_verified_at is None:
        return "email_not_verified"
    if user.status != "active":
        return "inactive"
    return None


# Unknown addresses lock exactly like real ones, so a 423 never tells that an account exists.
# A real account's failure count lasts until a success; an unknown one's must last as long, or
# five failures spaced out would lock a real account and not an unknown one.
UNKNOWN_ACCOUNT_MEMORY_SECONDS = 30 * 24 * 3600


def _unknown_account_lock(runtime: Runtime, email_digest: str) -> datetime | None:
    stored = runtime.kv.get(f"lockout:{email_digest}")
    if stored is None:
        return None
    state = json.loads(stored)
    until = datetime.fromisoformat(state["locked_until"]) if state.get("locked_until") else None
    return until if until is not None and until > utcnow() else None


def _count_unknown_account_failure(
    runtime: Runtime, email_digest: str, now: datetime
) -> datetime | None:
    key = f"lockout:{email_digest}"
    stored = runtime.kv.get(key)
    count = json.loads(stored)["count"] if stored else 0
    outcome = lockout.after_failure(count, now)
    state = {
        "count": outcome.failed_count,
        "locked_until": outcome.locked_until.isoformat() if outcome.locked_until else None,
    }
    runtime.kv.set(key, json.dumps(state).encode(), ttl_seconds=UNKNOWN_ACCOUNT_MEMORY_SECONDS)
    return outcome.locked_until


def profile(
    session: Session, *, user_id: str, organization_id: str, issued_at: float | None = None
) -> tuple[User, Organization] | None:
    user = session.scalars(
        select(User).where(User.id == user_id, User.organization_id == organization_id)
    ).first()
    if user is None or user.deactivated_at is not None:
        return None
    revoked = user.sessions_revoked_at
    if revoked is not None and (issued_at is None or issued_at < revoked.timestamp()):
        return None  # issued before "sign out everywhere", a password change or a reset
    organization = session.get(Organization, organization_id)
    return (user, organization) if organization else None
