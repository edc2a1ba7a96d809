"""Events auth publishes. docs/events.md lists the same; a test keeps them in step."""

from __future__ import annotations

from typing import Literal

from spectral_shared.bus.catalog import EventCatalog, EventData
from spectral_shared.contracts import auth as contracts

# The payloads other services consume live with their contracts; auth's use cases name them here.
from spectral_shared.contracts.auth import (
    InvitationAccepted as InvitationAccepted,
)
from spectral_shared.contracts.auth import (
    OrganizationCreated as OrganizationCreated,
)
from spectral_shared.contracts.auth import (
    OrganizationType as OrganizationType,
)
from spectral_shared.contracts.auth import (
    OrganizationUpdated as OrganizationUpdated,
)
from spectral_shared.contracts.auth import (
    SsoUserProvisioned as SsoUserProvisioned,
)
from spectral_shared.contracts.auth import (
    UsageRecorded as UsageRecorded,
)
from spectral_shared.contracts.auth import (
    UserDeactivated as UserDeactivated,
)
from spectral_shared.contracts.auth import (
    UserReactivated as UserReactivated,
)
from spectral_shared.contracts.auth import (
    UserRegistered as UserRegistered,
)
from spectral_shared.contracts.auth import (
    UserRoleChanged as UserRoleChanged,
)

catalog = EventCatalog("auth")

RefusalReason = Literal[
    "unknown_account",
    "bad_password",
    "bad_mfa_code",
    "email_not_verified",
    "inactive",
    "locked",
    "password_expired",
]


class UserEmailVerified(EventData):
    user_id: str


class UserLoggedIn(EventData):
    user_id: str
    method: Literal["password"]


class LoginFailed(EventData):
    """No password, ever. For an unknown account only a hash of the e-mail is kept."""

    reason: RefusalReason
    user_id: str | None = None
    email_sha256: str | None = None


ORGANIZATION_CREATED = catalog.adopt(
    contracts.ORGANIZATION_CREATED,
    "An organization registered (health system or vendor).",
)
USER_REGISTERED = catalog.adopt(
    contracts.USER_REGISTERED,
    "A user account was created, pending e-mail verification.",
)
USER_EMAIL_VERIFIED = catalog.define(
    "auth.user.email_verified", UserEmailVerified, "A user proved they own their e-mail address."
)
USER_LOGGED_IN = catalog.define("auth.user.logged_in", UserLoggedIn, "A user signed in.")
LOGIN_FAILED = catalog.define(
    "auth.login.failed",
    LoginFailed,
    "A sign-in was refused. Organization-scoped when the account exists, platform-scoped otherwise.",
)


class InvitationCreated(EventData):
    invitation_id: str
    email: str
    role: str
    invited_by: str


class InvitationRevoked(EventData):
    invitation_id: str
    email: str


ORGANIZATION_UPDATED = catalog.adopt(
    contracts.ORGANIZATION_UPDATED,
    "An admin changed the organization's profile or settings.",
)
INVITATION_CREATED = catalog.define(
    "auth.invitation.created", InvitationCreated, "An admin invited someone to the organization."
)
INVITATION_ACCEPTED = catalog.adopt(
    contracts.INVITATION_ACCEPTED,
    "An invitation was accepted; the user account exists.",
)
INVITATION_REVOKED = catalog.define(
    "auth.invitation.revoked", InvitationRevoked, "An admin withdrew an invitation."
)
USER_ROLE_CHANGED = catalog.adopt(
    contracts.USER_ROLE_CHANGED, "An admin changed a user's role or persona tags."
)
USER_DEACTIVATED = catalog.adopt(contracts.USER_DEACTIVATED, "An admin deactivated a user.")
USER_REACTIVATED = catalog.adopt(contracts.USER_REACTIVATED, "An admin reactivated a user.")


class UserLocked(EventData):
    user_id: str
    locked_until: str


class PasswordResetRequested(EventData):
    user_id: str


class PasswordReset(EventData):
    """Every other session of the user ends with it."""

    user_id: str


class PasswordChanged(EventData):
    user_id: str


class VerificationResent(EventData):
    user_id: str


USER_LOCKED = catalog.define(
    "auth.user.locked",
    UserLocked,
    "Five consecutive failed sign-ins locked the account for 30 minutes.",
)
PASSWORD_RESET_REQUESTED = catalog.define(
    "auth.password.reset_requested", PasswordResetRequested, "A forgot-password e-mail was sent."
)
PASSWORD_RESET = catalog.define(
    "auth.password.reset", PasswordReset, "A password was reset with an e-mailed token."
)
PASSWORD_CHANGED = catalog.define(
    "auth.password.changed", PasswordChanged, "A user changed their password."
)
VERIFICATION_RESENT = catalog.define(
    "auth.user.verification_resent", VerificationResent, "A new e-mail verification link was sent."
)


class ApiKeyCreated(EventData):
    """Never the secret: only its visible prefix."""

    api_key_id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: str | None


class ApiKeyRevoked(EventData):
    api_key_id: str
    prefix: str
    reason: Literal["revoked", "user_deactivated"]


class SsoConnectionChanged(EventData):
    workos_organization_id: str | None  # None when the mapping was removed


class UserLoggedInWithSso(EventData):
    user_id: str
    provider: Literal["workos"]


API_KEY_CREATED = catalog.define(
    "auth.api_key.created",
    ApiKeyCreated,
    "An admin created an API key (the secret is never in events).",
)
API_KEY_REVOKED = catalog.define("auth.api_key.revoked", ApiKeyRevoked, "An API key was revoked.")
SSO_CONNECTION_CHANGED = catalog.define(
    "auth.sso_connection.changed",
    SsoConnectionChanged,
    "An admin mapped (or unmapped) a WorkOS organization.",
)
SSO_USER_PROVISIONED = catalog.adopt(
    contracts.SSO_USER_PROVISIONED, "A first SSO sign-in provisioned a user."
)
USER_LOGGED_IN_WITH_SSO = catalog.define(
    "auth.user.sso_logged_in", UserLoggedInWithSso, "A user signed in through SSO."
)


class SessionsRevoked(EventData):
    """Every session and refresh token of the user issued before now is dead."""

    user_id: str
    reason: Literal[
        "sign_out_everywhere", "deactivated", "password_reset", "password_changed", "mfa_reset"
    ]


class RefreshTokenReused(EventData):
    """A spent refresh token came back: likely stolen. Its whole family is revoked."""

    user_id: str
    family_id: str


class SignedOut(EventData):
    user_id: str


SESSIONS_REVOKED = catalog.define(
    "auth.user.sessions_revoked",
    SessionsRevoked,
    "All of a user's sessions and refresh tokens were ended.",
)
REFRESH_TOKEN_REUSED = catalog.define(
    "auth.refresh_token.reused",
    RefreshTokenReused,
    "A spent refresh token was presented; its family was revoked.",
)
SIGNED_OUT = catalog.define(
    "auth.user.signed_out", SignedOut, "A user signed out (one session or token family)."
)


class MfaChanged(EventData):
    user_id: str


class BackupCodeUsed(EventData):
    user_id: str
    remaining: int


MFA_ENABLED = catalog.define(
    "auth.mfa.enabled", MfaChanged, "A user confirmed TOTP enrolment; MFA is on."
)
MFA_DISABLED = catalog.define(
    "auth.mfa.disabled", MfaChanged, "A user turned MFA off (with their password)."
)
MFA_RESET = catalog.define(
    "auth.mfa.reset",
    MfaChanged,
    "An admin removed a user's MFA (lost device); their sessions ended with it.",
)
MFA_BACKUP_CODE_USED = catalog.define(
    "auth.mfa.backup_code_used",
    BackupCodeUsed,
    "A single-use backup code replaced a TOTP code at sign-in.",
)


class SigningKeyRotated(EventData):
    kid: str
    retired: list[str]
    retired_keys_published_until: str


SIGNING_KEY_ROTATED = catalog.define(
    "auth.signing_key.rotated",
    SigningKeyRotated,
    "An operator rotated the token signing key; retired keys stay in the JWKS for the grace period.",
)


USAGE_RECORDED = catalog.adopt(
    contracts.USAGE_RECORDED,
    "An organization's API calls so far on a UTC day (reported every minute while they grow; "
    "billing meters them).",
)
