"""Access tokens for tests of a service on its own: an Ed25519 key that signs them and the JWKS
that publishes it, as auth would (``TokenVerifier(StaticKeySource(signer.jwks()), ...)``)."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from spectral_shared.identity import ACCESS_TOKEN_AUDIENCE


class TokenSigner:
    def __init__(self, kid: str, issuer: str, **defaults: Any) -> None:
        self.kid = kid
        self.issuer = issuer
        self.defaults = defaults
        self.private = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, Any]:
        jwk = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        assert isinstance(jwk, dict)
        return {**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def token(self, **overrides: Any) -> str:
        """A token with the defaults, then ``overrides``; a claim overridden with None is left out."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + 300,
            **self.defaults,
            **overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})
