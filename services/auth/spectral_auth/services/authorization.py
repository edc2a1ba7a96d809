"""What /internal/authorize decides for the gateway: who is calling, and whether their
organization's quota allows the request. Read-mostly; it writes nothing but rate-limit counters
(and, for API keys, a throttled last-used time)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

from sqlalchemy import select

from spectral_auth.account_state import account_version_key, api_key_version_key, version
from spectral_auth.models import Organization, User
from spectral_auth.quotas import Quota, quota_for
from spectral_auth.services.api_keys import PREFIX_LENGTH, ApiKeyPrincipal, authenticate_api_key
from spectral_auth.services.sessions import CsrfRefused, csrf_ok, load_session
from spectral_auth.signing_keys import ActiveKey, current_signing_key, issue_internal_token
from spectral_auth.usage import api_calls_key, utc_day
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.errors import DomainError
from spectral_shared.identity import (
    ACCESS_TOKEN_AUDIENCE,
    DENIAL_HEADER,
    Identity,
    TokenVerifier,
    bearer_challenge,
)
from spectral_shared.ratelimit import (
    Decision,
    Guard,
    GuardMoved,
    RateLimiter,
    Tally,
    rate_limiter,
)
from spectral_shared.web.problems import Problem

__all__ = ["Authorization", "Authorizer", "CsrfRefused", "NotAuthenticated", "QuotaExceeded"]

_KEY_CACHE_SECONDS = 60.0
# How long an organization's quota is remembered: a plan change holds within this.
_QUOTA_CACHE_SECONDS = 5.0
_FACTS_SECONDS = 60.0  # an account's facts are re-read at least this often, versions or not
_INTERNAL_TOKEN_REUSE_SECONDS = 30.0
_CACHE_ENTRIES = 10_000
_ATTEMPTS = 3  # guarded hits before one on facts read just now, should versions keep moving

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class NotAuthenticated(DomainError):
    """No usable credential: missing, malformed, expired, revoked, or the account is inactive.
    ``reason`` says which, for the problem's detail."""

    status = 401
    title = "Authentication required"

    def __init__(
        self,
        reason: str,
        *,
        detail: str | None = None,
        error: str | None = "invalid_token",
        description: str | None = None,
        slug: str | None = None,
    ) -> None:
        """``error`` is RFC 6750's code: ``invalid_token`` for a credential that was sent and
        cannot be used, None when none was sent; ``description`` says which (and so whether a
        refresh can help)."""
        description = description or (reason[:1].upper() + reason[1:] if error else None)
        super().__init__(
            detail or f"The credential is not valid: {reason}",
            slug=slug or ("invalid-token" if error else None),
            headers={
                "WWW-Authenticate": bearer_challenge(error, description),
                DENIAL_HEADER: "unauthenticated",
            },
        )
        if error:
            self.extensions.update(error=error, error_description=description)
        self.reason = reason


class QuotaExceeded(DomainError):
    """The organization's request quota is used up (429; a gateway asking through nginx's
    ``auth_request`` gets it as a 403, the only refusal besides 401 nginx passes on)."""

    status = 429
    title = "Too many requests"
    slug = "quota-exceeded"

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            "Your organization's request quota is used up for now; retry after the given seconds.",
            headers={**decision.headers(), DENIAL_HEADER: "quota"},
        )
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
class _Subject:
    """Who a credential speaks for, as the internal token will say."""

    subject_type: str
    subject_id: str
    organization_id: str
    role: str
    scopes: tuple[str, ...]
    # When the account's credentials were last revoked: an internal token minted before then is
    # refused by auth's own routes, so a cached one is never reused across a revocation.
    revoked_at: float | None = None


@dataclass(frozen=True)
class _Cached(Generic[T]):
    version: bytes
    fetched: float
    value: T


@dataclass
class Authorizer:
    """One per process. What every request needs is cached here (account facts, API-key
    principals, verified tokens, issued internal tokens); a Redis version per account and per
    key, bumped after each committed change and checked by the quota script on every hit, makes
    a change hold at once in every process."""

    runtime: Runtime
    _key: tuple[float, ActiveKey] | None = field(default=None, repr=False)
    _plans: dict[str, tuple[float, tuple[int | None, int | None]]] = field(
        default_factory=dict, repr=False
    )
    _accounts: dict[str, _Cached[_AccountFacts | None]] = field(default_factory=dict, repr=False)
    _api_keys: dict[str, _Cached[ApiKeyPrincipal]] = field(default_factory=dict, repr=False)
    _verified: dict[str, Identity] = field(default_factory=dict, repr=False)
    _issued: dict[_Subject, tuple[float, str]] = field(default_factory=dict, repr=False)

    @cached_property
    def verifier(self) -> TokenVerifier:
        """Access tokens only: the internal tokens this hands out are for services, not for here."""
        base = self.runtime.verifier
        return TokenVerifier(base.keys, issuer=base.issuer, audiences=(ACCESS_TOKEN_AUDIENCE,))

    @cached_property
    def limiter(self) -> RateLimiter:
        return rate_limiter(self.runtime.kv, namespace="quota:")

    def signing_key(self) -> ActiveKey:
        if self._key is None or time.monotonic() - self._key[0] > _KEY_CACHE_SECONDS:
            with self.runtime.database.session() as session:
                self._key = (time.monotonic(), current_signing_key(session, self.runtime.cipher))
        return self._key[1]

    def quota_for(self, organization_id: str) -> Quota:
        """The organization's quota as billing set it (the deployment's defaults before billing
        says anything), remembered a few seconds so the quota costs no query on most requests
        and a plan change holds within seconds."""
        now = time.monotonic()
        cached = self._plans.get(organization_id)
        if cached is None or now - cached[0] > _QUOTA_CACHE_SECONDS:
            with self.runtime.database.session() as session:
                row = session.execute(
                    select(Organization.quota_limit, Organization.quota_window_seconds).where(
                        Organization.id == organization_id
                    )
                ).first()
            cached = self._plans[organization_id] = (now, (row[0], row[1]) if row else (None, None))
        settings = self.runtime.settings
        limit, window = cached[1]
        return quota_for(
            limit,
            window,
            default_limit=settings.rate_limit_max_requests,
            default_window_seconds=settings.rate_limit_window_ms / 1000,
        )

    # ---- the facts, cached under their versions ----------------------------------------------

    def _authorized(
        self,
        cache: dict[str, _Cached[T]],
        slot: str,
        version_key: str,
        load: Callable[[], T],
        subject: Callable[[T], _Subject],
    ) -> Authorization:
        """Grant on cached facts, re-validated inside the quota script: the hit counts only while
        the facts' version is the one they were read under. A moved version (the account or key
        changed, in any process) drops the copy and reads the facts again, so a change holds from
        the request after its commit, at the cost of one Redis round trip per request in all.

        ``subject`` turns facts into who is calling, or raises :class:`NotAuthenticated`; ``load``
        reads the facts from the database, or raises when there is nothing worth remembering."""
        cached = cache.get(slot)
        if cached is not None and time.monotonic() - cached.fetched >= _FACTS_SECONDS:
            cached = None
        for attempt in range(_ATTEMPTS):
            if cached is None:
                cached = self._read(cache, slot, version_key, load)
                caller = subject(cached.value)  # fresh facts: a refusal is final
            else:
                try:
                    caller = subject(cached.value)
                except NotAuthenticated:
                    # A refusal read from the cache stands only while its version does.
                    if version(self.runtime.kv, version_key) == cached.version:
                        raise
                    cached = None
                    continue
            # The last attempt grants on facts read just now, as an unguarded check would.
            guard = Guard(version_key, cached.version) if attempt < _ATTEMPTS - 1 else None
            try:
                return self._grant(caller, guard)
            except GuardMoved:
                cached = None
        raise AssertionError("unreachable: the last attempt is unguarded")  # pragma: no cover

    def _read(
        self, cache: dict[str, _Cached[T]], slot: str, version_key: str, load: Callable[[], T]
    ) -> _Cached[T]:
        current = version(self.runtime.kv, version_key)  # before the row: never filed too new
        entry = _Cached(current, time.monotonic(), load())
        _bounded(cache)[slot] = entry
        return entry

    def _account_facts(self, user_id: str) -> Callable[[], _AccountFacts | None]:
        def load() -> _AccountFacts | None:
            with self.runtime.database.session() as session:
                user = session.get(User, user_id)
                if user is None:
                    return None
                return _AccountFacts(
                    organization_id=user.organization_id,
                    role=user.role,
                    active=user.deactivated_at is None and user.status == "active",
                    revoked_at=user.sessions_revoked_at.timestamp()
                    if user.sessions_revoked_at
                    else None,
                )

        return load

    def _authorized_user(
        self, user_id: str, organization_id: str, issued_at: float | None
    ) -> Authorization:
        """A user's credential (access token or session) against the account as it is now."""

        def subject(facts: _AccountFacts | None) -> _Subject:
            if facts is None or facts.organization_id != organization_id or not facts.active:
                raise NotAuthenticated("the account is not active")
            if facts.revoked_at is not None and (issued_at or 0) < facts.revoked_at:
                raise NotAuthenticated(
                    "the credential was revoked",
                    description="The credentials were revoked; sign in again",
                    slug="credentials-revoked",
                )
            # The current role, not the one the credential was issued with.
            return _Subject("user", user_id, organization_id, facts.role, (), facts.revoked_at)

        return self._authorized(
            self._accounts,
            user_id,
            account_version_key(user_id),
            self._account_facts(user_id),
            subject,
        )

    def _verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None and cached.expires_at is not None and cached.expires_at > time.time():
            return cached
        try:
            identity = self.verifier.verify(token)
        except Problem as exc:
            raise NotAuthenticated(
                str(exc.detail),
                description=exc.extensions.get("error_description"),
                slug=exc.type.rsplit("/", 1)[-1] if exc.type != "about:blank" else None,
            ) from None
        _bounded(self._verified)[token] = identity
        return identity

    # ---- the three credentials ------------------------------------------------------------------

    def authorize_bearer(self, token: str) -> Authorization:
        identity = self._verify(token)
        return self._authorized_user(
            identity.subject_id, identity.organization_id, identity.issued_at
        )

    def authorize_session(
        self, session_id: str, *, method: str, csrf_token: str | None
    ) -> Authorization:
        record = load_session(self.runtime, session_id, check_account=False)
        if record is None:
            raise NotAuthenticated(
                "no live session", description="The session ended; sign in again"
            )
        if not csrf_ok(record, method, csrf_token):
            raise CsrfRefused(headers={DENIAL_HEADER: "csrf"})
        return self._authorized_user(
            record.user_id, record.organization_id, record.created.timestamp()
        )

    def authorize_api_key(self, presented: str) -> Authorization:
        """A secret seen before (cached by its hash) skips the database until its key's version
        moves, its minute is up, or it expires; re-reading at most once a minute also paces the
        key's last-used time. Unknown secrets are not remembered: guessing cannot evict keys."""

        def load() -> ApiKeyPrincipal:
            principal = authenticate_api_key(self.runtime, presented)
            if principal is None:
                raise NotAuthenticated("unknown, revoked or expired API key")
            return principal

        def subject(principal: ApiKeyPrincipal) -> _Subject:
            if principal.expires_at is not None and principal.expires_at <= utcnow():
                raise NotAuthenticated("unknown, revoked or expired API key")
            # Machines hold scopes, not a role; permissions check them by name.
            return _Subject(
                "api_key", principal.id, principal.organization_id, "api_key", principal.scopes
            )

        return self._authorized(
            self._api_keys,
            hashlib.sha256(presented.encode()).hexdigest(),
            api_key_version_key(presented[:PREFIX_LENGTH]),
            load,
            subject,
        )

    def _grant(self, caller: _Subject, guard: Guard | None) -> Authorization:
        quota = self.quota_for(caller.organization_id)
        decision = self.limiter.hit(
            f"org:{caller.organization_id}",
            limit=quota.limit,
            window_seconds=quota.window_seconds,
            guard=guard,
            tally=Tally(api_calls_key(utc_day()), caller.organization_id),
        )
        if not decision.allowed:
            raise QuotaExceeded(decision)
        return Authorization(
            self._internal_token(caller),
            caller.subject_type,
            caller.subject_id,
            caller.organization_id,
            caller.role,
            caller.scopes,
            decision,
        )

    def _internal_token(self, caller: _Subject) -> str:
        """Internal tokens live a minute; one is reused for half of that for the same caller and
        role (services do not track their ids), so a busy client costs one signature per 30 s."""
        now = time.monotonic()
        cached = self._issued.get(caller)
        if cached is not None and now - cached[0] < _INTERNAL_TOKEN_REUSE_SECONDS:
            return cached[1]
        token = issue_internal_token(
            self.signing_key(),
            issuer=self.runtime.settings.base_url,
            subject_type=caller.subject_type,
            subject_id=caller.subject_id,
            organization_id=caller.organization_id,
            role=caller.role,
            scopes=caller.scopes,
        )
        _bounded(self._issued)[caller] = (now, token)
        return token


def _bounded(cache: dict[K, V]) -> dict[K, V]:
    """Process caches stay small: past the bound, start afresh (entries re-read on demand)."""
    if len(cache) >= _CACHE_ENTRIES:
        cache.clear()
    return cache
