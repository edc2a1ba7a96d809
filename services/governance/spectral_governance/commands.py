"""Operator commands under ``spectral governance``. The component that lists them
(``component.py``) is looked up through the registry when a command runs, not imported: it
imports this module."""

from __future__ import annotations

import uuid

import click


@click.group()
def commands() -> None:
    """Governance's operator commands."""


@commands.command("seed-demo")
@click.option(
    "--organization", "organization_id", required=True, help="The organization's id (a UUID)."
)
def seed_demo(organization_id: str) -> None:
    """Add the demo portfolio (eight AI systems of a health system) to an organization, for
    trying Spectral. Systems it already has (by name) are left alone."""
    from spectral_governance.inventory.use_cases import seed_demo as add_demo_systems
    from spectral_shared.component import Runtime, installed_components
    from spectral_shared.process import boot

    try:
        organization_id = str(uuid.UUID(organization_id))
    except ValueError:
        raise click.BadParameter("not a UUID", param_hint="--organization") from None
    runtime = Runtime(installed_components()["governance"], boot("governance", ["governance"]))
    runtime.migrate()
    added = add_demo_systems(runtime, organization_id)
    for system in added:
        click.echo(f"{system.id}  {system.name}  ({system.department}, {system.risk_level} risk)")
    click.echo(f"added {len(added)} AI system(s) to organization {organization_id}")


@commands.command("rules-doc")
def rules_doc() -> None:
    """Print the translation engine's rules per control, as the tables docs/rules.md holds."""
    from spectral_governance.engine.rules_doc import render_rules

    click.echo(render_rules(), nl=False)


@commands.command("telemetry-doc")
def telemetry_doc() -> None:
    """Print the telemetry reference's tables (event types, numbers, aliases), as
    docs/telemetry.md holds them."""
    from spectral_governance.engine.telemetry_doc import render_telemetry

    click.echo(render_telemetry(), nl=False)
