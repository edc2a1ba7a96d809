"""TOTP (RFC 6238) and backup codes. Pure except for the clock and randomness it is handed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

ISSUER = "Spectral Healthcare AI"
STEP_SECONDS = 30
DIGITS = 6
WINDOW_STEPS = 1  # accept the previous and the next 30-second code (clock drift)
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud without confusion


def new_secret() -> bytes:
    return secrets.token_bytes(20)  # 160 bits, as RFC 4226 recommends


def secret_b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def _totp(secret: bytes) -> TOTP:
    # HMAC-SHA1 is RFC 6238's default and the one every authenticator app supports; HMAC is not
    # weakened by SHA-1 collisions.
    return TOTP(secret, DIGITS, SHA1(), STEP_SECONDS, enforce_key_length=False)  # noqa: S303


def provisioning_uri(secret: bytes, account: str) -> str:
    return _totp(secret).get_provisioning_uri(account, ISSUER)


def matching_step(secret: bytes, code: str, now: float) -> int | None:
    """The time step whose code this is (within the window), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == DIGITS):
        return None
    totp = _totp(secret)
    step = int(now // STEP_SECONDS)
    for offset in range(-WINDOW_STEPS, WINDOW_STEPS + 1):
        try:
            totp.verify(code.encode(), (step + offset) * STEP_SECONDS)
            return step + offset
        except InvalidToken:
            continue
    return None


def new_backup_codes() -> list[str]:
    """Ten codes like ``K7QP2-MXW9A`` (50 bits each), shown once."""
    codes = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def backup_code_hash(code: str, key: bytes) -> str:
    """Keyed hash: fast to check ten of, useless to anyone without the server's key."""
    normalized = code.strip().upper().replace("-", "").replace(" ", "")
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()
