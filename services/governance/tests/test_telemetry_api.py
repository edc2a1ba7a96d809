"""Telemetry in, violations, actions and alerts out (issue 7), on SQLite and PostgreSQL: the
batch API and its per-item answers, the cases the issue names, and what nobody else sees."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from spectral_governance.controls.models import ControlStatus
from spectral_governance.telemetry.models import TelemetryEvent
from spectral_governance.testing import Governance


def drift(system_id: str, drop: float, **fields: Any) -> dict[str, Any]:
    return {
        "ai_system_id": system_id,
        "event_type": "model_drift",
        "payload": {"accuracy_drop": drop},
        **fields,
    }


def rows(
    gov: Governance, path: str, organization: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    response = gov.request("GET", path, organization=organization, query_string=params)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["data"])


def stored_events(gov: Governance) -> int:
    with gov.runtime.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(TelemetryEvent)) or 0)


def test_a_phi_exposure_in_california(gov: Governance) -> None:
    """Issue 7: HIPAA 164.402 (60 days) and 164.308(a)(1)(ii)(D), California's breach rule (30
    days), a notify action for the privacy officer, and a critical alert."""
    gov.event(
        "auth.organization.updated",
        {"organization_id": gov.organization, "changes": {"state": {"from": None, "to": "CA"}}},
    )
    privacy = gov.member(
        "privacy@hospital.example", role="compliance_officer", personas=("privacy_officer",)
    )
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    answer = gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "phi_exposure",
            "severity": "critical",
            "payload": {"phi_count": 3, "note": "Patient SSN 123-45-6789 in output"},
        }
    )
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["accepted"] == 1
    assert rows(gov, "/api/v1/violations") == []  # translated later, by the worker
    assert gov.translate() == 1

    violations = rows(gov, "/api/v1/violations", ai_system_id=system["id"])
    found = {v["control_id"]: v for v in violations}
    # HIPAA's notices and its activity review; California's breach law; and, the organization
    # being a California facility, H&S Code 1280.15 (CDPH and the patient).
    assert set(found) == {"164.402", "164.308(a)(1)(ii)(D)", "CA-BREACH", "CA-HSC-1280.15"}
    # Due at the end of the local day (California's clock), counted from the day of discovery.
    pacific = ZoneInfo("America/Los_Angeles")
    discovered = datetime.fromisoformat(found["164.402"]["discovered_at"]).astimezone(pacific)
    hipaa = {o["part"]: o for o in found["164.402"]["obligations"]}
    individuals = next(o for o in hipaa.values() if o["recipient"] == "individuals")
    assert date.fromisoformat(individuals["due_local"]) == discovered.date() + timedelta(days=60)
    assert individuals["citation"].startswith("45 CFR 164.404")
    # How many people are affected is not reported yet: read the safer way, HHS is told with the
    # individuals and the media too (more than 500 in a state), until the facts say otherwise.
    assert {(o["part"], o["recipient"]) for o in hipaa.values()} == {
        ("individuals", "individuals"),
        ("hhs", "HHS"),
        ("media", "media"),
    }
    due = datetime.fromisoformat(found["164.402"]["reporting_deadline"])
    assert due.astimezone(pacific).date() == discovered.date() + timedelta(days=60)
    assert (due + timedelta(microseconds=1)).astimezone(pacific).time() == time(0, 0)
    california = found["CA-BREACH"]["obligations"]
    assert next(o["days"] for o in california if o["mandatory"]) == 30
    assert datetime.fromisoformat(found["CA-BREACH"]["reporting_deadline"]).astimezone(
        pacific
    ).date() == discovered.date() + timedelta(days=30)
    assert all(v["severity"] == "critical" for v in violations)
    assert {v["control_id"] for v in violations if v["requires_reporting"]} == {
        "164.402",
        "CA-BREACH",
        "CA-HSC-1280.15",
    }
    assert "123-45-6789" not in str(violations)

    actions = rows(gov, "/api/v1/actions", violation_id=found["164.402"]["id"])
    notify = [
        a for a in actions if a["action_type"] == "notify" and a["assignee"] == "privacy_officer"
    ]
    assert notify, actions
    # docs/domain.md#decision-8-actions: one of them is due on the reporting deadline.
    assert found["164.402"]["reporting_deadline"] in {a["deadline"] for a in notify}

    [alert] = rows(gov, "/api/v1/alerts", ai_system_id=system["id"])
    assert (alert["severity"], alert["type"], alert["status"]) == (
        "critical",
        "phi_exposure",
        "active",
    )
    raised = datetime.fromisoformat(alert["raised_at"])
    assert datetime.fromisoformat(alert["ack_due_at"]) - raised == timedelta(minutes=15)

    # The automated notify reaches the privacy officer by e-mail (before anyone resolves it).
    from spectral_governance.actions import executor

    assert executor.run_due_actions(gov.runtime) >= 1
    done = rows(gov, "/api/v1/actions", violation_id=found["164.402"]["id"], status="completed")
    assert any(a["details"]["execution"]["emailed"] == 1 for a in done)
    assert privacy
    assert gov.outbox("governance.action.status_changed")

    # The control is non-compliant on the system until the violation is resolved.
    with gov.runtime.database.session() as session:
        status = session.get(ControlStatus, (system["id"], "164.402"))
        assert status is not None and status.status == "non_compliant"
    resolved = gov.request(
        "POST", f"/api/v1/violations/{found['164.402']['id']}/resolve", {"note": "Notified HHS."}
    )
    assert resolved.status_code == 200, resolved.get_json()
    assert resolved.get_json()["status"] == "resolved"
    with gov.runtime.database.session() as session:
        assert session.get(ControlStatus, (system["id"], "164.402")) is None
    again = gov.request(
        "POST", f"/api/v1/violations/{found['164.402']['id']}/resolve", {"note": "Twice."}
    )
    assert again.status_code == 409


def test_model_drift_of_twelve_points(gov: Governance) -> None:
    """Issue 7: NIST MANAGE-4.1 deviation (high); for an imaging system also FDA post-market."""
    sepsis = gov.create(name="Sepsis Watch", risk_level="high")
    imaging = gov.create(
        name="Chest CT Triage", department="Imaging", category="diagnostic_imaging"
    )
    answer = gov.report(drift(sepsis["id"], 0.12), drift(imaging["id"], 0.12))
    assert answer.get_json()["accepted"] == 2
    gov.translate()
    [manage] = rows(gov, "/api/v1/violations", ai_system_id=sepsis["id"], control_id="MANAGE-4.1")
    assert (manage["type"], manage["severity"], manage["framework_id"]) == (
        "deviation",
        "high",
        "NIST_AI_RMF",
    )
    controls = {
        v["control_id"] for v in rows(gov, "/api/v1/violations", ai_system_id=imaging["id"])
    }
    assert {"MANAGE-4.1", "FDA-PMS.GMLP10"} <= controls
    assert "FDA-PMS.GMLP10" not in {
        v["control_id"] for v in rows(gov, "/api/v1/violations", ai_system_id=sepsis["id"])
    }


def test_an_override_changes_the_outcome_and_a_guardrail_refuses(gov: Governance) -> None:
    system = gov.create(name="Sepsis Watch")
    body = {
        "threshold": "drift.accuracy_drop_high",
        "value": 0.2,
        "event_type": "model_drift",
        "justification": "Validated against 2025 cohort; 15% drops are seasonal.",
    }
    starter = gov.request("POST", "/api/v1/engine/threshold-overrides", body)
    assert starter.status_code == 402
    assert starter.get_json()["upgrade_required"] is True

    gov.subscribe("professional")
    created = gov.request("POST", "/api/v1/engine/threshold-overrides", body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["default"] == 0.1
    gov.report(drift(system["id"], 0.12))
    gov.translate()
    [manage] = rows(gov, "/api/v1/violations", control_id="MANAGE-4.1")
    # Above the medium threshold, no longer above the raised high one.
    assert (manage["type"], manage["severity"]) == ("threshold_exceeded", "medium")

    phi = gov.request(
        "POST",
        "/api/v1/engine/threshold-overrides",
        {**body, "event_type": "phi_exposure"},
    )
    assert phi.status_code == 422
    assert phi.get_json()["errors"][0]["field"] == "event_type"
    out_of_range = gov.request("POST", "/api/v1/engine/threshold-overrides", {**body, "value": 0.9})
    assert out_of_range.status_code == 422
    mandatory = gov.request(
        "POST",
        "/api/v1/engine/control-toggles",
        {"control_id": "164.402", "justification": "We report breaches by hand."},
    )
    assert mandatory.status_code == 422
    assert "mandatory" in mandatory.get_json()["errors"][0]["message"]

    # A control turned off yields no violation; turned back on, it does again.
    off = gov.request(
        "POST",
        "/api/v1/engine/control-toggles",
        {"control_id": "MANAGE-4.1", "justification": "Covered by our own drift review board."},
    )
    assert off.status_code == 201, off.get_json()
    gov.report(drift(system["id"], 0.3))
    gov.translate()
    assert len(rows(gov, "/api/v1/violations", control_id="MANAGE-4.1")) == 1
    assert (
        gov.request("DELETE", f"/api/v1/engine/control-toggles/{off.get_json()['id']}").status_code
        == 204
    )
    gov.report(drift(system["id"], 0.3))
    gov.translate()
    # Back on, the drift counts again: on the control's one open violation, as a repeat.
    [again] = rows(gov, "/api/v1/violations", control_id="MANAGE-4.1")
    assert again["occurrences"] == 2
    changes = [e["data"] for e in gov.outbox("governance.threshold_override.changed")]
    assert [c["change"] for c in changes] == ["created"]
    assert len(gov.outbox("governance.control_toggle.changed")) == 2


def test_the_batch_answers_per_item(gov: Governance) -> None:
    system = gov.create()
    good = drift(system["id"], 0.01, run_id="run-1")
    answer = gov.report(
        good,
        {"ai_system_id": system["id"]},  # no event type
        {**good, "event_id": "mine-1"},  # same run: a duplicate
        drift(str(uuid.uuid4()), 0.2),  # nobody's system
        drift(system["id"], 0.02, event_id="mine-2", occurred_at="2020-01-01T00:00:00"),
    )
    assert answer.status_code == 202
    body = answer.get_json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
    ]
    assert body["results"][2]["id"] == body["results"][0]["id"]
    assert body["results"][1]["errors"][0]["pointer"] == "/events/1/event_type"
    assert body["results"][4]["errors"][0]["field"] == "occurred_at"  # no time zone
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 1, 3)
    repeat = gov.report(drift(system["id"], 0.5, event_id="mine-1"))
    assert repeat.get_json()["results"][0]["status"] == "accepted"
    again = gov.report(drift(system["id"], 0.5, event_id="mine-1"))
    assert again.get_json()["results"][0]["status"] == "duplicate"
    assert stored_events(gov) == 2

    too_many = gov.report(*[drift(system["id"], 0.01)] * 1001)
    assert too_many.status_code == 413
    assert too_many.get_json()["type"].endswith("batch-too-large")
    assert gov.request("POST", "/api/v1/telemetry/events", {"events": []}).status_code == 422
    assert stored_events(gov) == 2
    viewer = gov.report(drift(system["id"], 0.2), role="viewer")
    assert viewer.status_code == 403


def test_payloads_are_redacted_encrypted_and_their_reads_audited(gov: Governance) -> None:
    system = gov.create()
    gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "model_drift",
            "payload": {
                "accuracy_drop": 0.02,
                "comment": "call Jane at 555-867-5309 or jane@x.org",
            },
        }
    )
    [event] = rows(gov, "/api/v1/telemetry/events")
    assert event["metrics"]["accuracy_drop"] == 0.02
    assert event["phi_redactions"]
    with gov.runtime.database.session() as session:
        stored = session.get(TelemetryEvent, event["id"])
        assert stored is not None and stored.payload is not None
        assert "555" not in stored.payload and "accuracy" not in stored.payload
    read = gov.request("GET", f"/api/v1/telemetry/events/{event['id']}/payload")
    assert read.status_code == 200
    payload = read.get_json()["payload"]
    assert payload["accuracy_drop"] == 0.02
    assert "555-867-5309" not in payload["comment"] and "jane@x.org" not in payload["comment"]
    [audit] = gov.outbox("governance.telemetry.payload_read")
    assert audit["data"]["telemetry_event_id"] == event["id"]
    assert (
        gov.request(
            "GET", f"/api/v1/telemetry/events/{event['id']}/payload", role="viewer"
        ).status_code
        == 403
    )


def test_alerts_deduplicate_within_the_hour_and_record_response_times(gov: Governance) -> None:
    system = gov.create(name="Sepsis Watch", risk_level="high")
    gov.report(drift(system["id"], 0.12))
    gov.translate()
    gov.report(drift(system["id"], 0.13))
    gov.translate()
    [alert] = rows(gov, "/api/v1/alerts")
    assert alert["occurrences"] == 2
    assert len(gov.outbox("governance.alert.raised")) == 1
    assert (
        gov.request("POST", f"/api/v1/alerts/{alert['id']}/resolve", role="viewer").status_code
        == 403
    )
    acked = gov.request("POST", f"/api/v1/alerts/{alert['id']}/acknowledge", role="analyst")
    assert acked.status_code == 200 and acked.get_json()["status"] == "acknowledged"
    assert gov.request("POST", f"/api/v1/alerts/{alert['id']}/acknowledge").status_code == 409
    resolved = gov.request("POST", f"/api/v1/alerts/{alert['id']}/resolve")
    assert resolved.get_json()["response_time_seconds"] is not None
    assert gov.request("POST", f"/api/v1/alerts/{alert['id']}/dismiss").status_code == 409
    assert [e["type"] for e in gov.outbox("governance.alert.resolved")] == [
        "governance.alert.resolved"
    ]


def test_an_unacknowledged_alert_breaches_its_sla(gov: Governance) -> None:
    from spectral_governance.alerts.models import Alert
    from spectral_governance.alerts.use_cases import watch_sla

    system = gov.create(risk_level="high")
    gov.report({"ai_system_id": system["id"], "event_type": "prompt_injection_attempt"})
    gov.translate()
    [alert] = rows(gov, "/api/v1/alerts")
    assert watch_sla(gov.runtime) == 0
    with gov.runtime.database.session() as session:
        row = session.get(Alert, alert["id"])
        assert row is not None
        row.ack_due_at = datetime.now(UTC) - timedelta(seconds=1)
    assert watch_sla(gov.runtime) == 1
    assert watch_sla(gov.runtime) == 0
    [breach] = gov.outbox("governance.alert.sla_breached")
    assert breach["data"]["alert_id"] == alert["id"]
    assert rows(gov, "/api/v1/alerts")[0]["sla_breached"] is True


def test_the_sla_table_is_configurable_within_reason(gov: Governance) -> None:
    assert gov.request("GET", "/api/v1/alerts/settings").get_json()["sla_minutes"] == {
        "critical": 15,
        "high": 240,
        "medium": 1440,
        "low": 4320,
    }
    refused = gov.request(
        "PUT",
        "/api/v1/alerts/settings",
        {"sla_minutes": {"critical": 600, "high": 60, "medium": 1440, "low": 4320}},
    )
    assert refused.status_code == 422
    set_ = gov.request(
        "PUT",
        "/api/v1/alerts/settings",
        {"sla_minutes": {"critical": 5}, "slack_webhook_url": "https://hooks.slack.com/T/B/x"},
    )
    assert set_.status_code == 200, set_.get_json()
    assert set_.get_json() == {
        "slack_webhook_set": True,
        "sla_minutes": {"critical": 5, "high": 240, "medium": 1440, "low": 4320},
    }
    assert (
        gov.request("PUT", "/api/v1/alerts/settings", {}, role="compliance_officer").status_code
        == 403
    )
    [changed] = gov.outbox("governance.alert_settings.updated")
    assert "hooks.slack" not in str(changed)


def test_actions_move_forward_only_and_show_when_overdue(gov: Governance) -> None:
    system = gov.create(risk_level="high")
    gov.report(drift(system["id"], 0.12))
    gov.translate()
    actions = rows(gov, "/api/v1/actions", ai_system_id=system["id"])
    manual = next(a for a in actions if not a["automated"])
    assert manual["status"] == "pending" and manual["overdue"] is False
    path = f"/api/v1/actions/{manual['id']}"
    assert (
        gov.request(
            "PATCH", path, {"status": "in_progress", "notes": "On it."}, role="analyst"
        ).status_code
        == 200
    )
    done = gov.request("PATCH", path, {"status": "completed"})
    assert done.get_json()["status"] == "completed" and done.get_json()["completed_by"]
    back = gov.request("PATCH", path, {"status": "pending"})
    assert back.status_code == 409
    assert "completed" in back.get_json()["detail"]
    stranger = gov.request("PATCH", path, {"assigned_user_id": str(uuid.uuid4())})
    assert stranger.status_code == 404


def test_nothing_crosses_organizations(gov: Governance) -> None:
    system = gov.create(risk_level="high")
    gov.report(drift(system["id"], 0.3))
    gov.translate()
    other = str(uuid.uuid4())
    [event] = rows(gov, "/api/v1/telemetry/events")
    [violation, *_] = rows(gov, "/api/v1/violations")
    [alert] = rows(gov, "/api/v1/alerts")
    [action, *_] = rows(gov, "/api/v1/actions")
    for path in (
        f"/api/v1/telemetry/events/{event['id']}",
        f"/api/v1/telemetry/events/{event['id']}/payload",
        f"/api/v1/violations/{violation['id']}",
        f"/api/v1/alerts/{alert['id']}",
        f"/api/v1/actions/{action['id']}",
    ):
        assert gov.request("GET", path, organization=other).status_code == 404, path
    assert (
        gov.request(
            "POST", f"/api/v1/alerts/{alert['id']}/acknowledge", organization=other
        ).status_code
        == 404
    )
    assert (
        gov.request(
            "POST",
            f"/api/v1/violations/{violation['id']}/resolve",
            {"note": "not mine"},
            organization=other,
        ).status_code
        == 404
    )
    for path in (
        "/api/v1/telemetry/events",
        "/api/v1/violations",
        "/api/v1/alerts",
        "/api/v1/actions",
    ):
        assert rows(gov, path, organization=other) == [], path
    foreign = gov.report(drift(system["id"], 0.3), organization=other)
    assert foreign.get_json()["results"][0]["status"] == "rejected"
    assert (
        gov.request(
            "POST", f"/api/v1/ai-systems/{system['id']}/webhook-secret", organization=other
        ).status_code
        == 404
    )


def test_alerts_reach_slack_and_a_failed_post_is_retried(gov: Governance) -> None:
    """A fake Slack incoming webhook gets the alert; while it fails, the message waits."""
    from spectral_governance.alerts.use_cases import set_alert_settings
    from spectral_governance.db import bus
    from spectral_shared.component import Runtime
    from spectral_shared.delivery import DeliveryPolicy, SlackSender, deliver_due
    from spectral_shared.identity import Identity
    from spectral_shared.outbound import OutboundPolicy
    from spectral_shared.testing.fakes import FakeApiHandler, serve_http

    received: list[Any] = []
    failing = {"on": True}

    class Slack(FakeApiHandler):
        def do_POST(self) -> None:
            if failing["on"]:
                self.answer(500, {"ok": False})
            else:
                received.append(self.read_json())
                self.answer(200)

    system = gov.create(name="Sepsis Watch", risk_level="high")
    admin = Identity("user", gov.user, gov.organization, "admin")
    # What OUTBOUND_ALLOW_PRIVATE=127.0.0.1 gives: the fake Slack listens on loopback.
    local = gov.runtime.__dict__["outbound"] = OutboundPolicy.parse("127.0.0.1")
    with serve_http(Slack) as url:
        set_alert_settings(
            gov.runtime,
            admin,
            slack_webhook_url=f"{url}/services/T/B/x",
            sla_minutes=None,
            fields={"slack_webhook_url"},
        )
        gov.report(drift(system["id"], 0.12))
        gov.translate()
        deliveries = bus.deliveries

        def deliver(runtime: Runtime) -> int:
            """The relay's delivery job, for Slack alone (the alert's e-mail waits)."""
            return deliver_due(
                runtime.database,
                runtime.component.tables,
                runtime.cipher,
                {"slack": SlackSender(local)},
                policy=DeliveryPolicy(local),
            )

        assert deliver(gov.runtime) == 0
        with gov.runtime.database.session() as session:
            [note] = session.execute(
                select(deliveries).where(deliveries.c.channel == "slack")
            ).all()
            assert note.attempts == 1 and note.sent_at is None
            assert "services/T/B" not in note.target  # stored encrypted
            session.execute(
                deliveries.update()
                .where(deliveries.c.seq == note.seq)
                .values(available_at=datetime.now(UTC))
            )
        failing["on"] = False
        assert deliver(gov.runtime) == 1
    [message] = received
    assert "Sepsis Watch" in message["text"] and "HIGH" in message["text"]


def test_two_workers_translating_the_same_events_do_not_double_them(pg_gov: Governance) -> None:
    """Worker replicas given the same batch (a redelivery racing the original): one translates,
    the other waits for the organization's lock and finds nothing left, with no deadlock."""
    import threading

    from spectral_governance.translation.use_cases import translate_events

    gov = pg_gov
    systems = [gov.create(name=f"Ward {n}", risk_level="high")["id"] for n in range(3)]
    answer = gov.report(*[drift(s, 0.12) for s in systems for _ in range(20)])
    ids = [r["id"] for r in answer.get_json()["results"]]
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def work(order: list[str]) -> None:
        barrier.wait()
        with gov.runtime.database.session() as session:
            counts.append(translate_events(session, gov.runtime.cipher, order))

    threads = [
        threading.Thread(target=work, args=(ids,)),
        threading.Thread(target=work, args=(list(reversed(ids)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(counts) == [0, 60]
    # One open violation per system and control, every event counted on it exactly once.
    found = rows(gov, "/api/v1/violations", control_id="MANAGE-4.1", limit=200)
    assert sorted(v["ai_system_id"] for v in found) == sorted(systems)
    assert [v["occurrences"] for v in found] == [20, 20, 20]
    assert len(rows(gov, "/api/v1/alerts")) == 3  # one per system, repeats counted on it


def test_metrics_are_checked_against_their_unit_and_times_against_the_calendar(
    gov: Governance,
) -> None:
    """accuracy_drop 12 (meant as 12 points) was read as a 1,200% drop; "12%" was dropped
    silently; a year-0001 time was accepted. Each is refused on its own, pointing at the field;
    the batch's good events still go in."""
    system = gov.create(name="Sepsis Watch", risk_level="high")
    answer = gov.report(
        drift(system["id"], 12),
        {**drift(system["id"], 0.12), "payload": {"accuracy_drop": "12%"}},
        {**drift(system["id"], 0.12), "payload": {"accuracy_drop": -0.1}},
        {
            "ai_system_id": system["id"],
            "event_type": "phi_exposure",
            "payload": {"phi_count": 2.5},
        },
        drift(system["id"], 0.12, occurred_at="0001-01-01T00:00:00Z"),
        drift(system["id"], 0.12),
    ).get_json()
    results = answer["results"]
    assert [r["status"] for r in results] == ["rejected"] * 5 + ["accepted"]
    assert results[0]["errors"] == [
        {
            "field": "payload.accuracy_drop",
            "pointer": "/events/0/payload/accuracy_drop",
            "code": "metric_out_of_range",
            "message": "must be a fraction of 1: 0.12 is a 12-point drop; got 12",
        }
    ]
    assert results[1]["errors"][0]["pointer"] == "/events/1/payload/accuracy_drop"
    assert "12%" not in results[1]["errors"][0]["message"]  # text is never quoted back
    assert results[2]["errors"][0]["pointer"] == "/events/2/payload/accuracy_drop"
    assert results[3]["errors"][0]["pointer"] == "/events/3/payload/phi_count"
    assert results[4]["errors"][0]["pointer"] == "/events/4/occurred_at"
    assert "plausible" in results[4]["errors"][0]["message"]
    with gov.runtime.database.session() as session:
        assert session.scalar(select(func.count()).select_from(TelemetryEvent)) == 1


def test_resolving_a_violation_cancels_its_automated_actions_that_have_not_run(
    gov: Governance,
) -> None:
    """A violation resolved as a false positive must not be escalated afterwards: its pending
    automated actions are cancelled with the reason; the executor finds nothing of it to do."""
    gov.member("ciso@hospital.example", role="admin", personas=("ciso",))
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    gov.report({"ai_system_id": system["id"], "event_type": "phi_exposure"})
    gov.translate()
    violation = next(v for v in rows(gov, "/api/v1/violations") if v["control_id"] == "164.402")
    pending = rows(gov, "/api/v1/actions", violation_id=violation["id"], status="pending")
    automated = {a["id"] for a in pending if a["automated"]}
    assert automated, pending
    resolved = gov.request(
        "POST", f"/api/v1/violations/{violation['id']}/resolve", {"note": "A false positive."}
    )
    assert resolved.status_code == 200
    after = {a["id"]: a for a in rows(gov, "/api/v1/actions", violation_id=violation["id"])}
    for action_id in automated:
        assert after[action_id]["status"] == "cancelled"
        assert after[action_id]["details"]["cancelled_because"] == "Its violation was resolved"
    # The people's own actions stay with them.
    assert all(a["status"] == "pending" for a in after.values() if a["id"] not in automated)
    from spectral_governance.actions import executor

    executor.run_due_actions(gov.runtime)
    assert not [
        a for a in rows(gov, "/api/v1/actions", violation_id=violation["id"], status="completed")
    ]


def test_the_note_given_on_resolving_an_alert_is_kept_without_phi(gov: Governance) -> None:
    system = gov.create(name="Sepsis Watch", risk_level="high")
    gov.report(drift(system["id"], 0.12))
    gov.translate()
    [alert] = rows(gov, "/api/v1/alerts")
    refused = gov.request("POST", f"/api/v1/alerts/{alert['id']}/resolve", {"reason": "x"})
    assert refused.status_code == 422  # the body is a note or nothing
    note = "Retrained; patient MRN 00481234 was in the eval set, removed."
    resolved = gov.request("POST", f"/api/v1/alerts/{alert['id']}/resolve", {"note": note})
    assert resolved.status_code == 200, resolved.get_json()
    kept = resolved.get_json()["note"]
    assert kept.startswith("Retrained;") and "00481234" not in kept
    assert gov.request("GET", f"/api/v1/alerts/{alert['id']}").get_json()["note"] == kept


def _posture(gov: Governance, system_id: str) -> tuple[str, int]:
    body = gov.request("GET", f"/api/v1/ai-systems/{system_id}").get_json()
    return body["compliance_posture"], body["risk_score"]


def test_posture_and_risk_follow_the_findings_and_the_inventory_lists_by_them(
    gov: Governance,
) -> None:
    """Issue 17: compliance_posture stayed ok with four critical open violations. Benign telemetry,
    however much of it, moves nothing."""
    gov.event(
        "auth.organization.updated",
        {"organization_id": gov.organization, "changes": {"state": {"from": None, "to": "CA"}}},
    )
    exposed = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    quiet = gov.create(name="Bed Forecast", department="Operations")
    gov.report(
        *(
            {"ai_system_id": quiet["id"], "event_type": "latency", "severity": "low"}
            for _ in range(60)
        )
    )
    gov.report({"ai_system_id": exposed["id"], "event_type": "phi_exposure"})
    gov.translate()
    posture, score = _posture(gov, exposed["id"])
    assert posture == "critical" and score >= 30
    assert _posture(gov, quiet["id"]) == ("ok", 0)
    [changed] = gov.outbox("governance.ai_system.posture_changed")
    assert (changed["data"]["from_posture"], changed["data"]["to_posture"]) == ("ok", "critical")

    listed = gov.request("GET", "/api/v1/ai-systems", query_string={"posture": "critical"})
    assert [s["id"] for s in listed.get_json()["data"]] == [exposed["id"]]
    by_risk = gov.request(
        "GET", "/api/v1/ai-systems", query_string={"sort": "-risk_score", "limit": 1}
    ).get_json()
    assert by_risk["data"][0]["id"] == exposed["id"]
    rest = gov.request(
        "GET",
        "/api/v1/ai-systems",
        query_string={"sort": "-risk_score", "limit": 1, "cursor": by_risk["next_cursor"]},
    ).get_json()
    assert [s["id"] for s in rest["data"]] == [quiet["id"]]

    # Resolving every violation leaves only the day's critical alert: still drift, not critical.
    for violation in rows(gov, "/api/v1/violations", ai_system_id=exposed["id"]):
        gov.request("POST", f"/api/v1/violations/{violation['id']}/resolve", {"note": "Done."})
    assert _posture(gov, exposed["id"]) == ("drift", 10)

    # A day later the alert has aged out: the worker's job brings the system back to ok.
    from spectral_governance.alerts.models import Alert
    from spectral_governance.inventory import posture

    with gov.runtime.database.session() as session:
        session.execute(update(Alert).values(last_seen_at=datetime.now(UTC) - timedelta(days=2)))
    assert posture.refresh_scored_systems(gov.runtime) == 1
    assert _posture(gov, exposed["id"]) == ("ok", 0)
