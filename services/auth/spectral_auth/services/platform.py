"""What the operator's commands change (``spectral auth ...``): the token-signing keys. They act
for the platform, so their events name the command as a system actor. (An organization's plan is
billing's: ``spectral billing set-plan``.)"""

from __future__ import annotations

from dataclasses import dataclass

from spectral_auth import event_types as ev
from spectral_auth.models import bus
from spectral_auth.signing_keys import RETIRED_KEY_GRACE, rotate_signing_key
from spectral_shared.bus import Actor, record_event
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow

__all__ = ["KeyRotation", "rotate_signing_keys"]


@dataclass(frozen=True)
class KeyRotation:
    kid: str
    retired: list[str]
    published_until: str  # ISO 8601: the retired keys stay in the JWKS until then


def rotate_signing_keys(runtime: Runtime) -> KeyRotation:
    """Add a new token-signing key and retire the current ones (published for RETIRED_KEY_GRACE)."""
    with runtime.database.session() as session:
        key, retired = rotate_signing_key(session, runtime.cipher)
        until = (utcnow() + RETIRED_KEY_GRACE).isoformat()
        record_event(
            session,
            bus,
            ev.SIGNING_KEY_ROTATED,
            ev.SigningKeyRotated(kid=key.kid, retired=retired, retired_keys_published_until=until),
            organization_id=None,
            actor=Actor.system("spectral auth rotate-keys"),
        )
    return KeyRotation(key.kid, retired, until)
