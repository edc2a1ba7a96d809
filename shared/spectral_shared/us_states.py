"""US state and territory codes (USPS), for organization states and the state-law rules."""

from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

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
    upper = code.strip(" ").upper()  # spaces only: a tab or a control character is no code
    if upper not in US_STATE_CODES:
        raise ValueError(f"{code!r} is not a US state or territory code (e.g. CA, NY, PR)")
    return upper


# The schema says what _us_state takes: a code in either case, spaces around it allowed.
_US_STATE_PATTERN = (
    "^ *("
    + "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(US_STATE_CODES))
    + ") *$"
)
USState = Annotated[
    str,
    AfterValidator(_us_state),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _US_STATE_PATTERN,
            "description": "A US state or territory code (e.g. CA, NY, PR)",
        }
    ),
]

_EASTERN, _CENTRAL, _MOUNTAIN, _PACIFIC = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)

# The time zone where most of a state's people live: the day a deadline ends on. A state spanning
# two zones (FL, IN, KY, MI, TN, TX, ...) is counted in its majority's.
STATE_TIME_ZONES: dict[str, str] = {
    **dict.fromkeys(
        [
            "CT",
            "DE",
            "DC",
            "FL",
            "GA",
            "KY",
            "ME",
            "MD",
            "MA",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ],
        _EASTERN,
    ),
    **dict.fromkeys(
        [
            "AL",
            "AR",
            "IL",
            "IA",
            "KS",
            "LA",
            "MN",
            "MS",
            "MO",
            "NE",
            "ND",
            "OK",
            "SD",
            "TN",
            "TX",
            "WI",
        ],
        _CENTRAL,
    ),
    **dict.fromkeys(["CO", "MT", "NM", "UT", "WY"], _MOUNTAIN),
    **dict.fromkeys(["CA", "NV", "OR", "WA"], _PACIFIC),
    "AK": "America/Anchorage",
    "AZ": "America/Phoenix",
    "HI": "Pacific/Honolulu",
    "ID": "America/Boise",
    "IN": "America/Indiana/Indianapolis",
    "MI": "America/Detroit",
    "AS": "Pacific/Pago_Pago",
    "GU": "Pacific/Guam",
    "MP": "Pacific/Saipan",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
}
DEFAULT_TIME_ZONE = _EASTERN


def state_time_zone(state: str | None) -> str:
    """The IANA time zone deadlines in ``state`` end in; Eastern for an organization without a
    state (the earliest end of day in the contiguous states, so no deadline is shown late)."""
    return STATE_TIME_ZONES.get(state or "", DEFAULT_TIME_ZONE)
