"""Checking a second factor at sign-in: a TOTP code (each usable once) or a backup code."""

from __future__ import annotations

import hmac
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_auth import event_types as ev
from spectral_auth import mfa
from spectral_auth.models import MfaBackupCode, User, bus
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.crypto import derive_key
from spectral_shared.db import utcnow


def secret_aad(user_id: str) -> str:
    return f"users.mfa_secret:{user_id}"


def backup_key(runtime: Runtime) -> bytes:
    return derive_key(runtime.settings.secret("SESSION_SECRET"), "spectral mfa backup codes")


def second_factor_ok(
    session: Session, runtime: Runtime, user: User, *, mfa_code: str | None, backup_code: str | None
) -> bool:
    """A TOTP code (each usable once), or a backup code (consumed), in the sign-in's transaction."""
    if mfa_code and user.mfa_secret:
        secret = runtime.cipher.decrypt(user.mfa_secret, secret_aad(user.id).encode())
        step = mfa.matching_step(secret, mfa_code, time.time())
        return step is not None and spend_step(runtime, user.id, step)
    if backup_code:
        wanted = mfa.backup_code_hash(backup_code, backup_key(runtime))
        codes = session.scalars(
            select(MfaBackupCode)
            .where(MfaBackupCode.user_id == user.id, MfaBackupCode.used_at.is_(None))
            .with_for_update()
        ).all()
        match = next((c for c in codes if hmac.compare_digest(c.code_hash, wanted)), None)
        if match is None:
            return False
        match.used_at = utcnow()
        record_event(
            session,
            bus,
            ev.MFA_BACKUP_CODE_USED,
            ev.BackupCodeUsed(user_id=user.id, remaining=len(codes) - 1),
            organization_id=user.organization_id,
            actor=Actor.user(user.id),
        )
        return True
    return False


def spend_step(runtime: Runtime, user_id: str, step: int) -> bool:
    """Each 30-second code works once: a replayed code within its window is refused."""
    return runtime.kv.set(
        f"mfa-step:{user_id}:{step}",
        b"1",
        ttl_seconds=mfa.STEP_SECONDS * (2 * mfa.WINDOW_STEPS + 2),
        only_if_absent=True,
    )
