"""Operator commands under ``spectral audit``."""

from __future__ import annotations

import click


@click.group()
def commands() -> None:
    """Audit's operator commands."""


@commands.command("signing-key")
@click.option("--name", help="Key name  [default: <host of BASE_URL>/audit]")
def signing_key(name: str | None) -> None:
    """Make a checkpoint-signing key: the secret for AUDIT_SIGNING_KEY (on stdout), and the
    public verifier key to give auditors (on stderr)."""
    from spectral_audit.signing import key_name, new_signing_key
    from spectral_shared.config import load_settings

    signer = new_signing_key(name or key_name(load_settings()))
    click.echo(f"AUDIT_SIGNING_KEY={signer}")
    click.echo(f"# verifier key (public): {signer.verifier}", err=True)
