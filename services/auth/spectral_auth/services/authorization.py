"""What /internal/authorize decides for the gateway: who is calling, and whether their
organization's quota allows the request. Read-mostly; it writes nothing but rate-limit counters
(and, for API keys, a throttled last-used time)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import select

from spectral_auth.models import Organization, User
from spectral_auth.quotas import Quota, quota_for
from spectral_auth.services.api_keys import authenticate_api_key
from spectral_auth.services.sessions import csrf_ok, load_session
from spectral_auth.signing_keys import ActiveKey, current_signing_key, issue_internal_token
from spectral_shared.component import Runtime
from spectral_shared.identity import ACCESS_TOKEN_AUDIENCE, TokenVerifier
from spectral_shared.ratelimit import Decision, RateLimiter, rate_limiter
from spectral_shared.web.problems import Problem

__all__ = ["Authorization", "Authorizer", "CsrfRefused", "NotAuthenticated", "QuotaExceeded"]

_KEY_CACHE_SECONDS = 60.0


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


@dataclass
class Authorizer:
    """One per process: holds the limiter and a short-lived copy of the signing key."""

    runtime: Runtime
    _key: tuple[float, ActiveKey] | None = field(default=None, repr=False)
    _plans: dict[str, tuple[float, str | None]] = field(default_factory=dict, repr=False)

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

    def authorize_bearer(self, token: str) -> Authorization:
        try:
            identity = self.verifier.verify(token)
        except Problem as exc:
            raise NotAuthenticated(exc.detail) from None
        with self.runtime.database.session() as session:
            user = session.scalars(
                select(User).where(
                    User.id == identity.subject_id, User.organization_id == identity.organization_id
                )
            ).first()
            if user is None or user.deactivated_at is not None or user.status != "active":
                raise NotAuthenticated("the account is not active")
            revoked = user.sessions_revoked_at
            if revoked is not None and (identity.issued_at or 0) < revoked.timestamp():
                raise NotAuthenticated("the token was revoked")
            role = user.role  # the current role, not the one the token was issued with
        return self._grant("user", identity.subject_id, identity.organization_id, role, ())

    def authorize_session(
        self, session_id: str, *, method: str, csrf_token: str | None
    ) -> Authorization:
        record = load_session(self.runtime, session_id)
        if record is None:
            raise NotAuthenticated("no live session")
        if not csrf_ok(record, method, csrf_token):
            raise CsrfRefused
        with (
            self.runtime.database.session() as session
        ):  # the primary: a role change applies at once
            role = session.scalar(select(User.role).where(User.id == record.user_id))
        return self._grant("user", record.user_id, record.organization_id, str(role), ())

    def authorize_api_key(self, presented: str) -> Authorization:
        principal = authenticate_api_key(self.runtime, presented)
        if principal is None:
            raise NotAuthenticated("unknown, revoked or expired API key")
        # Machines hold scopes, not a role; permissions check them by name.
        return self._grant(
            "api_key", principal.id, principal.organization_id, "api_key", principal.scopes
        )

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
        token = issue_internal_token(
            self.signing_key(),
            issuer=self.runtime.settings.base_url,
            subject_type=subject_type,
            subject_id=subject_id,
            organization_id=organization_id,
            role=role,
            scopes=scopes,
        )
        return Authorization(
            token, subject_type, subject_id, organization_id, role, scopes, decision
        )
