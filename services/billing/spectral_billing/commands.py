"""Operator commands under ``spectral billing``. The component that lists them is looked up
through the registry when a command runs, not imported: it imports this module."""

from __future__ import annotations

from typing import Any

import click

from spectral_billing.plans.catalog import catalog


def _runtime():  # type: ignore[no-untyped-def]
    from spectral_shared.component import Runtime, installed_components
    from spectral_shared.process import boot

    return Runtime(installed_components()["billing"], boot("billing", ["billing"]))


def _refusal(refused: Any) -> click.ClickException:
    """A refusal as one line an operator acts on: the detail, or each field's message."""
    messages = [e.get("message", "") for e in (refused.errors or [])]
    return click.ClickException("; ".join(m for m in messages if m) or refused.detail)


@click.group()
def commands() -> None:
    """Billing's operator commands."""


@commands.command("set-plan")
@click.argument("organization_id")
@click.argument("plan", type=click.Choice(sorted(catalog().plans)))
def set_plan(organization_id: str, plan: str) -> None:
    """Put an organization on PLAN under a sales-led contract: Stripe invoices it yearly with 30
    days to pay (an organization with a subscription has its plan changed instead, under the same
    rules: a downgrade must fit its AI systems). Capabilities follow through the usual path."""
    import uuid

    from spectral_billing.subscriptions.use_cases import sign_contract
    from spectral_billing.web import stripe_gateway
    from spectral_shared.bus.envelope import Actor
    from spectral_shared.errors import DomainError

    try:
        uuid.UUID(organization_id)
    except ValueError:
        raise click.BadParameter(
            "not an organization id (a UUID)", param_hint="ORGANIZATION_ID"
        ) from None
    runtime = _runtime()
    try:
        subscription = sign_contract(
            runtime,
            stripe_gateway(runtime),
            organization_id=organization_id,
            plan_id=plan,
            actor=Actor.system("spectral billing set-plan"),
        )
    except DomainError as refused:
        raise _refusal(refused) from None
    finally:
        runtime.database.dispose()
    click.echo(
        f"{organization_id}: {subscription.plan} ({subscription.status}, "
        f"{subscription.collection_method}); subscription {subscription.id}. Services apply the "
        "new capabilities within seconds."
    )


@commands.command("reconcile")
@click.option("--hours", type=click.IntRange(1, 24 * 30), default=48, show_default=True)
def reconcile_command(hours: int) -> None:
    """Compare Stripe's last HOURS with billing's mirror and repair drift (what the nightly job
    does), then report what was fixed."""
    from spectral_billing.stripe_api.reconcile import reconcile
    from spectral_billing.web import stripe_gateway
    from spectral_shared.errors import DomainError

    runtime = _runtime()
    try:
        report = reconcile(runtime, stripe_gateway(runtime), hours=hours)
    except DomainError as refused:
        raise _refusal(refused) from None
    finally:
        runtime.database.dispose()
    click.echo(
        f"Stripe events since {report.since:%Y-%m-%d %H:%M} UTC: {report.events_seen} "
        f"({report.events_missed} had not arrived as webhooks); organizations checked: "
        f"{report.organizations_checked}"
    )
    for line in report.repaired:
        click.echo(f"  repaired {line}")
    for customer in report.busy:
        click.echo(f"  skipped {customer}: a worker was handling it (it reads Stripe too)")
    if not report.repaired:
        click.echo("  nothing to repair")


@commands.command("stripe-double")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=12111, show_default=True)
@click.option(
    "--webhook-url",
    default="http://127.0.0.1:5104/api/v1/billing/webhooks/stripe",
    show_default=True,
    help="Where its signed webhooks go (billing's web target).",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False),
    default="var/stripe-double.json",
    show_default=True,
)
def stripe_double(host: str, port: int, webhook_url: str, state_path: str) -> None:
    """Run the Stripe test double (make stack's stand-in for Stripe when no key is set): Stripe's
    API subset billing uses, hosted checkout and portal pages, signed webhooks. No money moves."""
    import threading
    from pathlib import Path

    from spectral_billing.embedded import webhook_secret
    from spectral_billing.stripe_double import StripeDouble, serve
    from spectral_shared.config import load_settings
    from spectral_shared.process import stop_on_signals

    settings = load_settings()
    if settings.is_production:
        raise click.ClickException("the Stripe test double never runs in production")
    Path(state_path).parent.mkdir(parents=True, exist_ok=True)
    double = StripeDouble(
        state_path=state_path, webhook_endpoints=[(webhook_url, webhook_secret(settings))]
    )
    server, _thread, base = serve(double, host, port)
    click.echo(
        f"Stripe test double on {base} (controls: {base}/_control/); no money moves", err=True
    )
    stop: threading.Event = stop_on_signals()
    stop.wait()
    server.shutdown()
    server.server_close()
    double.close()
