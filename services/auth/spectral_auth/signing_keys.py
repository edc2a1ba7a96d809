"""Ed25519 keys that sign access tokens, and the tokens themselves.

The private key lives encrypted (AES-256-GCM) in auth's schema; the public halves are served at
``/.well-known/jwks.json``. Rotation (issue #3) adds a key and retires the old one after a grace
period, which is why verification looks keys up by ``kid``.
"""

from __future__ import annotations

import json
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session

from spectral_auth.models import SigningKey
from spectral_shared.crypto import DecryptionError, FieldCipher
from spectral_shared.db import utcnow
from spectral_shared.identity import ACCESS_TOKEN_AUDIENCE, INTERNAL_TOKEN_AUDIENCE

MFA_ENROLLMENT_AUDIENCE = "spectral-mfa-enrollment"

_AAD = "signing_keys.private_key"
# A retired key stays published this long so tokens it signed still verify until they expire.
RETIRED_KEY_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Ed25519PrivateKey


def create_signing_key(session: Session, cipher: FieldCipher) -> ActiveKey:
    private_key = Ed25519PrivateKey.generate()
    kid = f"{utcnow():%Y%m%d}-{secrets.token_hex(4)}"
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_jwk = json.loads(OKPAlgorithm.to_jwk(private_key.public_key()))
    public_jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
    session.add(
        SigningKey(
            kid=kid,
            private_key=cipher.encrypt_text(pem, f"{_AAD}:{kid}"),
            public_jwk=json.dumps(public_jwk),
        )
    )
    session.flush()
    return ActiveKey(kid, private_key)


def current_signing_key(session: Session, cipher: FieldCipher) -> ActiveKey:
    """The newest unretired key, creating the first one on first use."""
    row = session.scalars(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return create_signing_key(session, cipher)
    pem = cipher.decrypt_text(row.private_key, f"{_AAD}:{row.kid}")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return ActiveKey(row.kid, key)


def unusable_signing_keys(session: Session, cipher: FieldCipher) -> list[tuple[str, str]]:
    """The unretired keys (sign-in may use any of them) that do not decrypt: (kid, why)."""
    rows = session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))).all()
    unusable = []
    for row in rows:
        try:
            serialization.load_pem_private_key(
                cipher.decrypt_text(row.private_key, f"{_AAD}:{row.kid}").encode(), password=None
            )
        except (DecryptionError, ValueError) as exc:
            unusable.append((row.kid, str(exc)))
    return unusable


def rotate_signing_key(session: Session, cipher: FieldCipher) -> tuple[ActiveKey, list[str]]:
    """A new current key; every older one is retired now and published for RETIRED_KEY_GRACE more,
    so tokens it signed keep verifying until they expire."""
    now = utcnow()
    retired = list(session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))))
    for row in retired:
        row.retired_at = now
    session.flush()
    return create_signing_key(session, cipher), [row.kid for row in retired]


def published_jwks(session: Session) -> dict[str, Any]:
    cutoff = utcnow() - RETIRED_KEY_GRACE
    rows = session.scalars(
        select(SigningKey)
        .where((SigningKey.retired_at.is_(None)) | (SigningKey.retired_at > cutoff))
        .order_by(SigningKey.created_at.desc())
    ).all()
    return {"keys": [json.loads(row.public_jwk) for row in rows]}


INTERNAL_TOKEN_LIFETIME = timedelta(seconds=60)


def issue_internal_token(
    key: ActiveKey,
    *,
    issuer: str,
    subject_type: str,
    subject_id: str,
    organization_id: str,
    role: str,
    scopes: tuple[str, ...] = (),
    now: datetime | None = None,
) -> str:
    """What the gateway forwards to services after /internal/authorize: one minute, one audience."""
    issued = now or utcnow()
    claims = {
        "iss": issuer,
        "aud": INTERNAL_TOKEN_AUDIENCE,
        "sub": subject_id,
        "sub_type": subject_type,
        "org": organization_id,
        "role": role,
        "scopes": list(scopes),
        "iat": math.ceil(issued.timestamp() * 1000) / 1000,
        "exp": int((issued + INTERNAL_TOKEN_LIFETIME).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


MFA_ENROLLMENT_LIFETIME = timedelta(minutes=10)


def issue_mfa_enrollment_token(
    key: ActiveKey, *, issuer: str, user_id: str, organization_id: str
) -> str:
    """Good only for enrolling in MFA (the organization requires it): ten minutes, its own audience."""
    issued = utcnow()
    claims = {
        "iss": issuer,
        "aud": MFA_ENROLLMENT_AUDIENCE,
        "sub": user_id,
        "sub_type": "user",
        "org": organization_id,
        "role": "mfa_enrollment",
        "iat": math.ceil(issued.timestamp() * 1000) / 1000,
        "exp": int((issued + MFA_ENROLLMENT_LIFETIME).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def issue_access_token(
    key: ActiveKey,
    *,
    issuer: str,
    lifetime: timedelta,
    user_id: str,
    organization_id: str,
    role: str,
    now: datetime | None = None,
) -> str:
    issued = now or utcnow()
    claims = {
        "iss": issuer,
        "aud": ACCESS_TOKEN_AUDIENCE,
        "sub": user_id,
        "sub_type": "user",
        "org": organization_id,
        "role": role,
        # Milliseconds, rounded up (RFC 7519 allows fractional NumericDates): a revocation
        # ("sign out everywhere") refuses tokens issued before it, even within the same second.
        "iat": math.ceil(issued.timestamp() * 1000) / 1000,
        "nbf": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
