"""What /internal/authorize decides for the gateway: who is calling, and whether their
organization's quota allows the request. Read-mostly; it writes nothing but rate-limit counters
(and, for API keys, a throttled last-used time)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

from sqlalchemy import select

from spectral_auth.account_state import account_version_key, api_key_version_key, version
from spectral_auth.models import Organization, User
from spectral_auth.quotas import Quota, quota_for
from spectral_auth.services.api_keys import PREFIX_LENGTH, ApiKeyPrincipal, authenticate_api_key
from spectral_auth.services.sessions import csrf_ok, load_session
from spectral_auth.signing_keys import ActiveKey, current_signing_key, issue_internal_token
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.identity import ACCESS_TOKEN_AUDIENCE, Identity, TokenVerifier
from spectral_shared.ratelimit import Decision, RateLimiter, rate_limiter
from spectral_shared.web.problems import Problem

__all__ = ["Authorization", "Authorizer", "CsrfRefused", "NotAuthenticated", "QuotaExceeded"]

_KEY_CACHE_SECONDS = 60.0
_FACTS_SECONDS = 60.0  # an account's facts are re-read at least this often, versions or not
_INTERNAL_TOKEN_REUSE_SECONDS = 30.0
_CACHE_ENTRIES = 10_000

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class NotAuthenticated(Exception):
    """No usable credential: missing, malformed, expired, revoked, or the account is inactive."""


class CsrfRefused(Exception):
    """A cookie-authenticated unsafe request without the session's CSRF token."""


class QuotaExceeded(Exception):
    def __init__(self, decision: Decision) -> None:
        super().__init__("quota exceeded")
        self.decision = decision


@dataclass(frozen=True)
class Authorization:
    internal_token: str
    subject_type: str
    subject_id: str
    organization_id: str
    role: str
    scopes: tuple[str, ...]
    quota: Decision


@dataclass(frozen=True)
class _AccountFacts:
    organization_id: str
    role: str
    active: bool
    revoked_at: float | None  # sessions_revoked_at as a timestamp


@dataclass(frozen=True)
class _Cached(Generic[T]):
    version: bytes
    fetched: float
    value: T


@dataclass
class Authorizer:
    """One per process. What every request needs is cached here (account facts, API-key
    principals, verified tokens, issued internal tokens); a Redis version per account and per
    key, bumped after each committed change, makes a change hold at once in every process."""

    runtime: Runtime
    _key: tuple[float, ActiveKey] | None = field(default=None, repr=False)
    _plans: dict[str, tuple[float, str | None]] = field(default_factory=dict, repr=False)
    _accounts: dict[str, _Cached[_AccountFacts | None]] = field(default_factory=dict, repr=False)
    _api_keys: dict[str, _Cached[ApiKeyPrincipal]] = field(default_factory=dict, repr=False)
    _verified: dict[str, Identity] = field(default_factory=dict, repr=False)
    _issued: dict[tuple[object, ...], tuple[float, str]] = field(default_factory=dict, repr=False)

    @cached_property
    def verifier(self) -> TokenVerifier:
        """Access tokens only: the internal tokens this hands out are for services, not for here."""
        base = self.runtime.verifier
        return TokenVerifier(base.keys, issuer=base.issuer, audiences=(ACCESS_TOKEN_AUDIENCE,))

    @cached_property
    def limiter(self) -> RateLimiter:
        settings = self.runtime.settings
        return rate_limiter(settings.redis_url, prefix=f"{settings.redis_key_prefix}:quota:")

    def signing_key(self) -> ActiveKey:
        if self._key is None or time.monotonic() - self._key[0] > _KEY_CACHE_SECONDS:
            with self.runtime.database.session() as session:
                self._key = (time.monotonic(), current_signing_key(session, self.runtime.cipher))
        return self._key[1]

    def quota_for(self, organization_id: str) -> Quota:
        """The organization's plan quota (the deployment's defaults when no plan is known),
        remembered for a minute so the quota costs no query on most requests."""
        now = time.monotonic()
        cached = self._plans.get(organization_id)
        if cached is None or now - cached[0] > _KEY_CACHE_SECONDS:
            with self.runtime.database.session() as session:
                tier = session.scalar(
                    select(Organization.plan_tier).where(Organization.id == organization_id)
                )
            cached = self._plans[organization_id] = (now, tier)
        settings = self.runtime.settings
        return quota_for(
            cached[1],
            default_limit=settings.rate_limit_max_requests,
            default_window_seconds=settings.rate_limit_window_ms / 1000,
        )

    # ---- the facts, cached under their versions ----------------------------------------------

    def _account(self, user_id: str) -> _AccountFacts | None:
        current = version(self.runtime.kv, account_version_key(user_id))
        cached = self._accounts.get(user_id)
        if (
            cached is not None
            and cached.version == current
            and time.monotonic() - cached.fetched < _FACTS_SECONDS
        ):
            return cached.value
        with self.runtime.database.session() as session:
            user = session.get(User, user_id)
            facts = (
                None
                if user is None
                else _AccountFacts(
                    organization_id=user.organization_id,
                    role=user.role,
                    active=user.deactivated_at is None and user.status == "active",
                    revoked_at=user.sessions_revoked_at.timestamp()
                    if user.sessions_revoked_at
                    else None,
                )
            )
        _bounded(self._accounts)[user_id] = _Cached(current, time.monotonic(), facts)
        return facts

    def _usable_account(
        self, user_id: str, organization_id: str, issued_at: float | None
    ) -> _AccountFacts:
        facts = self._account(user_id)
        if facts is None or facts.organization_id != organization_id or not facts.active:
            raise NotAuthenticated("the account is not active")
        if facts.revoked_at is not None and (issued_at or 0) < facts.revoked_at:
            raise NotAuthenticated("the credential was revoked")
        return facts

    def _verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None and cached.expires_at is not None and cached.expires_at > time.time():
            return cached
        try:
            identity = self.verifier.verify(token)
        except Problem as exc:
            raise NotAuthenticated(exc.detail) from None
        _bounded(self._verified)[token] = identity
        return identity

    # ---- the three credentials ------------------------------------------------------------------

    def authorize_bearer(self, token: str) -> Authorization:
        identity = self._verify(token)
        facts = self._usable_account(
            identity.subject_id, identity.organization_id, identity.issued_at
        )
        # The current role, not the one the token was issued with.
        return self._grant("user", identity.subject_id, identity.organization_id, facts.role, ())

    def authorize_session(
        self, session_id: str, *, method: str, csrf_token: str | None
    ) -> Authorization:
        record = load_session(self.runtime, session_id, check_account=False)
        if record is None:
            raise NotAuthenticated("no live session")
        if not csrf_ok(record, method, csrf_token):
            raise CsrfRefused
        facts = self._usable_account(
            record.user_id, record.organization_id, record.created.timestamp()
        )
        return self._grant("user", record.user_id, record.organization_id, facts.role, ())

    def authorize_api_key(self, presented: str) -> Authorization:
        principal = self._api_key(presented)
        if principal is None:
            raise NotAuthenticated("unknown, revoked or expired API key")
        # Machines hold scopes, not a role; permissions check them by name.
        return self._grant(
            "api_key", principal.id, principal.organization_id, "api_key", principal.scopes
        )

    def _api_key(self, presented: str) -> ApiKeyPrincipal | None:
        """A secret seen before (by its hash) skips the database until its key's version moves,
        its minute is up, or it expires. Re-reading at most once a minute also paces last-used."""
        prefix = presented[:PREFIX_LENGTH]
        slot = hashlib.sha256(presented.encode()).hexdigest()
        current = version(self.runtime.kv, api_key_version_key(prefix))
        cached = self._api_keys.get(slot)
        now = time.monotonic()
        if (
            cached is not None
            and cached.version == current
            and now - cached.fetched < _FACTS_SECONDS
        ):
            expires = cached.value.expires_at
            if expires is None or expires > utcnow():
                return cached.value
        principal = authenticate_api_key(self.runtime, presented)
        if principal is not None:
            _bounded(self._api_keys)[slot] = _Cached(current, now, principal)
        return principal

    def _grant(
        self,
        subject_type: str,
        subject_id: str,
        organization_id: str,
        role: str,
        scopes: tuple[str, ...],
    ) -> Authorization:
        quota = self.quota_for(organization_id)
        decision = self.limiter.hit(
            f"org:{organization_id}", limit=quota.limit, window_seconds=quota.window_seconds
        )
        if not decision.allowed:
            raise QuotaExceeded(decision)
        return Authorization(
            self._internal_token(subject_type, subject_id, organization_id, role, scopes),
            subject_type,
            subject_id,
            organization_id,
            role,
            scopes,
            decision,
        )

    def _internal_token(
        self,
        subject_type: str,
        subject_id: str,
        organization_id: str,
        role: str,
        scopes: tuple[str, ...],
    ) -> str:
        """Internal tokens live a minute; one is reused for half of that for the same caller and
        role (services do not track their ids), so a busy client costs one signature per 30 s."""
        slot = (subject_type, subject_id, organization_id, role, scopes)
        now = time.monotonic()
        cached = self._issued.get(slot)
        if cached is not None and now - cached[0] < _INTERNAL_TOKEN_REUSE_SECONDS:
            return cached[1]
        token = issue_internal_token(
            self.signing_key(),
            issuer=self.runtime.settings.base_url,
            subject_type=subject_type,
            subject_id=subject_id,
            organization_id=organization_id,
            role=role,
            scopes=scopes,
        )
        _bounded(self._issued)[slot] = (now, token)
        return token


def _bounded(cache: dict[K, V]) -> dict[K, V]:
    """Process caches stay small: past the bound, start afresh (entries re-read on demand)."""
    if len(cache) >= _CACHE_ENTRIES:
        cache.clear()
    return cache
