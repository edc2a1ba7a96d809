"""API keys for machines (issue #3 item 6): per organization, named, scoped, optionally expiring.

The secret (``spk_live_...`` under ``SPECTRAL_ENV=production``, ``spk_test_...`` elsewhere) is shown
once, when the key is created. Auth keeps its first 16 characters as a visible, unique prefix (for
lookup and for people to tell keys apart) and an HMAC-SHA256 of the whole secret under a key derived
from ``SESSION_SECRET`` with HKDF-SHA256. A copy of the table is useless without that secret; rotating
``SESSION_SECRET`` invalidates every key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spectral_auth import event_types as ev
from spectral_auth.account_state import bump_api_key
from spectral_auth.models import ApiKey, bus
from spectral_auth.roles import API_KEY_SCOPES
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.config import Settings
from spectral_shared.crypto import derive_key
from spectral_shared.db import utcnow
from spectral_shared.errors import NotFound, RuleBroken
from spectral_shared.identity import Identity

__all__ = [
    "ApiKeyPrincipal",
    "ApiKeyRefused",
    "authenticate_api_key",
    "create_api_key",
    "revoke_api_key",
    "revoke_keys_created_by",
]

PREFIX_LENGTH = 16
NAME_MAX_LENGTH = 100
# last_used_at is written at most this often per key: not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_PREFIX_ATTEMPTS = 5
_HKDF_INFO = b"spectral api keys"
# ``spk_`` + mode + ``_`` + secrets.token_urlsafe(32) (43 URL-safe base64 characters).
_SHAPE = re.compile(r"spk_(?:live|test)_[A-Za-z0-9_-]{43}")
# Compared against when no key has the presented prefix, so a miss costs what a hit costs.
_NO_SUCH_KEY = "0" * 64

RevocationReason = Literal["revoked", "user_deactivated"]


class ApiKeyRefused(RuleBroken):
    """A field of a key request that the rules refuse, in words fit for a per-field problem."""


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Who a valid API key speaks for: its organization, within its scopes."""

    id: str
    organization_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_by: str | None
    expires_at: datetime | None


@lru_cache(maxsize=4)
def _hmac_key(session_secret: str) -> bytes:
    return derive_key(session_secret, _HKDF_INFO.decode())


def _secret_hmac(settings: Settings, secret: str) -> str:
    key = _hmac_key(settings.secret("SESSION_SECRET"))
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def _new_secret(settings: Settings) -> str:
    mode = "live" if settings.is_production else "test"
    return f"spk_{mode}_{secrets.token_urlsafe(32)}"


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted(set(scopes))
    if not wanted:
        raise ApiKeyRefused("scopes", "Give at least one scope.")
    unknown = [s for s in wanted if s not in API_KEY_SCOPES]
    if unknown:
        raise ApiKeyRefused(
            "scopes",
            f"Unknown scope(s) {', '.join(unknown)}; use any of {', '.join(API_KEY_SCOPES)}.",
        )
    return wanted


def _clean_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise ApiKeyRefused("expires_at", "Give a UTC offset, e.g. 2030-01-01T00:00:00Z.")
    expires_at = expires_at.astimezone(UTC)
    if expires_at <= now:
        raise ApiKeyRefused("expires_at", "Must be in the future.")
    return expires_at


def create_api_key(
    runtime: Runtime,
    identity: Identity,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    """A new key of the caller's organization and its secret, which is never available again."""
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise ApiKeyRefused("name", f"Give a name of 1 to {NAME_MAX_LENGTH} characters.")
    wanted = _clean_scopes(scopes)
    expires_at = _clean_expiry(expires_at, utcnow())
    created_by = identity.subject_id if identity.subject_type == "user" else None
    for attempt in range(_PREFIX_ATTEMPTS):
        secret = _new_secret(runtime.settings)
        prefix = secret[:PREFIX_LENGTH]
        try:
            with runtime.database.session() as session:
                if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is not None:
                    continue  # the rare prefix collision: draw another secret
                key = ApiKey(
                    organization_id=identity.organization_id,
                    name=name,
                    prefix=prefix,
                    secret_hmac=_secret_hmac(runtime.settings, secret),
                    scopes=json.dumps(wanted),
                    created_by=created_by,
                    expires_at=expires_at,
                )
                session.add(key)
                session.flush()
                record_event(
                    session,
                    bus,
                    ev.API_KEY_CREATED,
                    ev.ApiKeyCreated(
                        api_key_id=key.id,
                        name=key.name,
                        prefix=key.prefix,
                        scopes=wanted,
                        expires_at=expires_at.isoformat() if expires_at else None,
                    ),
                    organization_id=key.organization_id,
                    actor=identity.actor,
                )
                return key, secret
        except IntegrityError:
            # A concurrent insert took the same prefix between the check and ours.
            if attempt == _PREFIX_ATTEMPTS - 1:
                raise
    raise RuntimeError("could not draw an API key with an unused prefix")


def _record_revocation(
    session: Session, key: ApiKey, *, reason: RevocationReason, actor: Actor
) -> None:
    record_event(
        session,
        bus,
        ev.API_KEY_REVOKED,
        ev.ApiKeyRevoked(api_key_id=key.id, prefix=key.prefix, reason=reason),
        organization_id=key.organization_id,
        actor=actor,
    )


def revoke_api_key(runtime: Runtime, identity: Identity, key_id: str) -> ApiKey:
    """Revoke a key of the caller's organization; another organization's or a revoked one is NotFound."""
    with runtime.database.session() as session:
        key = session.scalars(
            select(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.organization_id == identity.organization_id)
            .with_for_update()
        ).first()
        if key is None or key.revoked_at is not None:
            raise NotFound("unrevoked API key")
        key.revoked_at = utcnow()
        bump_api_key(session, runtime.kv, key.prefix)
        _record_revocation(session, key, reason="revoked", actor=identity.actor)
        return key


def revoke_keys_created_by(
    runtime: Runtime, session: Session, *, user_id: str, organization_id: str, actor: Actor
) -> list[ApiKey]:
    """Revoke every active key ``user_id`` created, in the caller's transaction (deactivation)."""
    now = utcnow()
    keys = session.scalars(
        select(ApiKey)
        .where(
            ApiKey.created_by == user_id,
            ApiKey.organization_id == organization_id,
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
        .order_by(ApiKey.created_at, ApiKey.id)
        .with_for_update()
    ).all()
    for key in keys:
        key.revoked_at = now
        bump_api_key(session, runtime.kv, key.prefix)
        _record_revocation(session, key, reason="user_deactivated", actor=actor)
    return list(keys)


def authenticate_api_key(runtime: Runtime, presented: str) -> ApiKeyPrincipal | None:
    """The principal of a valid, unrevoked, unexpired key, or None; says nothing about why not."""
    if not _SHAPE.fullmatch(presented):
        return None
    digest = _secret_hmac(runtime.settings, presented)
    now = utcnow()
    with runtime.database.session() as session:  # the primary: a lagging replica hides revocations
        row = session.execute(
            select(
                ApiKey.id,
                ApiKey.organization_id,
                ApiKey.name,
                ApiKey.prefix,
                ApiKey.scopes,
                ApiKey.created_by,
                ApiKey.secret_hmac,
                ApiKey.expires_at,
                ApiKey.revoked_at,
                ApiKey.last_used_at,
            ).where(ApiKey.prefix == presented[:PREFIX_LENGTH])
        ).first()
        matches = hmac.compare_digest(digest, row.secret_hmac if row is not None else _NO_SUCH_KEY)
        if (
            row is None
            or not matches
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
        ):
            return None
        stale = now - LAST_USED_RESOLUTION
        if row.last_used_at is None or row.last_used_at <= stale:
            # Conditional, so concurrent requests write it once between them.
            session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == row.id,
                    or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale),
                )
                .values(last_used_at=now)
            )
        return ApiKeyPrincipal(
            id=row.id,
            organization_id=row.organization_id,
            name=row.name,
            prefix=row.prefix,
            scopes=tuple(json.loads(row.scopes or "[]")),
            created_by=row.created_by,
            expires_at=row.expires_at,
        )
