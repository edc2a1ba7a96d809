"""Governance obeys billing's capabilities (ADR 0041): the AI-system limit and customization
rights from the newest snapshot only, and read-only when money stops: nothing new, everything
readable and exportable, telemetry and its findings still flowing."""

from __future__ import annotations

from spectral_governance.testing import SYSTEM, Governance
from spectral_shared.testing.billing import capabilities

OVERRIDE = {
    "threshold": "drift.accuracy_drop_high",
    "value": 0.2,
    "event_type": "model_drift",
    "justification": "Validated against the 2025 cohort.",
}
TOGGLE = {"control_id": "MANAGE-4.1", "justification": "Covered by our drift review board."}
PAY = "https://invoice.stripe.test/in_1"


def test_customization_rights_come_from_the_snapshot_not_the_plan_name(gov: Governance) -> None:
    gov.event("billing.entitlements.updated", capabilities("starter"))
    assert gov.request("POST", "/api/v1/engine/threshold-overrides", OVERRIDE).status_code == 402
    toggled = gov.request("POST", "/api/v1/engine/control-toggles", TOGGLE)
    assert toggled.status_code == 402 and "Starter" in toggled.get_json()["detail"]

    # A plan named anything at all, whose capabilities include overrides but not toggles.
    mixed = {**capabilities("starter"), "plan": "pilot", "threshold_overrides": True}
    gov.event("billing.entitlements.updated", mixed)
    assert gov.request("POST", "/api/v1/engine/threshold-overrides", OVERRIDE).status_code == 201
    assert gov.request("POST", "/api/v1/engine/control-toggles", TOGGLE).status_code == 402

    # An older snapshot arriving late changes nothing.
    gov.event("billing.entitlements.updated", capabilities("professional", version=1))
    assert gov.request("POST", "/api/v1/engine/control-toggles", TOGGLE).status_code == 402


def test_read_only_refuses_new_things_and_keeps_everything_else(gov: Governance) -> None:
    gov.subscribe("professional")
    system = gov.create()
    reason = "Payment is overdue since 2026-11-01 and the 30-day grace period ended."
    gov.event(
        "billing.entitlements.updated",
        capabilities(
            "professional",
            writable=False,
            status="read_only",
            read_only_reason=reason,
            pay_url=PAY,
        ),
    )
    refused = gov.request("POST", "/api/v1/ai-systems", {**SYSTEM, "name": "Another"})
    problem = refused.get_json()
    assert refused.status_code == 402 and problem["type"].endswith("/read-only")
    assert problem["pay_url"] == PAY and reason in problem["detail"]
    imported = gov.request(
        "POST",
        "/api/v1/ai-systems/import",
        data="name,department,category,uses_phi,risk_level\nX,ED,other,false,low\n",
        content_type="text/csv",
    )
    assert imported.status_code == 402
    for path, body in (
        ("/api/v1/engine/threshold-overrides", OVERRIDE),
        ("/api/v1/engine/control-toggles", TOGGLE),
    ):
        answer = gov.request("POST", path, body)
        assert answer.status_code == 402 and answer.get_json()["pay_url"] == PAY

    # Everything already there stays readable and exportable.
    assert gov.request("GET", f"/api/v1/ai-systems/{system['id']}").status_code == 200
    assert gov.request("GET", "/api/v1/ai-systems/export").status_code == 200
    # A hospital never loses sight of a PHI exposure over an invoice.
    accepted = gov.report(
        {"ai_system_id": system["id"], "event_type": "phi_exposure", "severity": "critical"}
    )
    assert accepted.status_code == 202
    assert gov.translate() == 1
    found = gov.request("GET", "/api/v1/violations", query_string={"ai_system_id": system["id"]})
    assert found.get_json()["data"], "the exposure still became violations"

    # Paid: writable again.
    gov.event("billing.entitlements.updated", capabilities("professional"))
    assert (
        gov.request("POST", "/api/v1/ai-systems", {**SYSTEM, "name": "Another"}).status_code == 201
    )
