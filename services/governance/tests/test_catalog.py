"""The control catalog (``spectral_governance/catalog/data``) against the regulatory reference data.

The catalog files are written by us; these tests prove they are faithful to the reference data
vendored in ``tests/reference`` (a byte-for-byte copy of the shared regulatory reference files):
every HIPAA standard and implementation specification, every NIST AI RMF subcategory, every
ISO/IEC 42001 Annex A control and every FDA check is there exactly once, with the reference's
Required/Addressable flags and deadlines, and every control id a rule or guardrail names
resolves (docs/domain.md#the-control-registry). Counts come from the reference files, not from this module.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from spectral_governance.catalog import (
    FRAMEWORK_FILES,
    Control,
    Framework,
    FrameworkFile,
    content_sha256,
    load_catalog,
)

HERE = Path(__file__).resolve().parent
VENDORED = HERE / "reference"
REPO = HERE.parents[2]
SHARED = REPO.parent / "shared" / "reference"
DATA = HERE.parent / "spectral_governance" / "catalog" / "data"

HIPAA_REF = "hipaa-security-rule.yaml"
NIST_REF = "nist-ai-rmf-1.0.yaml"
ISO_REF = "iso-iec-42001-2023-annex-a.yaml"
FDA_REF = "fda-ai-device.yaml"
REFERENCE_FILES = (HIPAA_REF, NIST_REF, ISO_REF, FDA_REF)
# The shared reference files the catalog was checked against, by content: a changed copy fails
# here even where the shared folder is not beside the checkout (CI's fresh clone).
REFERENCE_SHA256 = {
    HIPAA_REF: "7d38773a00a6ada65d4e5019f826491a13a925f96fb2d9585afee3d22f61170b",
    NIST_REF: "a63e8271c13c88ea2abb3a23820116fb40cb3fbf724e32de1f2c12b4a5ec3aab",
    ISO_REF: "f799540c78a1971b9fc2c447fff5aac81182d9eb68a35d5b4b7ec142e643f9f6",
    FDA_REF: "a5c7fcf49bfe85b4f624de5eed4d877e16f66a07dfd97f3a50a7504084424380",
}

BUMP = "bump the catalog version: changelog entry + migration"


# --- helpers ------------------------------------------------------------------------------------


@cache
def reference(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((VENDORED / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def items(name: str) -> list[dict[str, Any]]:
    return list(reference(name)["items"])


def item_index(name: str) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in items(name)}


def root(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """The top-level item (section, function, group) an item sits under."""
    index = item_index(name)
    while item["parent"] is not None:
        item = index[item["parent"]]
    return item


def framework(framework_id: str) -> FrameworkFile:
    found = load_catalog().framework(framework_id)
    assert found is not None, f"framework {framework_id} is missing from the catalog"
    return found


def controls(framework_id: str) -> list[Control]:
    return list(framework(framework_id).controls)


def by_reference(framework_id: str) -> dict[str, Control]:
    """Our controls keyed by the reference id they stand for (reference_id, else our id)."""
    return {c.reference_id or c.id: c for c in controls(framework_id)}


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


# --- version and files --------------------------------------------------------------------------


def test_catalog_version_is_the_last_changelog_entry_and_its_sha256() -> None:
    catalog = load_catalog()
    versions = [entry.version for entry in catalog.changelog]
    assert versions == list(range(1, len(versions) + 1)), (
        f"changelog versions must run 1, 2, 3 ... in order, got {versions}"
    )
    last = catalog.changelog[-1]
    assert catalog.version == last.version, (
        f"catalog.yaml says version {catalog.version} but its last changelog entry is "
        f"version {last.version}: {BUMP}"
    )
    actual = content_sha256()
    assert actual == last.sha256, (
        f"the framework files changed after catalog version {last.version} was recorded "
        f"(sha256 now {actual}, changelog says {last.sha256}): {BUMP}"
    )


def test_every_framework_file_loads_once_with_its_reference() -> None:
    catalog = load_catalog()
    ids = [f.framework.id for f in catalog.frameworks]
    assert len(ids) == len(FRAMEWORK_FILES)
    assert ids == [
        "HIPAA",
        "NIST_AI_RMF",
        "ISO_42001",
        "FDA_SAMD",
        "CA_SB1047",
        "CA_BREACH",
        "CO_AI_ACT",
        "NYC_LL144",
        "CA_AB3030",
        "CA_HSC_1280_15",
        "TX_TRAIGA",
        "TX_SB1188",
        "UT_AI_POLICY",
    ]
    expected_reference = {
        "HIPAA": HIPAA_REF,
        "NIST_AI_RMF": NIST_REF,
        "ISO_42001": ISO_REF,
        "FDA_SAMD": FDA_REF,
    }
    for file in catalog.frameworks:
        fw = file.framework
        if fw.id in expected_reference:
            ref_id = reference(expected_reference[fw.id])["catalog"]["id"]
            assert fw.reference == ref_id, f"{fw.id} names reference {fw.reference}, not {ref_id}"
        else:
            assert fw.reference is None, f"{fw.id} has no reference file, yet names {fw.reference}"


# --- HIPAA --------------------------------------------------------------------------------------


def hipaa_security_items(kind: str) -> list[dict[str, Any]]:
    """Reference items of a kind under the Security Rule sections (164.308-164.316).

    A section belongs to the Security Rule when the reference tags it ``security-rule``; the
    Breach Notification Rule's standards (164.404 ...) sit under 164.400-414 and are not counted.
    """
    return [
        i
        for i in items(HIPAA_REF)
        if i["kind"] == kind and "security-rule" in root(HIPAA_REF, i).get("tags", [])
    ]


def hipaa_our_id(ref_id: str) -> str:
    """Our id of a reference item: a standard with implementation specifications drops a
    trailing ``(i)`` (reference 164.308(a)(1)(i) is the standard 164.308(a)(1))."""
    item = item_index(HIPAA_REF)[ref_id]
    has_specs = any(
        i["parent"] == ref_id
        for i in items(HIPAA_REF)
        if i["kind"] == "implementation_specification"
    )
    if item["kind"] == "standard" and has_specs and ref_id.endswith("(i)"):
        return ref_id.removesuffix("(i)")
    return ref_id


def test_hipaa_has_exactly_the_reference_standards() -> None:
    ref = hipaa_security_items("standard")
    counts = reference(HIPAA_REF)["catalog"]["counts"]["security_rule_standards"]
    assert len(ref) == counts["total"] == 22, (
        f"the reference lists {len(ref)} Security Rule standards, its header says {counts['total']}"
    )
    ours = [c for c in controls("HIPAA") if c.kind == "standard"]
    assert sorted(c.reference_id or c.id for c in ours) == sorted(i["id"] for i in ref), (
        "HIPAA standards differ from the reference's 164.308-164.316 standards"
    )
    mapped = by_reference("HIPAA")
    for item in ref:
        control = mapped[item["id"]]
        expected = hipaa_our_id(item["id"])
        assert control.id == expected, (
            f"reference standard {item['id']} should be our {expected} (the regulation's "
            f"citation), found {control.id}"
        )
        assert control.reference_id == (item["id"] if expected != item["id"] else None), (
            f"{control.id}: reference_id must be set exactly when our id differs from the reference's"
        )


def test_hipaa_has_exactly_the_reference_implementation_specifications() -> None:
    ref = hipaa_security_items("implementation_specification")
    counts = reference(HIPAA_REF)["catalog"]["counts"]["implementation_specifications"]
    assert len(ref) == counts["total"] == 43, (
        f"the reference lists {len(ref)} implementation specifications, header says {counts['total']}"
    )
    flags = Counter(i["requirement"] for i in ref)
    assert flags == {"required": counts["required"], "addressable": counts["addressable"]}
    ours = [c for c in controls("HIPAA") if c.kind == "implementation_specification"]
    assert sorted(c.id for c in ours) == sorted(i["id"] for i in ref), (
        "HIPAA implementation specifications differ from the reference"
    )
    mapped = {c.id: c for c in ours}
    for item in ref:
        control = mapped[item["id"]]
        assert control.reference_id is None, (
            f"{control.id}: same id as the reference, no reference_id"
        )
        assert control.requirement == item["requirement"], (
            f"{control.id} is {item['requirement']} in the reference, {control.requirement} here"
        )
        assert control.parent == hipaa_our_id(item["parent"]), (
            f"{control.id} belongs to standard {hipaa_our_id(item['parent'])}, not {control.parent}"
        )
    assert all(
        c.requirement is None for c in controls("HIPAA") if c.kind != "implementation_specification"
    ), "only implementation specifications carry required/addressable"


HIPAA_BREACH = {  # our id -> reference id
    "164.402": "164.402(breach)",
    "164.404": "164.404",
    "164.406": "164.406",
    "164.408": "164.408",
    "164.410": "164.410",
    "164.412": "164.412",
    "164.414": "164.414",
}


def reference_max_days(name: str, ref_id: str) -> int | None:
    """The largest ``timeline.max_days`` on an item or its direct children."""
    days = [
        i["timeline"]["max_days"]
        for i in items(name)
        if (i["id"] == ref_id or i["parent"] == ref_id) and "max_days" in i.get("timeline", {})
    ]
    return max(days) if days else None


def test_hipaa_breach_notification_sections() -> None:
    ours = {c.id: c for c in controls("HIPAA") if c.kind == "breach_notification"}
    assert set(ours) == set(HIPAA_BREACH), "the 7 breach notification sections, and only they"
    index = item_index(HIPAA_REF)
    for our_id, ref_id in HIPAA_BREACH.items():
        control = ours[our_id]
        assert ref_id in index, f"{ref_id} is not in the reference"
        assert (control.reference_id or control.id) == ref_id
        assert control.category == "Breach notification"
    # 164.402's 60 days come from its mapping rule (the individual-notice clock it starts); the others
    # are the reference's timelines.
    assert ours["164.402"].reporting_deadline_days == 60
    for our_id in ("164.404", "164.406", "164.408", "164.410"):
        days = reference_max_days(HIPAA_REF, our_id)
        assert days == 60, f"reference timeline for {our_id}: {days}"
        assert ours[our_id].reporting_deadline_days == days, (
            f"{our_id}: reporting deadline {ours[our_id].reporting_deadline_days}, reference {days}"
        )
    for our_id in ("164.412", "164.414"):
        assert ours[our_id].reporting_deadline_days is None, f"{our_id} sets no reporting deadline"


@pytest.mark.parametrize(
    ("control_id", "word"),
    [
        ("164.312(b)", "audit"),
        ("164.312(c)(1)", "integrity"),
        ("164.312(d)", "authentication"),
        ("164.312(e)(1)", "transmission"),
    ],
)
def test_hipaa_technical_safeguard_ids_follow_the_regulation(control_id: str, word: str) -> None:
    """docs/domain.md#decision-7-controls: the reference product's catalog shifted these titles by one."""
    found = load_catalog().control(control_id)
    assert found is not None, f"{control_id} is missing"
    _, control = found
    assert word in control.title.lower(), f"{control_id} is the {word} standard: {control.title!r}"
    assert word in item_index(HIPAA_REF)[control_id]["title"].lower()


def test_hipaa_categories_follow_the_sections() -> None:
    expected = {
        "164.308": "Administrative safeguards",
        "164.310": "Physical safeguards",
        "164.312": "Technical safeguards",
        "164.314": "Organizational requirements",
        "164.316": "Policies, procedures and documentation",
    }
    for control in controls("HIPAA"):
        if control.kind == "breach_notification":
            continue
        section = root(HIPAA_REF, item_index(HIPAA_REF)[control.reference_id or control.id])["id"]
        assert control.category == expected[section], f"{control.id}: {control.category}"


# --- NIST AI RMF --------------------------------------------------------------------------------


def test_nist_has_exactly_the_72_subcategories() -> None:
    ref = [i for i in items(NIST_REF) if i["kind"] == "subcategory"]
    ours = controls("NIST_AI_RMF")
    assert [c.id for c in ours] == [i["id"].replace(" ", "-") for i in ref], (
        "NIST subcategories must be the reference's, dashed, in the reference's order"
    )
    header = reference(NIST_REF)["catalog"]["counts"]["subcategories"]
    per_function = Counter(i["id"].split()[0] for i in ref)
    assert per_function == {k: v for k, v in header.items() if k != "total"}
    assert per_function == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}
    assert Counter(c.id.split("-")[0] for c in ours) == per_function
    assert len(ours) == header["total"] == 72
    for control, item in zip(ours, ref, strict=True):
        assert control.kind == "subcategory"
        assert control.reference_id == item["id"]
        assert control.parent is None
        assert control.description == item["text"], (
            f"{control.id}: the description quotes NIST's statement word for word"
        )
        assert control.category.startswith(f"{item['parent']} - "), (
            f"{control.id}: category must name NIST category {item['parent']}, got {control.category!r}"
        )


# --- ISO/IEC 42001 ------------------------------------------------------------------------------


def test_iso_42001_has_exactly_the_annex_a_controls_in_our_own_words() -> None:
    ref = [i for i in items(ISO_REF) if i["kind"] == "control"]
    header = reference(ISO_REF)["catalog"]["counts"]
    ours = controls("ISO_42001")
    assert [c.id for c in ours] == [i["id"] for i in ref], "ISO controls: the reference's ids"
    assert len(ours) == header["controls"] == 38
    reference_titles = {norm(i["title"]) for i in items(ISO_REF)}
    for control in ours:
        assert control.kind == "control"
        assert control.reference_id is None
        assert norm(control.title) not in reference_titles, (
            f"{control.id}: title {control.title!r} repeats the reference's; write our own"
        )
        assert norm(control.description) not in reference_titles, (
            f"{control.id}: description repeats a reference title; write our own"
        )
    groups: dict[str, set[str]] = {}
    for control, item in zip(ours, ref, strict=True):
        groups.setdefault(root(ISO_REF, item)["id"], set()).add(control.category)
    assert all(len(c) == 1 for c in groups.values()), f"one category per Annex A group: {groups}"
    assert len(groups) == header["control_groups"] == 9


# --- FDA ----------------------------------------------------------------------------------------

FDA_ADDITIONS = {
    "FDA-PREMARKET-AUTHORIZATION",
    "FDA-CLINICAL-VALIDATION",
    "FDA-ANALYTICAL-VALIDATION",
    "FDA-SOFTWARE-VALIDATION",
}


def test_fda_has_every_reference_check_once() -> None:
    ref = [i for i in items(FDA_REF) if i["kind"] == "check"]
    index = item_index(FDA_REF)
    ours = controls("FDA_SAMD")
    seen = Counter(c.reference_id for c in ours if c.reference_id)
    missing = sorted(i["id"] for i in ref if seen[i["id"]] == 0)
    assert not missing, f"FDA checks missing: {missing}"
    twice = sorted(ref_id for ref_id, n in seen.items() if n > 1)
    assert not twice, f"FDA checks present more than once: {twice}"
    assert set(seen) == {i["id"] for i in ref}, "every reference_id names a reference check"
    mapped = {c.reference_id: c for c in ours if c.reference_id}
    for item in ref:
        control = mapped[item["id"]]
        parent = index[item["parent"]]
        assert control.id == "FDA-" + item["id"]
        assert control.kind == "check"
        assert control.parent == ("FDA-" + parent["id"] if parent["kind"] == "check" else None), (
            f"{control.id}: parent {control.parent}"
        )
        if item.get("verify"):
            assert "verify" in control.tags, f"{control.id}: the reference marks it verify"


def test_fda_additions_are_tagged_and_sourced() -> None:
    ours = [c for c in controls("FDA_SAMD") if c.reference_id is None]
    assert {c.id for c in ours} == FDA_ADDITIONS
    for control in ours:
        assert "spectral-addition" in control.tags, f"{control.id} is ours: tag spectral-addition"
        assert "Source:" in control.description, f"{control.id}: name the source it rests on"


def test_fda_deadlines_follow_the_reference_timelines() -> None:
    mapped = {c.reference_id: c for c in controls("FDA_SAMD") if c.reference_id}
    for item in items(FDA_REF):
        if item["kind"] != "check":
            continue
        control = mapped[item["id"]]
        timeline = item.get("timeline", {})
        days = timeline.get("max_days")
        assert control.reporting_deadline_days == days, (
            f"{control.id}: reference deadline {days} days, catalog {control.reporting_deadline_days}"
        )
        work_days = "work" in str(timeline.get("unit", ""))
        assert ("work-days" in control.tags) == work_days, (
            f"{control.id}: tag work-days exactly when the reference counts work days"
        )
    assert mapped["MDR.UF.death"].reporting_deadline_days == 10
    assert mapped["MDR.MFR.30day"].reporting_deadline_days == 30


def test_fda_categories_follow_the_reference_groups() -> None:
    index = item_index(FDA_REF)
    categories: dict[str, set[str]] = {}
    for control in controls("FDA_SAMD"):
        if control.reference_id:
            group = root(FDA_REF, index[control.reference_id])["id"]
            categories.setdefault(group, set()).add(control.category)
    assert all(len(c) == 1 for c in categories.values()), f"one category per group: {categories}"
    assert len({next(iter(c)) for c in categories.values()}) == len(categories)


# --- state and local law ------------------------------------------------------------------------

# docs/domain.md#state-law (CA-BREACH: the mapping), then the statutes of catalog version 3:
# id -> (framework, jurisdiction, reporting days)
STATE_RULES: dict[str, tuple[str, str, int | None]] = {
    "CA-SB1047-1": ("CA_SB1047", "US-CA", 30),
    "CA-SB1047-2": ("CA_SB1047", "US-CA", 10),
    "CA-BREACH": ("CA_BREACH", "US-CA", 30),
    "CO-AI-1": ("CO_AI_ACT", "US-CO", 60),
    "CO-AI-2": ("CO_AI_ACT", "US-CO", None),
    "NYC-LL144-1": ("NYC_LL144", "US-NY-NYC", 90),
    "NYC-LL144-2": ("NYC_LL144", "US-NY-NYC", None),
    "CA-AB3030-1": ("CA_AB3030", "US-CA", None),
    "CA-HSC-1280.15": ("CA_HSC_1280_15", "US-CA", 15),  # business days (deadline rule)
    "TX-TRAIGA-1": ("TX_TRAIGA", "US-TX", None),
    "TX-SB1188-1": ("TX_SB1188", "US-TX", None),
    "TX-SB1188-2": ("TX_SB1188", "US-TX", None),
    "TX-SB1188-3": ("TX_SB1188", "US-TX", None),
    "UT-AIPA-1": ("UT_AI_POLICY", "US-UT", None),
}
# The first day each state or local framework binds; None: it never did.
STATE_EFFECTIVE: dict[str, date | None] = {
    "CA_SB1047": None,
    "CA_BREACH": date(2003, 7, 1),
    "CO_AI_ACT": None,
    "NYC_LL144": date(2023, 7, 5),
    "CA_AB3030": date(2025, 1, 1),
    "CA_HSC_1280_15": date(2015, 1, 1),
    "TX_TRAIGA": date(2026, 1, 1),
    "TX_SB1188": date(2025, 9, 1),
    "UT_AI_POLICY": date(2024, 5, 1),
}


@pytest.mark.parametrize("control_id", sorted(STATE_RULES))
def test_state_rules_keep_domain_ids_and_deadlines(control_id: str) -> None:
    framework_id, jurisdiction, days = STATE_RULES[control_id]
    found = load_catalog().control(control_id)
    assert found is not None, f"{control_id} is missing"
    fw, control = found
    assert (fw.id, fw.jurisdiction) == (framework_id, jurisdiction)
    assert control.kind == "state_rule"
    assert control.reporting_deadline_days == days, (
        f"{control_id}: docs/domain.md#state-law says {days} days, catalog {control.reporting_deadline_days}"
    )
    assert fw.effective_date == STATE_EFFECTIVE[fw.id]


@pytest.mark.parametrize("framework_id", ["CA_SB1047", "CO_AI_ACT"])
def test_rules_without_legal_force_say_so(framework_id: str) -> None:
    """SB 1047 was vetoed; Colorado's SB 24-205 never took effect: flagged for verification."""
    for control in controls(framework_id):
        assert "verify" in control.tags, f"{control.id}: tag verify (legal status differs)"
        assert "Spectral rule" in control.description, (
            f"{control.id}: say the rule follows Spectral's domain model"
        )
    assert "vetoed" in controls("CA_SB1047")[0].description
    assert "never took effect" in framework("CO_AI_ACT").framework.description
    fw = framework(framework_id).framework
    assert not fw.binding and fw.effective_date is None, f"{fw.id} never took effect"
    assert fw.status == {"CA_SB1047": "vetoed", "CO_AI_ACT": "repealed"}[framework_id]


# --- legal status -------------------------------------------------------------------------------

# framework -> (status, effective_date, status_date, end_date)
LEGAL_STATUS: dict[str, tuple[str, date | None, date | None, date | None]] = {
    "HIPAA": ("in_force", date(2005, 4, 20), None, None),
    "NIST_AI_RMF": ("voluntary", date(2023, 1, 26), None, None),
    "ISO_42001": ("voluntary", None, None, None),
    "FDA_SAMD": ("in_force", date(1996, 7, 31), None, None),
    "CA_SB1047": ("vetoed", None, date(2024, 9, 29), None),
    "CA_BREACH": ("in_force", date(2003, 7, 1), None, None),
    "CO_AI_ACT": ("repealed", None, date(2026, 5, 14), None),
    "NYC_LL144": ("in_force", date(2023, 7, 5), None, None),
    "CA_AB3030": ("in_force", date(2025, 1, 1), None, None),
    "CA_HSC_1280_15": ("in_force", date(2015, 1, 1), None, None),
    "TX_TRAIGA": ("in_force", date(2026, 1, 1), None, None),
    "TX_SB1188": ("in_force", date(2025, 9, 1), None, None),
    # SB 332's 1 July 2027 repeal names Title 13, Chapter 72 (the Office of AI Policy), not the
    # disclosure duty: no end date (see ut_ai_policy.yaml).
    "UT_AI_POLICY": ("in_force", date(2024, 5, 1), None, None),
}


def test_every_framework_states_its_legal_standing() -> None:
    catalog = load_catalog()
    assert {f.framework.id for f in catalog.frameworks} == set(LEGAL_STATUS)
    for file in catalog.frameworks:
        fw = file.framework
        assert (fw.status, fw.effective_date, fw.status_date, fw.end_date) == LEGAL_STATUS[fw.id]
        assert fw.status_note.strip(), f"{fw.id}: say its legal standing in status_note"
        assert fw.binding == (fw.status == "in_force")
    assert "never law" in framework("CA_SB1047").framework.status_note
    assert "SB 26-189" in framework("CO_AI_ACT").framework.status_note
    assert "1 January 2027" in framework("CO_AI_ACT").framework.status_note
    assert "23 September 2009" in framework("HIPAA").framework.status_note
    assert "recommendations" in framework("FDA_SAMD").framework.status_note
    assert "five-business-day" in framework("CA_HSC_1280_15").framework.status_note


@pytest.mark.parametrize(
    ("framework_id", "on", "binds"),
    [
        ("CA_SB1047", date(2024, 1, 1), False),
        ("CA_SB1047", date(2026, 6, 1), False),
        ("CO_AI_ACT", date(2026, 6, 30), False),
        ("CO_AI_ACT", date(2027, 1, 1), False),
        ("NIST_AI_RMF", date(2026, 6, 1), False),
        ("ISO_42001", date(2026, 6, 1), False),
        ("NYC_LL144", date(2023, 7, 4), False),
        ("NYC_LL144", date(2023, 7, 5), True),
        ("UT_AI_POLICY", date(2024, 4, 30), False),
        ("UT_AI_POLICY", date(2024, 5, 1), True),
        ("UT_AI_POLICY", date(2027, 6, 30), True),
        ("UT_AI_POLICY", date(2027, 7, 1), True),
        ("TX_TRAIGA", date(2025, 12, 31), False),
        ("TX_TRAIGA", date(2026, 1, 1), True),
        ("TX_SB1188", date(2025, 8, 31), False),
        ("TX_SB1188", date(2025, 9, 1), True),
        ("CA_AB3030", date(2024, 12, 31), False),
        ("CA_AB3030", date(2025, 1, 1), True),
        ("CA_HSC_1280_15", date(2014, 12, 31), False),
        ("CA_HSC_1280_15", date(2015, 1, 1), True),
        ("CA_BREACH", date(2026, 1, 1), True),
        ("HIPAA", date(2005, 4, 19), False),
        ("HIPAA", date(2026, 1, 1), True),
        ("FDA_SAMD", date(2026, 1, 1), True),
    ],
)
def test_in_force_on_a_day(framework_id: str, on: date, binds: bool) -> None:
    assert framework(framework_id).framework.in_force(on) is binds


def _framework(**fields: Any) -> Framework:
    base: dict[str, Any] = {
        "id": "TEST_LAW",
        "name": "A test law",
        "issuer": "A legislature",
        "citation": "Test Code 1",
        "jurisdiction": "US-CA",
        "description": "A law for the tests.",
        "status": "in_force",
        "effective_date": date(2025, 1, 1),
        "status_note": "In force since 1 January 2025.",
    }
    return Framework.model_validate(base | fields)


def test_end_date_is_exclusive() -> None:
    law = _framework(end_date=date(2027, 7, 1))
    assert law.in_force(date(2025, 1, 1))
    assert law.in_force(date(2027, 6, 30))
    assert not law.in_force(date(2027, 7, 1))
    assert not law.in_force(date(2024, 12, 31))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"effective_date": None}, "needs its effective_date"),
        ({"status": "vetoed", "effective_date": None}, "needs its status_date"),
        ({"status": "repealed"}, "needs its status_date"),
        ({"status": "proposed", "effective_date": None}, "needs its status_date"),
        ({"end_date": date(2025, 1, 1)}, "not after effective_date"),
        ({"end_date": date(2024, 6, 1)}, "not after effective_date"),
        ({"status_note": " "}, "status_note"),
        ({"status": "enacted"}, "status"),
    ],
)
def test_legal_status_is_checked(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _framework(**fields)


def test_status_is_required_in_every_file() -> None:
    with pytest.raises(ValueError, match="status"):
        Framework.model_validate(
            {
                "id": "TEST_LAW",
                "name": "A test law",
                "issuer": "A legislature",
                "citation": "Test Code 1",
                "jurisdiction": "US",
                "description": "A law for the tests.",
                "status_note": "Unknown.",
            }
        )
    assert _framework(status="vetoed", effective_date=None, status_date=date(2024, 9, 29))


# --- the 2025-2026 state statutes ---------------------------------------------------------------

# framework -> (citation fragments, control ids)
NEW_STATUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "CA_AB3030": (("Health & Safety Code 1339.75", "AB 3030", "ch. 848"), ("CA-AB3030-1",)),
    "CA_HSC_1280_15": (("Health & Safety Code 1280.15",), ("CA-HSC-1280.15",)),
    "TX_TRAIGA": (
        ("HB 149", "89th Leg.", "Bus. & Com. Code Title 11, Subtitle D"),
        ("TX-TRAIGA-1",),
    ),
    "TX_SB1188": (
        ("SB 1188", "89th Leg.", "Health & Safety Code ch. 183"),
        ("TX-SB1188-1", "TX-SB1188-2", "TX-SB1188-3"),
    ),
    "UT_AI_POLICY": (("SB 149", "SB 226", "SB 332"), ("UT-AIPA-1",)),
}


@pytest.mark.parametrize("framework_id", sorted(NEW_STATUTES))
def test_new_statutes_are_sourced_and_in_force(framework_id: str) -> None:
    fragments, control_ids = NEW_STATUTES[framework_id]
    file = framework(framework_id)
    fw = file.framework
    for fragment in fragments:
        assert fragment in fw.citation, f"{fw.id}: citation {fw.citation!r} lacks {fragment!r}"
    assert fw.reference is None and fw.binding
    assert [c.id for c in file.controls] == list(control_ids)
    for control in file.controls:
        assert control.kind == "state_rule" and "state-law" in control.tags
        assert "Spectral rule" not in control.description, f"{control.id}: the law's own duty"
    source = next(
        text
        for text in (p.read_text(encoding="utf-8") for p in DATA.glob("*.yaml"))
        if f"\n  id: {fw.id}\n" in text
    )
    comment = source.split("\nframework:")[0]
    assert "No reference file covers this framework" in comment
    assert "written from the statute" in comment and "Verify against" in comment


def test_new_statute_details() -> None:
    """The points of each statute a compliance officer asks about, as the files state them."""
    ab3030 = controls("CA_AB3030")[0].description
    for point in ("disclaimer", "human health care provider", "read and reviewed", "audio"):
        assert point in ab3030, f"CA-AB3030-1 should mention {point!r}"
    hsc = controls("CA_HSC_1280_15")[0]
    assert hsc.reporting_deadline_days == 15
    assert "business days" in hsc.description and "ca.hs_1280_15" in hsc.description
    assert "California Department of Public Health" in hsc.description
    traiga = controls("TX_TRAIGA")[0].description
    assert "552.051(f)" in traiga and "emergency" in traiga and "60-day" in traiga
    sb1188 = {c.id: c.description for c in controls("TX_SB1188")}
    assert "Texas Medical Board" in sb1188["TX-SB1188-1"]
    assert "discloses" in sb1188["TX-SB1188-2"]
    assert "1 January 2026" in sb1188["TX-SB1188-3"]
    utah = controls("UT_AI_POLICY")[0]
    assert "high-risk" in utah.description and "7 May 2025" in utah.description
    assert "verify" in utah.tags, "UT-AIPA-1: its end date needs verifying"
    assert all(
        c.reporting_deadline_days is None
        for fid in ("CA_AB3030", "TX_TRAIGA", "TX_SB1188", "UT_AI_POLICY")
        for c in controls(fid)
    ), "these statutes set no fixed reporting deadline"


# --- every id a rule or guardrail names resolves ------------------------------------------------

# (id as the rule names it, our framework, where: mapping, state law, actions, reference seed)
RULE_CONTROL_IDS: tuple[tuple[str, str, str], ...] = (
    ("164.402", "HIPAA", "mapping phi_exposure, reference seed, actions"),
    ("164.308(a)(1)(ii)(D)", "HIPAA", "mapping phi_exposure, reference seed"),
    ("CA-BREACH", "CA_BREACH", "mapping phi_exposure (CA), actions"),
    ("164.308(a)(4)", "HIPAA", "mapping unauthorized_data_access"),
    ("GOVERN-5.1", "NIST_AI_RMF", "mapping prompt_injection_attempt"),
    ("164.312(d)", "HIPAA", "mapping authentication_failure"),
    ("164.312(b)", "HIPAA", "mapping rate_limit/drift/latency, reference seed, actions"),
    ("MANAGE-4.2", "NIST_AI_RMF", "mapping input_validation_failure, data_quality_degradation"),
    ("FDA-PCCP-1", "FDA_SAMD", "mapping model_version_mismatch"),
    ("MANAGE-4.1", "NIST_AI_RMF", "mapping model_drift, reference seed, actions"),
    ("FDA-PCCP-2", "FDA_SAMD", "mapping model_drift/error, reference seed, actions"),
    ("FDA-CV-1", "FDA_SAMD", "mapping clinical_accuracy_failure"),
    ("FDA-AV-1", "FDA_SAMD", "mapping false_negative/false_positive_alert"),
    ("CA-SB1047-1", "CA_SB1047", "state law"),
    ("CA-SB1047-2", "CA_SB1047", "mapping harmful_output, state law"),
    ("MEASURE-2.1", "NIST_AI_RMF", "mapping bias family, actions"),
    ("NYC-BIAS", "NYC_LL144", "mapping bias family (employment), actions"),
    ("NYC-LL144-1", "NYC_LL144", "mapping explainability_failure (employment), state law"),
    ("NYC-LL144-2", "NYC_LL144", "state law"),
    ("MEASURE-2.3", "NIST_AI_RMF", "mapping explainability_failure"),
    ("MANAGE-1.1", "NIST_AI_RMF", "mapping error (legacy), actions"),
    ("MANAGE-1.3", "NIST_AI_RMF", "reference seed bias_detected"),
    ("CO-AI-1", "CO_AI_ACT", "state law"),
    ("CO-AI-2", "CO_AI_ACT", "state law"),
    ("164.312(a)(1)", "HIPAA", "reference seed unauthorized_data_access"),
    ("FDA-CLINICAL-VALIDATION", "FDA_SAMD", "reference seed clinical_accuracy_failure"),
)

# docs/domain.md#customization-and-guardrails: controls no organization may switch off
GUARDRAIL_IDS: tuple[tuple[str, str], ...] = (
    ("164.308(a)(1)", "HIPAA"),
    ("164.308(a)(3)", "HIPAA"),
    ("164.308(a)(4)", "HIPAA"),
    ("164.308(a)(6)", "HIPAA"),
    ("164.310(a)(1)", "HIPAA"),
    ("164.312(a)(1)", "HIPAA"),
    ("164.312(a)(2)(iv)", "HIPAA"),
    ("164.312(b)", "HIPAA"),
    ("164.312(c)(1)", "HIPAA"),
    ("164.312(d)", "HIPAA"),
    ("164.312(e)(1)", "HIPAA"),
    ("164.402", "HIPAA"),
    ("164.404", "HIPAA"),
    ("164.408", "HIPAA"),
    ("GOVERN-1.1", "NIST_AI_RMF"),
    ("GOVERN-1.2", "NIST_AI_RMF"),
    ("MAP-1.1", "NIST_AI_RMF"),
    ("MEASURE-2.1", "NIST_AI_RMF"),
    ("MANAGE-1.1", "NIST_AI_RMF"),
    ("samd-510k", "FDA_SAMD"),
    ("samd-clinical-validation", "FDA_SAMD"),
    ("samd-software-validation", "FDA_SAMD"),
    ("samd-adverse-event-reporting", "FDA_SAMD"),
)


@pytest.mark.parametrize(
    ("control_id", "framework_id", "section"),
    RULE_CONTROL_IDS,
    ids=[row[0] for row in RULE_CONTROL_IDS],
)
def test_every_rule_control_id_resolves(control_id: str, framework_id: str, section: str) -> None:
    found = load_catalog().control(control_id)
    assert found is not None, (
        f"{section} names {control_id}; it is neither a control id nor an alias"
    )
    assert found[0].id == framework_id, f"{control_id} resolves into {found[0].id}"


@pytest.mark.parametrize(
    ("control_id", "framework_id"), GUARDRAIL_IDS, ids=[row[0] for row in GUARDRAIL_IDS]
)
def test_every_guardrail_resolves(control_id: str, framework_id: str) -> None:
    found = load_catalog().control(control_id)
    assert found is not None, f"guardrail {control_id} does not resolve"
    fw, control = found
    assert fw.id == framework_id, f"{control_id} resolves into {fw.id}"
    assert "guardrail" in control.tags, f"{control.id} (guardrail {control_id}): tag guardrail"


def test_only_the_domain_guardrails_are_tagged_guardrail() -> None:
    catalog = load_catalog()
    expected = {catalog.resolve(control_id) for control_id, _ in GUARDRAIL_IDS}
    tagged = {cid for cid, (_, c) in catalog.controls.items() if "guardrail" in c.tags}
    assert tagged == expected


def test_aliases_follow_decision_7() -> None:
    assert load_catalog().aliases == {
        "FDA-CV-1": "FDA-CLINICAL-VALIDATION",
        "FDA-AV-1": "FDA-ANALYTICAL-VALIDATION",
        "FDA-PCCP-1": "FDA-PCCP.6",
        "FDA-PCCP-2": "FDA-PMS.GMLP10",
        "samd-510k": "FDA-PREMARKET-AUTHORIZATION",
        "samd-clinical-validation": "FDA-CLINICAL-VALIDATION",
        "samd-software-validation": "FDA-SOFTWARE-VALIDATION",
        "samd-adverse-event-reporting": "FDA-MDR.procedures",
        "NYC-BIAS": "NYC-LL144-1",
    }


# --- the vendored reference copy ----------------------------------------------------------------


def test_vendored_reference_is_the_shared_reference() -> None:
    for name in REFERENCE_FILES:
        vendored = (VENDORED / name).read_bytes()
        assert hashlib.sha256(vendored).hexdigest() == REFERENCE_SHA256[name], (
            f"tests/reference/{name} changed: copy the shared file unchanged, check the catalog "
            "against it, then record its SHA-256 here"
        )
        if SHARED.is_dir():  # beside a developer's checkout: the shared folder itself
            assert vendored == (SHARED / name).read_bytes(), (
                f"tests/reference/{name} differs from {SHARED / name}: the shared reference "
                "data changed; vendor the new file and check the catalog against it"
            )


# --- every control ------------------------------------------------------------------------------


def test_every_control_has_evidence_and_a_linked_parent() -> None:
    catalog = load_catalog()
    for file in catalog.frameworks:
        ids = {c.id for c in file.controls}
        for control in file.controls:
            assert control.required_evidence, f"{control.id}: no required evidence"
            assert all(e.strip() for e in control.required_evidence), f"{control.id}: empty item"
            assert len(control.required_evidence) <= 4, f"{control.id}: at most 4 artefacts"
            if control.parent is not None:
                assert control.parent in ids, f"{control.id}: parent {control.parent} is missing"
    risk_analysis = catalog.control("164.308(a)(1)(ii)(A)")
    assert risk_analysis is not None
    assert risk_analysis[1].parent == "164.308(a)(1)"
    assert catalog.control("164.308(a)(1)") is not None
    data_management = catalog.control("FDA-PCCP.2.a")
    assert data_management is not None
    assert data_management[1].parent == "FDA-PCCP.2"


def test_no_placeholder_text() -> None:
    placeholder = re.compile(r"\b(todo|tbd|fixme|lorem|placeholder|xxx)\b", re.IGNORECASE)
    for cid, (_, control) in load_catalog().controls.items():
        texts = [control.title, control.description, control.category, *control.required_evidence]
        for text in texts:
            assert not placeholder.search(text), f"{cid}: placeholder text in {text!r}"
