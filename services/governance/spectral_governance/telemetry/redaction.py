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
  "+1 555 123 4567", "+15551234567", "1-555-123-4567"). Ten bare digits ("5551234567") or
  space-separated groups only after a phone label (phone, tel, mobile, cell, fax): ten digits
  unlabelled are as often an epoch second.
- SSN: "123-45-6789" anywhere; "123456789" or "123 45 6789" only after an SSN label.
- MRN: only after a label ("MRN: 12345678", "MRN#1234567", "medical record number 123456");
  an MRN has no format of its own.
- IP_ADDRESS: dotted IPv4 with four octets (not after "version"/"v"/"build"), and IPv6 in full or
  "::" form. A four-part version string is indistinguishable from an address and goes.
- ADDRESS: number + capitalised street name + suffix (St, Street, Ave, Road, Blvd, Lane, Dr...),
  with an optional unit and ", City, ST 12345-6789" tail; and PO boxes.
- ZIP: a ZIP or ZIP+4 after a state code ("Boston, MA 02139") or a ZIP label.
- NAME: only after "Patient:"/"patient name:"/"first name:"... labels, or an honorific
  (Mr, Mrs, Ms, Mx; not "Miss", which starts "Miss Rate"). Two capitalised words alone are not
  a name: the reference's rule redacted "Random Forest".
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
    r"(?:A[KLRZ]|C[AOT]|D[CE]|FL|G[AU]|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|P[AR]"
    r"|RI|S[CD]|T[NX]|UT|V[AIT]|W[AIVY])(?![A-Za-z])"
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
        shapes=("0.0.0",),
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
        r"\s*(?:#|no\.?|is)?\s*[:=#-]?\s*"
        r"(?P<v>[0-9]{3}[\s-]?[0-9]{2}[\s-]?[0-9]{4})(?![0-9])",
        9,
        words=("ssn", "social"),
    ),
    _rule("SSN", r"(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])", 9, shapes=("000-00-0000",)),
    _rule(
        "MRN",
        r"(?i:\b(?:mrn|medical\s+record(?:\s+(?:number|no\.?|num|\#))?|med\s+rec(?:\s+no\.?)?)"
        r"(?![a-z]))\s*(?:is\s+|[:#=-]+\s*)?"
        r"(?P<v>(?:[A-Za-z]{1,4}-?)?[0-9]{4,15}(?:-[0-9]{1,10})?)(?![\w-])",
        4,
        words=("mrn", "record", "med rec"),
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
        r"(?i:\b(?:tele)?(?:phone|tel|mobile|cell|fax)(?:\s*(?:number|no\.?|num|\#))?(?![a-z]))"
        r"\s*[:#=.-]?\s*"
        r"(?P<v>(?:\+?1[\s.-]?)?(?:\([0-9]{3}\)|[0-9]{3})[\s.-]?[0-9]{3}[\s.-]?[0-9]{4})(?![0-9])",
        10,
        words=("phone", "tel", "mobile", "cell", "fax"),
    ),
    _rule(
        "PHONE",
        r"(?<![\w+.-])(?:"
        r"\+1[\s.-]?(?:\([0-9]{3}\)|[0-9]{3})[\s.-]?[0-9]{3}[\s.-]?[0-9]{4}"
        r"|(?:1[\s.-]?)?\([0-9]{3}\)[\s.-]?[0-9]{3}[\s.-][0-9]{4}"
        r"|(?:1-)?[0-9]{3}-[0-9]{3}-[0-9]{4}"
        r"|(?:1\.)?[0-9]{3}\.[0-9]{3}\.[0-9]{4}"
        r")(?![\w-]|\.[0-9])",
        10,
        shapes=("+0", "(000)", "000-000-0000", "000.000.0000"),
    ),
    _rule(
        "ADDRESS",
        r"(?<![\w.-])[0-9]{1,6}[A-Za-z]?(?:-[0-9]{1,4})?"
        rf"(?:[ \t]+[A-Z0-9][A-Za-z0-9'.-]*){{1,4}}?[ \t]+{_STREET_SUFFIX}(?![A-Za-z])\.?"
        r"(?:[ \t]+(?:[NS][EW]?|[EW])\.?(?![A-Za-z]))?"
        r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|rm|room|fl|floor|bldg|building)\.?\s*\#?\s*"
        r"[A-Za-z0-9-]{1,6}|,?\s*\#\s*[A-Za-z0-9-]{1,6})?"
        rf"(?:,\s*{_NAME_WORD}(?:\s{_NAME_WORD}){{0,3}})?"
        rf"(?:,?\s+{_STATES})?(?:,?\s+[0-9]{{5}}(?:-[0-9]{{4}})?(?![0-9]))?",
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
    _rule(
        "NAME",
        r"(?i:\b(?:patient(?:'s)?(?:[\s_]+(?:full[\s_]+)?name)?"
        r"|(?:first|last|full|given|family)[\s_]?name)(?![a-z]))"
        rf"\s*[:=]\s*(?P<v>{_NAME_WORD}(?:[ \t]+[A-Z]\.)?(?:[ \t]+{_NAME_WORD}){{0,2}})",
        0,
        words=("patient", "name"),
    ),
    _rule(
        "NAME",
        rf"\b(?:Mr|Mrs|Ms|Mx)\.?[ \t]+(?P<v>{_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)",
        0,
        words=("mr", "ms", "mx"),
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


_MAX_PASSES = 8


def _text(text: str, counts: dict[str, int], birth: bool) -> str:
    """Passes until one finds nothing: a replacement can free a neighbour that a boundary hid
    ("Patient:John10.0.0.1" shows its address once the name has gone). Each pass removes text that
    is not a marker, so this ends; the cap only bounds the cost of hostile input."""
    for _ in range(_MAX_PASSES):
        redacted = _pass(text, counts, birth)
        if redacted == text:
            break
        text = redacted
    return text


def _pass(text: str, counts: dict[str, int], birth: bool) -> str:
    if len(text) < 4:
        return text
    # Computed once per pass: a replacement only removes digits and words, and the markers it
    # adds are inert (no label pattern starts after "_"), so a stale answer costs a vain search.
    shape = text.translate(_SHAPE)
    if not birth and len(shape) <= 40 and _SAFE_SHAPE.fullmatch(shape):
        return text
    digits = shape.count("0")
    lowered = text.lower()
    for rule in (_BIRTH_RULES if birth else _RULES) if digits else _WORDS_ONLY:
        if rule.may_match(lowered, shape, digits):
            text = _apply(rule, text, counts)
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
