"""Which frameworks and controls apply to an AI system, and why (issue #6 item 4). Pure: no I/O.

Derived from the system's own fields and its organization's state:

- HIPAA when the system uses PHI;
- NIST AI RMF and ISO/IEC 42001 for every system;
- FDA items from the FDA status (a cleared device; an exempt or non-device function documents why;
  an unknown status of an imaging, pathology or diagnostic system must be settled) and from who
  made it: a system with no vendor was built in-house, so the organization is its manufacturer;
  otherwise the organization is a device user facility (21 CFR 803);
- a state rule when its state is the organization's or one the system serves, and its gate holds
  (docs/domain.md#applicability: California and Colorado for high-risk systems or listed departments, NYC
  Local Law 144 for employment AI, California's breach law for PHI).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spectral_governance.catalog import Catalog

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
STATE_NAMES = {"CA": "California", "CO": "Colorado", "NY": "New York"}

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
FDA_UNSETTLED = ("FDA-CDS.", "FDA-PREMARKET-AUTHORIZATION", "FDA-CLINICAL-VALIDATION")


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


def _state_rule(facts: SystemFacts, framework_id: str) -> Verdict:
    state = {"CA_SB1047": "CA", "CA_BREACH": "CA", "CO_AI_ACT": "CO", "NYC_LL144": "NY"}[
        framework_id
    ]
    where = _where(facts, state)
    name = STATE_NAMES[state]
    if where is None:
        return Verdict(
            framework_id,
            False,
            f"{name} is neither the organization's state nor one the system serves",
        )
    department = facts.department.strip()
    risky = facts.risk_level in HIGH_RISK
    if framework_id == "CA_BREACH":
        if facts.uses_phi:
            return Verdict(framework_id, True, f"{where} and the system uses PHI")
        return Verdict(framework_id, False, f"{where}, but the system does not use PHI")
    if framework_id in ("CA_SB1047", "CO_AI_ACT"):
        listed = (
            CA_HIGH_RISK_DEPARTMENTS if framework_id == "CA_SB1047" else CO_HIGH_IMPACT_DEPARTMENTS
        )
        kind = "high-risk" if framework_id == "CA_SB1047" else "high-impact"
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
    if is_employment_ai(facts):
        return Verdict(
            framework_id, True, f"{where} and the system is used in employment decisions"
        )
    return Verdict(framework_id, False, f"{where}, but the system is not employment AI")


def state_gate(facts: SystemFacts, framework_id: str) -> Verdict:
    """Whether a state rule's gate lets this system in (docs/domain.md#state-law): its state is the
    organization's or one the system serves, and its own condition holds. ``framework_id`` is
    one of CA_SB1047, CA_BREACH, CO_AI_ACT, NYC_LL144 (any other raises KeyError)."""
    return _state_rule(facts, framework_id)


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
        return (
            Verdict("FDA_SAMD", True, f"recorded as {said}: the basis must be documented"),
            FDA_NOT_A_DEVICE,
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
        elif fw in ("CA_SB1047", "CA_BREACH", "CO_AI_ACT", "NYC_LL144"):
            verdict = _state_rule(facts, fw)
        else:  # a framework the rules do not know yet applies to nobody until they do
            verdict = Verdict(fw, False, "no applicability rule for this framework yet")
        verdicts.append(verdict)
        if not verdict.applies:
            continue
        for control in file.controls:
            if patterns is None:
                controls[control.id] = verdict.reason
            elif _prefixed(control.id, patterns):
                controls[control.id] = reason_each
    return Applicability(tuple(verdicts), controls)
