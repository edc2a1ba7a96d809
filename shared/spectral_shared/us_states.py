"""US state and territory codes (USPS), for organization states and the state-law rules."""

from typing import Annotated

from pydantic import AfterValidator

US_STATE_CODES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
    ]
)


def _us_state(code: str) -> str:
    upper = code.strip().upper()
    if upper not in US_STATE_CODES:
        raise ValueError(f"{code!r} is not a US state or territory code (e.g. CA, NY, PR)")
    return upper


USState = Annotated[str, AfterValidator(_us_state)]
