"""The checkpoint-signing key: configured, generated once for development, required in production."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from spectral_audit.commands import commands
from spectral_audit.signing import audit_signer, key_name
from spectral_shared.config import ConfigurationError, Settings
from spectral_shared.tlog.note import NoteSigner, NoteVerifier


def test_development_generates_one_key_and_keeps_it(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(base_url="https://spectral.example:8443")
    first = audit_signer(settings)
    assert first.name == "spectral.example:8443/audit" == key_name(settings)
    assert str(audit_signer(settings)) == str(first)  # the same key after a restart
    path = settings.var_dir / "audit-signing-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_configured_key_is_used_and_a_malformed_one_refused(
    make_settings: Callable[..., Settings],
) -> None:
    mine = NoteSigner.generate("audit.mercy.example/audit")
    assert str(audit_signer(make_settings(audit_signing_key=str(mine)))) == str(mine)
    with pytest.raises(ConfigurationError, match="spectral audit signing-key"):
        audit_signer(make_settings(audit_signing_key="PRIVATE+KEY+nope"))


def test_production_requires_the_key(make_settings: Callable[..., Settings]) -> None:
    production = make_settings(spectral_env="production")
    with pytest.raises(ConfigurationError, match="AUDIT_SIGNING_KEY is required"):
        audit_signer(production)
    assert "AUDIT_SIGNING_KEY is missing" in production.production_problems(
        [], ["AUDIT_SIGNING_KEY"]
    )


def test_the_command_prints_a_usable_key_and_its_verifier() -> None:
    result = CliRunner().invoke(commands, ["signing-key", "--name", "audit.example/audit"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("AUDIT_SIGNING_KEY="))
    signer = NoteSigner.parse(line.removeprefix("AUDIT_SIGNING_KEY="))
    verifier = NoteVerifier.parse(result.stderr.split("(public): ")[1].strip())
    assert verifier.open(signer.sign("checkpoint\n")) == "checkpoint\n"
