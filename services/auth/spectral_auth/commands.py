"""Operator commands under ``spectral auth``. The component that lists them (``component.py``)
is looked up through the registry when a command runs, not imported: it imports this module."""

from __future__ import annotations

import click

from spectral_auth.passwords import password_problems


@click.group()
def commands() -> None:
    """Auth's operator commands."""


@commands.command("rotate-keys")
def rotate_keys() -> None:
    """Add a new token-signing key and retire the current one (still published for 24 hours)."""
    from spectral_auth.services.platform import rotate_signing_keys
    from spectral_auth.signing_keys import RETIRED_KEY_GRACE
    from spectral_shared.component import Runtime, installed_components
    from spectral_shared.process import boot

    settings = boot("auth", ["auth"])
    if settings.jwt_lifetime >= RETIRED_KEY_GRACE:
        raise click.ClickException(
            f"JWT_EXPIRY ({settings.jwt_expiry}) must be shorter than the {RETIRED_KEY_GRACE} a retired key "
            "stays published, or tokens would outlive their key"
        )
    rotation = rotate_signing_keys(Runtime(installed_components()["auth"], settings))
    click.echo(
        f"new signing key {rotation.kid}; retired {', '.join(rotation.retired) or 'none'} "
        f"(published until {rotation.published_until})"
    )
    click.echo("Services pick the new key up within a minute; old tokens verify until they expire.")


@commands.command("create-platform-admin")
@click.option("--name", required=True, help="The administrator's full name.")
@click.option("--email", required=True, help="Their e-mail address (their sign-in).")
@click.password_option(
    "--password",
    envvar="SPECTRAL_ADMIN_PASSWORD",
    help="Prompted for (twice) unless given, or set in SPECTRAL_ADMIN_PASSWORD.",
)
def create_platform_admin(name: str, email: str, password: str) -> None:
    """Create the platform organization and its first super_admin (once per installation)."""
    from spectral_auth import services
    from spectral_shared.component import Runtime, installed_components
    from spectral_shared.process import boot

    problems = password_problems(password, email=email)
    if problems:
        raise click.BadParameter(" ".join(problems), param_hint="--password")
    runtime = Runtime(installed_components()["auth"], boot("auth", ["auth"]))
    try:
        user = services.create_platform_admin(runtime, name=name, email=email, password=password)
    except services.AlreadyMember as exc:
        raise click.ClickException(f"nothing created: {exc}") from None
    click.echo(f"created super_admin {user.email} ({user.id}) in the platform organization")
