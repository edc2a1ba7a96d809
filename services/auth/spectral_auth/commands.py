"""Operator commands under ``spectral auth``."""

from __future__ import annotations

import click

from spectral_auth.passwords import password_problems


@click.group()
def commands() -> None:
    """Auth's operator commands."""


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
    from spectral_auth.component import component
    from spectral_shared.component import Runtime
    from spectral_shared.process import boot

    problems = password_problems(password, email=email)
    if problems:
        raise click.BadParameter(" ".join(problems), param_hint="--password")
    runtime = Runtime(component, boot("auth", ["auth"]))
    try:
        user = services.create_platform_admin(runtime, name=name, email=email, password=password)
    except services.AlreadyMember as exc:
        raise click.ClickException(f"nothing created: {exc}") from None
    click.echo(f"created super_admin {user.email} ({user.id}) in the platform organization")
