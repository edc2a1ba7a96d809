"""What operators and the worker do beside the API: the reconciliation repairs what webhooks
never brought, once per window; `spectral billing set-plan` signs a sales-led contract through
the same path; usage is counted from the bus and the admins are warned once at 80%; a dispute
is told; a customer Spectral does not know is recorded, not guessed at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from spectral_billing.entitlements.use_cases import claim_run
from spectral_billing.stripe_api.models import StripeEvent
from spectral_billing.stripe_api.reconcile import reconcile
from spectral_billing.testing import Billing
from spectral_shared.bus import Actor, Envelope
from spectral_shared.testing import fire
from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY

pytestmark = pytest.mark.integration


def emails(billing: Billing, subject: str) -> list[tuple[str, dict[str, Any]]]:
    from spectral_billing.db import bus
    from spectral_shared.delivery import queued

    with billing.runtime.database.session() as session:
        mail = queued(session, bus, billing.runtime.cipher, "email")
    return [(to, body) for to, body in mail if subject in body["subject"].lower()]


def test_the_reconciliation_repairs_what_webhooks_never_brought(billing: Billing) -> None:
    org = billing.organization()
    billing.checkout(org, "professional")  # Stripe's webhooks are lost: none is delivered
    assert billing.subscription(org)["status"] == "none"
    report = reconcile(billing.runtime, billing.gateway, hours=48)
    assert report.events_seen >= 5 and report.events_missed == report.events_seen
    assert any("-> trialing (professional)" in line for line in report.repaired), report.repaired
    assert billing.subscription(org)["status"] == "trialing"
    with billing.runtime.database.session() as session:
        outcomes = set(session.scalars(select(StripeEvent.outcome)))
    assert outcomes <= {"reconciled", "recorded"}
    again = reconcile(billing.runtime, billing.gateway, hours=48)
    assert again.repaired == [] and again.events_missed == 0


def test_the_nightly_reconciliation_runs_once_per_window(billing: Billing) -> None:
    now = datetime(2026, 12, 7, 3, tzinfo=UTC)
    assert claim_run(billing.runtime, "reconcile", now, 86_400) is True
    assert claim_run(billing.runtime, "reconcile", now, 86_400) is False  # another replica
    tomorrow = datetime(2026, 12, 8, 3, tzinfo=UTC)
    assert claim_run(billing.runtime, "reconcile", tomorrow, 86_400) is True


def test_set_plan_signs_an_invoiced_contract_through_the_same_path(billing: Billing) -> None:
    org = billing.organization()
    env = {
        **os.environ,
        "DATABASE_URL": str(billing.runtime.settings.database_url),
        "ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        "STRIPE_API_BASE": billing.double_url,
        "SPECTRAL_ENV": "test",
        "LOG_LEVEL": "warning",
    }

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "spectral_shared.cli", "billing", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    done = command("set-plan", org, "enterprise")
    assert done.returncode == 0, done.stderr
    assert "enterprise (active, send_invoice)" in done.stdout
    standing = billing.subscription(org)
    assert standing["plan"] == "enterprise" and standing["collection_method"] == "send_invoice"
    assert standing["capabilities"]["ai_system_limit"] is None

    # The rest in this process (the same commands, without a second interpreter's start-up).
    from click.testing import CliRunner

    from spectral_billing.commands import commands

    runner = CliRunner()
    values = {
        k: v
        for k, v in env.items()
        if k in ("DATABASE_URL", "ENCRYPTION_KEY", "STRIPE_API_BASE", "SPECTRAL_ENV", "LOG_LEVEL")
    }
    refused = runner.invoke(commands, ["set-plan", org, "verified"], env=values)
    assert refused.exit_code == 1 and "plan for vendors" in refused.output
    assert runner.invoke(commands, ["set-plan", "not-a-uuid", "starter"], env=values).exit_code == 2
    assert runner.invoke(commands, ["set-plan", org, "gold"], env=values).exit_code == 2
    reconciled = runner.invoke(commands, ["reconcile", "--hours", "1"], env=values)
    assert reconciled.exit_code == 0, reconciled.output
    assert "nothing to repair" in reconciled.output


def test_usage_is_counted_and_the_admins_warned_once_at_80_percent(billing: Billing) -> None:
    org = billing.organization(admin="ops@mercy.example")
    billing.add_systems(org, 2)
    assert emails(billing, "ai systems") == []  # 2 of 3: 66%
    billing.add_systems(org, 1)
    [(to, body)] = emails(billing, "ai systems")
    assert to == "ops@mercy.example" and "3 of the 3" in body["text"]
    billing.event(  # a deletion and a new system: still at the limit, told nothing more
        "governance.ai_system.deleted",
        org,
        {"ai_system_id": str(uuid.uuid4()), "name": "gone", "status": "active"},
    )
    assert len(emails(billing, "ai systems")) == 1

    def usage_event(event_type: str, data: dict[str, Any]) -> None:
        fire(
            billing.runtime,
            "billing.usage",
            Envelope(
                type=event_type,
                organization_id=uuid.UUID(org),
                actor=Actor.system("test"),
                data=data,
            ),
        )

    usage_event(
        "governance.telemetry.received",
        {"source": "api", "event_ids": ["a", "b", "c"], "ai_system_ids": [], "duplicates": 0},
    )
    today = datetime.now(UTC).date().isoformat()
    usage_event("auth.usage.recorded", {"day": today, "api_calls": 120})
    usage_event("auth.usage.recorded", {"day": today, "api_calls": 90})  # older, smaller: kept 120
    answer = billing.request("GET", "/api/v1/billing/usage", org, query_string={"days": 7})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    metrics = {m["metric"]: m for m in body["metrics"]}
    assert metrics["ai_systems"]["used"] == 3 and metrics["ai_systems"]["limit"] == 3
    assert metrics["ai_systems"]["percent"] == 100
    assert metrics["telemetry_events"]["used"] == 3 and metrics["telemetry_events"]["limit"] is None
    assert metrics["api_calls"]["used"] == 120
    assert len(body["days"]) == 7 and body["days"][-1]["telemetry_events"] == 3
    bad = billing.request("GET", "/api/v1/billing/usage", org, query_string={"days": 0})
    assert bad.status_code == 400


def test_a_dispute_is_told_to_the_admins_and_audited(billing: Billing) -> None:
    org = billing.organization(admin="cfo@mercy.example")
    billing.checkout(org, "starter")
    billing.advance(31)  # the trial converts: a paid invoice with a charge
    billing.settle()
    [invoice] = [
        i
        for i in billing.request("GET", "/api/v1/billing/invoices", org).get_json()["data"]
        if i["amount_paid"] > 0
    ]
    billing.control("charges/dispute", invoice=invoice["id"])
    billing.settle()
    [(to, body)] = emails(billing, "disputed")
    assert to == "cfo@mercy.example" and "$75,000.00" in body["text"]
    outbox = billing.runtime.component.tables.outbox
    with billing.runtime.database.session() as session:
        [opened] = [
            json.loads(b)
            for (b,) in session.execute(
                select(outbox.c.body).where(outbox.c.event_type == "billing.dispute.opened")
            )
        ]
    assert opened["organization_id"] == org and opened["data"]["amount"] == 7_500_000


def test_a_customer_spectral_does_not_know_is_recorded_not_guessed(billing: Billing) -> None:
    stranger = billing.gateway.client.v1.customers.create(params={"name": "Not ours"})
    billing.gateway.client.v1.customers.update(stranger.id, params={"email": "x@y.example"})
    billing.settle()
    with billing.runtime.database.session() as session:
        outcomes = {
            e.type: e.outcome
            for e in session.scalars(
                select(StripeEvent).where(StripeEvent.customer_id == stranger.id)
            )
        }
    assert outcomes["customer.updated"] == "unknown_customer"  # acted on: nobody's to act for
    assert outcomes["customer.created"] == "recorded"  # a type billing never acts on
