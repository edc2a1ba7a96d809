"""AES-256-GCM field encryption: round trips, authentication, key ids and rotation."""

from __future__ import annotations

import base64
import secrets

import pytest

from spectral_shared.crypto import (
    DecryptionError,
    FieldCipher,
    UnknownKeyError,
    ciphertext_key_id,
    decode_key,
    hash_token,
    key_id,
)


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher.from_config(new_key())


def _flip_byte(token: str, index: int) -> str:
    version, kid, blob = token.split(".", 2)
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    raw[index] ^= 0x01
    return f"{version}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


@pytest.mark.parametrize(
    "plaintext", ["", "hello", "Jane Doe, MRN 0012345", "ünïcødé ✓", "x" * 10_000]
)
def test_round_trip(cipher: FieldCipher, plaintext: str) -> None:
    token = cipher.encrypt_text(plaintext, "users.email")
    assert cipher.decrypt_text(token, "users.email") == plaintext


def test_ciphertext_format_names_version_and_key(cipher: FieldCipher) -> None:
    token = cipher.encrypt(b"secret")
    version, kid, blob = token.split(".", 2)
    assert version == "v1"
    assert kid == cipher.current_key_id == key_id(cipher.current)
    assert len(kid) == 8
    assert "=" not in blob


def test_each_encryption_uses_a_fresh_nonce(cipher: FieldCipher) -> None:
    assert cipher.encrypt(b"same") != cipher.encrypt(b"same")


def test_associated_data_mismatch_fails(cipher: FieldCipher) -> None:
    token = cipher.encrypt_text("123-45-6789", "patients.ssn")
    with pytest.raises(DecryptionError, match="failed authentication"):
        cipher.decrypt_text(token, "patients.name")
    with pytest.raises(DecryptionError):
        cipher.decrypt_text(token)  # no associated data at all


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, first ciphertext byte, tag
def test_tampered_ciphertext_fails(cipher: FieldCipher, index: int) -> None:
    token = cipher.encrypt_text("amount=100", "invoices.note")
    with pytest.raises(DecryptionError, match="failed authentication"):
        cipher.decrypt_text(_flip_byte(token, index), "invoices.note")


def test_truncated_ciphertext_fails(cipher: FieldCipher) -> None:
    token = cipher.encrypt(b"payload")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token[:-6])
    with pytest.raises(DecryptionError):
        cipher.decrypt(f"v1.{cipher.current_key_id}.")


@pytest.mark.parametrize("token", ["", "garbage", "v1.only-two", "v2.abcdef12.AAAA"])
def test_malformed_tokens_fail(cipher: FieldCipher, token: str) -> None:
    with pytest.raises(DecryptionError):
        cipher.decrypt(token)


def test_unknown_kid_fails(cipher: FieldCipher) -> None:
    other = FieldCipher.from_config(new_key())
    with pytest.raises(UnknownKeyError, match=f"no key with id {other.current_key_id}") as raised:
        cipher.decrypt(other.encrypt(b"x"))
    assert raised.value.key_id == other.current_key_id
    assert isinstance(raised.value, DecryptionError)


def test_a_stored_ciphertext_says_which_key_made_it() -> None:
    old, current = new_key(), new_key()
    ring = FieldCipher.from_config(current, previous=old)
    assert ring.key_ids == (ring.current_key_id, FieldCipher.from_config(old).current_key_id)
    token = ring.encrypt_text("x", "deliveries.body:1")
    assert ciphertext_key_id(token) == ring.current_key_id
    assert ciphertext_key_id(f"mail_outbox.message {token}") == ring.current_key_id
    assert ciphertext_key_id(token[:12]) == ring.current_key_id  # "v1.<kid>." is enough
    for not_one in ("", "plain text", "v2.abcdef12.x", "v1.ABCDEF12.x", "v1.abc.x"):
        assert ciphertext_key_id(not_one) is None


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old_key, new_key_text = new_key(), new_key()
    before = FieldCipher.from_config(old_key)
    old_token = before.encrypt_text("mfa-seed", "users.mfa")

    after = FieldCipher.from_config(new_key_text, previous=f" {new_key()} , {old_key} ,")
    assert after.current_key_id != before.current_key_id
    assert after.decrypt_text(old_token, "users.mfa") == "mfa-seed"
    assert after.needs_rotation(old_token)

    fresh = after.encrypt_text("mfa-seed", "users.mfa")
    assert fresh.split(".")[1] == after.current_key_id
    assert not after.needs_rotation(fresh)
    # The retired key alone cannot read what the new key wrote.
    with pytest.raises(DecryptionError, match="no key with id"):
        before.decrypt_text(fresh, "users.mfa")


def test_dropping_a_previous_key_makes_its_ciphertexts_unreadable() -> None:
    old_key = new_key()
    token = FieldCipher.from_config(old_key).encrypt(b"x")
    with pytest.raises(DecryptionError):
        FieldCipher.from_config(new_key()).decrypt(token)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (base64.b64encode(b"k" * 16).decode(), "must be 32 bytes, got 16"),
        (base64.b64encode(b"k" * 33).decode(), "must be 32 bytes, got 33"),
        ("", "must be 32 bytes, got 0"),
        ("this is not base64!", "not valid base64"),
        ("A" * 43, "not valid base64"),  # missing padding
    ],
)
def test_bad_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_key(text)
    with pytest.raises(ValueError, match=message):
        FieldCipher.from_config(text)


def test_bad_previous_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        FieldCipher.from_config(new_key(), previous="nope!")


def test_key_is_accepted_with_surrounding_whitespace() -> None:
    text = new_key()
    assert decode_key(f"  {text}\n") == base64.b64decode(text)


def test_hash_token_is_stable_sha256_hex() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_token("abc") != hash_token("abd")
