"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and C2SP checkpoints
(https://c2sp.org/tlog-checkpoint): how the audit log signs the state of each of its trees so
anyone holding the public key can check it.

A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
``— <key name> <base64(key id || signature)>``. An Ed25519 key's id is the first four bytes of
``SHA-256(<key name> || "\\n" || 0x01 || public key)``; the signature covers the text. Keys travel
as strings: ``<name>+<key id hex>+<base64(0x01 || public key)>`` for verifiers and
``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`` for signers.

A checkpoint is a note whose text is the log's origin, its tree size and its root hash (base64),
one per line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

__all__ = [
    "Checkpoint",
    "InvalidNote",
    "NoteSigner",
    "NoteVerifier",
    "parse_checkpoint",
]

_ED25519 = b"\x01"
_DASH = "\u2014"


class InvalidNote(ValueError):
    """Malformed, unsigned by the expected key, or wrongly signed."""


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _key_bytes(encoded: str, kind: str, error: type[ValueError]) -> bytes:
    """The 32 key bytes of a key string's last part: base64 of the Ed25519 type byte and key."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise error(f"the {kind} key is not base64") from None
    if len(raw) != 33 or raw[:1] != _ED25519:
        raise error(f"only Ed25519 {kind} keys are supported")
    return raw[1:]


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    name: str
    key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, _public_bytes(self.key))

    def __str__(self) -> str:
        encoded = base64.b64encode(_ED25519 + _public_bytes(self.key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        parts = text.strip().split("+", 2)  # the base64 key may itself hold a '+'
        if len(parts) != 3 or not _valid_name(parts[0]):
            raise InvalidNote("a verifier key is <name>+<key id>+<key>")
        raw = _key_bytes(parts[2], "verifier", InvalidNote)
        verifier = cls(parts[0], Ed25519PublicKey.from_public_bytes(raw))
        if verifier.key_id.hex() != parts[1].lower():
            raise InvalidNote("the verifier key's id does not match its key")
        return verifier

    def open(self, note: str) -> str:
        """The note's text if this key signed it; :class:`InvalidNote` otherwise. Signatures by
        other keys are allowed (and ignored), as the format intends."""
        text, signatures = _split(note)
        signed = False
        for name, key_id, signature in signatures:
            if name != self.name or key_id != self.key_id:
                continue
            try:
                self.key.verify(signature, text.encode())
            except InvalidSignature:
                raise InvalidNote(f"the signature by {self.name} does not verify") from None
            signed = True
        if not signed:
            raise InvalidNote(f"the note is not signed by {self.name}")
        return text


@dataclass(frozen=True)
class NoteSigner:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        if not _valid_name(name):
            raise ValueError(f"a key name has no spaces or '+': {name!r}")
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key.public_key())

    def __str__(self) -> str:
        seed = self.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(_ED25519 + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> NoteSigner:
        parts = text.strip().split("+", 4)  # the base64 key may itself hold a '+'
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _valid_name(parts[2]):
            raise ValueError("a signer key is PRIVATE+KEY+<name>+<key id>+<key>")
        raw = _key_bytes(parts[4], "signer", ValueError)
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw))
        if signer.verifier.key_id.hex() != parts[3].lower():
            raise ValueError("the signer key's id does not match its key")
        return signer

    def sign(self, text: str) -> str:
        if not text.endswith("\n") or "\n\n" in text:
            raise ValueError("a note's text ends in a newline and has no blank line")
        signature = self.key.sign(text.encode())
        line = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{_DASH} {self.name} {line}\n"


def _split(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    if not note.endswith("\n"):
        raise InvalidNote("a note ends in a newline")
    text, separator, block = note.rpartition("\n\n")
    if not separator:
        raise InvalidNote("a note has a blank line before its signatures")
    text += "\n"
    signatures = []
    for line in block[:-1].split("\n"):
        prefix, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if prefix != _DASH or not _valid_name(name) or " " in encoded:
            raise InvalidNote(f"not a signature line: {line!r}")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise InvalidNote("a signature is not base64") from None
        if len(raw) < 5:
            raise InvalidNote("a signature is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from a note's (already verified) text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise InvalidNote("a checkpoint has an origin, a size and a root hash, one per line")
    origin, size, root, *extensions = lines[:-1]
    if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise InvalidNote("a checkpoint's size is a decimal number")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise InvalidNote("a checkpoint's root hash is not base64") from None
    if len(root_hash) != 32:
        raise InvalidNote("a checkpoint's root hash is 32 bytes")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))
