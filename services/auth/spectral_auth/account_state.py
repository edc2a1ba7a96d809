"""Versions of the facts /internal/authorize checks on every request (an account's status, role
and revocation time; an API key's validity), kept in Redis so each process can cache those facts
and still refuse a change the moment it is committed.

Writers bump a version after their transaction commits (never before: a reader could otherwise
cache the old row under the new version). A reader reads the version *before* the row, so its copy
is never older than the version it is filed under, and re-checks the version on every use; the
authorizer does that inside the quota script (a guarded hit), so the check costs no extra round
trip. With no Redis the versions live in the one process that exists.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from spectral_shared.db import after_commit
from spectral_shared.kv import KeyValueStore
from spectral_shared.logging import get_logger

log = get_logger(__name__)

_TTL = 7 * 24 * 3600  # longer than anything caches; an expired version only costs a re-read


def account_version_key(user_id: str) -> str:
    return f"authz:account:{user_id}"


def api_key_version_key(prefix: str) -> str:
    return f"authz:api-key:{prefix}"


def _bump(session: Session, kv: KeyValueStore, key: str) -> None:
    def bump() -> None:
        try:
            kv.incr(key, ttl_seconds=_TTL)
        except Exception:  # the change is committed; caches re-read it within their minute
            log.exception("authz.version_bump_failed", key=key)

    after_commit(session, bump)


def bump_account(session: Session, kv: KeyValueStore, user_id: str) -> None:
    _bump(session, kv, account_version_key(user_id))


def bump_api_key(session: Session, kv: KeyValueStore, prefix: str) -> None:
    _bump(session, kv, api_key_version_key(prefix))


def version(kv: KeyValueStore, key: str) -> bytes:
    return kv.get(key) or b""  # absent: never bumped (or expired), as a guard reads it
