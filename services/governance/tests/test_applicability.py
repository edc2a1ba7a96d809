"""Which frameworks and controls apply to a system, and why: the pure rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spectral_governance.catalog import load_catalog
from spectral_governance.catalog.applicability import SystemFacts, applicability
from spectral_governance.testing import CLINICAL_FACTS

CLINICAL = CLINICAL_FACTS


def verdicts(facts: SystemFacts) -> dict[str, tuple[bool, str]]:
    return {
        v.framework_id: (v.applies, v.reason)
        for v in applicability(facts, load_catalog()).frameworks
    }


def controls(facts: SystemFacts) -> dict[str, str]:
    return applicability(facts, load_catalog()).controls


def framework_ids(facts: SystemFacts) -> set[str]:
    return {fw for fw, (applies, _) in verdicts(facts).items() if applies}


def test_every_system_gets_nist_and_iso_and_phi_brings_hipaa() -> None:
    catalog = load_catalog()
    # A Texas clinical system: Texas's TRAIGA (patient care) and SB 1188 (PHI records) as well.
    assert framework_ids(CLINICAL) == {
        "HIPAA",
        "NIST_AI_RMF",
        "ISO_42001",
        "TX_TRAIGA",
        "TX_SB1188",
    }
    nowhere = replace(CLINICAL, organization_state=None)
    assert framework_ids(nowhere) == {"HIPAA", "NIST_AI_RMF", "ISO_42001"}
    applied = controls(CLINICAL)
    for fw in ("HIPAA", "NIST_AI_RMF", "ISO_42001"):
        every = {c.id for c in catalog.framework(fw).controls}  # type: ignore[union-attr]
        assert every <= set(applied), fw
    assert applied["164.312(b)"] == "the system uses PHI"
    no_phi = verdicts(replace(CLINICAL, uses_phi=False))
    assert no_phi["HIPAA"] == (False, "the system does not use PHI")
    assert "164.312(b)" not in controls(replace(CLINICAL, uses_phi=False))


def test_fda_items_follow_status_and_who_made_it() -> None:
    cleared = replace(
        CLINICAL,
        department="Imaging",
        category="diagnostic_imaging",
        fda_status="cleared_510k",
        fda_submission_number="K201234",
    )
    bought = controls(cleared)
    assert "FDA_SAMD" in framework_ids(cleared)
    assert "510(k) K201234" in verdicts(cleared)["FDA_SAMD"][1]
    assert {"FDA-PREMARKET-AUTHORIZATION", "FDA-MDR.UF.death", "FDA-PMS.GMLP10"} <= set(bought)
    assert "FDA-MDR.MFR.30day" not in bought and "FDA-PCCP.1" not in bought
    built = controls(replace(cleared, has_vendor=False))
    assert {"FDA-MDR.MFR.30day", "FDA-PCCP.1", "FDA-PCCP.2.a", "FDA-SOFTWARE-VALIDATION"} <= set(
        built
    )
    assert "manufacturer" in built["FDA-PCCP.1"]
    assert not any(c.startswith("FDA-MDR.IMP") for c in built)  # importers only

    exempt = controls(replace(CLINICAL, fda_status="not_a_device"))
    assert {"FDA-CDS.1", "FDA-CDS.4"} <= set(exempt)
    assert not any(c.startswith("FDA-MDR") for c in exempt)

    unsettled = replace(CLINICAL, department="Pathology", category="pathology")
    assert "FDA_SAMD" in framework_ids(unsettled)
    assert "FDA-CDS.1" in controls(unsettled)
    by_name = replace(CLINICAL, name="Diagnostic Helper")
    assert "FDA_SAMD" in framework_ids(by_name)
    applies, reason = verdicts(CLINICAL)["FDA_SAMD"]
    assert not applies and "unknown" in reason


@pytest.mark.parametrize(
    ("facts", "framework", "expected", "because"),
    [
        (
            replace(CLINICAL, organization_state="CA", risk_level="high"),
            "CA_SB1047",
            True,
            "organization is in California",
        ),
        (
            replace(CLINICAL, serves_states=("CA",), department="Cardiology"),
            "CA_SB1047",
            True,
            "Cardiology is a high-risk department",
        ),
        (
            replace(CLINICAL, serves_states=("CA",), department="Billing", risk_level="low"),
            "CA_SB1047",
            False,
            "not a high-risk department",
        ),
        (replace(CLINICAL, organization_state="CA"), "CA_BREACH", True, "uses PHI"),
        (
            replace(CLINICAL, organization_state="CA", uses_phi=False),
            "CA_BREACH",
            False,
            "does not use PHI",
        ),
        (
            replace(CLINICAL, serves_states=("CO",), department="Finance"),
            "CO_AI_ACT",
            True,
            "Finance is a high-impact department",
        ),
        (
            replace(CLINICAL, organization_state="CO", risk_level="critical"),
            "CO_AI_ACT",
            True,
            "critical risk",
        ),
        (
            replace(CLINICAL, serves_localities=("NYC",), department="HR"),
            "NYC_LL144",
            True,
            "serves New York City and the system is used in employment",
        ),
        (
            replace(CLINICAL, serves_localities=("NYC",), name="Nurse hiring ranker"),
            "NYC_LL144",
            True,
            "employment",
        ),
        (replace(CLINICAL, serves_localities=("NYC",)), "NYC_LL144", False, "not employment AI"),
        # The state of New York is not New York City.
        (
            replace(CLINICAL, serves_states=("NY",), organization_state="NY", department="HR"),
            "NYC_LL144",
            False,
            "does not serve New York City",
        ),
        (
            replace(CLINICAL, organization_state="CA"),
            "CA_HSC_1280_15",
            True,
            "organization is licensed in California and the system uses PHI",
        ),
        (
            replace(CLINICAL, serves_states=("CA",)),
            "CA_HSC_1280_15",
            False,
            "not in California",
        ),
        (
            replace(CLINICAL, organization_state="CA", category="patient_engagement"),
            "CA_AB3030",
            True,
            "communicates with patients",
        ),
        (replace(CLINICAL, organization_state="CA"), "CA_AB3030", False, "does not talk"),
        (
            replace(CLINICAL, organization_state="UT", category="clinical_documentation"),
            "UT_AI_POLICY",
            True,
            "communicates",
        ),
        (
            replace(CLINICAL, category="revenue_cycle"),
            "TX_TRAIGA",
            False,
            "not used in patient care",
        ),
        (
            replace(CLINICAL, category="revenue_cycle", uses_phi=False),
            "TX_SB1188",
            False,
            "neither diagnoses nor uses PHI",
        ),
        (
            replace(CLINICAL, organization_state="CO", serves_states=()),
            "CO_AI_ACT",
            True,
            "not law",
        ),
        (replace(CLINICAL, risk_level="critical"), "CA_SB1047", False, "California is neither"),
    ],
)
def test_state_rules(facts: SystemFacts, framework: str, expected: bool, because: str) -> None:
    applies, reason = verdicts(facts)[framework]
    assert applies is expected
    assert because in reason


def test_state_rule_controls_carry_their_reason() -> None:
    facts = replace(CLINICAL, serves_states=("CA",), risk_level="high")
    applied = controls(facts)
    assert applied["CA-SB1047-2"].startswith(
        "the system serves California and the system is high risk; not law (vetoed 2024-09-29)"
    )
    assert applied["CA-BREACH"] == "the system serves California and the system uses PHI"


def test_texas_sb1188_items_follow_what_the_system_does() -> None:
    diagnostic = controls(replace(CLINICAL, uses_phi=False))
    assert {"TX-SB1188-1", "TX-SB1188-2"} <= set(diagnostic)
    assert "TX-SB1188-3" not in diagnostic
    records = controls(replace(CLINICAL, category="revenue_cycle"))
    assert "TX-SB1188-3" in records and "TX-SB1188-1" not in records
