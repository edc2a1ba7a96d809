"""PHI redaction before a telemetry payload is encrypted and stored (docs/domain.md#phi-redaction).

``redact`` walks any JSON value and replaces protected health information with
``[REDACTED_<TYPE>]``, counting what it replaced per type. Two things decide:

- **Keys.** The value of a key that plainly names an identifier (``ssn``, ``mrn``,
  ``patient_id``, ``email``, ``phone``, ``dob``, ``date_of_birth``, ``address``, ``zip``,
  ``ip_address``, ``patient_name``, ``first_name``...; camelCase and snake_case alike) is replaced
  whole, whatever its format, numbers included; so is ``name``/``id`` inside a patient object
  (``{"patient": {"name": ...}}``). ``None``, booleans and empty strings stay: they identify no one.
  A key that mentions birth without naming a birth date (``birth_info``) marks its dates as DOB.
- **Free text.** Every other string is scanned by the patterns below, in order; a labelled match
  keeps its label ("MRN: [REDACTED_MRN]"). Numbers and booleans are never touched: the engine's
  metrics are extracted before redaction, and accuracies, counts and epoch timestamps must
  survive. Dates are PHI here only when tied to a birth (a DOB/born/birth label before them, or a
  birth key); ``occurred_at`` timestamps, versions ("1.2.3"), UUIDs and decimals survive.

Judgement calls, each to keep metrics and identifiers of systems intact:

- PHONE: US formats with separators ("(555) 123-4567", "555-123-4567", "555.123.4567",
  "+1 555 123 4567", "+15551234567", "1-555-123-4567", "001-555-123-4567"), an extension with
  them ("x123", "ext. 12"). Ten bare digits only as a valid North American number (area code and
  exchange from 2-9: "5755906318"), which no epoch second is, or after a label (phone, tel,
  mobile, cell, fax, pager, call, reach at, contact). Fax numbers are counted as PHONE.
- SSN: "123-45-6789" anywhere; "123456789" or "123 45 6789" only after an SSN label, which may
  stand a few words before it ("ssn on file 123456789").
- MRN: only after a label ("MRN: 12345678", "MRN#1234567", "MR# E41678689", "medical record
  number 123456", "chart #"); an MRN has no format of its own.
- ACCOUNT: account, insurance, member, policy, health-plan beneficiary, Medicaid/Medicare,
  licence and certificate numbers after their label (at least four digits).
- IP_ADDRESS: dotted IPv4 with four octets (not after "version"/"v"/"build"), and IPv6 in full or
  "::" form. A four-part version string is indistinguishable from an address and goes.
- ADDRESS: number + capitalised street name + suffix (St, Street, Ave, Road, Blvd, Lane, Dr...),
  with an optional unit and ", City, ST 12345-6789" tail (the city may start the next line); the
  rest of USPS's suffixes (Burg, Hills, Mountain, Ferry...) only with a unit or a city and state
  after them ("3 Random Forest" is no address); and PO boxes.
- ZIP: a ZIP or ZIP+4 after a state code ("Boston, MA 02139") or a ZIP label.
- NAME: by the cues around capitalised words and a lexicon of US Census first and last names
  (``names/``, read once at import; see "names" below): after an honorific or a label, before
  an age or a credential, a first name followed by a capitalised word, "Last, First", and then
  every other mention of a word of a name found. Two capitalised words alone are not a name:
  the reference's rule redacted "Random Forest"; clinical terms, places of care, eponyms
  ("Graves' disease") and products stay.
- A value under an identifier key is counted once, even a list of them.
- Values nested deeper than ``MAX_DEPTH`` containers are replaced whole by ``[REDACTED_DEPTH]``
  (unscanned, so treated as possibly PHI) and counted under ``DEPTH``: the walk never recurses
  without bound, even on a cyclic structure.

Pure, never raises on JSON input (other values are read as their ``str``), and idempotent: text
is scanned until a pass finds nothing, the markers match no pattern, and a marker under an
identifier key is not counted again.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

PHI_TYPES: tuple[str, ...] = (
    "SSN",
    "MRN",
    "PHONE",
    "EMAIL",
    "DOB",
    "ADDRESS",
    "ZIP",
    "IP_ADDRESS",
    "NAME",
    "ACCOUNT",
)
DEPTH = "DEPTH"
MAX_DEPTH = 64


def marker(kind: str) -> str:
    return f"[REDACTED_{kind}]"


_MARKER = re.compile(r"\[REDACTED_[A-Z_]+\]")


@dataclass(frozen=True)
class Redacted:
    payload: Any
    counts: dict[str, int]  # per PHI type (and DEPTH), only types found

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# --- keys ------------------------------------------------------------------------------------

_KEY_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("SSN", r"(?:^|_)ssn(?:_?(?:number|no|last_?4|last_?four))?$"),
        ("SSN", r"(?:^|_)social_security(?:_?(?:number|no|num))?$"),
        ("MRN", r"(?:^|_)mrns?$|(?:^|_)medical_record(?:_?(?:number|no|num|id))?$"),
        ("MRN", r"(?:^|_)patient_(?:id|ids|identifier|identifiers|number|no|mrn)$"),
        ("DOB", r"(?:^|_)(?:dob|d_o_b|date_of_birth|birth_?date|birth_?day|birth_dt)$"),
        ("EMAIL", r"(?:^|_)e_?mail(?:_?(?:address|addr))?$"),
        ("PHONE", r"(?:^|_)(?:tele)?phone(?:_?(?:number|no|num))?$|^(?:tel|fax|cellphone)$"),
        ("PHONE", r"(?:^|_)(?:mobile|cell|fax|home|work|contact)_(?:phone|number|no|num)$"),
        ("IP_ADDRESS", r"(?:^|_)ip(?:_?v[46])?(?:_?(?:address|addr))?$"),
        ("IP_ADDRESS", r"(?:^|_)(?:source|src|client|remote|dest|dst|destination)_ip$"),
        (
            "ADDRESS",
            r"^(?:(?:patient|member|guarantor|subscriber)_)?"
            r"(?:(?:home|street|mailing|postal|residential|residence|billing|shipping|physical"
            r"|current|permanent|primary)_)?(?:address|addr|street)(?:_?line)?(?:_?[0-9])?$",
        ),
        (
            "ZIP",
            r"^(?:(?:patient|home|mailing|postal|billing|shipping)_)?"
            r"(?:zip|zip_?code|zip_?4|zip_plus_4|postal_code|post_?code)$",
        ),
        (
            "ACCOUNT",
            r"(?:^|_)(?:account|acct)_?(?:number|no|num)s?$"
            r"|(?:^|_)(?:member|subscriber|policy|insurance|health_plan|medicaid|medicare"
            r"|beneficiary)_?(?:id|number|no|num)s?$",
        ),
        (
            "NAME",
            r"(?:^|_)(?:patient|first|last|full|given|family|middle|maiden|legal|preferred"
            r"|member|subscriber|guardian|guarantor|insured|beneficiary|spouse|mother|father"
            r"|parent|next_of_kin|emergency_contact|contact)_?names?$|(?:^|_)surname$",
        ),
    )
)
# A dict under one of these keys describes a person: its "name" and "id" identify them.
_PERSON_KEY = re.compile(
    r"(?:^|_)(?:patient|member|subscriber|beneficiary|guarantor|insured|guardian|next_of_kin"
    r"|emergency_contact)s?(?:_(?:info|details|data|record|demographics|profile))?$"
)
_PERSON_FIELDS = {"name": "NAME", "names": "NAME", "id": "MRN"}
_BIRTH_KEY = re.compile(r"(?:^|_)(?:birth|dob|born)(?:_|$)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _key_name(key: str) -> str:
    """A key as lower snake case: "dateOfBirth", "Date-Of-Birth" and "date_of_birth" agree."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_")


def _classify(key: str, in_person: bool) -> tuple[str | None, bool, bool]:
    """A key's identifier type (None if it names none), whether it speaks of a birth, and whether
    it holds a person. Cached, as payloads repeat the same few keys; long keys are not kept."""
    if len(key) > 64:
        return _classify_key.__wrapped__(key, in_person)
    return _classify_key(key, in_person)


@lru_cache(maxsize=4096)
def _classify_key(key: str, in_person: bool) -> tuple[str | None, bool, bool]:
    name = _key_name(key)
    kind = _PERSON_FIELDS.get(name) if in_person else None
    if kind is None:
        kind = next((k for k, pattern in _KEY_TYPES if pattern.search(name)), None)
    return kind, _BIRTH_KEY.search(name) is not None, _PERSON_KEY.search(name) is not None


# --- free text -------------------------------------------------------------------------------

_STATES = (
    r"(?:A[AEKLPRSZ]|C[AOT]|D[CE]|F[LM]|G[AU]|HI|I[ADLN]|K[SY]|LA|M[ADEHINOPST]|N[CDEHJMVY]"
    r"|O[HKR]|P[ARW]|RI|S[CD]|T[NX]|UT|V[AIT]|W[AIVY])(?![A-Za-z])"
)
_MONTH = (
    r"(?<![A-Za-z])(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?"
    r"|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?<![0-9])(?:"
    r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
    r"|[0-9]{1,2}[-/.][0-9]{1,2}[-/.](?:[0-9]{4}|[0-9]{2})"
    rf"|{_MONTH}\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+[0-9]{{4}}"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+[0-9]{{4}}"
    r")(?![0-9])"
)
_NAME_WORD = r"[A-ZÀ-ÖØ-Þ][^\W\d_]*(?:['\u2019-][^\W\d_]+)*"
_STREET_SUFFIX = (
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|way"
    r"|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|alley|aly|plaza|plz)"
)
_DIRECTION = r"(?:[ \t]+(?:[NS][EW]?|[EW])\.?(?![A-Za-z]))?"
_UNIT = (
    r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|rm|room|fl|floor|bldg|building)(?![A-Za-z])"
    r"\.?\s*\#?\s*"
    r"[A-Za-z0-9-]{1,6}|,?\s*\#\s*[A-Za-z0-9-]{1,6})"
)
# A city after a comma, or on the next line ("12 Elm St\nSpringfield, IL 62704").
_CITY = rf"(?:,[ \t]*|[ \t]*\n[ \t]*){_NAME_WORD}(?:[ \t]{_NAME_WORD}){{0,3}}"
_ZIP = r"[0-9]{5}(?:-[0-9]{4})?(?![0-9])"
# The rest of the USPS street suffixes ("Kim Burg", "Stone Mountain"): words too common alone
# ("3 Random Forest"), so they make an address only with a unit or a city and state after them.
_RARE_SUFFIX = (
    r"(?:Branch|Bridge|Brooks?|Burgs?|Bypass|Camp|Canyon|Cape|Causeway|Centers?|Cliffs?|Club"
    r"|Commons?|Corners?|Course|Courts|Coves?|Creek|Crescent|Crest|Crossing|Crossroad|Curve"
    r"|Dale|Dam|Divide|Drives|Estates?|Expressway|Extensions?|Falls?|Ferry|Fields?|Flats?"
    r"|Fords?|Forest|Forges?|Forks?|Fort|Freeway|Gardens?|Gateway|Glens?|Greens?|Groves?"
    r"|Harbors?|Haven|Heights|Hills?|Hollow|Inlet|Islands?|Isle|Junctions?|Keys?|Knolls?"
    r"|Lakes?|Land|Landing|Light|Lights|Loaf|Locks?|Lodge|Loop|Mall|Manors?|Meadows?|Mews"
    r"|Mills?|Mission|Motorway|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Parks?|Parkways"
    r"|Pass|Passage|Path|Pike|Pines?|Plains?|Points?|Ports?|Prairie|Radial|Ramp|Ranch"
    r"|Rapids?|Rest|Ridges?|River|Roads|Route|Row|Rue|Run|Shoals?|Shores?|Skyway|Springs?|Circles"
    r"|Spurs?|Squares|Station|Stravenue|Stream|Streets|Summit|Throughway|Trace|Track"
    r"|Trafficway|Tunnel|Turnpike|Underpass|Unions?|Valleys?|Via|Viaduct|Views?|Villages?"
    r"|Ville|Vista|Walks?|Wall|Ways|Wells?)"
)
# An MRN's or account's value: letters, digits and dashes with at least four digits, starting
# with at most four letters ("E41678689", "MR123456", "GJT497712027", "792034-0", "ABC-123-4567").
_ID_VALUE = r"(?=(?:[A-Za-z-]*[0-9]){4})[A-Za-z]{0,4}-?[0-9][0-9A-Za-z]*(?:-[0-9A-Za-z]+){0,3}"
# "x1234", "ext. 12": an extension goes with its number.
_EXTENSION = r"(?:[ \t]*(?i:x|ext\.?|extension)[ \t]*[0-9]{1,6}(?![0-9]))?"
_VERSIONISH = re.compile(r"(?i:\bv|version|ver|build|release|rev)\s*[:=]?\s*$")


def _not_a_version(match: re.Match[str]) -> bool:
    return _VERSIONISH.search(match.string, max(0, match.start() - 12), match.start()) is None


def _not_a_slice(match: re.Match[str]) -> bool:
    """A "::" form with one- or two-digit groups only ("1::2") is a slice, not an address."""
    groups = [g for g in match.group(0).split(":") if g]
    return len(groups) >= 3 or any(len(g) >= 3 for g in groups)


# The text's "shape": every ASCII digit read as 0 and letter as a, so "call 555-1234" is
# "aaaa 000-0000" and one substring test says whether a digit is followed by a dash.
_SHAPE = str.maketrans(
    {**dict.fromkeys(string.digits, "0"), **dict.fromkeys(string.ascii_letters, "a")}
)


@dataclass(frozen=True)
class _Rule:
    """A pattern and the cheap checks that let most text skip it. Python's regex engine pays for
    every character it scans, so a pattern runs only on text with at least ``min_digits`` digits
    and, when it names any, one of its ``words`` (in the lower-cased text) or ``shapes``."""

    kind: str
    pattern: re.Pattern[str]
    min_digits: int
    words: tuple[str, ...] = ()
    shapes: tuple[str, ...] = ()
    accept: Callable[[re.Match[str]], bool] | None = None

    def may_match(self, lowered: str, shape: str, digits: int) -> bool:
        if digits < self.min_digits:
            return False
        if not self.words and not self.shapes:
            return True
        # Plain loops: on short text a generator costs more than the tests it runs.
        for word in self.words:
            if word in lowered:
                return True
        for piece in self.shapes:  # noqa: SIM110
            if piece in shape:
                return True
        return False


def _rule(
    kind: str,
    pattern: str,
    min_digits: int,
    *,
    words: tuple[str, ...] = (),
    shapes: tuple[str, ...] = (),
    accept: Callable[[re.Match[str]], bool] | None = None,
) -> _Rule:
    return _Rule(kind, re.compile(pattern), min_digits, words, shapes, accept)


# The order matters where patterns overlap: specific before general, labelled before bare.
_RULES: tuple[_Rule, ...] = (
    _rule(
        "EMAIL",
        # No look-behind: an address may follow another's top-level domain ("a@b.co#c@d.org"),
        # and the 64-character bound keeps a long run without "@" linear.
        r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}"
        r"@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z][A-Za-z0-9-]{1,62}",
        0,
        shapes=("@",),
    ),
    _rule(
        "IP_ADDRESS",
        r"(?<![\w.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
        r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?!\w|\.[0-9])",
        4,
        shapes=tuple(f"0.{'0' * a}.{'0' * b}.0" for a in (1, 2, 3) for b in (1, 2, 3)),
        accept=_not_a_version,
    ),
    _rule(
        "IP_ADDRESS",
        r"(?<![\w:.])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
        r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?"
        r"|::[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){1,6})(?![\w:])",
        1,
        shapes=("::", ":0:0:0:0:0:0:0", ":a:", ":0:a", "a:0"),
        accept=_not_a_slice,
    ),
    _rule(
        "SSN",
        r"(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|num))?)(?![a-z]))"
        r"[^0-9\n;\[\]]{0,20}?"
        r"(?P<v>[0-9]{3}[\s-]?[0-9]{2}[\s-]?[0-9]{4})(?![0-9])",
        9,
        words=("ssn", "social"),
    ),
    _rule("SSN", r"(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])", 9, shapes=("000-00-0000",)),
    _rule(
        "MRN",
        r"(?i:\b(?:mrn|medical\s+record(?:\s+(?:number|no\.?|num|\#))?|med\s+rec(?:\s+no\.?)?"
        r"|mr\s*\#|mr\s+no\.?|chart\s+(?:number|no\.?|\#)|hospital\s+(?:number|no\.?|\#))"
        r"(?![a-z]))[ \t]*(?:is[ \t]+|[:#=-]+[ \t]*)?"
        rf"(?P<v>{_ID_VALUE})(?![\w-])",
        4,
        words=("mrn", "record", "med rec", "mr", "chart", "hospital"),
    ),
    _rule(
        "ACCOUNT",
        r"(?i:\b(?:account|acct|member|subscriber|policy|insurance|health\s+plan|beneficiary"
        r"|medicaid|medicare|licen[cs]e|certificate)(?![a-z]))"
        r"(?:[ \t]*(?i:id|number|no\.?|num|\#|member|beneficiary|plan|is)(?![A-Za-z]))*"
        rf"[ \t]*[:#=-]*[ \t]*(?P<v>{_ID_VALUE})(?![\w-])",
        4,
        words=(
            "account",
            "acct",
            "member",
            "subscriber",
            "policy",
            "insurance",
            "plan",
            "beneficiary",
            "medicaid",
            "medicare",
            "licen",
            "certificate",
        ),
    ),
    _rule(
        "DOB",
        r"(?i:\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthday|born|birth)(?![a-z]))"
        rf"[^0-9\n;\[\]]{{0,25}}?(?P<v>{_DATE})",
        4,
        words=("dob", "d.o.b", "birth", "born"),
    ),
    _rule(
        "PHONE",
        r"(?i:\b(?:(?:tele)?(?:phone|tel|mobile|cell|fax|pager)(?:\s*(?:number|no\.?|num|\#))?"
        r"|call(?:\s*back)?(?:\s+(?:me|him|her|them))?(?:\s+(?:at|on))?|reach(?:ed)?\s+at"
        r"|contact(?:\s+(?:number|no\.?|\#))?(?:\s+is)?|number\s+is)(?![a-z]))"
        r"\s*[:#=.-]?\s*"
        r"(?P<v>(?:\+?1[\s.-]?|001[\s.-]?)?(?:\([0-9]{3}\)|[0-9]{3})[\s.-]?[0-9]{3}[\s.-]?[0-9]{4}"
        rf"{_EXTENSION})(?![0-9])",
        10,
        words=(
            "phone",
            "tel",
            "mobile",
            "cell",
            "fax",
            "pager",
            "call",
            "reach",
            "contact",
            "number",
        ),
    ),
    _rule(
        "PHONE",
        r"(?<![\w+.-])(?:"
        r"(?:\+1|001)[\s.-]?(?:\([0-9]{3}\)|[0-9]{3})[\s.-]?[0-9]{3}[\s.-]?[0-9]{4}"
        r"|(?:1[\s.-]?)?\([0-9]{3}\)[\s.-]?[0-9]{3}[\s.-]?[0-9]{4}"
        r"|(?:1-)?[0-9]{3}-[0-9]{3}-[0-9]{4}"
        r"|(?:1\.)?[0-9]{3}\.[0-9]{3}\.[0-9]{4}"
        # Ten bare digits only as a valid North American number: area code and exchange start
        # with 2-9, which no epoch second (1xxxxxxxxx until 2033) does.
        r"|[2-9][0-9]{2}[2-9][0-9]{6}"
        rf"){_EXTENSION}(?![\w-]|\.[0-9])",
        10,
        shapes=("+0", "(000)", "000-000-0000", "000.000.0000", "0000000000"),
    ),
    _rule(
        "ADDRESS",
        r"(?<![\w.-])[0-9]{1,6}[A-Za-z]?(?:-[0-9]{1,4})?"
        r"(?:[ \t]+[A-Z0-9][A-Za-z0-9'.-]*){1,4}?[ \t]+"
        rf"(?:{_STREET_SUFFIX}(?![A-Za-z])\.?{_DIRECTION}{_UNIT}?(?:{_CITY})?"
        rf"(?:,?\s+{_STATES})?(?:,?\s+{_ZIP})?"
        rf"|{_RARE_SUFFIX}(?![A-Za-z]){_DIRECTION}"
        rf"(?:{_UNIT}(?:{_CITY},?[ \t]+{_STATES})?|{_CITY},?[ \t]+{_STATES})(?:,?[ \t]+{_ZIP})?)",
        1,
        shapes=("0 a", "0\ta", "0a a", "0a\ta", "0 0", "0\t0"),
    ),
    _rule("ADDRESS", r"(?i:\bp\.?\s?o\.?\s*box)\s*\#?\s*[0-9]{1,6}(?![0-9])", 1, words=("box",)),
    _rule(
        "ZIP",
        r"(?i:\b(?:zip(?:\s*code)?|postal\s+code)(?![a-z]))\s*[:#=]?\s*"
        r"(?P<v>[0-9]{5}(?:-[0-9]{4})?)(?![0-9-])",
        5,
        words=("zip", "postal"),
    ),
    _rule(
        "ZIP",
        rf"(?<![A-Za-z]){_STATES},?\s+(?P<v>[0-9]{{5}}(?:-[0-9]{{4}})?)(?![0-9-])",
        5,
        shapes=(" 00000", "\t00000", "\n00000"),
    ),
)
_WORDS_ONLY = tuple(rule for rule in _RULES if rule.min_digits == 0)
# Under a birth key any date is a birth date; e-mail addresses go first, dates may hide in them.
_BIRTH_RULES = (_RULES[0], _rule("DOB", _DATE, 4), *_RULES[1:])
# Shapes of values that carry no PHI and are everywhere in telemetry: ISO timestamps, UUIDs,
# identifiers and words. Taken whole, they skip every pattern.
_SAFE_SHAPE = re.compile(
    r"0000-00-00(?:a00:00(?::00(?:\.0{1,9})?)?(?:a|[+-]00:?00)?)?"
    r"|[0a]{8}-[0a]{4}-[0a]{4}-[0a]{4}-[0a]{12}"
    r"|a[a_]*(?:[_-]0{1,3})?"
)


def _apply(rule: _Rule, text: str, counts: dict[str, int]) -> str:
    if rule.pattern.search(text) is None:
        return text
    replacement = marker(rule.kind)
    hits = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal hits
        if rule.accept is not None and not rule.accept(match):
            return match.group(0)
        hits += 1
        if "v" not in match.re.groupindex:
            return replacement
        whole, offset = match.group(0), match.start()
        start, end = match.span("v")
        return whole[: start - offset] + replacement + whole[end - offset :]

    result = rule.pattern.sub(swap, text)
    if hits:
        counts[rule.kind] = counts.get(rule.kind, 0) + hits
    return result


# --- names -----------------------------------------------------------------------------------
# Free text names people in many ways; a name is found by what stands around it or by the
# lexicon (US Census first and last names, in names/), read once at import:
#
# - after a strong cue, any one to three capitalised words: an honorific ("Mr.", "Dr", "Mrs")
#   or a label ("Patient:", "Name:", "RE:", "Attending:", "signed by", "seen by");
# - after a weak cue (a relative, "patient", "pt", "with", "per", "by"...), capitalised words
#   of which one is in the lexicon;
# - before an age or a credential ("John Smith, 54-year-old", ", 61 y/o", ", 24M", ", MD",
#   "(daughter)"), any one to three capitalised words;
# - without a cue, a first name and one or two capitalised words after it ("John Smith", "Sara
#   Q. Nguyen"), or "Last, First" from the lexicon. A first name that is also a common word
#   ("Will", "Grace", "May") needs a last name from the lexicon after it ("Will Smith");
# - then every other capitalised occurrence, in the same text, of a word of a name found.
#
# Capitalised words in _NOT_NAMES (clinical terms, places of care, section headings, products)
# end a candidate, and one followed by a word naming an institution ("Beth Israel Deaconess
# Medical Center") is not a person. All-capital words count only after a cue.


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _lexicon(name: str) -> frozenset[str]:
    text = files(__package__).joinpath("names", name).read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


_INSTITUTIONS = _word_set(
    """Hospital Hospitals Medical Clinic Clinics Health Healthcare Center Centre Centers
    University College Institute Foundation Memorial Regional General County Community
    Pharmacy Pharmacies Laboratory Laboratories Labs Associates Partners Group System Systems
    Network Inc Corp Corporation Company LLC Ltd School Church Model Score Scale Syndrome
    Disease Criteria Protocol Index Classification Test Sign Procedure Insurance Plan"""
)
_NOT_NAMES = _INSTITUTIONS | _word_set(
    """The An And Or Of In On At To For With By From Per No Not Is Was Be Has Had This That
    These Those It He She They His Her Their Its We Our You Your Yes Ok Okay Please Thanks
    Thank Hi Hello Also Then When If But So As All Any Each Every Other New Old Same Both
    History Present Illness Assessment Impression Diagnosis Diagnoses Chief Complaint Review
    Exam Examination Physical Results Result Medications Medication Allergies Allergy Vitals
    Vital Signs Social Family Past Surgical Course Discharge Discharged Admission Admitted
    Summary Note Notes Progress Consult Consultation Follow Instructions Disposition Signed
    Electronically Addendum Attestation Subjective Objective Problem Problems List Orders Order
    Sepsis Septic Severe Acute Chronic Disorder Failure Heart Cardiac Kidney Renal Liver Lung
    Pulmonary Brain Blood Pressure Rate Negative Positive Normal Abnormal Stable Unstable
    Improving Worsening Pain Fever Chest Abdomen Abdominal Xray Contrast Without Left Right
    Bilateral Upper Lower Type Stage Grade Class Level Unit Units Dose Daily Tablet Tablets
    Capsule Injection Oral Vitamin Insulin Drip Bundle Alert Alerts Warning Warnings Predictor
    Prediction Risk Watch Monitor Monitoring Version Release Build Team Service Services
    Department Dept Medicine Care Urgent Emergency Intensive Primary Internal Pediatrics
    Pediatric Cardiology Neurology Oncology Radiology Pathology Therapy Rehab Rehabilitation
    Surgery Orthopedics Nursing Imaging Epic Cerner Meditech Allscripts Athena Athenahealth
    Sonnet Opus Haiku Gemini Llama Mistral Bedrock Azure Vertex OpenAI Anthropic Google Amazon
    Microsoft Random Tree Trees Boost Regression Neural Deep Learning Machine Data Quality
    Drift Bias Fairness Accuracy Latency Error Errors Failed Success Status Event Events Trace
    Step Tool Input Output Prompt Response User Admin Monday Tuesday Wednesday Thursday Friday
    Saturday Sunday January February March July September October November December Today
    Tomorrow Yesterday North South East West Northern Southern Eastern Western Street Avenue
    Road Drive Court Suite Apt Room Floor Bed Ward Bay Station Blue Cross Shield Medicare
    Medicaid Aetna Cigna Humana United Anthem Tricare Catholic Baptist Methodist Lutheran
    Jewish Muslim American African Asian Hispanic Latino Latina English Spanish Chinese
    Parkinson Crohn Hodgkin Hashimoto Guillain Barre Alzheimer Cushing Kawasaki Tourette
    Asperger Raynaud Sjogren Marfan Apgar Glasgow Coma Denies Reports Presents Continue
    Continued Start Started Stop Stopped Hold Held Give Given Recommend Recommended Consider
    Discussed Spoke Seen Called Notified Verified Accompanied Lives Born Case Cell Phone Fax
    Email Address Home Work Mobile Contact Account Member Policy Portal Login Chart Record
    Number Date Birth Age Sex Male Female Patient Patients Pt Name Names Attending Provider
    Physician Surgeon Resident Nurse Doctor Dear Daughter Son Wife Husband Mother Father
    Sister Brother Guardian Spouse Partner Caregiver MD DO RN NP PA PhD PharmD LPN CNA CNM
    CRNA DPM DDS DMD MSW LCSW FNP APRN MBBS Dob Mrn Ssn Hpi Icu Copd Chf Ekg Ecg Cbc Bmp Prn
    Bid Tid Qid Npo Htn Cad Ckd Esrd Uti Dvt Gerd Mri Cxr Abg Vbg Pacu Nicu Picu Gyn Ent Afib
    Stemi Nstemi Bipap Cpap Hiv Aids Covid Sars Mrsa Vre Tpa Inr Ptt Bnp Wbc Hgb Hct Plt"""
)
# First names that are also common words: a name only beside a last name, or after a cue.
_AMBIGUOUS = _word_set(
    """Will May June April August Grace Hope Faith Joy Mercy Summer Autumn Spring Star Page
    Rose Art Bill Guy Rich Long Major Young Chance Carry Else Man Many My See Son Song Soon
    Season Miss Sunny Misty Dawn Crystal Ruby Pearl Ivory Golden Candy Ginger Holly Amber
    Jewel Trinity Christian Royal Sterling Forest Brain Cleveland Austin Dallas Houston
    Georgia Virginia Carolina Florida Paris Jordan Claude Alexa Mark Frank Sage Clay Wade Drew
    Lane Dale Glen Gene Chase Hunter Cash Miles Reed Price Marshall King Earl Duke Prince Pat
    Sandy Rocky Stormy Precious Harmony Destiny Unique Angel Charity Honey Sugar Cherry Lily
    Iris Violet Daisy Ivy Olive Hazel Addison Bell Sharp Early Love"""
)
_FIRST = _lexicon("first.txt") - _NOT_NAMES
# Last names that are common words too ("West", "Ward", "Church") end a name after a first name.
_ALL_LAST = _lexicon("last.txt")
_LAST = _ALL_LAST - _NOT_NAMES
_HONORIFICS = {"Mr": 2, "Mrs": 2, "Ms": 2, "Mx": 2, "Dr": 2, "Prof": 2, "Rev": 2, "Miss": 1}
_CUE_WORDS = _word_set(
    """Patient Pt Name Attending Provider Physician Surgeon Resident Nurse Doctor Dear Daughter
    Son Wife Husband Mother Father Sister Brother Guardian Spouse Partner Caregiver"""
)
# Capital letters: ASCII, Latin-1, Latin Extended-A and B, and Vietnamese ("Đặng", "Łukasz").
_UPPER = "A-Z" + "".join(
    c for c in map(chr, [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]) if c.isupper()
)
_TOKEN = re.compile(
    rf"(?<![\w\[\]'\u2019-])[{_UPPER}][^\W\d_]*(?:['\u2019-][^\W\d_]+)*(?![^\W\d_])"
)
_PARTICLES = "de|del|della|der|den|di|da|dos|das|du|la|le|van|von|bin|ibn|al|el"
_GAP = re.compile(rf"[ \t]+(?:(?:{_PARTICLES})[ \t]+){{0,2}}")
_DOT_GAP = re.compile(r"\.[ \t]*|[ \t]+")
# The word before a run of capitalised words decides its cue (read backwards, without a regex:
# this runs for every run of every text). A label and a colon ("Patient:", "patient_name=",
# "RE:") or "<verb> by" ("signed by") or "Dear" is a strong cue.
_LABELS = _word_set(
    """patient pt name attending provider pcp physician surgeon resident nurse contact guardian
    spouse parent caregiver cc re from to author signature"""
)
_BY_VERBS = _word_set(
    """signed seen dictated transcribed authored reviewed examined evaluated referred ordered
    approved cosigned attested written prepared verified"""
)
# A relative or "patient" before capitalised words: two of them are a name, or one from the
# lexicon. Other weak cues ("with", "per", "by") need a word from the lexicon.
_RELATIVES = _word_set(
    """patient pt husband wife son daughter mother father sister brother spouse partner friend
    caregiver grandson granddaughter grandmother grandfather aunt uncle niece nephew fiance
    fiancee fiancé fiancée roommate neighbor guardian"""
)
_WEAK = _word_set(
    "with per and contact informed called notified paged messaged by for visited visit"
)
_AFTER_CUE = re.compile(
    r"(?:'s)?(?:,[ \t]*|[ \t]+)(?:(?:is|was)[ \t]+)?(?:an?[ \t]+)?[0-9]{1,3}"
    r"(?:[ \t]*-?[ \t]*(?i:years?|yrs?|y/?o|y\.o\.|yo|month|months|mo)(?![a-z])|[MF](?![a-z]))"
    r"|,[ \t]*(?:MD|DO|RN|NP|PA|PA-C|PharmD|PhD|LPN|CNA|CNM|CRNA|DPM|DDS|DMD|MSW|LCSW|FNP"
    r"|APRN|MBBS|OD)(?![A-Za-z])"
    r"|[ \t]*[-\u2013|][ \t]*(?:MRN|DOB|MR\#)"
    r"|[ \t]*\((?i:dob|d\.o\.b|mrn|age|daughter|son|wife|husband|mother|father|sister|brother"
    r"|spouse|partner|friend|guardian|caregiver)(?![a-z])"
)
# An eponym, not a person: "Graves' disease", "Bell's palsy", "Apgar score".
_EPONYM = re.compile(
    r"(?:'s|\u2019s|'|\u2019)?[ \t]+(?i:disease|syndrome|sign|palsy|lymphoma|sarcoma|tumou?r"
    r"|disorder|criteria|score|scale|test|procedure|maneuver|manoeuvre|reflex|law|classification"
    r"|fracture|ulcer|anomaly|phenomenon|thyroiditis|encephalopathy|dementia|ataxia|dystrophy"
    r"|anemia|anaemia|method|equation|formula)(?![a-z])"
)


def _word_before(text: str, end: int) -> tuple[str, int]:
    """The lower-cased word that ends at ``end`` (letters and apostrophes), and where it starts."""
    start = end
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "'"):
        start -= 1
    return text[start:end].lower(), start


def _cue(text: str, start: int) -> int:
    """What cue ends just before ``start``: 2 strong, 3 a relative, 1 weak, 0 none."""
    at = start
    while at > 0 and text[at - 1] in " \t":
        at -= 1
    labelled = at > 0 and text[at - 1] in ":="
    while at > 0 and text[at - 1] in " \t\n\r,:=_":
        at -= 1
    word, at = _word_before(text, at)
    if word.endswith("'s"):  # "patient's name:" reads as "name", "patient's" as "patient"
        word = word[:-2]
    if (labelled and word in _LABELS) or word == "dear":
        return 2
    if word == "by":
        while at > 0 and text[at - 1] in " \t":
            at -= 1
        if _word_before(text, at)[0] in _BY_VERBS:
            return 2
    if word in _RELATIVES:
        return 3
    return 1 if word in _WEAK else 0


def _word(token: str) -> str:
    """A token as the lexicon spells it: no possessive, title case when written in capitals."""
    if token.endswith(("'s", "\u2019s")):
        token = token[:-2]
    return token.title() if token.isupper() and len(token) > 2 else token


def _plain_first(word: str) -> bool:
    return word in _FIRST and word not in _AMBIGUOUS


def _is_name(words: list[str], cue: int, followed: bool, shouting: bool) -> bool:
    full = [w for w in words if len(w) > 1]
    if not full:
        return False
    if cue == 2 or followed:
        return True
    if shouting:
        return False
    if cue == 3 and len(full) >= 2:
        return True
    if cue in (1, 3):
        return any(w in _FIRST or w in _LAST for w in full)
    if len(full) < 2 or full[0] not in _FIRST:
        return False
    return full[0] not in _AMBIGUOUS or full[1] in _LAST


def _runs(text: str, tokens: list[re.Match[str]]) -> list[list[re.Match[str]]]:
    """Capitalised words next to each other: joined by blanks, a particle ("de la") or the dot
    of an initial or an honorific ("John Q. Smith", "Dr.Lee")."""
    runs: list[list[re.Match[str]]] = []
    for token in tokens:
        if runs:
            last = runs[-1][-1]
            word = last.group(0)
            dotted = len(word) == 1 or word in _HONORIFICS
            gap = _DOT_GAP if dotted else _GAP
            if gap.fullmatch(text, last.end(), token.start()):
                runs[-1].append(token)
                continue
        runs.append([token])
    return runs


def _name_spans(text: str) -> list[tuple[int, int]]:
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return []
    spans: list[tuple[int, int]] = []
    found: set[str] = set()
    runs = _runs(text, tokens)
    for number, run in enumerate(runs):
        cue = _cue(text, run[0].start())
        at = 0
        while at < len(run):
            word = _word(run[at].group(0))
            if word in _HONORIFICS:
                cue = _HONORIFICS[word]
                at += 1
                continue
            if word in _CUE_WORDS:
                cue = 2 if cue == 2 else 3
                at += 1
                continue
            end, words = at, list[str]()
            while end < len(run) and len(words) < 4:
                candidate = _word(run[end].group(0))
                stop = len(candidate) > 1 and (candidate in _NOT_NAMES or candidate in _HONORIFICS)
                if stop and not (words and candidate in _ALL_LAST and _plain_first(words[-1])):
                    break
                words.append(candidate)
                end += 1
            if not words:
                at, cue = at + 1, 0
                continue
            last = run[end - 1]
            institution = (
                end < len(run) and _word(run[end].group(0)) in _INSTITUTIONS
            ) or _EPONYM.match(text, last.end()) is not None
            followed = _AFTER_CUE.match(text, last.end()) is not None
            shouting = all(m.group(0).isupper() for m in run[at:end])
            if not institution and _is_name(words, cue, followed, shouting):
                spans.append((run[at].start(), _span_end(last)))
                found.update(w for w in words if len(w) > 1 and w not in _AMBIGUOUS)
            elif len(run) == end and end - at == 1 and number + 1 < len(runs):
                # "Smith, John": a last name, a comma, a first name.
                after = runs[number + 1][0]
                first = _word(after.group(0))
                if (
                    (
                        (words[0] in _LAST and first in _FIRST)
                        or _AFTER_CUE.match(text, after.end()) is not None
                    )
                    and first not in _NOT_NAMES
                    and re.fullmatch(r",[ \t]*", text[last.end() : after.start()])
                ):
                    spans.append((run[at].start(), _span_end(after)))
                    found.update((words[0], first))
            at, cue = end, 0
    if found:
        # The other mentions of a name found ("Mr. Burns" ... "Burns denies pain").
        for token in tokens:
            if _word(token.group(0)) in found:
                spans.append((token.start(), _span_end(token)))
    return spans


def _span_end(token: re.Match[str]) -> int:
    word = token.group(0)
    return token.end() - 2 if word.endswith(("'s", "\u2019s")) else token.end()


def _names(text: str, counts: dict[str, int]) -> str:
    spans = _name_spans(text)
    if not spans:
        return text
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    at = 0
    replacement = marker("NAME")
    for start, end in merged:
        parts += (text[at:start], replacement)
        at = end
    parts.append(text[at:])
    counts["NAME"] = counts.get("NAME", 0) + len(merged)
    return "".join(parts)


_MAX_PASSES = 8


def _text(text: str, counts: dict[str, int], birth: bool) -> str:
    """Passes until one finds nothing: a replacement can free a neighbour that a boundary hid
    ("Patient:John10.0.0.1" shows its address once the name has gone). Each pass removes text that
    is not a marker, so this ends; the cap only bounds the cost of hostile input. Names are
    looked for last in a pass, and again only where the patterns changed the text since."""
    for number in range(_MAX_PASSES):
        redacted = _pass(text, counts, birth, number == 0)
        if redacted == text:
            break
        text = redacted
    return text


def _pass(text: str, counts: dict[str, int], birth: bool, first: bool) -> str:
    if len(text) < 4:
        return text
    # Computed once per pass: a replacement only removes digits and words, and the markers it
    # adds are inert (no label pattern starts after "_"), so a stale answer costs a vain search.
    shape = text.translate(_SHAPE)
    if not birth and len(shape) <= 40 and _SAFE_SHAPE.fullmatch(shape):
        return text
    digits = shape.count("0")
    lowered = text.lower()
    capitals = lowered != text
    before = text
    for rule in (_BIRTH_RULES if birth else _RULES) if digits else _WORDS_ONLY:
        if rule.may_match(lowered, shape, digits):
            text = _apply(rule, text, counts)
    # A capital letter: a name may be there (again, if the patterns changed the text).
    if capitals and (first or text != before):
        text = _names(text, counts)
    return text


# --- the walk --------------------------------------------------------------------------------


def _whole(value: Any, kind: str, counts: dict[str, int]) -> Any:
    """A value under an identifier key: kept if it says nothing, else replaced whole."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and (not value or _MARKER.fullmatch(value)):
        return value
    counts[kind] = counts.get(kind, 0) + 1
    return marker(kind)


def _walk(value: Any, counts: dict[str, int], depth: int, birth: bool, in_person: bool) -> Any:
    if depth > MAX_DEPTH:
        return _whole(value, DEPTH, counts)
    if isinstance(value, str):
        return _text(value, counts, birth)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            kind, about_birth, person = _classify(
                key if isinstance(key, str) else str(key), in_person
            )
            if kind is not None:
                result[key] = _whole(item, kind, counts)
            else:
                result[key] = _walk(item, counts, depth + 1, birth or about_birth, person)
        return result
    if isinstance(value, list | tuple):
        return [_walk(item, counts, depth + 1, birth, in_person) for item in value]
    try:
        text = str(value)
    except Exception:  # a foreign object whose __str__ fails: nothing of it is kept
        return _whole(value, DEPTH, counts)
    return _text(text, counts, birth)


def redact(payload: Any) -> Redacted:
    """The payload with PHI replaced by ``[REDACTED_<TYPE>]``, and how many of each type."""
    counts: dict[str, int] = {}
    return Redacted(_walk(payload, counts, 0, False, False), counts)


def redacted_text(text: str) -> str:
    """A note as stored: PHI a person typed is redacted like a payload's."""
    return str(redact(text).payload)
