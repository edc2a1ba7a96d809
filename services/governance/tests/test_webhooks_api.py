"""The observability tools' webhooks (issue 7): signed with the system's secret (created and
rotated through the API, stored encrypted), mapped per source, delivered twice but stored once."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from sqlalchemy import func, select

from spectral_governance.telemetry import views
from spectral_governance.telemetry.models import TelemetryEvent, WebhookSecret
from spectral_governance.testing import Governance

ARIZE_PERFORMANCE = {
    "alert_type": "performance",
    "alert_id": "alert-7781",
    "metric_name": "accuracy",
    "metric_value": 0.79,
    "baseline_value": 0.91,
    "timestamp": "2026-11-26T10:00:00Z",
}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    gov: Governance, source: str, system_id: str, payload: Any, secret: str | None, **headers: str
) -> Any:
    body = json.dumps(payload).encode()
    if secret is not None:
        headers.setdefault(f"X-{source.capitalize()}-Signature", sign(secret, body))
    return gov.client.post(
        f"/api/v1/webhooks/{source}/{system_id}",
        data=body,
        headers={"Content-Type": "application/json", **headers},
    )


def stored(gov: Governance) -> int:
    with gov.runtime.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(TelemetryEvent)) or 0)


def secret_for(gov: Governance, system_id: str, **kw: Any) -> str:
    response = gov.request("POST", f"/api/v1/ai-systems/{system_id}/webhook-secret", **kw)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["secret"])


def test_a_signed_arize_alert_becomes_violations(gov: Governance) -> None:
    system = gov.create(name="Sepsis Watch", risk_level="high")
    secret = secret_for(gov, system["id"])
    answer = deliver(gov, "arize", system["id"], ARIZE_PERFORMANCE, secret)
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["duplicate"] is False
    # The secret is stored encrypted, never as given.
    with gov.runtime.database.session() as session:
        row = session.scalars(select(WebhookSecret)).one()
        assert secret not in row.secret
    gov.translate()
    listed = gov.request("GET", "/api/v1/violations", query_string={"ai_system_id": system["id"]})
    found = {v["control_id"]: v for v in listed.get_json()["data"]}
    assert found["MANAGE-4.1"]["severity"] == "high"  # a 12-point drop
    [event] = gov.request("GET", "/api/v1/telemetry/events").get_json()["data"]
    assert (event["source"], event["run_id"]) == ("arize", "alert-7781")


def test_the_same_webhook_delivered_twice_gives_one_event(gov: Governance) -> None:
    system = gov.create()
    secret = secret_for(gov, system["id"])
    first = deliver(gov, "arize", system["id"], ARIZE_PERFORMANCE, secret)
    second = deliver(gov, "arize", system["id"], ARIZE_PERFORMANCE, secret)
    assert second.status_code == 202
    assert second.get_json() == {"id": first.get_json()["id"], "duplicate": True, "warnings": []}
    # A source without a delivery id: the same body is the same delivery.
    langfuse = {"type": "trace", "body": {"latency": 6200, "name": "summarize"}}
    a = deliver(gov, "langfuse", system["id"], langfuse, secret)
    b = deliver(gov, "langfuse", system["id"], langfuse, secret)
    assert a.status_code == 202, a.get_json()
    assert b.get_json()["duplicate"] is True
    assert stored(gov) == 2
    assert len(gov.outbox("governance.telemetry.received")) == 2


def answer(response: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    """What a caller sees, but the problem's instance (the path they sent) and the request id."""
    problem = dict(response.get_json())
    assert problem.pop("instance") == response.request.path
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() != "x-request-id"}
    return response.status_code, problem, headers


def test_every_unauthenticated_delivery_gets_one_and_the_same_401(gov: Governance) -> None:
    """Issue 18: an unknown system was a 404, a system without a secret a 401 of its own, so a
    stranger could tell which ids are live systems and which have a secret. Now every delivery
    not signed with a live system's secret gets the same 401, and nothing is stored."""
    live = gov.create(name="Sepsis Watch")
    secret = secret_for(gov, live["id"])
    bare = gov.create(name="No Secret Yet")
    gone = gov.create(name="Deleted Since")
    gone_secret = secret_for(gov, gone["id"])
    assert gov.request("DELETE", f"/api/v1/ai-systems/{gone['id']}").status_code == 204
    unknown = str(uuid.uuid4())
    body = json.dumps(ARIZE_PERFORMANCE).encode()

    def post(system_id: str, signature: str | None, data: bytes = body) -> Any:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Arize-Signature"] = signature
        return gov.client.post(f"/api/v1/webhooks/arize/{system_id}", data=data, headers=headers)

    refusals = {
        "unknown system": post(unknown, sign(secret, body)),
        "unknown system, unsigned": post(unknown, None),
        "live system without a secret": post(bare["id"], sign(secret, body)),
        "deleted system, its own secret": post(gone["id"], sign(gone_secret, body)),
        "forged": post(live["id"], sign("whsec_" + "x" * 43, body)),
        "unsigned": post(live["id"], None),
        "empty signature": post(live["id"], ""),
        "not hex": post(live["id"], "sha256=\u00e9t\u00e9"),
        "tampered": post(live["id"], sign(secret, body), body.replace(b"0.79", b"0.99")),
    }
    expected = answer(refusals["unknown system"])
    assert expected[0] == 401 and expected[1]["type"].endswith("/bad-signature")
    for case, refused in refusals.items():
        assert answer(refused) == expected, case
    assert stored(gov) == 0
    assert gov.outbox("governance.telemetry.received") == []
    assert post(live["id"], sign(secret, body)).status_code == 202  # the owner's own delivery


def test_the_webhook_computes_an_hmac_even_without_a_secret(
    gov: Governance, monkeypatch: Any
) -> None:
    """The refusal costs the same whether or not the system has a secret to check."""
    system = gov.create()
    computed: list[bytes] = []
    real = hmac.new

    def counting(key: bytes, msg: bytes, digestmod: Any) -> Any:
        computed.append(msg)
        return real(key, msg, digestmod)

    monkeypatch.setattr(views.hmac, "new", counting)
    for system_id in (system["id"], str(uuid.uuid4())):
        guess = {"X-Arize-Signature": "sha256=" + "0" * 64}
        refused = deliver(gov, "arize", system_id, ARIZE_PERFORMANCE, None, **guess)
        assert refused.status_code == 401
    assert computed.count(json.dumps(ARIZE_PERFORMANCE).encode()) == 2  # one per delivery


def test_rotation_keeps_the_previous_secret_for_a_grace_period(gov: Governance) -> None:
    system = gov.create()
    old = secret_for(gov, system["id"])
    rotated = gov.request("POST", f"/api/v1/ai-systems/{system['id']}/webhook-secret")
    new = rotated.get_json()["secret"]
    assert new != old and rotated.get_json()["previous_expires_at"] is not None
    assert (
        deliver(
            gov, "wandb", system["id"], {"event_type": "alert", "alert_name": "loss"}, old
        ).status_code
        == 202
    )
    assert (
        deliver(
            gov, "wandb", system["id"], {"event_type": "alert", "alert_name": "acc"}, new
        ).status_code
        == 202
    )
    [event] = [e["data"] for e in gov.outbox("governance.webhook_secret.rotated")][1:]
    assert new not in json.dumps(event) and old not in json.dumps(event)
    assert (
        gov.request(
            "POST", f"/api/v1/ai-systems/{system['id']}/webhook-secret", role="viewer"
        ).status_code
        == 403
    )


def test_refusals(gov: Governance) -> None:
    system = gov.create()
    secret = secret_for(gov, system["id"])
    assert deliver(gov, "datadog", system["id"], {}, secret).status_code == 404
    assert deliver(gov, "arize", "not-a-uuid", {}, secret).status_code == 404
    bad = deliver(gov, "arize", system["id"], ["not", "an", "alert"], secret)
    assert bad.status_code == 422
    malformed = gov.client.post(
        f"/api/v1/webhooks/arize/{system['id']}",
        data=b"{nope",
        headers={"Content-Type": "application/json", "X-Arize-Signature": sign(secret, b"{nope")},
    )
    assert malformed.status_code == 400
    assert stored(gov) == 0


def test_a_model_name_does_not_classify_a_generation(gov: Governance) -> None:
    """A Langfuse generation's metric is its model: "clinical-llama-8b" is no clinical accuracy
    failure (the keyword rules would say so)."""
    system = gov.create()
    secret = secret_for(gov, system["id"])
    generation = {
        "type": "generation-create",
        "body": {"id": "gen-1", "model": "clinical-llama-8b", "usage": {"total": 812}},
    }
    assert deliver(gov, "langfuse", system["id"], generation, secret).status_code == 202
    [event] = gov.request("GET", "/api/v1/telemetry/events").get_json()["data"]
    assert event["metric"] == "clinical-llama-8b"
    assert event["canonical_type"] != "clinical_accuracy_failure"


def test_an_unknown_source_is_named_as_such(gov: Governance) -> None:
    system = gov.create()
    refused = deliver(gov, "datadog", system["id"], {}, secret_for(gov, system["id"]))
    assert refused.status_code == 404
    problem = refused.get_json()
    assert "datadog" in problem["detail"] and "AI system" not in problem["detail"]
    assert problem["sources"] == ["arize", "langfuse", "langsmith", "wandb"]
    # The path's source is checked before the system: an unknown id gets the same answer.
    elsewhere = deliver(gov, "datadog", str(uuid.uuid4()), {}, "whsec_guess")
    assert answer(elsewhere) == answer(refused)


def test_langsmith_failed_runs_are_an_error_rate_the_rules_read(gov: Governance) -> None:
    """Issue 17: 8 of 100 runs failed is an 8% error rate: NIST MANAGE-1.1 at high."""
    system = gov.create(name="Discharge Summaries", risk_level="high")
    secret = secret_for(gov, system["id"])
    runs = [
        {
            "id": f"run-{n}",
            "status": "error" if n < 8 else "success",
            "error": "boom" if n < 8 else None,
        }
        for n in range(100)
    ]
    hook = {"rule_id": "r-1", "runs": runs, "end_time": "2026-12-01T10:00:00Z"}
    answer = deliver(gov, "langsmith", system["id"], hook, secret)
    assert answer.status_code == 202, answer.get_json()
    gov.translate()
    [event] = gov.request("GET", "/api/v1/telemetry/events").get_json()["data"]
    assert event["metrics"]["error_rate"] == 0.08
    found = gov.request("GET", "/api/v1/violations", query_string={"control_id": "MANAGE-1.1"})
    [violation] = found.get_json()["data"]
    assert violation["severity"] == "high"


def test_a_webhook_number_out_of_its_unit_is_refused_and_stores_nothing(gov: Governance) -> None:
    """Accuracy sent in percent (79 and 91, not 0.79 and 0.91) would read as a 1,200% drop."""
    system = gov.create(name="Sepsis Watch", risk_level="high")
    secret = secret_for(gov, system["id"])
    percent = {**ARIZE_PERFORMANCE, "metric_value": 79, "baseline_value": 91}
    answer = deliver(gov, "arize", system["id"], percent, secret)
    assert answer.status_code == 422, answer.get_json()
    [error] = answer.get_json()["errors"]
    assert (error["field"], error["code"]) == ("accuracy_drop", "metric_out_of_range")
    assert stored(gov) == 0
