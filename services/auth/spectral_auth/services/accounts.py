"""Administering an organization: its profile, invitations, roles, deactivation."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_auth import event_types as ev
from spectral_auth.account_state import bump_account
from spectral_auth.models import Invitation, MfaBackupCode, Organization, User, bus
from spectral_auth.passwords import hash_password
from spectral_auth.roles import OrganizationSettings, RoleRefused, check_role_grant
from spectral_auth.services import api_keys, tokens
from spectral_shared.bus import Actor, record_event
from spectral_shared.bus.catalog import EventData, EventType
from spectral_shared.component import Runtime
from spectral_shared.crypto import hash_token
from spectral_shared.db import utcnow
from spectral_shared.email import OutgoingEmail, queue_email
from spectral_shared.errors import Conflict, DomainError, NotFound
from spectral_shared.identity import Identity, Role

__all__ = [
    "AddressHasAccount",
    "AlreadyMember",
    "InvalidInvitation",
    "SelfChangeRefused",
    "accept_invitation",
    "change_role",
    "create_platform_admin",
    "invite",
    "reset_mfa",
    "revoke_invitation",
    "set_active",
    "update_organization",
]

INVITATION_LIFETIME = timedelta(days=7)


class AlreadyMember(Conflict):
    title = "Already a member or invited"
    slug = "already-member"

    def __init__(
        self,
        detail: str = "This address is already a member of your organization, or invited to it.",
    ) -> None:
        super().__init__(detail)


class AddressHasAccount(Conflict):
    """Only the holder of an invitation's token sees this: the admin who invited the address got
    the same answer as for any other (ADR 0038)."""

    title = "Address already has an account"
    slug = "address-has-account"

    def __init__(self) -> None:
        super().__init__(
            "This address already has a Spectral account, and an address belongs to one "
            "account in one organization, so this invitation cannot be accepted with it. Ask "
            "the person who invited you to invite another address of yours."
        )


class InvalidInvitation(DomainError):
    title = "Invalid invitation"
    slug = "invalid-token"

    def __init__(self) -> None:
        super().__init__(
            "This invitation is invalid, was already used or withdrawn, or has expired. "
            "Ask for a new one."
        )


class SelfChangeRefused(RoleRefused):
    """An admin acting on their own account where another admin must."""


def _member(session: Session, identity: Identity, user_id: str) -> User:
    user = session.scalars(
        select(User)
        .where(User.id == user_id, User.organization_id == identity.organization_id)
        .with_for_update()
    ).first()
    if user is None:
        raise NotFound("user")
    return user


def update_organization(
    runtime: Runtime,
    identity: Identity,
    *,
    name: str | None,
    state: str | None,
    settings: dict[str, object] | None,
    fields_set: set[str],
) -> Organization:
    with runtime.database.session() as session:
        organization = session.get(Organization, identity.organization_id, with_for_update=True)
        if organization is None:
            raise NotFound("organization")
        changes: dict[str, dict[str, object]] = {}
        if "name" in fields_set and name is not None and name != organization.name:
            changes["name"] = {"from": organization.name, "to": name}
            organization.name = name
        if "state" in fields_set and state != organization.state:
            changes["state"] = {"from": organization.state, "to": state}
            organization.state = state
        if "settings" in fields_set and settings is not None:
            current = OrganizationSettings.model_validate_json(organization.settings or "{}")
            merged = OrganizationSettings.model_validate({**current.model_dump(), **settings})
            if merged != current:
                changes["settings"] = {"from": current.model_dump(), "to": merged.model_dump()}
                organization.settings = merged.model_dump_json()
        if changes:
            record_event(
                session,
                bus,
                ev.ORGANIZATION_UPDATED,
                ev.OrganizationUpdated(organization_id=organization.id, changes=changes),
                organization_id=organization.id,
                actor=identity.actor,
            )
        return organization


def invite(
    runtime: Runtime, identity: Identity, *, email: str, role: str, personas: Sequence[str]
) -> Invitation:
    email = email.strip().lower()
    token = secrets.token_urlsafe(32)
    with runtime.database.session() as session:
        organization = session.get(Organization, identity.organization_id)
        if organization is None:
            raise NotFound("organization")
        check_role_grant(
            actor_role=identity.role, target_role=role, organization_type=organization.type
        )
        # Only the admin's own organization's members are a conflict: an account elsewhere gets
        # the answer any address gets, and its owner an e-mail saying what to do (ADR 0038).
        account = session.scalars(select(User).where(User.email == email)).first()
        if account is not None and account.organization_id == organization.id:
            raise AlreadyMember()
        now = utcnow()
        pending = session.scalars(
            select(Invitation).where(
                Invitation.organization_id == organization.id,
                Invitation.email == email,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
        ).first()
        if pending is not None:
            raise AlreadyMember()
        invitation = Invitation(
            organization_id=organization.id,
            email=email,
            role=role,
            personas=json.dumps(sorted(set(personas))),
            token_hash=hash_token(token),
            invited_by=identity.subject_id,
            expires_at=now + INVITATION_LIFETIME,
        )
        session.add(invitation)
        session.flush()
        record_event(
            session,
            bus,
            ev.INVITATION_CREATED,
            ev.InvitationCreated(
                invitation_id=invitation.id, email=email, role=role, invited_by=identity.subject_id
            ),
            organization_id=organization.id,
            actor=identity.actor,
        )
        message = (
            invitation_email(runtime, organization.name, role, email, token)
            if account is None
            else invitation_to_an_account_email(organization.name, role, email)
        )
        queue_email(session, bus, runtime.cipher, message)
        return invitation


def invitation_email(
    runtime: Runtime, organization_name: str, role: str, email: str, token: str
) -> OutgoingEmail:
    link = (
        f"{runtime.settings.base_url.rstrip('/')}/accept-invitation?{urlencode({'token': token})}"
    )
    return OutgoingEmail(
        to=email,
        subject=f"You are invited to {organization_name} on Spectral",
        text=(
            f"You have been invited to join {organization_name} on Spectral as {role}.\n\n"
            f"Accept the invitation (it works once and expires in 7 days):\n\n{link}\n\n"
            f"Or send the token to POST /api/v1/auth/invitations/accept: {token}\n"
        ),
    )


def invitation_to_an_account_email(organization_name: str, role: str, email: str) -> OutgoingEmail:
    """For an address that has an account in another organization: a user belongs to one
    organization, so there is nothing to accept; the owner learns what to do instead."""
    return OutgoingEmail(
        to=email,
        subject=f"You are invited to {organization_name} on Spectral",
        text=(
            f"You have been invited to join {organization_name} on Spectral as {role}.\n\n"
            "This address already has a Spectral account in another organization, and an "
            "address belongs to one account in one organization, so the invitation cannot be "
            "accepted with it. To join, ask the person who invited you to invite another address "
            "of yours. Your current account is unchanged.\n\n"
            "If you do not know this organization, you need not do anything.\n"
        ),
    )


def revoke_invitation(runtime: Runtime, identity: Identity, invitation_id: str) -> None:
    with runtime.database.session() as session:
        invitation = session.scalars(
            select(Invitation).where(
                Invitation.id == invitation_id,
                Invitation.organization_id == identity.organization_id,
            )
        ).first()
        if (
            invitation is None
            or invitation.accepted_at is not None
            or invitation.revoked_at is not None
        ):
            raise NotFound("pending invitation")
        invitation.revoked_at = utcnow()
        record_event(
            session,
            bus,
            ev.INVITATION_REVOKED,
            ev.InvitationRevoked(invitation_id=invitation.id, email=invitation.email),
            organization_id=invitation.organization_id,
            actor=identity.actor,
        )


def accept_invitation(runtime: Runtime, *, token: str, name: str, password: str) -> User:
    password_hash = hash_password(password)
    try:
        with runtime.database.session() as session:
            invitation = session.scalars(
                select(Invitation)
                .where(Invitation.token_hash == hash_token(token))
                .with_for_update()
            ).first()
            now = utcnow()
            if (
                invitation is None
                or invitation.accepted_at is not None
                or invitation.revoked_at is not None
                or invitation.expires_at <= now
            ):
                raise InvalidInvitation()
            if session.scalar(select(User.id).where(User.email == invitation.email)) is not None:
                raise AddressHasAccount()  # the token proves control of the address
            user = User(
                organization_id=invitation.organization_id,
                name=name,
                email=invitation.email,
                password_hash=password_hash,
                role=invitation.role,
                personas=invitation.personas,
                status="active",
                email_verified_at=now,  # the invitation link proved the address
            )
            session.add(user)
            session.flush()
            invitation.accepted_at = now
            record_event(
                session,
                bus,
                ev.INVITATION_ACCEPTED,
                ev.InvitationAccepted(
                    invitation_id=invitation.id, user_id=user.id, role=user.role, email=user.email
                ),
                organization_id=user.organization_id,
                actor=Actor.user(user.id),
            )
            return user
    except IntegrityError as exc:  # the address registered meanwhile
        raise AddressHasAccount() from exc


def change_role(
    runtime: Runtime, identity: Identity, user_id: str, *, role: str, personas: Sequence[str] | None
) -> User:
    if user_id == identity.subject_id:
        raise SelfChangeRefused("you cannot change your own role; ask another admin")
    with runtime.database.session() as session:
        user = _member(session, identity, user_id)
        organization = session.get(Organization, identity.organization_id)
        assert organization is not None
        check_role_grant(
            actor_role=identity.role, target_role=role, organization_type=organization.type
        )
        # Nor may an admin strip a role above their own (an executive's, or a super_admin's).
        check_role_grant(
            actor_role=identity.role, target_role=user.role, organization_type=organization.type
        )
        before = {"role": user.role, "personas": json.loads(user.personas)}
        user.role = role
        bump_account(session, runtime.kv, user.id)
        if personas is not None:
            user.personas = json.dumps(sorted(set(personas)))
        after = {"role": user.role, "personas": json.loads(user.personas)}
        if before != after:
            record_event(
                session,
                bus,
                ev.USER_ROLE_CHANGED,
                ev.UserRoleChanged(user_id=user.id, before=before, after=after),
                organization_id=user.organization_id,
                actor=identity.actor,
            )
        return user


def set_active(runtime: Runtime, identity: Identity, user_id: str, *, active: bool) -> User:
    if user_id == identity.subject_id:
        raise SelfChangeRefused("you cannot deactivate or reactivate yourself")
    with runtime.database.session() as session:
        user = _member(session, identity, user_id)
        if active == (user.deactivated_at is None):
            return user  # already so: idempotent, no event
        event_type: EventType
        data: EventData
        bump_account(session, runtime.kv, user.id)
        if active:
            user.deactivated_at = None
            user.status = "active" if user.email_verified_at else "pending_verification"
            event_type, data = ev.USER_REACTIVATED, ev.UserReactivated(user_id=user.id)
        else:
            user.deactivated_at = utcnow()
            user.status = "inactive"
            tokens.revoke_all_sessions(
                runtime, session, user, reason="deactivated", actor=identity.actor
            )
            api_keys.revoke_keys_created_by(
                runtime,
                session,
                user_id=user.id,
                organization_id=user.organization_id,
                actor=identity.actor,
            )
            event_type, data = ev.USER_DEACTIVATED, ev.UserDeactivated(user_id=user.id)
        record_event(
            session,
            bus,
            event_type,
            data,
            organization_id=user.organization_id,
            actor=identity.actor,
        )
        return user


def reset_mfa(runtime: Runtime, identity: Identity, user_id: str) -> User:
    """An admin's way out for a user who lost their authenticator: MFA off, every session ended.
    The user enrols again on their next sign-in when the organization requires MFA."""
    if user_id == identity.subject_id:
        raise SelfChangeRefused("turn your own MFA off with your password instead")
    with runtime.database.session() as session:
        user = _member(session, identity, user_id)
        if user.mfa_enabled_at is None and user.mfa_pending_secret is None:
            return user  # nothing to reset: idempotent, no event
        user.mfa_secret = user.mfa_pending_secret = None
        user.mfa_enabled_at = None
        session.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user.id))
        tokens.revoke_all_sessions(runtime, session, user, reason="mfa_reset", actor=identity.actor)
        record_event(
            session,
            bus,
            ev.MFA_RESET,
            ev.MfaChanged(user_id=user.id),
            organization_id=user.organization_id,
            actor=identity.actor,
        )
        return user


def create_platform_admin(runtime: Runtime, *, name: str, email: str, password: str) -> User:
    """The operator's way to create the single platform organization and its first super_admin."""
    email = email.strip().lower()
    password_hash = hash_password(password)
    with runtime.database.session() as session:
        if (
            session.scalar(select(Organization.id).where(Organization.type == "platform"))
            is not None
        ):
            raise AlreadyMember("the platform organization already exists")
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise AlreadyMember(email)
        organization = Organization(name="Spectral", type="platform")
        session.add(organization)
        session.flush()
        now = utcnow()
        user = User(
            organization_id=organization.id,
            name=name,
            email=email,
            password_hash=password_hash,
            role=Role.SUPER_ADMIN.value,
            status="active",
            email_verified_at=now,
        )
        session.add(user)
        session.flush()
        actor = Actor.system("spectral auth create-platform-admin")
        record_event(
            session,
            bus,
            ev.ORGANIZATION_CREATED,
            ev.OrganizationCreated(
                organization_id=organization.id, name=organization.name, type="platform"
            ),
            organization_id=organization.id,
            actor=actor,
        )
        record_event(
            session,
            bus,
            ev.USER_REGISTERED,
            ev.UserRegistered(user_id=user.id, email=user.email, name=user.name, role=user.role),
            organization_id=organization.id,
            actor=actor,
        )
        return user
