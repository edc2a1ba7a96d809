"""Single sign-on with WorkOS (issue #3 item 7).

AuthKit's authorization-code flow through the WorkOS SDK: ``authorization_url`` sends the browser
to WorkOS with a single-use ``state`` (10 minutes, in the key-value store) and a PKCE challenge;
``complete_sign_in`` exchanges the returned code and signs the user in to the Spectral organization
whose admin mapped the WorkOS organization (``set_connection``). A first sign-in provisions the
user with the organization's ``default_sso_role``; nothing the identity provider claims (roles,
groups, metadata) ever grants a role, so ``super_admin`` never comes from SSO.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_auth import event_types as ev
from spectral_auth.event_types import RefusalReason
from spectral_auth.models import Organization, SsoConnection, User, bus
from spectral_auth.passwords import hash_password
from spectral_auth.roles import OrganizationSettings
from spectral_auth.services.registration import AccessGrant, grant_for, normalize_email
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.config import Settings
from spectral_shared.crypto import hash_token
from spectral_shared.db import utcnow
from spectral_shared.errors import Conflict, DomainError, Forbidden, NotFound
from spectral_shared.identity import Identity, Role
from spectral_shared.logging import get_logger
from spectral_shared.outbound import no_transaction_open

if TYPE_CHECKING:  # the SDK takes a second to import: load it on first use, not at start-up
    from workos import WorkOSClient
    from workos.common.models.user import User as WorkOSUser
    from workos.user_management.models import AuthenticateResponse

__all__ = [
    "CALLBACK_PATH",
    "InvalidSsoCode",
    "InvalidSsoState",
    "NoSsoConnection",
    "SsoConnectionTaken",
    "SsoNotCompleted",
    "SsoNotConfigured",
    "SsoNotMapped",
    "SsoNotSetUp",
    "SsoRefused",
    "SsoUnavailable",
    "UnknownWorkosOrganization",
    "authorization_url",
    "complete_sign_in",
    "require_sso",
    "set_connection",
    "sso_configured",
    "sso_connection",
]

log = get_logger(__name__)

CALLBACK_PATH = "/api/v1/auth/sso/callback"
STATE_LIFETIME_SECONDS = 600
PROVIDER = "workos"
# What an organization may hand out to people its identity provider vouches for. The setting's
# own type says the same; this is the second wall, so a bad row can never mint an admin.
PROVISIONABLE_ROLES = frozenset({Role.VIEWER, Role.ANALYST, Role.COMPLIANCE_OFFICER})


class SsoNotConfigured(DomainError):
    """WORKOS_API_KEY, WORKOS_CLIENT_ID and WORKOS_COOKIE_PASSWORD are not all set: this
    deployment has no single sign-on (404, as for any feature that is not there; not a 5xx, which
    would tell clients to retry)."""

    status = 404
    title = "SSO is not configured"
    slug = "sso-not-configured"

    def __init__(self) -> None:
        super().__init__(
            "Single sign-on needs WORKOS_API_KEY, WORKOS_CLIENT_ID and WORKOS_COOKIE_PASSWORD."
        )


class SsoNotSetUp(DomainError):
    """Sign-in asked for by organization id, and that organization has no WorkOS organization."""

    status = 404
    title = "Single sign-on not set up"
    slug = "sso-not-mapped"

    def __init__(self) -> None:
        super().__init__("This organization has not connected an identity provider.")


class SsoNotMapped(Forbidden):
    """No Spectral organization is mapped to the WorkOS organization the person signed in to."""

    title = "Organization not set up for single sign-on"
    slug = "sso-not-mapped"

    def __init__(self) -> None:
        super().__init__(
            "Your identity provider's organization is not connected to a Spectral organization. "
            "Ask your administrator to connect it."
        )


class InvalidSsoState(DomainError):
    """Unknown, expired or already used ``state``: a forged or replayed callback."""

    title = "Invalid sign-in state"
    slug = "invalid-sso-state"

    def __init__(self) -> None:
        super().__init__(
            "This sign-in link is invalid, was already used, or has expired. Start again."
        )


class InvalidSsoCode(DomainError):
    """WorkOS refused the authorization code (unknown, expired or already exchanged)."""

    title = "Invalid authorization code"
    slug = "invalid-sso-code"

    def __init__(self) -> None:
        super().__init__(
            "The identity provider did not accept this code; it may be used or expired. "
            "Start again."
        )


class SsoNotCompleted(DomainError):
    """The callback came without a code: the person cancelled, or WorkOS refused first."""

    title = "Sign-in not completed"
    slug = "sso-not-completed"

    def __init__(self, answer: str | None) -> None:
        super().__init__(f"The identity provider answered: {answer}")


class SsoRefused(Forbidden):
    """The identity is proven but may not sign in here; the message is fit for the person."""

    title = "Single sign-on refused"
    slug = "sso-refused"


class SsoUnavailable(DomainError):
    """WorkOS could not be reached or refused our credentials."""

    status = 502
    title = "Identity provider unavailable"
    slug = "sso-unavailable"

    def __init__(self) -> None:
        super().__init__("WorkOS could not be reached or refused the request. Try again shortly.")


class SsoConnectionTaken(Conflict):
    """The WorkOS organization is already mapped to another Spectral organization."""

    title = "WorkOS organization already mapped"
    slug = "sso-connection-taken"

    def __init__(self) -> None:
        super().__init__("This WorkOS organization is mapped to another Spectral organization.")


class UnknownWorkosOrganization(DomainError):
    """WorkOS has no organization with this id in our environment."""

    status = 422
    title = "Your request is not valid"
    slug = "validation-error"

    def __init__(self) -> None:
        message = "WorkOS has no organization with this id."
        super().__init__(
            message,
            errors=[
                {
                    "field": "workos_organization_id",
                    "pointer": "/workos_organization_id",
                    "code": "unknown_workos_organization",
                    "message": message,
                }
            ],
        )


class NoSsoConnection(NotFound):
    """The organization has no WorkOS organization mapped."""

    def __init__(self) -> None:
        DomainError.__init__(self, "Your organization has no WorkOS organization mapped.")
        self.what = "WorkOS organization"


@dataclass(frozen=True)
class _WorkOS:
    api_key: str
    client_id: str
    base_url: str


def require_sso(settings: Settings) -> None:
    """Refuse at once (503) when single sign-on is not configured."""
    _workos(settings)


def sso_configured(settings: Settings) -> bool:
    try:
        _workos(settings)
    except SsoNotConfigured:
        return False
    return True


def _workos(settings: Settings) -> _WorkOS:
    api_key = settings.workos_api_key.get_secret_value() if settings.workos_api_key else ""
    cookie_password = (
        settings.workos_cookie_password.get_secret_value()
        if settings.workos_cookie_password
        else ""
    )
    if not (api_key and settings.workos_client_id and cookie_password):
        raise SsoNotConfigured()
    return _WorkOS(api_key, settings.workos_client_id, settings.workos_base_url)


def _client(config: _WorkOS) -> WorkOSClient:
    """A WorkOS client (an operator-set base URL, not a tenant's: not under the outbound policy),
    only ever used with no database transaction open."""
    from workos import WorkOSClient

    no_transaction_open("WorkOS")

    return WorkOSClient(
        api_key=config.api_key,
        client_id=config.client_id,
        base_url=config.base_url,
        request_timeout=10,
        max_retries=1,  # POSTs carry an Idempotency-Key, so one retry of a 5xx is safe
    )


# ---- the mapping ---------------------------------------------------------------------------------


def sso_connection(session: Session, organization_id: str) -> SsoConnection | None:
    return session.scalars(
        select(SsoConnection).where(SsoConnection.organization_id == organization_id)
    ).first()


def set_connection(
    runtime: Runtime, identity: Identity, workos_organization_id: str | None
) -> SsoConnection | None:
    """Map the caller's organization to a WorkOS organization, or with ``None`` remove the mapping."""
    config = _workos(runtime.settings)
    if workos_organization_id is not None:
        _check_workos_organization(config, workos_organization_id)
    try:
        with runtime.database.session() as session:
            current = session.scalars(
                select(SsoConnection)
                .where(SsoConnection.organization_id == identity.organization_id)
                .with_for_update()
            ).first()
            if workos_organization_id is None:
                if current is None:
                    return None  # already so: idempotent, no event
                session.delete(current)
                connection = None
            else:
                taken = session.scalar(
                    select(SsoConnection.id).where(
                        SsoConnection.workos_organization_id == workos_organization_id,
                        SsoConnection.organization_id != identity.organization_id,
                    )
                )
                if taken is not None:
                    raise SsoConnectionTaken()
                if current is not None and current.workos_organization_id == workos_organization_id:
                    return current  # already so
                if current is None:
                    current = SsoConnection(
                        organization_id=identity.organization_id,
                        workos_organization_id=workos_organization_id,
                        created_by=identity.subject_id,
                    )
                    session.add(current)
                else:
                    current.workos_organization_id = workos_organization_id
                session.flush()
                connection = current
            record_event(
                session,
                bus,
                ev.SSO_CONNECTION_CHANGED,
                ev.SsoConnectionChanged(workos_organization_id=workos_organization_id),
                organization_id=identity.organization_id,
                actor=identity.actor,
            )
            return connection
    except IntegrityError as exc:  # two admins raced for the same WorkOS organization
        raise SsoConnectionTaken() from exc


def _check_workos_organization(config: _WorkOS, workos_organization_id: str) -> None:
    """A typo would only surface at the first sign-in; ask WorkOS now."""
    from workos import NotFoundError, WorkOSError

    try:
        with _client(config) as client:
            client.organizations.get_organization(workos_organization_id)
    except NotFoundError as exc:
        raise UnknownWorkosOrganization() from exc
    except (WorkOSError, ValueError) as exc:
        log.warning("sso.workos_unavailable", operation="get_organization", error=str(exc))
        raise SsoUnavailable() from exc


# ---- the flow ------------------------------------------------------------------------------------


def authorization_url(
    runtime: Runtime, *, organization_id: str | None = None, email: str | None = None
) -> str:
    """Where to send the browser: WorkOS AuthKit for the mapped WorkOS organization.

    By organization id, an unmapped organization is ``SsoNotMapped``. By e-mail the answer never
    says whether the address has an account: an unknown address, or one whose organization has no
    mapping, goes to AuthKit without an organization (AuthKit routes by the e-mail's domain), and
    the callback refuses what is not mapped.
    """
    config = _workos(runtime.settings)
    with runtime.database.session() as session:  # not a replica: a mapping made just now counts
        connection: SsoConnection | None = None
        if organization_id is not None:
            connection = sso_connection(session, organization_id)
            if connection is None:
                raise SsoNotSetUp()
        elif email is not None:
            owner = session.scalar(
                select(User.organization_id).where(User.email == normalize_email(email))
            )
            connection = sso_connection(session, owner) if owner is not None else None
        workos_organization_id = connection.workos_organization_id if connection else None

    from workos.pkce import PKCE

    pkce = PKCE().generate()
    state = secrets.token_urlsafe(32)
    runtime.kv.set(
        _state_key(state),
        json.dumps(
            {"workos_organization_id": workos_organization_id, "code_verifier": pkce.code_verifier}
        ).encode(),
        ttl_seconds=STATE_LIFETIME_SECONDS,
    )
    with _client(config) as client:
        return client.user_management.get_authorization_url(
            provider="authkit",
            organization_id=workos_organization_id,
            login_hint=normalize_email(email) if email else None,
            redirect_uri=runtime.settings.base_url.rstrip("/") + CALLBACK_PATH,
            state=state,
            code_challenge=pkce.code_challenge,
            code_challenge_method="S256",
        )


def _state_key(state: str) -> str:
    return f"sso:state:{hash_token(state)}"


@dataclass(frozen=True)
class _PendingSignIn:
    workos_organization_id: str | None
    code_verifier: str


def _consume_state(runtime: Runtime, state: str) -> _PendingSignIn:
    key = _state_key(state)
    stored = runtime.kv.get(key)
    if stored is None:
        raise InvalidSsoState()
    # The key-value store has no atomic get-and-delete; SET NX on a marker makes "first one wins".
    if not runtime.kv.set(
        key + ":used", b"1", ttl_seconds=STATE_LIFETIME_SECONDS, only_if_absent=True
    ):
        raise InvalidSsoState()
    runtime.kv.delete(key)
    document = json.loads(stored)
    return _PendingSignIn(document.get("workos_organization_id"), document["code_verifier"])


def complete_sign_in(runtime: Runtime, *, code: str, state: str) -> AccessGrant:
    """The callback: consume the state, exchange the code, then sign in or provision the user."""
    config = _workos(runtime.settings)
    pending = _consume_state(runtime, state)
    authenticated = _exchange_code(config, code, pending.code_verifier)
    if authenticated.impersonator is not None:
        raise SsoRefused("Impersonated WorkOS sessions cannot sign in to Spectral.")
    try:
        return _sign_in(runtime, pending, authenticated)
    except IntegrityError:  # two first sign-ins of the same person raced: the loser finds the user
        return _sign_in(runtime, pending, authenticated)


def _exchange_code(config: _WorkOS, code: str, code_verifier: str) -> AuthenticateResponse:
    from workos import BadRequestError, WorkOSError

    try:
        with _client(config) as client:
            return client.user_management.authenticate_with_code(
                code=code, code_verifier=code_verifier
            )
    except BadRequestError as exc:  # invalid_grant: unknown, expired or spent code
        raise InvalidSsoCode() from exc
    except (WorkOSError, ValueError) as exc:
        log.warning("sso.workos_unavailable", operation="authenticate", error=str(exc))
        raise SsoUnavailable() from exc


def _sign_in(
    runtime: Runtime, pending: _PendingSignIn, authenticated: AuthenticateResponse
) -> AccessGrant:
    person = authenticated.user
    workos_organization_id = authenticated.organization_id
    email = normalize_email(person.email)
    refusal: SsoRefused | None = None
    with runtime.database.session() as session:
        connection = (
            session.scalars(
                select(SsoConnection).where(
                    SsoConnection.workos_organization_id == workos_organization_id
                )
            ).first()
            if workos_organization_id is not None
            else None
        )
        if connection is None:
            raise SsoNotMapped()
        if pending.workos_organization_id not in (None, workos_organization_id):
            raise SsoRefused(
                "You signed in to a different organization than the one you asked for."
            )
        organization_id = connection.organization_id
        user = session.scalars(
            select(User)
            .where(User.sso_provider == PROVIDER, User.sso_external_id == person.id)
            .with_for_update()
        ).first()
        if user is None:
            user = session.scalars(
                select(User).where(User.email == email).with_for_update()
            ).first()
            if user is not None and user.sso_external_id is not None:
                # The address is already bound to another WorkOS identity: never re-bind silently.
                raise SsoRefused("This account is linked to a different single sign-on identity.")
            if user is not None and not person.email_verified:
                raise SsoRefused("Your identity provider has not verified your e-mail address.")
        if user is not None and user.organization_id != organization_id:
            log.warning(
                "sso.refused_other_organization",
                user_id=user.id,
                organization_id=organization_id,
                workos_organization_id=workos_organization_id,
            )
            raise SsoRefused(
                "This account belongs to another organization and cannot sign in through "
                "this organization's single sign-on. Contact your administrator."
            )

        actor: Actor
        if user is None:
            if not person.email_verified:
                raise SsoRefused("Your identity provider has not verified your e-mail address.")
            organization = session.get(Organization, organization_id)
            assert organization is not None
            user = _provision(session, organization, person, email)
            actor = Actor.user(user.id)
            record_event(
                session,
                bus,
                ev.SSO_USER_PROVISIONED,
                ev.SsoUserProvisioned(user_id=user.id, email=user.email, role=user.role),
                organization_id=organization_id,
                actor=actor,
            )
        else:
            actor = Actor.user(user.id)
            reason = _inactive_reason(user)
            if reason is not None:
                record_event(
                    session,
                    bus,
                    ev.LOGIN_FAILED,
                    ev.LoginFailed(reason=reason, user_id=user.id),
                    organization_id=user.organization_id,
                    actor=actor,
                )
                refusal = SsoRefused(
                    "Your account is deactivated. Contact your administrator."
                    if reason == "inactive"
                    else "Your account is not active yet."
                )
            else:
                user.sso_provider = PROVIDER
                user.sso_external_id = person.id
        if refusal is None:
            grant = grant_for(session, runtime, user)
            record_event(
                session,
                bus,
                ev.USER_LOGGED_IN_WITH_SSO,
                ev.UserLoggedInWithSso(user_id=user.id, provider=PROVIDER),
                organization_id=user.organization_id,
                actor=actor,
            )
    if refusal is not None:  # raised after the commit, so the failed sign-in stays recorded
        raise refusal
    return grant


def _inactive_reason(user: User) -> RefusalReason | None:
    if user.deactivated_at is not None or user.status == "inactive":
        return "inactive"
    if user.status != "active":
        return "email_not_verified"
    return None


def _provision(
    session: Session, organization: Organization, person: WorkOSUser, email: str
) -> User:
    """A first sign-in: the organization's default role, whatever the identity provider claims."""
    settings = OrganizationSettings.model_validate_json(organization.settings or "{}")
    role = Role(settings.default_sso_role)
    if role not in PROVISIONABLE_ROLES:
        role = Role.VIEWER
    now = utcnow()
    user = User(
        organization_id=organization.id,
        name=_display_name(person, email),
        email=email,
        # Nobody knows this password: the account signs in through its identity provider.
        password_hash=hash_password(secrets.token_urlsafe(48)),
        role=role.value,
        status="active",
        email_verified_at=now,  # the identity provider verified it (checked above)
        sso_provider=PROVIDER,
        sso_external_id=person.id,
    )
    session.add(user)
    session.flush()
    return user


def _display_name(person: WorkOSUser, email: str) -> str:
    full = (person.name or " ".join(p for p in (person.first_name, person.last_name) if p)).strip()
    return (full or email.split("@", 1)[0])[:200]
