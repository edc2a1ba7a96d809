"""US state codes and the time zone each state's deadlines end in."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from spectral_shared.us_states import (
    DEFAULT_TIME_ZONE,
    STATE_TIME_ZONES,
    US_STATE_CODES,
    USState,
    state_time_zone,
)


def test_every_state_and_territory_has_a_real_time_zone() -> None:
    assert set(STATE_TIME_ZONES) == US_STATE_CODES
    for zone in STATE_TIME_ZONES.values():
        ZoneInfo(zone)  # raises for a name the tz database does not have


@pytest.mark.parametrize(
    ("state", "zone"),
    [
        ("CA", "America/Los_Angeles"),
        ("NY", "America/New_York"),
        ("TX", "America/Chicago"),
        ("AZ", "America/Phoenix"),
        ("HI", "Pacific/Honolulu"),
        ("PR", "America/Puerto_Rico"),
        (None, DEFAULT_TIME_ZONE),
        ("ZZ", DEFAULT_TIME_ZONE),
    ],
)
def test_a_state_counts_in_its_own_time_zone(state: str | None, zone: str) -> None:
    assert state_time_zone(state) == zone


def test_the_default_is_the_zone_whose_day_ends_first_in_the_contiguous_states() -> None:
    """An organization without a state must never see a deadline later than its own."""
    instant = datetime(2026, 7, 1, 12, tzinfo=UTC)
    contiguous = {
        z
        for s, z in STATE_TIME_ZONES.items()
        if s not in {"AK", "HI", "AS", "GU", "MP", "PR", "VI"}
    }
    offsets = {z: instant.astimezone(ZoneInfo(z)).utcoffset() for z in contiguous}
    assert offsets[DEFAULT_TIME_ZONE] == max(offsets.values())


def test_state_codes_are_checked_and_upper_cased() -> None:
    adapter = TypeAdapter(USState)
    assert adapter.validate_python(" ca ") == "CA"
    with pytest.raises(ValidationError):
        adapter.validate_python("XX")
