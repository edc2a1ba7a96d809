"""Findings a compliance officer can trust (issue 17), over HTTP on SQLite and PostgreSQL: no
finding without its trigger, one open violation per system and control, digested notifications,
contested assessments, unclassified events, and deadlines computed from the facts and the
calendar (docs/domain.md#required-actions-and-deadlines)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from spectral_governance.actions import executor
from spectral_governance.testing import Governance

EASTERN = ZoneInfo("America/New_York")


def rows(gov: Governance, path: str, **params: Any) -> list[dict[str, Any]]:
    response = gov.request("GET", path, query_string={"limit": 200, **params})
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["data"])


def drift(system_id: str, **payload: Any) -> dict[str, Any]:
    return {"ai_system_id": system_id, "event_type": "model_drift", "payload": payload}


def emails(gov: Governance) -> int:
    table = gov.runtime.component.tables.deliveries
    with gov.runtime.database.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(table).where(table.c.channel == "email")
            )
            or 0
        )


def local_due(violation: dict[str, Any]) -> date:
    due = datetime.fromisoformat(violation["reporting_deadline"])
    return due.astimezone(EASTERN).date()


def test_a_drift_under_the_thresholds_or_without_a_metric_raises_nothing(gov: Governance) -> None:
    """A 1-point drop, or a drift report with no metric, crosses no threshold: no violation (no
    HIPAA audit-control or state-law finding either), no alert, and no made-up high severity."""
    system = gov.create(name="Sepsis Watch", risk_level="high", serves_states=["CA"])
    answer = gov.report(drift(system["id"], accuracy_drop=0.01), drift(system["id"]))
    assert answer.get_json()["accepted"] == 2
    gov.translate()
    assert rows(gov, "/api/v1/violations") == []
    assert rows(gov, "/api/v1/alerts") == []
    assert {e["severity"] for e in rows(gov, "/api/v1/telemetry/events")} == {"low"}


def test_repeats_count_on_one_violation_and_multiply_nothing(gov: Governance) -> None:
    """Three identical drift reports: one open violation per control with three occurrences,
    the first report's actions only, one alert."""
    system = gov.create(name="Sepsis Watch", risk_level="high")
    gov.report(drift(system["id"], accuracy_drop=0.3))
    gov.translate()
    first = rows(gov, "/api/v1/violations", ai_system_id=system["id"])
    actions = rows(gov, "/api/v1/actions", ai_system_id=system["id"])
    assert first and actions
    for _ in range(2):
        gov.report(drift(system["id"], accuracy_drop=0.3))
    assert gov.translate() == 2

    again = rows(gov, "/api/v1/violations", ai_system_id=system["id"])
    assert sorted(v["id"] for v in again) == sorted(v["id"] for v in first)
    assert {v["occurrences"] for v in again} == {3}
    assert all(
        "accuracy dropped by 30 percentage points (AI system Sepsis Watch)" in v["description"]
        for v in again
    )
    assert all(v["last_seen_at"] > v["detected_at"] for v in again)
    assert len(rows(gov, "/api/v1/actions", ai_system_id=system["id"])) == len(actions)
    assert len(gov.outbox("governance.violation.recurred")) == 2 * len(first)
    assert len(rows(gov, "/api/v1/alerts", ai_system_id=system["id"])) == 1

    # Resolved, the next report opens a new violation.
    resolved = gov.request(
        "POST", f"/api/v1/violations/{first[0]['id']}/resolve", {"note": "Retrained."}
    )
    assert resolved.status_code == 200
    gov.report(drift(system["id"], accuracy_drop=0.3))
    gov.translate()
    reopened = rows(gov, "/api/v1/violations", control_id=first[0]["control_id"], status="open")
    assert [v["occurrences"] for v in reopened] == [1]
    assert reopened[0]["id"] != first[0]["id"]


def test_people_get_one_digest_per_system_not_one_mail_per_action(gov: Governance) -> None:
    """A PHI exposure, a drift and a disparity plan several automated notifications and
    escalations on one system. Nobody holds the personas they are addressed to, so all go to
    the one admin: in one e-mail listing them all, with a link."""
    gov.member("admin@hospital.example", role="admin")
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    gov.report(
        {"ai_system_id": system["id"], "event_type": "phi_exposure", "severity": "critical"},
        drift(system["id"], accuracy_drop=0.3),
        {
            "ai_system_id": system["id"],
            "event_type": "disparate_impact",
            "payload": {"impact_ratio": 0.5},
        },
    )
    gov.translate()
    actions = rows(gov, "/api/v1/actions", ai_system_id=system["id"])
    automated = [
        a for a in actions if a["automated"] and a["action_type"] in ("notify", "escalate")
    ]
    assert len(automated) >= 2, actions
    before = emails(gov)
    assert executor.run_due_actions(gov.runtime) == len(automated)
    done = rows(gov, "/api/v1/actions", ai_system_id=system["id"], status="completed")
    assert {a["id"] for a in done} == {a["id"] for a in automated}
    assert all(a["details"]["execution"]["digest"] for a in done)
    # One digest for the actions, one for the escalation alert they raised (an alert is told
    # once per escalation step).
    assert emails(gov) - before == 2
    assert {a["details"]["execution"]["emailed"] for a in done} == {1}
    escalated = {
        a["details"]["execution"].get("escalation_alert_id")
        for a in done
        if a["action_type"] == "escalate"
    }
    assert len(escalated) <= 1
    assert executor.run_due_actions(gov.runtime) == 0


def test_a_finding_contradicting_an_assessment_records_both(gov: Governance) -> None:
    system = gov.create(name="Sepsis Watch", risk_level="high")
    assessed = gov.request(
        "PUT",
        f"/api/v1/ai-systems/{system['id']}/controls/MANAGE-4.1",
        {"status": "compliant", "reason": "Reviewed by the model risk committee."},
    )
    assert assessed.status_code == 200, assessed.get_json()
    gov.report(drift(system["id"], accuracy_drop=0.3))
    gov.translate()
    [violation] = rows(gov, "/api/v1/violations", control_id="MANAGE-4.1")
    controls = rows(gov, f"/api/v1/ai-systems/{system['id']}/controls")
    control = next(c for c in controls if c["control_id"] == "MANAGE-4.1")
    assert (control["status"], control["status_source"]) == ("compliant", "user")
    assert control["contested_by"] == violation["id"]
    [contested] = gov.outbox("governance.control_assessment.contested")
    assert contested["data"]["violation_id"] == violation["id"]
    # Assessed again, the person has decided: no longer contested.
    again = gov.request(
        "PUT",
        f"/api/v1/ai-systems/{system['id']}/controls/MANAGE-4.1",
        {"status": "non_compliant", "reason": "Confirmed by the drift review."},
    )
    assert again.status_code == 200
    assert again.get_json()["contested_by"] is None


def test_an_unknown_event_type_is_kept_as_unclassified_and_said_so(gov: Governance) -> None:
    system = gov.create(name="Sepsis Watch")
    answer = gov.report({"ai_system_id": system["id"], "event_type": "quarterly_pizza_party"})
    assert answer.status_code == 202
    [result] = answer.get_json()["results"]
    assert result["status"] == "accepted"
    [warning] = result["warnings"]
    assert warning["code"] == "unclassified"
    assert warning["pointer"] == "/events/0/event_type"
    assert "model_drift" in warning["known_types"] and "phi_exposure" in warning["known_types"]
    gov.translate()
    [event] = rows(gov, "/api/v1/telemetry/events")
    assert (event["canonical_type"], event["confidence"]) == ("unclassified", 0)
    assert event["translated_at"] is not None
    assert rows(gov, "/api/v1/violations") == []


def test_disparate_impact_follows_the_four_fifths_rule(gov: Governance) -> None:
    system = gov.create(name="Readmission Risk", risk_level="high")

    def impact(ratio: float) -> list[str]:
        gov.report(
            {
                "ai_system_id": system["id"],
                "event_type": "disparate_impact",
                "payload": {"impact_ratio": ratio, "protected_class": "race"},
            }
        )
        gov.translate()
        return [v["control_id"] for v in rows(gov, "/api/v1/violations", status="open")]

    assert impact(1.0) == []  # parity
    assert impact(0.85) == []  # within four-fifths
    assert impact(0.6) == ["MEASURE-2.11"]
    [violation] = rows(gov, "/api/v1/violations")
    assert violation["control_name"] == "Fairness and bias evaluation"  # the catalog title


def test_a_back_filled_breach_counts_from_when_it_happened(gov: Governance) -> None:
    """Reported weeks late, a breach's clock started when it happened (45 CFR 164.404(a)(2)):
    three people affected in New York, so individuals within 60 days and HHS within 60 days of
    the year's end; no media notice."""
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    answer = gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "phi_exposure",
            "severity": "critical",
            "occurred_at": "2026-11-02T14:00:00Z",
            "incident": {"affected_count": 3, "affected_states": {"NY": 3}},
        }
    )
    assert answer.status_code == 202, answer.get_json()
    gov.translate()
    [breach] = rows(gov, "/api/v1/violations", control_id="164.402")
    assert breach["discovered_at"].startswith("2026-11-02T14:00:00")
    parts = {o["part"]: o for o in breach["obligations"]}
    assert set(parts) == {"individuals", "hhs_annual"}
    assert parts["individuals"]["due_local"] == "2027-01-01"  # Nov 2 + 60 days
    assert parts["hhs_annual"]["due_local"] == "2027-03-01"  # Dec 31 + 60 days
    assert local_due(breach) == date(2027, 1, 1)
    [event] = rows(gov, "/api/v1/telemetry/events")
    assert event["incident"]["affected_count"] == 3


def cleared_device(gov: Governance) -> dict[str, Any]:
    """A 510(k)-cleared imaging system from a vendor: the organization is its user facility."""
    return gov.create(
        name="Chest X-ray Triage",
        department="Imaging",
        category="diagnostic_imaging",
        fda_status="cleared_510k",
        fda_submission_number="K201234",
        vendor_name="Acme Imaging",
    )


def test_a_death_on_a_device_is_an_fda_report_in_ten_work_days(gov: Governance) -> None:
    """A user facility (the vendor makes the device) learns of a death on Friday 20 November
    2026: FDA and the manufacturer within 10 work days (21 CFR 803.30), skipping the weekends and
    Thanksgiving, so 7 December, not 30 November."""
    system = cleared_device(gov)
    gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "clinical_accuracy_failure",
            "severity": "critical",
            "occurred_at": "2026-11-20T20:00:00Z",
            "incident": {"patient_harm": "death"},
        }
    )
    gov.translate()
    [mdr] = rows(gov, "/api/v1/violations", control_id="FDA-MDR.UF.death")
    assert mdr["requires_reporting"] and mdr["severity"] == "critical"
    parts = {o["part"]: o for o in mdr["obligations"]}
    assert parts["facility_death_fda"]["counting"] == "business"
    assert parts["facility_death_fda"]["due_local"] == "2026-12-07"
    assert parts["facility_death_manufacturer"]["due_local"] == "2026-12-07"
    assert parts["facility_annual"]["due_local"] == "2027-01-01"
    assert local_due(mdr) == date(2026, 12, 7)


def test_a_malfunction_is_recorded_but_not_a_mandatory_report(gov: Governance) -> None:
    system = cleared_device(gov)
    gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "clinical_accuracy_failure",
            "incident": {"patient_harm": "malfunction"},
        }
    )
    gov.translate()
    [malfunction] = rows(gov, "/api/v1/violations", control_id="FDA-MDR.UF.malfunction")
    assert not malfunction["requires_reporting"]
    assert malfunction["reporting_deadline"] is None


def test_california_breaches_before_2026_have_no_fixed_day_count(gov: Governance) -> None:
    """SB 446's 30 days apply to breaches discovered from 2026-01-01; before, "the most
    expedient time possible": an obligation without a date."""
    gov.event(
        "auth.organization.updated",
        {"organization_id": gov.organization, "changes": {"state": {"from": None, "to": "CA"}}},
    )
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "phi_exposure",
            "occurred_at": "2025-12-15T18:00:00Z",
            "incident": {"affected_count": 40, "affected_states": {"CA": 40}},
        }
    )
    gov.translate()
    [california] = rows(gov, "/api/v1/violations", control_id="CA-BREACH")
    residents = [o for o in california["obligations"] if o["recipient"] == "California residents"]
    assert residents and all(o["due"] is None and o["days"] is None for o in residents)


def test_a_repeat_that_happened_earlier_brings_the_deadline_forward(gov: Governance) -> None:
    """The same exposure reported again with an earlier time: the organization knew sooner, so
    the one open violation's clock starts then."""
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)

    def exposure(when: str) -> None:
        gov.report(
            {
                "ai_system_id": system["id"],
                "event_type": "phi_exposure",
                "occurred_at": when,
                "incident": {"affected_count": 3, "affected_states": {"NY": 3}},
            }
        )
        gov.translate()

    exposure("2026-11-20T14:00:00Z")
    [breach] = rows(gov, "/api/v1/violations", control_id="164.402")
    assert local_due(breach) == date(2027, 1, 19)
    exposure("2026-11-02T14:00:00Z")
    [breach] = rows(gov, "/api/v1/violations", control_id="164.402")
    assert breach["occurrences"] == 2
    assert local_due(breach) == date(2027, 1, 1)
    assert breach["discovered_at"].startswith("2026-11-02")
    assert {o["due_local"] for o in breach["obligations"]} >= {"2027-01-01"}
    # The actions due on the reporting deadline follow it forward.
    on_deadline = [
        a
        for a in rows(gov, "/api/v1/actions", violation_id=breach["id"])
        if a["details"].get("deadline_basis")
    ]
    assert on_deadline and {a["deadline"] for a in on_deadline} == {breach["reporting_deadline"]}
    exposure("2026-11-25T14:00:00Z")  # later: changes nothing but the count
    [breach] = rows(gov, "/api/v1/violations", control_id="164.402")
    assert (breach["occurrences"], local_due(breach)) == (3, date(2027, 1, 1))


def in_state(gov: Governance, state: str) -> None:
    gov.event(
        "auth.organization.updated",
        {"organization_id": gov.organization, "changes": {"state": {"from": None, "to": state}}},
    )


def test_a_vetoed_bill_gives_a_labelled_recommendation_an_organization_can_turn_off(
    gov: Governance,
) -> None:
    """California SB 1047 was vetoed: a drift on a high-risk California system is no "report
    within 30 days", only a low, non-reportable recommendation that says why."""
    in_state(gov, "CA")
    system = gov.create(name="Sepsis Watch", department="Emergency", risk_level="high")
    gov.report(drift(system["id"], accuracy_drop=0.3))
    gov.translate()
    found = {v["control_id"]: v for v in rows(gov, "/api/v1/violations")}
    sb1047 = found["CA-SB1047-1"]
    assert (sb1047["binding"], sb1047["requires_reporting"], sb1047["severity"]) == (
        False,
        False,
        "low",
    )
    assert sb1047["reporting_deadline"] is None and sb1047["obligations"] == []
    assert "vetoed" in sb1047["legal_standing"].lower()
    assert "vetoed" in sb1047["description"].lower()
    assert rows(gov, "/api/v1/actions", violation_id=sb1047["id"]) == []
    assert found["MANAGE-4.1"]["binding"] is True and found["MANAGE-4.1"]["legal_standing"] is None
    controls = rows(gov, f"/api/v1/ai-systems/{system['id']}/controls")
    assert next(c for c in controls if c["control_id"] == "CA-SB1047-1")["status"] != (
        "non_compliant"
    )

    assert gov.request("GET", "/api/v1/engine/settings").get_json() == {"recommendations": True}
    off = gov.request("PUT", "/api/v1/engine/settings", {"recommendations": False})
    assert off.status_code == 200, off.get_json()
    assert off.get_json() == {"recommendations": False}
    [changed] = gov.outbox("governance.engine_settings.changed")
    assert changed["data"] == {"recommendations": False}
    bad = gov.request("PUT", "/api/v1/engine/settings", {"recommendations": "nope"})
    assert bad.status_code == 422
    other = gov.create(name="Stroke Triage", department="Emergency", risk_level="high")
    gov.report(drift(other["id"], accuracy_drop=0.3))
    gov.translate()
    assert [v["control_id"] for v in rows(gov, "/api/v1/violations", ai_system_id=other["id"])] == [
        "MANAGE-4.1"
    ]


def test_new_york_citys_law_follows_the_city_not_the_state(gov: Governance) -> None:
    in_state(gov, "NY")
    city = gov.create(
        name="Nurse Hiring Screener",
        department="HR",
        category="workforce",
        serves_localities=["NYC"],
    )
    assert city["serves_localities"] == ["NYC"]
    upstate = gov.create(name="Albany Hiring Screener", department="HR", category="workforce")
    for system in (city, upstate):
        gov.report(
            {
                "ai_system_id": system["id"],
                "event_type": "bias_detected",
                "payload": {"bias_score": 0.12},
            }
        )
    gov.translate()
    in_city = {v["control_id"] for v in rows(gov, "/api/v1/violations", ai_system_id=city["id"])}
    assert "NYC-LL144-1" in in_city
    outside = {v["control_id"] for v in rows(gov, "/api/v1/violations", ai_system_id=upstate["id"])}
    assert outside and not {c for c in outside if c.startswith("NYC")}
    wrong = gov.request(
        "POST",
        "/api/v1/ai-systems",
        {
            "name": "Somewhere Screener",
            "department": "HR",
            "category": "workforce",
            "uses_phi": False,
            "risk_level": "low",
            "serves_localities": ["Gotham"],
        },
    )
    assert wrong.status_code == 422
    assert wrong.get_json()["errors"][0]["field"].startswith("serves_localities")


def test_a_california_facility_reports_unauthorized_access_in_15_business_days(
    gov: Governance,
) -> None:
    """H&S Code 1280.15: CDPH and the patient within 15 business days of detection. Detected on
    Friday 20 November 2026: Thanksgiving is skipped, so 14 December, not 5 December."""
    in_state(gov, "CA")
    system = gov.create(name="Chart Summarizer", department="Medicine", uses_phi=True)
    gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "unauthorized_data_access",
            "occurred_at": "2026-11-20T18:00:00Z",
            "incident": {"affected_count": 1, "affected_states": {"CA": 1}},
        }
    )
    gov.translate()
    [facility] = rows(gov, "/api/v1/violations", control_id="CA-HSC-1280.15")
    assert facility["binding"] and facility["requires_reporting"]
    parts = {o["recipient"]: o for o in facility["obligations"]}
    assert set(parts) == {"CDPH", "patient"}
    assert {o["counting"] for o in parts.values()} == {"business"}
    assert {o["due_local"] for o in parts.values()} == {"2026-12-14"}
    due = datetime.fromisoformat(facility["reporting_deadline"])
    assert due.astimezone(ZoneInfo("America/Los_Angeles")).date() == date(2026, 12, 14)


def test_a_metric_named_at_the_top_counts_and_is_checked_like_the_payloads(gov: Governance) -> None:
    system = gov.create(name="Sepsis Watch", risk_level="high")
    named = {"ai_system_id": system["id"], "event_type": "model_drift", "metric": "accuracy_drop"}
    answer = gov.report({**named, "metric_value": 12}, {**named, "metric_value": 0.3})
    first, second = answer.get_json()["results"]
    assert first["status"] == "rejected"
    assert first["errors"][0]["pointer"] == "/events/0/metric_value"
    assert first["errors"][0]["code"] == "metric_out_of_range"
    assert second["status"] == "accepted"
    gov.translate()
    [violation] = rows(gov, "/api/v1/violations", control_id="MANAGE-4.1")
    assert violation["severity"] == "high"


def test_no_device_report_for_a_function_that_is_no_device(gov: Governance) -> None:
    """21 CFR 803 follows the device status, not the department: a cleared cardiology device
    reports a death; an imaging scheduler recorded as not a device does not."""
    device = gov.create(
        name="ECG Arrhythmia Detector",
        department="Cardiology",
        category="clinical_decision_support",
        fda_status="cleared_510k",
        fda_submission_number="K654321",
        vendor_name="HeartCo",
    )
    scheduler = gov.create(
        name="Imaging Scheduler",
        department="Imaging",
        category="operations",
        fda_status="not_a_device",
    )
    for system in (device, scheduler):
        gov.report(
            {
                "ai_system_id": system["id"],
                "event_type": "clinical_accuracy_failure",
                "occurred_at": "2026-11-20T20:00:00Z",
                "incident": {"patient_harm": "death"},
            }
        )
    gov.translate()
    reported = {v["control_id"] for v in rows(gov, "/api/v1/violations", ai_system_id=device["id"])}
    assert "FDA-MDR.UF.death" in reported
    [mdr] = rows(gov, "/api/v1/violations", control_id="FDA-MDR.UF.death")
    [notice] = [
        a
        for a in rows(gov, "/api/v1/actions", violation_id=mdr["id"])
        if a["details"].get("deadline_basis")
    ]
    assert notice["details"]["deadline_basis"] == "law"
    assert "10 business days (21 CFR 803.30(a)(1))" in notice["description"]
    assert notice["deadline"] == mdr["reporting_deadline"]
    assert not [
        v
        for v in rows(gov, "/api/v1/violations", ai_system_id=scheduler["id"])
        if v["framework_id"] == "FDA_SAMD"
    ]


def test_a_california_breach_before_2026_is_planned_but_says_the_law_sets_no_date(
    gov: Governance,
) -> None:
    in_state(gov, "CA")
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    gov.report(
        {
            "ai_system_id": system["id"],
            "event_type": "phi_exposure",
            "occurred_at": "2025-12-20T18:00:00Z",
            "incident": {"affected_count": 10, "affected_states": {"CA": 10}},
        }
    )
    gov.translate()
    [california] = rows(gov, "/api/v1/violations", control_id="CA-BREACH")
    assert california["reporting_deadline"] is None
    on_deadline = [
        a
        for a in rows(gov, "/api/v1/actions", violation_id=california["id"])
        if a["details"].get("deadline_basis")
    ]
    assert on_deadline
    for action in on_deadline:
        assert action["details"]["deadline_basis"] == "law_without_a_date"
        assert "most expedient time" in action["description"]


def test_incident_facts_are_typed_strictly_and_pointed_at(gov: Governance) -> None:
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    base = {"ai_system_id": system["id"], "event_type": "phi_exposure"}
    answer = gov.report(
        {**base, "incident": {"affected_count": True}},
        {**base, "incident": {"remedial_action": "yes"}},
        {**base, "incident": {"affected_states": {"ZZ": 3}}},
        {**base, "incident": {"affected_count": 2, "affected_states": {"CA": 3}}},
    )
    results = answer.get_json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4
    assert results[0]["errors"][0]["pointer"] == "/events/0/incident/affected_count"
    assert results[1]["errors"][0]["pointer"] == "/events/1/incident/remedial_action"
    assert results[2]["errors"][0]["pointer"] == "/events/2/incident/affected_states/ZZ"
    assert "more than affected_count" in results[3]["errors"][0]["message"]
    unknown = gov.request(
        "GET", f"/api/v1/ai-systems/{system['id']}/controls", query_string={"framework": "BOGUS"}
    )
    assert unknown.status_code == 400  # a bad query parameter (spectral_shared.web.validation)
    assert unknown.get_json()["errors"][0]["field"] == "framework"


def test_dismissing_the_last_alert_brings_the_posture_back_at_once(gov: Governance) -> None:
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    gov.report({"ai_system_id": system["id"], "event_type": "phi_exposure", "severity": "critical"})
    gov.translate()
    for violation in rows(gov, "/api/v1/violations", ai_system_id=system["id"]):
        gov.request("POST", f"/api/v1/violations/{violation['id']}/resolve", {"note": "Contained."})
    shown = gov.request("GET", f"/api/v1/ai-systems/{system['id']}").get_json()
    assert shown["compliance_posture"] != "ok"  # the day's critical alert still counts
    [alert] = rows(gov, "/api/v1/alerts", ai_system_id=system["id"])
    assert alert["message"].startswith("PHI exposure on Discharge Summaries")
    dismissed = gov.request(
        "POST", f"/api/v1/alerts/{alert['id']}/dismiss", {"note": "A test of the integration."}
    )
    assert dismissed.status_code == 200, dismissed.get_json()
    shown = gov.request("GET", f"/api/v1/ai-systems/{system['id']}").get_json()
    assert (shown["compliance_posture"], shown["risk_score"]) == ("ok", 0)


def queued_emails(gov: Governance) -> list[dict[str, Any]]:
    """The e-mails waiting for the relay, opened as the relay opens them."""
    import json

    from spectral_shared.delivery import _open

    table = gov.runtime.component.tables.deliveries
    with gov.runtime.database.session() as session:
        rows_ = session.execute(
            select(table.c.id, table.c.target, table.c.body).where(table.c.channel == "email")
        ).all()
    return [
        {
            "to": _open(gov.runtime.cipher, target, "target", delivery_id),
            **json.loads(_open(gov.runtime.cipher, body, "body", delivery_id)),
        }
        for delivery_id, target, body in rows_
    ]


def test_an_alert_email_links_to_the_alert_and_a_digest_to_the_actions(gov: Governance) -> None:
    gov.member("admin@hospital.example", role="admin")
    system = gov.create(name="Discharge Summaries", department="Medicine", uses_phi=True)
    gov.report({"ai_system_id": system["id"], "event_type": "phi_exposure", "severity": "critical"})
    gov.translate()
    [alert] = rows(gov, "/api/v1/alerts", ai_system_id=system["id"])
    base = gov.runtime.settings.base_url.rstrip("/")
    [alert_mail] = [m for m in queued_emails(gov) if "alert" in m["subject"]]
    assert f"{base}/api/v1/alerts/{alert['id']}" in alert_mail["text"]
    executor.run_due_actions(gov.runtime)
    digests = [m for m in queued_emails(gov) if "action" in m["subject"]]
    assert digests and all(
        f"{base}/api/v1/actions?ai_system_id={system['id']}&status=pending" in m["text"]
        for m in digests
    )


def test_hipaa_follows_phi_a_phi_exposure_shows_it_an_access_does_not(gov: Governance) -> None:
    """A system recorded as using no PHI: HIPAA's controls do not apply to it, so an unauthorized
    access to it is no HIPAA breach; a PHI exposure shows it holds PHI after all, and HIPAA's
    breach notices stand."""
    screener = gov.create(
        name="Nurse Hiring Screener", department="HR", category="workforce", uses_phi=False
    )
    for event_type in ("unauthorized_data_access", "phi_exposure"):
        gov.report({"ai_system_id": screener["id"], "event_type": event_type})
    gov.translate()
    found = rows(gov, "/api/v1/violations", ai_system_id=screener["id"])
    by_event: dict[str, set[str]] = {}
    events = {e["id"]: e["canonical_type"] for e in rows(gov, "/api/v1/telemetry/events")}
    for v in found:
        by_event.setdefault(events[v["telemetry_event_id"]], set()).add(v["framework_id"])
    assert "HIPAA" not in by_event.get("unauthorized_data_access", set())
    assert "HIPAA" in by_event["phi_exposure"]
