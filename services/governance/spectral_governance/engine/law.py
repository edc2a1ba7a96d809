"""The law pass (docs/domain.md#state-law, ADR 0034): every finding stands on a legal source, a
framework of the catalog with its jurisdiction, status and dates. Pure: no I/O.

For each violation the mapping and the state-law rules found, on the event's date:

- a control that does not apply to the system (``catalog.applicability``: HIPAA for a system
  that uses no PHI, FDA for one that is no device) gives nothing, except HIPAA's for a PHI
  exposure, which shows the system holds PHI after all: the inventory was wrong, not the law;
- a source whose place is not in play for the system (another state's law, a city's law for a
  system that does not serve the city) gives nothing;
- a law in force on that date stands as found, with its reporting obligations;
- a voluntary standard (NIST AI RMF, ISO/IEC 42001) stands as found, but creates no legal
  obligation: a reporting period of its own is Spectral's, labelled as such;
- anything else (a vetoed bill, a repealed law, a proposal, a law not yet or no longer in force
  on that date) is at most a recommendation: low severity, never reportable, labelled with the
  source's standing, and only when the organization keeps recommendations on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from functools import lru_cache

from spectral_governance.catalog import Framework, load_catalog
from spectral_governance.catalog.applicability import SystemFacts, applicability, in_place
from spectral_governance.engine.mapping import Violation


def standing(framework: Framework, on: date) -> str | None:
    """None when the framework binds or is a voluntary standard on day ``on``; else why its
    finding is only a recommendation, in one sentence for people."""
    if framework.status == "voluntary" or framework.in_force(on):
        return None
    if framework.status == "in_force":
        if framework.effective_date is not None and on < framework.effective_date:
            when = f"in force only from {framework.effective_date.isoformat()}"
        else:
            ended = framework.end_date.isoformat() if framework.end_date else "before this date"
            when = f"no longer in force from {ended}"
        return f"Recommendation, not a legal duty on {on.isoformat()}: {framework.name} is {when}."
    return f"Recommendation, not law: {framework.status_note}"


@lru_cache(maxsize=4096)
def _applicable(facts: SystemFacts) -> frozenset[str]:
    return frozenset(applicability(facts, load_catalog()).controls)


def apply_law(
    violations: Iterable[Violation],
    facts: SystemFacts,
    on: date,
    *,
    recommendations: bool = True,
    phi_exposed: bool = False,
) -> list[Violation]:
    """The violations as their legal sources allow on day ``on`` (see the module's doc)."""
    catalog = load_catalog()
    applicable = _applicable(facts)
    kept: list[Violation] = []
    for violation in violations:
        file = catalog.framework(violation.framework_id)
        assert file is not None, violation.framework_id  # the tables check their ids
        framework = file.framework
        if violation.control_id not in applicable and not (phi_exposed and framework.id == "HIPAA"):
            continue
        if in_place(facts, framework.jurisdiction) is None:
            continue
        why_not = standing(framework, on)
        if why_not is None:
            kept.append(
                violation
                if framework.binding
                else replace(violation, obligation=None)  # no law behind a deadline
            )
        elif recommendations:
            kept.append(
                replace(
                    violation,
                    severity="low",
                    requires_reporting=False,
                    reporting_deadline_days=None,
                    obligation=None,
                    standing=why_not,
                )
            )
    return kept
