"""The key the audit log signs its checkpoints with (``AUDIT_SIGNING_KEY``, a C2SP signed-note
Ed25519 key). Required in production; in development one is generated once into ``VAR_DIR`` so
restarts keep signing with the same key and earlier checkpoints keep verifying."""

from __future__ import annotations

from urllib.parse import urlsplit

from spectral_shared.component import Runtime
from spectral_shared.config import ConfigurationError, Settings
from spectral_shared.files import write_private
from spectral_shared.tlog.note import NoteSigner

__all__ = ["audit_signer", "key_name", "new_signing_key", "runtime_signer"]

_DEV_KEY_FILE = "audit-signing-key"


def key_name(settings: Settings) -> str:
    """``<host of BASE_URL>/audit``: the name verifiers see on every checkpoint signature."""
    host = urlsplit(settings.base_url).netloc or "localhost"
    return f"{host}/audit"


def new_signing_key(name: str) -> NoteSigner:
    return NoteSigner.generate(name)


def audit_signer(settings: Settings) -> NoteSigner:
    configured = settings.audit_signing_key
    if configured is not None and configured.get_secret_value().strip():
        try:
            return NoteSigner.parse(configured.get_secret_value())
        except ValueError as exc:
            raise ConfigurationError(
                f"AUDIT_SIGNING_KEY is not a signed-note signer key ({exc}); make one with "
                "`spectral audit signing-key`"
            ) from None
    if settings.is_production:
        raise ConfigurationError("AUDIT_SIGNING_KEY is required when SPECTRAL_ENV=production")
    path = settings.var_dir / _DEV_KEY_FILE
    if path.exists():
        return NoteSigner.parse(path.read_text())
    signer = new_signing_key(key_name(settings))
    write_private(path, str(signer) + "\n")
    return signer


def runtime_signer(runtime: Runtime) -> NoteSigner:
    """The signer of this process, loaded (or, in development, generated) once."""
    return runtime.extension("audit.signer", lambda r: audit_signer(r.settings))
