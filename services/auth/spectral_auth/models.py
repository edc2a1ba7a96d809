"""Auth's tables, in the ``auth`` schema."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spectral_shared.bus import bus_tables
from spectral_shared.db import UTCDateTime, UUIDString, make_metadata, new_id, utcnow


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map = {datetime: UTCDateTime}


bus = bus_tables(Base.metadata)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))  # health_system | vendor | platform
    state: Mapped[str | None] = mapped_column(String(2))  # US state code; drives state-law rules
    settings: Mapped[str] = mapped_column(Text, default="{}")  # OrganizationSettings as JSON
    # Billing's request quota for the organization (ADR 0041), from the newest capabilities
    # snapshot applied; None: the deployment's defaults (RATE_LIMIT_*).
    quota_limit: Mapped[int | None]
    quota_window_seconds: Mapped[int | None]
    capabilities_version: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiUsage(Base):
    """The API calls last reported for an organization on a UTC day (``spectral_auth.usage``)."""

    __tablename__ = "api_usage"

    organization_id: Mapped[str] = mapped_column(UUIDString, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(
        UUIDString, ForeignKey("organizations.id"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="pending_verification")
    personas: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of persona tags
    email_verified_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]
    failed_login_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # Sessions and refresh tokens issued before this moment are dead ("sign out everywhere",
    # deactivation, password change): revocation without enumerating sessions.
    sessions_revoked_at: Mapped[datetime | None]
    mfa_secret: Mapped[str | None] = mapped_column(Text)  # AES-256-GCM; TOTP base32 secret
    mfa_pending_secret: Mapped[str | None] = mapped_column(Text)  # enrolment not yet confirmed
    mfa_enabled_at: Mapped[datetime | None]
    sso_provider: Mapped[str | None] = mapped_column(String(32))
    sso_external_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MfaBackupCode(Base):
    """Ten single-use codes shown once at enrolment, stored hashed."""

    __tablename__ = "mfa_backup_codes"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(Base):
    """Opaque, rotated on every use; a reused one revokes its whole family (RFC 6819 5.2.2.3)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("users.id"), index=True)
    family_id: Mapped[str] = mapped_column(UUIDString, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A machine credential of an organization: the secret is shown once and kept as an HMAC."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(
        UUIDString, ForeignKey("organizations.id"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)  # visible, for lookup and display
    secret_hmac: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    created_by: Mapped[str | None] = mapped_column(UUIDString, ForeignKey("users.id"))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SsoConnection(Base):
    """An admin's mapping of a WorkOS organization to their Spectral organization."""

    __tablename__ = "sso_connections"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(
        UUIDString, ForeignKey("organizations.id"), unique=True
    )
    workos_organization_id: Mapped[str] = mapped_column(String(128), unique=True)
    created_by: Mapped[str] = mapped_column(UUIDString, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PasswordResetToken(Base):
    """A forgot-password token: single use, one hour, stored hashed."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """An admin's invitation to join their organization: a single-use, 7-day token, stored hashed."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(
        UUIDString, ForeignKey("organizations.id"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(32))
    personas: Mapped[str] = mapped_column(Text, default="[]")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str] = mapped_column(UUIDString, ForeignKey("users.id"))
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailVerificationToken(Base):
    __tablename__ = "email_verification_tokens"

    id: Mapped[str] = mapped_column(UUIDString, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(UUIDString, ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SigningKey(Base):
    """Ed25519 keys that sign access tokens; the private half is encrypted with ENCRYPTION_KEY."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_key: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
