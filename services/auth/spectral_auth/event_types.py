"""Events auth publishes. docs/events.md lists the same; a test keeps them in step."""

from __future__ import annotations

from typing import Literal

from spectral_shared.bus.catalog import EventCatalog, EventData

catalog = EventCatalog("auth")


class OrganizationCreated(EventData):
    organization_id: str
    name: str
    type: Literal["health_system", "vendor", "platform"]


class UserRegistered(EventData):
    user_id: str
    email: str
    name: str
    role: str


class UserEmailVerified(EventData):
    user_id: str


class UserLoggedIn(EventData):
    user_id: str
    method: Literal["password"]


class LoginFailed(EventData):
    """No password, ever. For an unknown account only a hash of the e-mail is kept."""

    reason: Literal["unknown_account", "bad_password", "email_not_verified", "inactive"]
    user_id: str | None = None
    email_sha256: str | None = None


ORGANIZATION_CREATED = catalog.define(
    "auth.organization.created",
    OrganizationCreated,
    "An organization registered (health system or vendor).",
)
USER_REGISTERED = catalog.define(
    "auth.user.registered",
    UserRegistered,
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
