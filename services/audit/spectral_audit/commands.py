"""Operator commands under ``spectral audit``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

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


def _default_state() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "spectral" / "audit-trust.json"


@commands.command("verify")
@click.option(
    "--url",
    default=lambda: os.environ.get("SPECTRAL_URL") or os.environ.get("BASE_URL"),
    show_default="SPECTRAL_URL or BASE_URL",
    help="Where Spectral is served (the gateway).",
)
@click.option(
    "--token",
    envvar="SPECTRAL_TOKEN",
    show_envvar=True,
    help="An access token, or an API key with audit_log:read.",
)
@click.option(
    "--key",
    "key_text",
    envvar="SPECTRAL_AUDIT_KEY",
    show_envvar=True,
    help="The log's verifier key (<name>+<id>+<key>), pinned: obtained out of band.",
)
@click.option(
    "--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="…or a file."
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=_default_state,
    show_default="~/.config/spectral/audit-trust.json",
    help="The last checkpoint trusted, per log.",
)
@click.option("--entry", "entries", type=int, multiple=True, help="Prove this entry included.")
@click.option("--full", is_flag=True, help="Download the log and recompute its whole tree.")
@click.option(
    "--ca-bundle", type=click.Path(exists=True, dir_okay=False), help="CA certificates for TLS."
)
def verify(
    url: str | None,
    token: str | None,
    key_text: str | None,
    key_file: Path | None,
    state: Path,
    entries: tuple[int, ...],
    full: bool,
    ca_bundle: str | None,
) -> None:
    """Check the organization's audit log against its signed checkpoint.

    Checks the checkpoint's signature with the pinned key, proves it extends the last checkpoint
    this machine trusted, and, on request, proves entries included (--entry) or recomputes the
    whole tree (--full). Exits 2, trust unchanged, if anything fails to verify."""
    from spectral_shared.tlog.client import LogRefused, TrustedState
    from spectral_shared.tlog.note import InvalidNote, NoteVerifier
    from spectral_shared.tlog.remote import AuditLogApi, verify_remote_log

    if not url:
        raise click.UsageError("give --url (or set SPECTRAL_URL)")
    if not key_text and not key_file:
        raise click.UsageError(
            "give the log's verifier key with --key or --key-file; fetching it from the log "
            "itself would prove nothing"
        )
    text = key_file.read_text() if key_file else key_text or ""
    try:
        verifier = NoteVerifier.parse(text.strip())
    except (InvalidNote, ValueError) as exc:
        raise click.UsageError(f"not a verifier key: {exc}") from None
    api = AuditLogApi(url, token=token, ca_bundle=ca_bundle or True)
    bar: Any = None
    seen = 0

    def progress(done: int, total: int) -> None:
        nonlocal bar, seen
        if bar is None:
            bar = click.progressbar(length=total, label="recomputing the tree", file=sys.stderr)
            bar.__enter__()
        bar.update(done - seen)
        seen = done

    try:
        report = verify_remote_log(
            api, verifier, TrustedState(state), entries=entries, full=full, progress=progress
        )
    except LogRefused as exc:
        click.echo(f"REFUSED: {exc}", err=True)
        raise SystemExit(2) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    checkpoint = report.checkpoint
    click.echo(f"log {checkpoint.origin}: {checkpoint.size} entries, signed by {verifier.name}")
    if report.previous is None:
        click.echo("first use: this checkpoint is now trusted")
    else:
        click.echo(f"consistent with the checkpoint trusted at {report.previous.size} entries")
    for index in report.entries_checked:
        click.echo(f"entry {index}: included")
    if report.recomputed:
        click.echo(f"recomputed all {checkpoint.size} entries: the root matches")
    click.echo("OK")
