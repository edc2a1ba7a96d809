"""The control registry and a system's applicable controls over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

import spectral_governance
from spectral_governance.catalog import Catalog, content_sha256, load_catalog
from spectral_governance.catalog.models import CatalogRelease, ControlRow
from spectral_governance.catalog.sync import sync_catalog
from spectral_governance.controls.models import ControlStatus
from spectral_governance.testing import Governance

BASE = "/api/v1/ai-systems"
MIGRATIONS = Path(spectral_governance.__file__).parent / "migrations" / "versions"


def test_frameworks_match_the_catalog_files(gov: Governance) -> None:
    catalog = load_catalog()
    response = gov.request("GET", "/api/v1/frameworks", role="viewer")
    assert response.status_code == 200
    body = response.get_json()
    assert body["catalog_version"] == catalog.version
    counts = {f["id"]: f["control_count"] for f in body["data"]}
    assert counts == {f.framework.id: len(f.controls) for f in catalog.frameworks}
    assert counts["NIST_AI_RMF"] == 72 and counts["ISO_42001"] == 38
    with gov.runtime.database.session() as session:
        release = session.get(CatalogRelease, catalog.version)
        assert release is not None and release.sha256 == content_sha256()
        total = session.scalar(select(func.count()).select_from(ControlRow))
    assert total == len(catalog.controls)


def test_paging_through_a_framework(gov: Governance) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 25}
        if cursor:
            params["cursor"] = cursor
        page = gov.request(
            "GET", "/api/v1/frameworks/NIST_AI_RMF/controls", query_string=params
        ).get_json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [c.id for c in load_catalog().framework("NIST_AI_RMF").controls]  # type: ignore[union-attr]
    assert seen[0] == "GOVERN-1.1"
    critical = gov.request(
        "GET", "/api/v1/frameworks/HIPAA/controls", query_string={"severity": "critical"}
    ).get_json()["data"]
    assert critical and {c["severity"] for c in critical} == {"critical"}
    assert gov.request("GET", "/api/v1/frameworks/GDPR/controls").status_code == 404


def test_one_control_by_id_or_alias(gov: Governance) -> None:
    audit = gov.request("GET", "/api/v1/controls/164.312(b)").get_json()
    assert audit["framework_id"] == "HIPAA" and "udit" in audit["title"]
    assert audit["required_evidence"]
    aliased = gov.request("GET", "/api/v1/controls/FDA-CV-1")
    assert aliased.status_code == 200
    assert aliased.get_json()["id"] == "FDA-CLINICAL-VALIDATION"
    assert "FDA-CV-1" in aliased.get_json()["aliases"]
    missing = gov.request("GET", "/api/v1/controls/NOPE-1")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_a_systems_controls_say_why(gov: Governance) -> None:
    gov.event(
        "auth.organization.updated",
        {"organization_id": gov.organization, "changes": {"state": {"from": None, "to": "CA"}}},
    )
    system = gov.create(risk_level="high")  # Emergency, PHI, in a California organization
    response = gov.request("GET", f"{BASE}/{system['id']}/controls", query_string={"limit": 500})
    assert response.status_code == 200
    body = response.get_json()
    frameworks = {f["framework_id"]: f for f in body["frameworks"]}
    assert frameworks["HIPAA"]["applies"] and frameworks["HIPAA"]["applicable_controls"] == 72
    assert frameworks["CA_SB1047"]["reason"] == (
        "the organization is in California and the system is high risk; not law (vetoed "
        "2024-09-29), so a recommended practice only"
    )
    assert not frameworks["NYC_LL144"]["applies"]
    ids = [c["control_id"] for c in body["data"]]
    assert "164.402" in ids and "CA-BREACH" in ids and "GOVERN-1.1" in ids
    assert {c["status"] for c in body["data"]} == {"not_assessed"}
    only_hipaa = gov.request(
        "GET", f"{BASE}/{system['id']}/controls", query_string={"framework": "HIPAA", "limit": 10}
    ).get_json()
    assert {c["framework_id"] for c in only_hipaa["data"]} == {"HIPAA"}
    assert only_hipaa["next_cursor"]
    rest = gov.request(
        "GET",
        f"{BASE}/{system['id']}/controls",
        query_string={"framework": "HIPAA", "limit": 100, "cursor": only_hipaa["next_cursor"]},
    ).get_json()
    assert len(only_hipaa["data"]) + len(rest["data"]) == 72 and rest["next_cursor"] is None


def test_setting_a_controls_status(gov: Governance) -> None:
    system = gov.create()
    path = f"{BASE}/{system['id']}/controls"
    done = gov.request(
        "PUT", f"{path}/164.312(b)", {"status": "compliant"}, role="compliance_officer"
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "compliant"
    assert done.get_json()["assessed_by"] == f"user:{gov.user}"
    listed = gov.request("GET", path, query_string={"status": "compliant"}).get_json()["data"]
    assert [c["control_id"] for c in listed] == ["164.312(b)"]

    needs_reason = gov.request("PUT", f"{path}/GOVERN-1.1", {"status": "not_applicable"})
    assert needs_reason.status_code == 422
    waived = gov.request(
        "PUT",
        f"{path}/GOVERN-1.1",
        {"status": "not_applicable", "reason": "Covered by the enterprise AI policy"},
    )
    assert waived.get_json()["status_reason"] == "Covered by the enterprise AI policy"
    cleared = gov.request("PUT", f"{path}/164.312(b)", {"status": "not_assessed"})
    assert cleared.get_json()["status"] == "not_assessed"

    events = gov.outbox("governance.control_status.changed")
    assert [
        (e["data"]["control_id"], e["data"]["from_status"], e["data"]["to_status"]) for e in events
    ] == [
        ("164.312(b)", "not_assessed", "compliant"),
        ("GOVERN-1.1", "not_assessed", "not_applicable"),
        ("164.312(b)", "compliant", "not_assessed"),
    ]
    assert events[0]["data"]["framework_id"] == "HIPAA"
    assert events[0]["data"]["ai_system_name"] == system["name"]


def test_refused_assessments_change_nothing(gov: Governance) -> None:
    system = gov.create(uses_phi=False)
    path = f"{BASE}/{system['id']}/controls"
    no_phi = gov.request("PUT", f"{path}/164.312(b)", {"status": "compliant"})
    assert no_phi.status_code == 409
    assert "does not use PHI" in no_phi.get_json()["detail"]
    assert gov.request("PUT", f"{path}/NOPE-1", {"status": "compliant"}).status_code == 404
    assert gov.request("PUT", f"{path}/GOVERN-1.1", {"status": "done"}).status_code == 422
    assert (
        gov.request(
            "PUT", f"{path}/GOVERN-1.1", {"status": "compliant"}, role="analyst"
        ).status_code
        == 403
    )
    other = gov.request(
        "PUT", f"{path}/GOVERN-1.1", {"status": "compliant"}, organization=str(uuid.uuid4())
    )
    assert other.status_code == 404
    assert gov.outbox("governance.control_status.changed") == []


def test_an_alias_sets_the_control_it_names(gov: Governance) -> None:
    system = gov.create(
        name="PathAI Diagnostic",
        department="Pathology",
        category="pathology",
        fda_status="cleared_510k",
        fda_submission_number="K000103",
        vendor_name="PathAI",
    )
    done = gov.request(
        "PUT", f"{BASE}/{system['id']}/controls/FDA-CV-1", {"status": "non_compliant"}
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["control_id"] == "FDA-CLINICAL-VALIDATION"


def test_loading_the_catalog_again_changes_nothing(gov: Governance) -> None:
    with gov.runtime.database.engine.begin() as connection:
        assert sync_catalog(connection, at_least=1) == load_catalog().version
    with gov.runtime.database.session() as session:
        assert session.scalar(select(func.count()).select_from(CatalogRelease)) == 1


def test_a_new_catalog_version_retires_what_it_drops(gov: Governance) -> None:
    system = gov.create()
    path = f"{BASE}/{system['id']}/controls/GOVERN-1.1"
    assert gov.request("PUT", path, {"status": "compliant"}).status_code == 200
    current = load_catalog()
    nist = current.framework("NIST_AI_RMF")
    assert nist is not None
    trimmed = nist.model_copy(
        update={"controls": [c for c in nist.controls if c.id != "GOVERN-1.1"]}
    )
    release = current.changelog[-1].model_copy(update={"version": current.version + 1})
    newer = Catalog(
        version=current.version + 1,
        frameworks=tuple(trimmed if f is nist else f for f in current.frameworks),
        aliases=current.aliases,
        changelog=(*current.changelog, release),
    )
    with gov.runtime.database.engine.begin() as connection:
        assert sync_catalog(connection, at_least=newer.version, catalog=newer) == newer.version
    retired = gov.request("GET", "/api/v1/controls/GOVERN-1.1").get_json()
    assert retired["retired_in"] == newer.version  # still readable, marked retired
    listed = gov.request(
        "GET", "/api/v1/frameworks/NIST_AI_RMF/controls", query_string={"limit": 5}
    )
    assert "GOVERN-1.1" not in [c["id"] for c in listed.get_json()["data"]]
    with gov.runtime.database.session() as session:
        assert session.get(ControlStatus, (system["id"], "GOVERN-1.1")) is not None


def test_every_catalog_version_has_its_migration() -> None:
    versions = [
        int(match.group(1))
        for path in (MIGRATIONS).glob("*.py")
        if (match := re.search(r"^CATALOG_VERSION = (\d+)$", path.read_text(), re.MULTILINE))
    ]
    catalog = load_catalog()
    assert max(versions) == catalog.version, "add a migration that loads the new catalog version"
    assert sorted(versions) == [entry.version for entry in catalog.changelog]


def test_the_frameworks_say_their_legal_standing(gov: Governance) -> None:
    listed = gov.request("GET", "/api/v1/frameworks").get_json()["data"]
    by_id = {f["id"]: f for f in listed}
    assert (by_id["CA_SB1047"]["status"], by_id["CA_SB1047"]["status_date"]) == (
        "vetoed",
        "2024-09-29",
    )
    assert by_id["CO_AI_ACT"]["status"] == "repealed"
    assert by_id["NIST_AI_RMF"]["status"] == "voluntary"
    assert by_id["NYC_LL144"]["jurisdiction"] == "US-NY-NYC"
    assert (by_id["TX_TRAIGA"]["status"], by_id["TX_TRAIGA"]["effective_date"]) == (
        "in_force",
        "2026-01-01",
    )
    assert all(f["status_note"] for f in listed)
