"""Computed deadlines (docs/domain.md#computed-deadlines, ADR 0035): examples per rule worked out by
hand, the table's checks, and properties of the day counting (business days, calendar days, year
ends, time zones and DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spectral_governance.engine.deadlines import (
    HolidayCalendar,
    IncidentFacts,
    Obligation,
    UnknownDeadlineRule,
    add_days,
    deadline_rules,
    obligations,
    parse_deadline_rules,
    rule_ids,
)

NEW_YORK = ZoneInfo("America/New_York")
FEDERAL = HolidayCalendar(("US",))
CALIFORNIA_AND_FEDERAL = HolidayCalendar(("US", "US-CA"))


def at(day: date, hour: int = 12, tz: ZoneInfo = NEW_YORK) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def by_part(found: tuple[Obligation, ...]) -> dict[str, Obligation]:
    return {o.part if o.state is None else f"{o.part}:{o.state}": o for o in found}


def due(found: tuple[Obligation, ...]) -> dict[str, date | None]:
    return {key: o.due_local for key, o in by_part(found).items()}


# --- HIPAA (45 CFR 164.404-164.408) ---------------------------------------------------------


def test_hipaa_small_breach_reports_to_hhs_after_the_year_ends() -> None:
    # Nov 20 + 60 days: 10 days to Nov 30, 31 to Dec 31, 19 into January.
    # Dec 31 + 60 days: 31 days of January, 28 of February (2027), then March 1.
    found = obligations(
        "hipaa.breach", discovered=at(date(2026, 11, 20)), facts=IncidentFacts(affected_count=499)
    )
    assert due(found) == {"individuals": date(2027, 1, 19), "hhs_annual": date(2027, 3, 1)}
    hhs = by_part(found)["hhs_annual"]
    assert hhs.recipient == "HHS"
    assert hhs.citation == "45 CFR 164.408(c)"
    assert hhs.counted_from == date(2026, 12, 31)
    assert "499 affected" in hhs.note


def test_hipaa_year_end_rollover_in_a_leap_year() -> None:
    # Discovered on the last day of 2027: both the individuals' 60 days and the year-end 60 days
    # start on Dec 31, 2027 and end on Feb 29, 2028 (31 + 29 = 60).
    found = obligations(
        "hipaa.breach", discovered=at(date(2027, 12, 31)), facts=IncidentFacts(affected_count=10)
    )
    assert due(found) == {"individuals": date(2028, 2, 29), "hhs_annual": date(2028, 2, 29)}


def test_hipaa_large_breach_media_per_state_over_500() -> None:
    facts = IncidentFacts(affected_count=1100, affected_by_state={"NY": 501, "NJ": 500, "CT": 99})
    found = obligations("hipaa.breach", discovered=at(date(2026, 5, 4)), facts=facts)
    # 500 in New Jersey is not "more than 500"; 1100 in all is "500 or more".
    assert due(found) == {
        "individuals": date(2026, 7, 3),
        "media:NY": date(2026, 7, 3),
        "hhs": date(2026, 7, 3),
    }
    media = by_part(found)["media:NY"]
    assert media.citation == "45 CFR 164.406"
    assert "NY" in media.note
    assert "501" in media.note
    assert by_part(found)["hhs"].citation == "45 CFR 164.408(b)"


def test_hipaa_exactly_500_goes_to_hhs_at_once_but_not_to_the_media() -> None:
    facts = IncidentFacts(affected_count=500, affected_by_state={"TX": 500})
    found = obligations("hipaa.breach", discovered=at(date(2026, 5, 4)), facts=facts)
    assert set(by_part(found)) == {"individuals", "hhs"}


def test_hipaa_unknown_count_takes_the_safer_reading() -> None:
    found = obligations("hipaa.breach", discovered=at(date(2026, 5, 4)))
    parts = by_part(found)
    assert set(parts) == {"individuals", "media", "hhs"}
    assert parts["media"].state is None
    assert "each state or jurisdiction" in parts["media"].note
    assert "unknown" in parts["hhs"].note


def test_hipaa_known_small_total_rules_out_media_even_without_states() -> None:
    found = obligations(
        "hipaa.breach", discovered=at(date(2026, 5, 4)), facts=IncidentFacts(affected_count=300)
    )
    assert set(by_part(found)) == {"individuals", "hhs_annual"}


# --- California Civil Code 1798.82 (SB 446) --------------------------------------------------


def test_ca_breach_before_sb_446_has_no_fixed_date() -> None:
    facts = IncidentFacts(affected_by_state={"CA": 800})
    found = by_part(obligations("ca.breach", discovered=at(date(2025, 12, 31)), facts=facts))
    assert set(found) == {"consumers_expedient:CA", "attorney_general_sample:CA"}
    consumers = found["consumers_expedient:CA"]
    assert consumers.due is None
    assert consumers.due_local is None
    assert consumers.days is None
    assert "most expedient time possible" in consumers.note


def test_ca_breach_from_2026_within_30_days_and_the_attorney_general_15_after() -> None:
    facts = IncidentFacts(affected_by_state={"CA": 501})
    found = obligations("ca.breach", discovered=at(date(2026, 1, 1)), facts=facts)
    assert due(found) == {
        "consumers:CA": date(2026, 1, 31),
        "attorney_general:CA": date(2026, 2, 15),
    }
    assert by_part(found)["attorney_general:CA"].counted_from == date(2026, 1, 31)


def test_ca_breach_local_date_decides_the_law_in_force() -> None:
    # 03:00 UTC on Jan 1 is still Dec 31 in New York: the old law.
    instant = datetime(2026, 1, 1, 3, tzinfo=UTC)
    assert set(by_part(obligations("ca.breach", discovered=instant))) == {
        "consumers_expedient:CA",
        "attorney_general_sample:CA",
    }
    assert due(obligations("ca.breach", discovered=instant, tz="UTC")) == {
        "consumers:CA": date(2026, 1, 31),
        "attorney_general:CA": date(2026, 2, 15),
    }


def test_ca_breach_needs_california_residents() -> None:
    found = obligations(
        "ca.breach",
        discovered=at(date(2026, 3, 2)),
        facts=IncidentFacts(affected_count=900, affected_by_state={"NV": 900}),
    )
    assert found == ()
    few = obligations(
        "ca.breach",
        discovered=at(date(2026, 3, 2)),
        facts=IncidentFacts(affected_by_state={"CA": 500}),
    )
    assert set(by_part(few)) == {"consumers:CA"}


# --- California Health & Safety Code 1280.15 ----------------------------------------------------


def test_ca_1280_15_over_christmas_and_new_year() -> None:
    # Detected Friday 2026-12-18. Business days: Dec 21-24 (4), Christmas Fri 25 skipped,
    # Dec 28-31 (8), New Year's Day Fri Jan 1 skipped, Jan 4-8 (13), Jan 11 (14), Jan 12 (15).
    found = obligations("ca.hs_1280_15", discovered=at(date(2026, 12, 18)))
    assert due(found) == {"cdph": date(2027, 1, 12), "patient": date(2027, 1, 12)}
    assert all(o.anchor == "detection" and o.counting == "business" for o in found)


def test_ca_1280_15_counts_days_only_one_calendar_closes() -> None:
    # Columbus Day (federal only) and the day after Thanksgiving (California only) are business
    # days: the due date is never later than either calendar's reading.
    # Detected Fri 2026-10-09: Oct 12-16 (5), 19-23 (10), 26-30 (15).
    assert due(obligations("ca.hs_1280_15", discovered=at(date(2026, 10, 9))))["cdph"] == date(
        2026, 10, 30
    )
    # Detected Wed 2026-11-25: Thanksgiving 26 skipped; Nov 27 (1), Nov 30-Dec 4 (6),
    # Dec 7-11 (11), Dec 14-17 (15).
    assert due(obligations("ca.hs_1280_15", discovered=at(date(2026, 11, 25))))["cdph"] == date(
        2026, 12, 17
    )


# --- FDA medical device reporting (21 CFR 803) -----------------------------------------------


def test_fda_death_at_a_user_facility_skips_thanksgiving_and_weekends() -> None:
    # Aware Wednesday 2026-11-25: Thanksgiving Thu 26 skipped, Fri 27 (1), Nov 30-Dec 4 (6),
    # Dec 7-10 (10).
    found = obligations(
        "fda.mdr",
        discovered=at(date(2026, 11, 25)),
        facts=IncidentFacts(patient_harm="death"),
    )
    assert due(found) == {
        "facility_death_fda": date(2026, 12, 10),
        "facility_death_manufacturer": date(2026, 12, 10),
        "facility_annual": date(2027, 1, 1),
    }
    assert by_part(found)["facility_death_fda"].recipient == "FDA"
    assert by_part(found)["facility_death_fda"].anchor == "awareness"


def test_fda_serious_injury_at_a_user_facility_goes_to_the_manufacturer() -> None:
    found = obligations(
        "fda.mdr",
        discovered=at(date(2026, 7, 1)),
        facts=IncidentFacts(patient_harm="serious_injury"),
    )
    # Jul 2 (1), Jul 3 observed Independence Day skipped, Jul 6-10 (6), Jul 13-16 (10).
    assert due(found) == {
        "facility_injury_manufacturer": date(2026, 7, 16),
        "facility_annual_injury": date(2027, 1, 1),
    }
    assert by_part(found)["facility_injury_manufacturer"].recipient == "manufacturer"


def test_a_december_death_goes_into_next_years_annual_report() -> None:
    """Aware 30 December 2025: the 10-work-day report is due 14 January 2026 (New Year's Day and
    the weekends skipped), so it is one of 2026's reports: the annual report that lists it is due
    1 January 2027, not 1 January 2026, before the report itself (21 CFR 803.33(a))."""
    found = obligations(
        "fda.mdr",
        discovered=at(date(2025, 12, 30)),
        facts=IncidentFacts(patient_harm="death"),
    )
    assert due(found) == {
        "facility_death_fda": date(2026, 1, 14),
        "facility_death_manufacturer": date(2026, 1, 14),
        "facility_annual": date(2027, 1, 1),
    }


def test_fda_malfunction_at_a_user_facility_is_voluntary() -> None:
    (only,) = obligations(
        "fda.mdr",
        discovered=at(date(2026, 7, 1)),
        facts=IncidentFacts(patient_harm="malfunction"),
    )
    assert only.mandatory is False
    assert only.due is None
    assert "voluntarily" in only.note


def test_fda_manufacturer_30_calendar_days_and_5_work_days_for_remedial_action() -> None:
    facts = IncidentFacts(patient_harm="malfunction", manufacturer=True)
    assert due(obligations("fda.mdr", discovered=at(date(2026, 12, 20)), facts=facts)) == {
        "manufacturer_fda": date(2027, 1, 19)
    }
    urgent = IncidentFacts(patient_harm="death", manufacturer=True, remedial_action=True)
    # Aware Sun 2026-12-20: Dec 21-24 (4), Christmas skipped, Dec 28 (5).
    assert due(obligations("fda.mdr", discovered=at(date(2026, 12, 20)), facts=urgent)) == {
        "manufacturer_fda": date(2027, 1, 19),
        "manufacturer_remedial": date(2026, 12, 28),
    }


def test_fda_without_patient_harm_has_no_obligation() -> None:
    assert obligations("fda.mdr", discovered=at(date(2026, 7, 1))) == ()


# --- Spectral's own ----------------------------------------------------------------------------


def test_spectral_days_are_labelled_as_spectral_own() -> None:
    (only,) = obligations("spectral.days", discovered=at(date(2026, 2, 20)), days=10)
    assert only.basis == "spectral"
    assert only.due_local == date(2026, 3, 2)
    assert "Spectral's own" in only.note
    assert all(
        o.basis == "law"
        for rule in rule_ids()
        if rule != "spectral.days"
        for o in obligations(rule, discovered=at(date(2026, 2, 20)))
    )


def test_days_only_for_spectral_rules() -> None:
    with pytest.raises(ValueError, match="needs days"):
        obligations("spectral.days", discovered=at(date(2026, 2, 20)))
    with pytest.raises(ValueError, match="sets its own days"):
        obligations("hipaa.breach", discovered=at(date(2026, 2, 20)), days=5)


# --- inputs and the table --------------------------------------------------------------------


def test_unknown_rule_naive_datetime_and_bad_zone_are_refused() -> None:
    with pytest.raises(UnknownDeadlineRule):
        obligations("hipaa.breech", discovered=at(date(2026, 2, 20)))
    with pytest.raises(ValueError, match="aware"):
        obligations("hipaa.breach", discovered=datetime(2026, 2, 20, 12))
    with pytest.raises(ValueError, match="time zone"):
        obligations("hipaa.breach", discovered=at(date(2026, 2, 20)), tz="Mars/Olympus")


def test_facts_are_checked() -> None:
    with pytest.raises(ValueError, match="negative"):
        IncidentFacts(affected_count=-1)
    with pytest.raises(ValueError, match="state count"):
        IncidentFacts(affected_by_state={"California": 3})


def test_the_table_loads_with_every_rule() -> None:
    assert set(deadline_rules().rules) == {
        "hipaa.breach",
        "ca.breach",
        "ca.hs_1280_15",
        "fda.mdr",
        "spectral.days",
    }


PART: dict[str, Any] = {
    "id": "x",
    "recipient": "HHS",
    "citation": "45 CFR 1",
    "anchor": "discovery",
    "counting": "calendar",
    "days": 5,
    "note": "a note of some length",
}


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "red"},  # unknown field
        {"anchor": "breakfast"},
        {"counting": "business"},  # business days without calendars
        {"calendars": ["US"]},  # calendars on calendar days
        {"days": "given"},  # given days outside Spectral's own rules
        {"days": 0},
        {"after": "nothing"},
        {"note": "a note naming {nobody}"},
        {"when": {"affected": {"of": "total", "unknown": True}}},  # neither min nor max
        {"when": {"affected": {"of": "California", "min": 1, "unknown": True}}},
        {"discovered_from": "2026-01-01", "discovered_before": "2025-01-01"},
    ],
)
def test_the_table_refuses(change: dict[str, Any]) -> None:
    with pytest.raises((ValidationError, ValueError)):
        parse_deadline_rules({"rules": {"a.b": [{**PART, **change}]}})


def test_the_table_refuses_duplicate_parts_and_bad_rule_ids() -> None:
    with pytest.raises(ValidationError):
        parse_deadline_rules({"rules": {"a.b": [PART, PART]}})
    with pytest.raises(ValueError, match="source"):
        parse_deadline_rules({"rules": {"nodot": [PART]}})


# --- time zones ------------------------------------------------------------------------------


def test_the_local_date_decides() -> None:
    # 06:30 UTC on March 8, 2026 is 22:30 on March 7 in Los Angeles (PST; DST starts at 02:00
    # local, 10:00 UTC) and 01:30 on March 8 in New York (EST until 07:00 UTC).
    instant = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)

    def individuals(tz: str) -> Obligation:
        return by_part(obligations("hipaa.breach", discovered=instant, tz=tz))["individuals"]

    assert individuals("UTC").due_local == date(2026, 5, 7)
    assert individuals("America/New_York").due_local == date(2026, 5, 7)
    los_angeles = individuals("America/Los_Angeles")
    assert los_angeles.counted_from == date(2026, 3, 7)
    assert los_angeles.due_local == date(2026, 5, 6)
    # The end of May 6 in Los Angeles (PDT, UTC-7).
    assert los_angeles.due == datetime(2026, 5, 7, 6, 59, 59, 999999, tzinfo=UTC)


ZONES = ["UTC", "America/New_York", "America/Chicago", "America/Los_Angeles", "Pacific/Honolulu"]
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
)
days_st = st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 12, 31))
facts_st = st.builds(
    IncidentFacts,
    affected_count=st.none() | st.integers(0, 5000),
    affected_by_state=st.dictionaries(
        st.sampled_from(["CA", "NY", "TX", "DC"]), st.integers(0, 2000)
    ),
    patient_harm=st.none() | st.sampled_from(["death", "serious_injury", "malfunction"]),
    manufacturer=st.booleans(),
    remedial_action=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    start=days_st,
    n=st.integers(1, 40),
    calendar=st.sampled_from([FEDERAL, CALIFORNIA_AND_FEDERAL, HolidayCalendar(("US-CA",))]),
)
def test_business_days(start: date, n: int, calendar: HolidayCalendar) -> None:
    end = add_days(start, n, "business", calendar)
    assert end > start
    assert end.weekday() < 5
    assert end not in calendar
    between = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(1 for d in between if d.weekday() < 5 and d not in calendar) == n


@settings(max_examples=200, deadline=None)
@given(start=days_st, n=st.integers(1, 400))
def test_calendar_days(start: date, n: int) -> None:
    assert add_days(start, n, "calendar") == start + timedelta(days=n)


@settings(max_examples=300, deadline=None)
@given(a=days_st, b=days_st, n=st.integers(1, 30))
def test_business_days_are_monotonic_in_the_start(a: date, b: date, n: int) -> None:
    first, second = sorted((a, b))
    assert add_days(first, n, "business", FEDERAL) <= add_days(second, n, "business", FEDERAL)


@settings(max_examples=200, deadline=None)
@given(day=days_st)
def test_year_end_rollover(day: date) -> None:
    (_, hhs) = obligations(
        "hipaa.breach", discovered=at(day), facts=IncidentFacts(affected_count=1)
    )
    assert hhs.part == "hhs_annual"
    leap = (day.year + 1) % 4 == 0
    assert hhs.due_local == (date(day.year + 1, 2, 29) if leap else date(day.year + 1, 3, 1))


@settings(max_examples=300, deadline=None)
@given(
    instant=instants,
    tz=st.sampled_from(ZONES),
    rule=st.sampled_from(["hipaa.breach", "ca.breach", "ca.hs_1280_15", "fda.mdr"]),
    facts=facts_st,
)
def test_due_is_after_discovery_at_the_end_of_a_local_day(
    instant: datetime, tz: str, rule: str, facts: IncidentFacts
) -> None:
    zone = ZoneInfo(tz)
    for found in obligations(rule, discovered=instant, facts=facts, tz=tz):
        assert (found.due is None) == (found.due_local is None)
        if found.due is None or found.due_local is None:
            continue
        assert found.due > instant
        assert found.due.tzinfo is UTC
        assert found.due_local > instant.astimezone(zone).date()
        local = found.due.astimezone(zone)
        assert (local.date(), local.time()) == (found.due_local, time.max)


@settings(max_examples=200, deadline=None)
@given(
    day=st.sampled_from(
        [date(2026, 3, 8), date(2026, 11, 1), date(2027, 3, 14), date(2027, 11, 7)]
    ),
    minute=st.integers(0, 24 * 60 - 1),
    tz=st.sampled_from(ZONES),
)
def test_dst_transitions_do_not_shift_the_due_date(day: date, minute: int, tz: str) -> None:
    # Any instant of a DST-change day: the due date is the local date plus 60, whatever the
    # offset did in between.
    instant = datetime.combine(day, time(), tzinfo=UTC) + timedelta(minutes=minute)
    local = instant.astimezone(ZoneInfo(tz)).date()
    individuals = by_part(obligations("hipaa.breach", discovered=instant, tz=tz))["individuals"]
    assert individuals.due_local == local + timedelta(days=60)
