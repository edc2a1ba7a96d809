"""CSV export and import (every row or none, errors per row), the demo seed, and what governance
learns from auth and billing events."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from spectral_governance.commands import commands
from spectral_governance.directory.models import Organization
from spectral_governance.inventory.csv_format import EXPORT_COLUMNS
from spectral_governance.inventory.demo import DEMO_SYSTEMS
from spectral_governance.testing import Governance

BASE = "/api/v1/ai-systems"
HEADER = "name,department,category,uses_phi,risk_level,serves_states,vendor_name,fda_status,fda_submission_number\n"


def upload(gov: Governance, text: str, *, dry_run: bool = False, **kw: Any) -> Any:
    return gov.client.post(
        f"{BASE}/import",
        data=text.encode(),
        headers={**gov.headers(kw.pop("role", "admin")), "Content-Type": "text/csv"},
        query_string={"dry_run": "true"} if dry_run else {},
    )


def rows_of(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_export_then_import_elsewhere_round_trips(gov: Governance) -> None:
    gov.allow(None)
    gov.create(
        name="Aidoc Stroke",
        department="Imaging",
        risk_level="high",
        serves_states=["CA", "NV"],
        fda_status="cleared_510k",
        fda_submission_number="K000102",
        vendor_name="Aidoc",
    )
    gov.create(name='=HYPERLINK("http://evil")', description="-2+3", uses_phi=False)
    exported = gov.request("GET", f"{BASE}/export", query_string={"sort": "name"})
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = rows_of(exported)
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    formula, aidoc = rows
    assert formula["name"].startswith("'=") and formula["description"] == "'-2+3"  # no formulas
    assert aidoc["serves_states"] == "CA;NV" and aidoc["monitoring_enabled"] == "true"

    elsewhere = str(uuid.uuid4())
    gov.allow(None, organization=elsewhere)
    only_aidoc = exported.get_data(as_text=True).replace(
        exported.get_data(as_text=True).splitlines()[1] + "\r\n", ""
    )
    response = gov.client.post(
        f"{BASE}/import",
        data=only_aidoc.encode(),
        headers={**gov.headers(organization=elsewhere), "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["imported"] == 1
    copy = gov.request("GET", BASE, organization=elsewhere).get_json()["data"][0]
    assert (copy["name"], copy["serves_states"], copy["fda_submission_number"]) == (
        "Aidoc Stroke",
        ["CA", "NV"],
        "K000102",
    )
    assert copy["id"] != aidoc["id"]  # an import creates; it never takes ids from the file
    [created] = [
        e for e in gov.outbox("governance.ai_system.created") if e["organization_id"] == elsewhere
    ]
    assert created["data"]["source"] == "csv_import"


def test_an_import_with_errors_imports_nothing_and_says_where(gov: Governance) -> None:
    gov.allow(None)
    gov.create(name="Already Here")
    text = HEADER + (
        "Good One,Clinical,clinical_documentation,true,medium,CA;NY,Nuance,,\n"
        "AI,Clinical,clinical_documentation,true,medium,,,,\n"
        "Bad Risk,Clinical,clinical_documentation,maybe,extreme,ZZ,,,\n"
        "already here,IT,operations,false,low,,,,\n"
        "Good One,IT,operations,false,low,,,,\n"
        "No Number,Imaging,diagnostic_imaging,true,high,,,cleared_510k,\n"
    )
    response = upload(gov, text)
    assert response.status_code == 422
    body = response.get_json()
    assert body["type"].endswith("/import-rejected")
    errors = {(e["row"], e["field"]) for e in body["errors"]}
    assert errors == {
        ("2", "name"),
        ("3", "uses_phi"),
        ("3", "risk_level"),
        ("3", "serves_states.0"),
        ("4", "name"),
        ("5", "name"),
        ("6", "fda_submission_number"),
    }
    assert "row 1" in next(e["message"] for e in body["errors"] if e["row"] == "5")
    assert [s["name"] for s in gov.request("GET", BASE).get_json()["data"]] == ["Already Here"]
    assert len(gov.outbox("governance.ai_system.created")) == 1


def test_dry_run_and_the_plan_limit(gov: Governance) -> None:
    text = HEADER + "".join(
        f"System {n},Clinical,clinical_documentation,true,medium,,,,\n" for n in range(4)
    )
    over = upload(gov, text)
    assert over.status_code == 402 and over.get_json()["upgrade_required"] is True
    assert gov.request("GET", BASE).get_json()["data"] == []
    gov.allow(10)
    rehearsal = upload(gov, text, dry_run=True)
    # The rehearsal says what the file would do: 4 systems, none of them kept.
    assert rehearsal.status_code == 200 and rehearsal.get_json() == {
        "imported": 4,
        "ids": [],
        "dry_run": True,
    }
    assert gov.request("GET", BASE).get_json()["data"] == []
    assert gov.outbox("governance.ai_system.created") == []
    done = upload(gov, text)
    assert done.status_code == 201 and done.get_json()["imported"] == 4


def test_unreadable_files_are_400_problems(gov: Governance) -> None:
    for text, words in (
        ("", "empty"),
        ("name,department\nX,Y\n", "Missing required column"),
        (HEADER.strip() + ",colour\n", "Unknown column"),
        (HEADER, "no rows"),
    ):
        response = upload(gov, text)
        assert response.status_code == 400, text
        assert words in response.get_json()["detail"]
    wrong_type = gov.client.post(
        f"{BASE}/import", data=HEADER, headers={**gov.headers(), "Content-Type": "application/json"}
    )
    assert wrong_type.status_code == 415
    binary = gov.client.post(
        f"{BASE}/import",
        data=b"\xff\xfe\x00",
        headers={**gov.headers(), "Content-Type": "text/csv"},
    )
    assert binary.status_code == 400
    assert (
        upload(gov, HEADER + "A b c,IT,operations,false,low,,,,\n", role="analyst").status_code
        == 403
    )


def test_seed_demo_adds_the_portfolio_once(gov: Governance, monkeypatch: Any) -> None:
    settings = gov.runtime.settings
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", settings.database_url_for("governance"))
    monkeypatch.setenv("VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    first = runner.invoke(commands, ["seed-demo", "--organization", gov.organization])
    assert first.exit_code == 0, first.output
    assert f"added 8 AI system(s) to organization {gov.organization}" in first.output
    systems = gov.request("GET", BASE, query_string={"sort": "name"}).get_json()["data"]
    assert sorted(s["name"] for s in systems) == sorted(d["name"] for d in DEMO_SYSTEMS)
    radiology = next(s for s in systems if s["name"] == "Radiology AI 2.1")
    assert (radiology["department"], radiology["risk_level"], radiology["compliance_posture"]) == (
        "Imaging",
        "high",
        "drift",
    )
    assert radiology["monitoring_enabled"] is True
    again = runner.invoke(commands, ["seed-demo", "--organization", gov.organization])
    assert "added 0 AI system(s)" in again.output
    bad = runner.invoke(commands, ["seed-demo", "--organization", "nope"])
    assert bad.exit_code != 0 and "not a UUID" in bad.output
    events = gov.outbox("governance.ai_system.created")
    assert len(events) == 8 and {e["data"]["source"] for e in events} == {"demo_seed"}


def test_directory_events_are_idempotent_and_order_safe(gov: Governance) -> None:
    org = gov.organization
    assert (
        gov.event(
            "auth.organization.created",
            {"organization_id": org, "name": "Mercy", "type": "health_system"},
        )
        == "handled"
    )
    gov.event(
        "auth.organization.updated",
        {"organization_id": org, "changes": {"state": {"from": None, "to": "CO"}}},
    )
    gov.allow(25)
    with gov.runtime.database.session() as session:
        row = session.scalars(select(Organization).where(Organization.id == org)).one()
        assert (row.name, row.type, row.state, row.ai_system_limit, row.plan) == (
            "Mercy",
            "health_system",
            "CO",
            25,
            "enterprise",
        )
