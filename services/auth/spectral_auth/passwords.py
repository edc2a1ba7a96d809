"""Password policy (docs/domain.md#decision-3-passwords, NIST SP 800-63B) and argon2id hashing. No I/O but the
shipped list of common passwords, read once."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 128

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified against when an account does not exist, so "no such user" costs what "wrong password" costs.
_DUMMY_HASH = _hasher.hash("spectral-timing-equaliser-not-a-password")


@cache
def common_passwords() -> frozenset[str]:
    text = files("spectral_auth").joinpath("data/common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def password_problems(password: str, *, email: str | None = None) -> list[str]:
    """Why a password is not acceptable; empty when it is. Composition rules are deliberately absent."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        problems.append("This password is on the list of commonly used passwords.")
    if email and lowered == email.lower():
        problems.append("The password must not be your e-mail address.")
    if len(set(password)) <= 2 and len(password) >= MIN_LENGTH:
        problems.append("This password is a repeated character pattern.")
    return problems


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
