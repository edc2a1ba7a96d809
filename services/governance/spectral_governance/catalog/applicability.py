"""Which frameworks and controls apply to an AI system, and why (issue #6 item 4). Pure: no I/O.

Derived from the system's own fields and its organization's state:

- HIPAA when the system uses PHI;
- NIST AI RMF and ISO/IEC 42001 for every system;
- FDA items from the FDA status (a cleared device; an exempt or non-device function documents why;
  an unknown status of an imaging, pathology or diagnostic system must be settled) and from who
  made it: a system with no vendor was built in-house, so the organization is its manufacturer;
  otherwise the organization is a device user facility (21 CFR 803);
- a state or local rule when its place is in play (its state is the organization's or one the
  system serves; a locality, such as New York City, only when the system serves it; a facility
  licensing law only in the organization's own state) and its gate holds (docs/domain.md#applicability:
  California and Colorado for high-risk systems or listed departments, NYC Local Law 144 for
  employment AI, California's breach law and H&S Code 1280.15 for PHI, AB 3030 and Utah for
  systems that communicate with patients, TRAIGA for systems used in patient care, Texas SB 1188
  for diagnosis and health records).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spectral_governance.catalog import Catalog, load_catalog
from spectral_governance.inventory.rules import LOCALITIES

# The departments that drive rules (docs/domain.md#applicability).
FDA_DEPARTMENTS = frozenset({"imaging", "pathology"})
FDA_CATEGORIES = frozenset({"diagnostic_imaging", "pathology"})
CA_HIGH_RISK_DEPARTMENTS = frozenset(
    {"imaging", "pathology", "emergency", "surgery", "intensive care", "cardiology"}
)
CO_HIGH_IMPACT_DEPARTMENTS = frozenset(
    {"imaging", "pathology", "emergency", "surgery", "hr", "finance"}
)
HIGH_RISK = frozenset({"high", "critical"})
STATE_NAMES = {
    "CA": "California",
    "CO": "Colorado",
    "NY": "New York",
    "TX": "Texas",
    "UT": "Utah",
}

# FDA items by who carries them (ids of catalog/data/fda.yaml, matched by prefix).
FDA_USER_FACILITY = (
    "FDA-PREMARKET-AUTHORIZATION",
    "FDA-CLINICAL-VALIDATION",
    "FDA-ANALYTICAL-VALIDATION",
    "FDA-PCCP.4",
    "FDA-PCCP.6",
    "FDA-PMS.GMLP10",
    "FDA-PMS.AIDSF",
    "FDA-MDR.def.",
    "FDA-MDR.UF.",
    "FDA-MDR.procedures",
    "FDA-MDR.records",
    "FDA-MDR.eMDR",
)
FDA_MANUFACTURER = (
    "FDA-SOFTWARE-VALIDATION",
    "FDA-PCCP.",
    "FDA-PMS.",
    "FDA-MDR.MFR.",
    "FDA-MDR.VMSR",
)
FDA_NOT_A_DEVICE = ("FDA-CDS.", "FDA-SWX.")
# Unsettled: treated as a device until settled, so a patient's harm is a device report.
FDA_UNSETTLED = (
    "FDA-CDS.",
    "FDA-PREMARKET-AUTHORIZATION",
    "FDA-CLINICAL-VALIDATION",
    "FDA-ANALYTICAL-VALIDATION",
    "FDA-PMS.GMLP10",
    "FDA-MDR.UF.",
    "FDA-MDR.MFR.",
)


@dataclass(frozen=True)
class SystemFacts:
    """What applicability looks at."""

    name: str
    department: str
    category: str
    uses_phi: bool
    fda_status: str
    fda_submission_number: str | None
    risk_level: str
    serves_states: tuple[str, ...]
    has_vendor: bool
    organization_state: str | None
    serves_localities: tuple[str, ...] = ()  # inventory.rules.LOCALITIES codes


@dataclass(frozen=True)
class Verdict:
    framework_id: str
    applies: bool
    reason: str


@dataclass(frozen=True)
class Applicability:
    frameworks: tuple[Verdict, ...]
    controls: dict[str, str]  # control id -> why it applies, in catalog order


def _prefixed(control_id: str, patterns: Iterable[str]) -> bool:
    """``FDA-PCCP.`` matches the items under it; ``FDA-PCCP.6`` matches itself and its children."""
    for pattern in patterns:
        if pattern.endswith("."):
            if control_id.startswith(pattern):
                return True
        elif control_id == pattern or control_id.startswith(pattern + "."):
            return True
    return False


def is_fda_relevant(facts: SystemFacts) -> bool:
    """FDA-relevant (docs/domain.md#applicability): Imaging or Pathology, or "diagnostic" in the name."""
    return (
        facts.department.strip().lower() in FDA_DEPARTMENTS
        or facts.category in FDA_CATEGORIES
        or "diagnostic" in facts.name.lower()
    )


DEVICE_STATUSES = frozenset({"cleared_510k", "cleared_de_novo", "exempt"})


def is_device(facts: SystemFacts) -> bool:
    """A medical device as far as the FDA rules go: cleared, or exempt from premarket review
    (still a device), or of unknown status with an FDA-relevant function, which is treated as
    one until it is settled. A function recorded as not a device is not."""
    if facts.fda_status in DEVICE_STATUSES:
        return True
    return facts.fda_status == "unknown" and is_fda_relevant(facts)


def is_employment_ai(facts: SystemFacts) -> bool:
    """Employment AI (docs/domain.md#applicability): HR or employment department, hiring or recruitment by name."""
    department = facts.department.strip().lower()
    name = facts.name.lower()
    return (
        department == "hr"
        or "employment" in department
        or "human resources" in department
        or facts.category == "workforce"
        or "hiring" in name
        or "recruitment" in name
    )


def _where(facts: SystemFacts, state: str) -> str | None:
    """Why ``state`` is in play for this system, or None."""
    if facts.organization_state == state:
        return f"the organization is in {STATE_NAMES.get(state, state)}"
    if state in facts.serves_states:
        return f"the system serves {STATE_NAMES.get(state, state)}"
    return None


def in_place(facts: SystemFacts, jurisdiction: str) -> str | None:
    """Why a law of ``jurisdiction`` (a framework's: ``US``, ``INTL``, ``US-CA``,
    ``US-NY-NYC``) reaches this system, or None: a state's law where the organization is or the
    system serves, a locality's only where the system serves that locality (New York City is
    not the state of New York)."""
    parts = jurisdiction.split("-")
    if len(parts) == 1:
        return "a federal or international source"
    if len(parts) == 3:
        locality = parts[2]
        if locality in facts.serves_localities:
            return f"the system serves {LOCALITIES[locality][1]}"
        return None
    return _where(facts, parts[1])


# Legal statuses under which a framework binds nobody (catalog Framework.status).
NOT_LAW = frozenset({"vetoed", "repealed", "proposed"})
# The organization itself is licensed where it is: a facility-licensing law reaches it only there.
ORGANIZATION_ONLY = frozenset({"CA_HSC_1280_15"})
# Categories of systems used in patient care, and those that write to or talk with patients.
CARE_CATEGORIES = frozenset(
    {
        "clinical_decision_support",
        "diagnostic_imaging",
        "pathology",
        "clinical_documentation",
        "patient_engagement",
    }
)
PATIENT_COMMUNICATION_CATEGORIES = frozenset({"patient_engagement", "clinical_documentation"})
DIAGNOSTIC_CATEGORIES = frozenset({"clinical_decision_support", "diagnostic_imaging", "pathology"})
# The frameworks applicability gates by place (the state-law engine's gates too).
STATE_FRAMEWORKS = (
    "CA_SB1047",
    "CA_BREACH",
    "CO_AI_ACT",
    "NYC_LL144",
    "CA_AB3030",
    "CA_HSC_1280_15",
    "TX_TRAIGA",
    "TX_SB1188",
    "UT_AI_POLICY",
)
# TX SB 1188's items by what they govern: AI-assisted diagnosis, or where health records live.
TX_SB1188_DIAGNOSIS = ("TX-SB1188-1", "TX-SB1188-2")
TX_SB1188_RECORDS = ("TX-SB1188-3",)


def _diagnostic(facts: SystemFacts) -> bool:
    return facts.category in DIAGNOSTIC_CATEGORIES or is_fda_relevant(facts)


def _gate(facts: SystemFacts, framework_id: str, where: str) -> Verdict:
    """The framework's own condition, once its place is in play."""
    department = facts.department.strip()
    risky = facts.risk_level in HIGH_RISK
    category = facts.category.replace("_", " ")
    if framework_id in ("CA_BREACH", "CA_HSC_1280_15"):
        if facts.uses_phi:
            return Verdict(framework_id, True, f"{where} and the system uses PHI")
        return Verdict(framework_id, False, f"{where}, but the system does not use PHI")
    if framework_id in ("CA_SB1047", "CO_AI_ACT"):
        listed = (
            CA_HIGH_RISK_DEPARTMENTS if framework_id == "CA_SB1047" else CO_HIGH_IMPACT_DEPARTMENTS
        )
        kind = "high-risk" if framework_id == "CA_SB1047" else "high-impact"
        name = "California" if framework_id == "CA_SB1047" else "Colorado"
        if risky:
            return Verdict(framework_id, True, f"{where} and the system is {facts.risk_level} risk")
        if department.lower() in listed:
            return Verdict(
                framework_id, True, f"{where} and {department} is a {kind} department in {name}"
            )
        return Verdict(
            framework_id,
            False,
            f"{where}, but the system is {facts.risk_level} risk and {department} is not a "
            f"{kind} department",
        )
    if framework_id == "NYC_LL144":
        if is_employment_ai(facts):
            return Verdict(
                framework_id, True, f"{where} and the system is used in employment decisions"
            )
        return Verdict(framework_id, False, f"{where}, but the system is not employment AI")
    if framework_id in ("CA_AB3030", "UT_AI_POLICY"):
        if facts.category in PATIENT_COMMUNICATION_CATEGORIES:
            return Verdict(
                framework_id,
                True,
                f"{where} and the system ({category}) communicates with patients",
            )
        return Verdict(
            framework_id, False, f"{where}, but the system ({category}) does not talk to patients"
        )
    if framework_id == "TX_TRAIGA":
        if facts.category in CARE_CATEGORIES:
            return Verdict(
                framework_id, True, f"{where} and the system ({category}) is used in patient care"
            )
        return Verdict(
            framework_id, False, f"{where}, but the system ({category}) is not used in patient care"
        )
    if framework_id == "TX_SB1188":
        if _diagnostic(facts) or facts.uses_phi:
            does = " and ".join(
                what
                for what, holds in (
                    ("is used for diagnosis", _diagnostic(facts)),
                    ("keeps health records (PHI)", facts.uses_phi),
                )
                if holds
            )
            return Verdict(framework_id, True, f"{where} and the system {does}")
        return Verdict(
            framework_id, False, f"{where}, but the system neither diagnoses nor uses PHI"
        )
    raise KeyError(framework_id)


def _state_rule(facts: SystemFacts, framework_id: str, jurisdiction: str) -> Verdict:
    if framework_id in ORGANIZATION_ONLY:
        state = jurisdiction.split("-")[1]
        where = (
            f"the organization is licensed in {STATE_NAMES.get(state, state)}"
            if facts.organization_state == state
            else None
        )
        if where is None:
            return Verdict(
                framework_id,
                False,
                f"the organization is not in {STATE_NAMES.get(state, state)}, where this law "
                "binds licensed facilities",
            )
    else:
        where = in_place(facts, jurisdiction)
        if where is None:
            place = jurisdiction.split("-")
            named = (
                LOCALITIES[place[2]][1] if len(place) == 3 else STATE_NAMES.get(place[1], place[1])
            )
            return Verdict(
                framework_id,
                False,
                f"{named} is neither the organization's state nor one the system serves"
                if len(place) == 2
                else f"the system does not serve {named}",
            )
    return _gate(facts, framework_id, where)


def state_gate(facts: SystemFacts, framework_id: str) -> Verdict:
    """Whether a state or local rule's gate lets this system in (docs/domain.md#state-law): its
    place is in play (``in_place``) and its own condition holds. ``framework_id`` is one of
    ``STATE_FRAMEWORKS`` (any other raises KeyError)."""
    if framework_id not in STATE_FRAMEWORKS:
        raise KeyError(framework_id)
    found = load_catalog().framework(framework_id)
    assert found is not None, framework_id
    return _state_rule(facts, framework_id, found.framework.jurisdiction)


def _fda(facts: SystemFacts) -> tuple[Verdict, tuple[str, ...], str]:
    """The FDA verdict, the item patterns that apply, and the reason each carries."""
    status = facts.fda_status
    if status in ("cleared_510k", "cleared_de_novo"):
        route = "510(k)" if status == "cleared_510k" else "De Novo"
        cleared = f"an FDA-cleared device ({route} {facts.fda_submission_number})"
        if facts.has_vendor:
            return (
                Verdict("FDA_SAMD", True, f"{cleared}; the organization is its user facility"),
                FDA_USER_FACILITY,
                f"{cleared}, used here as a device user facility (21 CFR 803)",
            )
        return (
            Verdict(
                "FDA_SAMD", True, f"{cleared} built in-house: the organization is its manufacturer"
            ),
            FDA_USER_FACILITY + FDA_MANUFACTURER,
            f"{cleared} with no vendor: the organization is its manufacturer",
        )
    if status in ("exempt", "not_a_device"):
        said = "exempt from premarket review" if status == "exempt" else "not a device"
        # An exempt device is still a device: a patient's harm is a device report (21 CFR 803).
        reports = (
            ()
            if status == "not_a_device"
            else ("FDA-MDR.UF.",)
            if facts.has_vendor
            else ("FDA-MDR.UF.", "FDA-MDR.MFR.")
        )
        return (
            Verdict("FDA_SAMD", True, f"recorded as {said}: the basis must be documented"),
            FDA_NOT_A_DEVICE + reports,
            f"documents why the software function is {said} (FD&C Act 520(o)(1))",
        )
    if is_fda_relevant(facts):
        return (
            Verdict(
                "FDA_SAMD",
                True,
                "FDA status unknown for an imaging, pathology or diagnostic system: settle whether "
                "it is a device",
            ),
            FDA_UNSETTLED,
            "settles whether this imaging, pathology or diagnostic function is a device",
        )
    return (
        Verdict(
            "FDA_SAMD",
            False,
            "FDA status unknown and nothing suggests a device function (not Imaging, Pathology "
            "or diagnostic)",
        ),
        (),
        "",
    )


def applicability(facts: SystemFacts, catalog: Catalog) -> Applicability:
    verdicts: list[Verdict] = []
    controls: dict[str, str] = {}
    for file in catalog.frameworks:
        fw = file.framework.id
        patterns: tuple[str, ...] | None = None  # None: every control of the framework
        reason_each = ""
        if fw == "HIPAA":
            verdict = (
                Verdict(fw, True, "the system uses PHI")
                if facts.uses_phi
                else Verdict(fw, False, "the system does not use PHI")
            )
        elif fw in ("NIST_AI_RMF", "ISO_42001"):
            verdict = Verdict(fw, True, "applies to every AI system")
        elif fw == "FDA_SAMD":
            verdict, patterns, reason_each = _fda(facts)
        elif fw in STATE_FRAMEWORKS:
            verdict = _state_rule(facts, fw, file.framework.jurisdiction)
            if fw == "TX_SB1188" and verdict.applies:
                patterns = (TX_SB1188_DIAGNOSIS if _diagnostic(facts) else ()) + (
                    TX_SB1188_RECORDS if facts.uses_phi else ()
                )
                reason_each = verdict.reason
        else:  # a framework the rules do not know yet applies to nobody until they do
            verdict = Verdict(fw, False, "no applicability rule for this framework yet")
        if verdict.applies and file.framework.status in NOT_LAW:
            verdict = Verdict(
                fw,
                True,
                f"{verdict.reason}; not law ({file.framework.status} "
                f"{file.framework.status_date}), so a recommended practice only",
            )
            reason_each = verdict.reason
        verdicts.append(verdict)
        if not verdict.applies:
            continue
        for control in file.controls:
            if patterns is None:
                controls[control.id] = verdict.reason
            elif _prefixed(control.id, patterns):
                controls[control.id] = reason_each
    return Applicability(tuple(verdicts), controls)
