"""AES-256-GCM field encryption with key ids, for secrets and PHI-bearing fields.

``ENCRYPTION_KEY`` is the current key (base64 of 32 bytes, as ``openssl rand -base64 32`` makes);
``ENCRYPTION_KEYS_PREVIOUS`` lists retired keys, comma-separated, still accepted for decryption.
A key's id is the first 8 hex digits of its SHA-256, so ciphertexts say which key made them and a
rotation is: put the old key in PREVIOUS, set the new one, re-encrypt at leisure.

Ciphertext text form: ``v1.<kid>.<base64url(nonce || ciphertext || tag)>``. Associated data binds a
ciphertext to where it belongs (e.g. the table and column), so one cannot be swapped for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12
_KID = re.compile(r"^[0-9a-f]{8}$")


class DecryptionError(ValueError):
    """The ciphertext is malformed, was made by an unknown key, or was tampered with."""


class UnknownKeyError(DecryptionError):
    """The ciphertext was made by a key this process is not given (neither ``ENCRYPTION_KEY`` nor
    in ``ENCRYPTION_KEYS_PREVIOUS``): a configuration fault, not bad data."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"no key with id {kid} is configured")
        self.key_id = kid


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("encryption key is not valid base64") from exc
    if len(key) != 32:
        raise ValueError(f"encryption key must be 32 bytes, got {len(key)}")
    return key


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts with the current key; decrypts with any key it knows."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @classmethod
    def from_config(cls, current: str, previous: str | None = None) -> FieldCipher:
        old = tuple(decode_key(part) for part in (previous or "").split(",") if part.strip())
        return cls(decode_key(current), old)

    @property
    def current_key_id(self) -> str:
        return key_id(self.current)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key this cipher can decrypt with, the current one first."""
        return tuple(self._keys())

    def _keys(self) -> dict[str, bytes]:
        return {key_id(k): k for k in (self.current, *self.previous)}

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self.current).encrypt(nonce, plaintext, associated_data or None)
        blob = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self.current_key_id}.{blob}"

    def decrypt(self, token: str, associated_data: bytes = b"") -> bytes:
        try:
            version, kid, blob = token.split(".", 2)
        except ValueError as exc:
            raise DecryptionError("not a Spectral ciphertext") from exc
        if version != _VERSION:
            raise DecryptionError(f"unsupported ciphertext version {version!r}")
        key = self._keys().get(kid)
        if key is None:
            raise UnknownKeyError(kid)
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            return AESGCM(key).decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated_data or None
            )
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise DecryptionError("ciphertext failed authentication") from exc

    def encrypt_text(self, plaintext: str, associated_data: str = "") -> str:
        return self.encrypt(plaintext.encode(), associated_data.encode())

    def decrypt_text(self, token: str, associated_data: str = "") -> str:
        return self.decrypt(token, associated_data.encode()).decode()

    def needs_rotation(self, token: str) -> bool:
        return token.split(".", 2)[1:2] != [self.current_key_id]


def ciphertext_key_id(value: str) -> str | None:
    """The id of the key that made a stored ciphertext, or None if it is not one. Accepts the
    ``"<associated data> <ciphertext>"`` form rows moved by a migration keep (the deliveries)."""
    parts = value.rpartition(" ")[2].split(".", 2)
    if len(parts) == 3 and parts[0] == _VERSION and _KID.match(parts[1]):
        return parts[1]
    return None


def hash_token(token: str) -> str:
    """SHA-256 hex of a high-entropy token, for storing verification and reset tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose (HMACs of API keys, of backup codes) from a master secret (HKDF-SHA256),
    so no two uses share a key and none is the master secret itself."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret.encode()
    )
