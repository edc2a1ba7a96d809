"""A generated corpus of clinical notes with planted identifiers, and how a redactor scores on it.

Shared by ``bench/bench_redaction.py`` and the governance tests (``test_redaction.py``, which
finds this directory through pytest's ``pythonpath``). Faker, seeded, makes the identifiers: names
(patients, relatives, clinicians), street addresses with city and ZIP, dates of birth, phone and
fax numbers in Faker's US formats, e-mail addresses, SSNs, MRNs, insurance and account numbers and
IP addresses. Each note is 4 to 8 sentences drawn from templates, identifier sentences mixed with
clinical ones that hold no PHI (drug names, eponymous diseases, hospitals, models, dates of
service) so that precision means something.

Scoring: the redactor's output is aligned with the note (the text between its ``[REDACTED_*]``
markers is kept verbatim, so the markers stand for the spans that went). A planted identifier is
caught when every letter and digit of it that identifies is inside a redacted span (a name
partly left, "[REDACTED_NAME] Smith", is a miss; an address's state may stay, as Safe Harbor
allows). A redacted span that touches no planted identifier is a false positive.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from faker import Faker

TYPES = (
    "NAME",
    "ADDRESS",
    "DOB",
    "PHONE",
    "FAX",
    "EMAIL",
    "SSN",
    "MRN",
    "ACCOUNT",
    "IP_ADDRESS",
)
# Names for the held-out measure: locales whose names are mostly not in the (US census) lexicon.
OTHER_LOCALES = ("es_MX", "en_IN", "de_DE", "fr_FR", "it_IT", "pt_BR", "pl_PL", "vi_VN", "en_GB")


@dataclass(frozen=True)
class Planted:
    kind: str
    start: int
    end: int
    text: str
    # The parts that must go for the identifier to count as caught (offsets in the note).
    must: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Note:
    text: str
    planted: tuple[Planted, ...]


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.planted: list[Planted] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def plant(self, kind: str, text: str, keep: Sequence[str] = ()) -> None:
        """Add ``text`` as an identifier; the substrings in ``keep`` need not be redacted."""
        start = self.length
        self.add(text)
        must: list[tuple[int, int]] = []
        for token in re.finditer(r"[^\W_]+", text):
            if token.group(0) not in keep:
                must.append((start + token.start(), start + token.end()))
        self.planted.append(Planted(kind, start, start + len(text), text, tuple(must)))

    def note(self) -> Note:
        return Note("".join(self.parts), tuple(self.planted))


# --- identifiers -----------------------------------------------------------------------------

_DATE_FORMATS = (
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%B %d, %Y",
    "%m-%d-%Y",
    "%d %b %Y",
    "%b %d %Y",
    "%m/%d/%y",
)
_MRN_FORMATS = (
    "########",
    "#######",
    "E########",
    "00#######",
    "MR######",
    "A#########",
    "######-#",
)
_ACCOUNT = (
    ("Insurance member ID ", "???#########"),
    ("Member ID: ", "W#########"),
    ("Acct #: ", "##########"),
    ("Account number ", "########"),
    ("Health plan beneficiary number ", "?##########"),
    ("Policy #", "???-###-####"),
    ("Medicaid ID ", "##########?"),
)
_HONORIFIC = {"male": ("Mr.", "Mr"), "female": ("Mrs.", "Ms.", "Ms", "Mrs")}
_CREDENTIALS = ("MD", "DO", "RN", "NP", "PA-C", "MD, PhD")


@dataclass
class _Person:
    first: str
    last: str
    sex: str
    middle: str = ""

    def full(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.15 and self.middle:
            return f"{self.first} {self.middle[0]}. {self.last}"
        return f"{self.first} {self.last}"


@dataclass
class _Sources:
    fake: Faker
    names: list[Faker]  # who the names come from
    rng: random.Random
    clinical: list[str] = field(default_factory=list)

    def person(self) -> _Person:
        fake = self.rng.choice(self.names)
        sex = self.rng.choice(("male", "female"))
        first = fake.first_name_male() if sex == "male" else fake.first_name_female()
        return _Person(first, fake.last_name(), sex, fake.first_name())

    def dob(self) -> str:
        born = self.fake.date_of_birth(minimum_age=1, maximum_age=95)
        return born.strftime(self.rng.choice(_DATE_FORMATS))

    def phone(self) -> str:
        return self.fake.phone_number()

    def mrn(self) -> str:
        return self.fake.bothify(self.rng.choice(_MRN_FORMATS)).upper()

    def ssn(self) -> str:
        ssn = self.fake.ssn()
        return self.rng.choice((ssn, ssn, ssn, ssn.replace("-", " "), ssn.replace("-", "")))


def _name(b: _Builder, s: _Sources, person: _Person, full: bool = True) -> None:
    if full:
        b.plant("NAME", person.full(s.rng))
    else:
        b.plant("NAME", person.last)


def _address(b: _Builder, s: _Sources) -> None:
    street = s.fake.street_address()
    city, state, zipcode = s.fake.city(), s.fake.state_abbr(), s.fake.postcode()
    if s.rng.random() < 0.2:
        zipcode = s.fake.zipcode_plus4()
    sep = s.rng.choice((", ", ", ", "\n"))
    b.plant("ADDRESS", f"{street}{sep}{city}, {state} {zipcode}", keep=(state,))


# Each sentence writes itself into the builder; ``p`` is the note's patient.
Sentence = Callable[[_Builder, _Sources, _Person], None]


def _s(*pieces: object) -> Sentence:
    """A sentence of literal strings and callables ``(builder, sources, patient)``."""

    def write(b: _Builder, s: _Sources, p: _Person) -> None:
        for piece in pieces:
            if isinstance(piece, str):
                b.add(piece)
            else:
                piece(b, s, p)  # type: ignore[operator]

    return write


def _patient(b: _Builder, s: _Sources, p: _Person) -> None:
    _name(b, s, p)


def _patient_last(b: _Builder, s: _Sources, p: _Person) -> None:
    _name(b, s, p, full=False)


def _patient_formal(b: _Builder, s: _Sources, p: _Person) -> None:
    b.add(s.rng.choice(_HONORIFIC[p.sex]) + " ")
    _name(b, s, p, full=s.rng.random() < 0.4)


def _last_first(b: _Builder, s: _Sources, p: _Person) -> None:
    b.plant("NAME", f"{p.last}, {p.first}")


def _other(b: _Builder, s: _Sources, p: _Person) -> None:
    _name(b, s, s.person())


def _clinician(b: _Builder, s: _Sources, p: _Person) -> None:
    _name(b, s, s.person())


def _age(b: _Builder, s: _Sources, p: _Person) -> None:
    b.add(str(s.rng.randint(19, 88)))


def _clin(b: _Builder, s: _Sources, p: _Person) -> None:
    b.add(s.rng.choice(s.clinical))


def _relation(b: _Builder, s: _Sources, p: _Person) -> None:
    b.add(s.rng.choice(("daughter", "son", "wife", "husband", "mother", "sister", "brother")))


def _cred(b: _Builder, s: _Sources, p: _Person) -> None:
    b.add(s.rng.choice(_CREDENTIALS))


def _service_date(b: _Builder, s: _Sources, p: _Person) -> None:
    b.add(s.fake.date_between("-2y", "today").strftime(s.rng.choice(_DATE_FORMATS[:4])))


def _id(kind: str) -> Callable[[_Builder, _Sources, _Person], None]:
    def write(b: _Builder, s: _Sources, p: _Person) -> None:
        value = {
            "DOB": s.dob,
            "PHONE": s.phone,
            "FAX": s.phone,
            "EMAIL": lambda: s.rng.choice(
                (s.fake.email, s.fake.free_email, s.fake.company_email)
            )(),
            "SSN": s.ssn,
            "MRN": s.mrn,
            "IP_ADDRESS": lambda: s.rng.choice((s.fake.ipv4_public, s.fake.ipv4_private))(),
        }[kind]()
        b.plant(kind, value)

    return write


def _account(b: _Builder, s: _Sources, p: _Person) -> None:
    label, fmt = s.rng.choice(_ACCOUNT)
    b.add(label)
    b.plant("ACCOUNT", s.fake.bothify(fmt).upper())


def _addr(b: _Builder, s: _Sources, p: _Person) -> None:
    _address(b, s)


DOB, PHONE, FAX, EMAIL = _id("DOB"), _id("PHONE"), _id("FAX"), _id("EMAIL")
SSN, MRN, IP = _id("SSN"), _id("MRN"), _id("IP_ADDRESS")

# Opening lines: who the note is about.
HEADERS: tuple[Sentence, ...] = (
    _s("Patient: ", _patient, "\nMRN: ", MRN, "\nDOB: ", DOB),
    _s("Name: ", _patient, "  DOB: ", DOB, "  MRN# ", MRN),
    _s("RE: ", _patient, " (DOB ", DOB, ")"),
    _s(_last_first, " - MRN ", MRN),
    _s("Pt: ", _patient, ", ", _age, "M, medical record number ", MRN),
    _s(
        _patient, " is a ", _age, "-year-old with ", _clin, " who presents with worsening symptoms."
    ),
    _s(_patient, ", a ", _age, " y/o patient with ", _clin, ", was admitted overnight."),
    _s(_patient_formal, " was seen in clinic today for follow-up of ", _clin, "."),
    _s("Patient ", _patient, " reports ", _clin, " since Tuesday."),
    _s("HPI: ", _patient, " presents to the ED with ", _clin, "."),
)
# Sentences with identifiers.
IDENTIFIED: tuple[Sentence, ...] = (
    _s("Date of birth: ", DOB, "."),
    _s("Born ", DOB, "; lives alone."),
    _s("D.O.B. ", DOB),
    _s("Verified identity with DOB ", DOB, " and name."),
    _s("Address: ", _addr),
    _s("Lives at ", _addr, " with ", _relation, "."),
    _s("Home address on file: ", _addr, "."),
    _s("Discharged home to ", _addr, "."),
    _s("Phone: ", PHONE),
    _s("Cell ", PHONE, ", okay to leave a message."),
    _s("Call back at ", PHONE, " with results."),
    _s("Best contact number is ", PHONE, "."),
    _s("Discussed plan with patient's ", _relation, ", ", _other, ", at ", PHONE, "."),
    _s("Emergency contact: ", _other, " (", _relation, ") ", PHONE),
    _s("Fax: ", FAX),
    _s("Fax records to ", FAX, " attn: medical records."),
    _s("Email: ", EMAIL),
    _s("Patient portal e-mail ", EMAIL, " confirmed."),
    _s("Results sent to ", EMAIL, " per patient request."),
    _s("SSN: ", SSN),
    _s("Social Security Number ", SSN, " verified by registration."),
    _s("ssn on file ", SSN, "."),
    _s("MRN: ", MRN),
    _s("Medical record number ", MRN, " merged."),
    _s("MR# ", MRN, " flagged for review."),
    _s(_account, "."),
    _s(_account, " on file; copay collected."),
    _s("Portal login from ", IP, " flagged."),
    _s("Seen by Dr. ", _clinician, "."),
    _s("Attending: ", _clinician, ", ", _cred),
    _s("Electronically signed by ", _clinician, ", ", _cred, " on ", _service_date, "."),
    _s("Case discussed with ", _clinician, " from cardiology."),
    _s(_clinician, ", ", _cred, " notified of the critical value."),
    _s("Spoke with ", _patient_formal, " about the discharge plan."),
    _s(_patient, " tolerated the procedure well."),
    _s(_patient, " denies chest pain, fever or chills."),
    _s("Per ", _patient_formal, ", symptoms began two days ago."),
    _s("Accompanied by ", _relation, " ", _other, "."),
    _s(_patient_formal, " was counseled on smoking cessation."),
)
CLINICAL = (
    "sepsis",
    "community-acquired pneumonia",
    "CHF exacerbation",
    "type 2 diabetes mellitus",
    "atrial fibrillation",
    "COPD",
    "chest pain",
    "acute kidney injury",
    "Parkinson's disease",
    "Crohn's disease",
    "Hodgkin lymphoma",
    "Addison's disease",
    "Graves' disease",
    "Hashimoto's thyroiditis",
    "Guillain-Barre syndrome",
)
# Sentences without PHI: must survive.
PLAIN: tuple[Sentence, ...] = tuple(
    _s(text)
    for text in (
        "Continue vancomycin 1 g IV q12h and piperacillin-tazobactam 4.5 g IV q6h.",
        "Chest X-ray: no acute cardiopulmonary process.",
        "Sepsis alert triggered by the Epic Sepsis Model v2.1; lactate 3.4 mmol/L.",
        "Follow up in Cardiology Clinic at Mercy General Hospital in 2 weeks.",
        "Troponin negative x2; EKG with normal sinus rhythm, HR 78.",
        "Started Lasix 40 mg PO daily and Metoprolol Tartrate 25 mg BID.",
        "History of Parkinson's disease, Addison's disease and Crohn's disease.",
        "Referred to Johns Hopkins for a second opinion; Cleveland Clinic records requested.",
        "Plan: CBC, BMP, blood cultures x2, Procalcitonin.",
        "Model sepsis-predictor 2.3.1 scored 0.82 (threshold 0.6).",
        "Vitals: BP 132/84, HR 92, RR 18, SpO2 96% on 2 L NC, Temp 38.4 C.",
        "Admitted 2024-03-02, discharged 2024-03-06.",
        "Will Continue Heparin Drip Per Protocol.",
        "Assessment And Plan: Acute Hypoxic Respiratory Failure, Improving.",
        "Seen with Physical Therapy; ambulating 150 feet with a walker.",
        "Glasgow Coma Scale 15; Wells score 2; CHA2DS2-VASc 3.",
        "Denies tobacco, alcohol or illicit drug use.",
        "Grace period for prior authorization with Blue Cross Blue Shield ends Friday.",
        "Summer camp physical form completed; Hope Clinic pharmacy notified.",
        "Patient education provided regarding Warfarin and Vitamin K intake.",
        "MRI Brain W/O Contrast: no acute intracranial abnormality.",
        "Tylenol 650 mg PO q6h PRN pain; Zofran 4 mg IV PRN nausea.",
        "Risk score from the Random Forest model was 0.41; latency 120 ms.",
        "Lab drawn at 0600; potassium 3.1, magnesium 1.7, replaced per protocol.",
    )
)


def notes(count: int, seed: int = 17, *, name_locales: Sequence[str] = ("en_US",)) -> list[Note]:
    """``count`` notes, the same for the same arguments. Names come from ``name_locales``."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    name_fakers = []
    for number, locale in enumerate(name_locales):
        named = Faker(locale)
        named.seed_instance(seed + number + 1)
        name_fakers.append(named)
    rng = random.Random(seed)
    sources = _Sources(fake, name_fakers, rng, list(CLINICAL))
    result = []
    for _ in range(count):
        patient = sources.person()
        b = _Builder()
        rng.choice(HEADERS)(b, sources, patient)
        body = rng.sample(IDENTIFIED, rng.randint(3, 5)) + rng.sample(PLAIN, rng.randint(1, 3))
        rng.shuffle(body)
        for sentence in body:
            b.add(rng.choice((" ", "\n", "\n", " ")))
            sentence(b, sources, patient)
        result.append(b.note())
    return result


# --- scoring ---------------------------------------------------------------------------------

_MARKER = re.compile(r"\[REDACTED_[A-Z_]+\]")


def redacted_spans(original: str, redacted: str) -> list[tuple[int, int]]:
    """The spans of ``original`` that ``redacted`` replaced with markers."""
    pieces = _MARKER.split(redacted)
    if len(pieces) == 1:
        return []
    pattern = "(.+?)".join(re.escape(piece) for piece in pieces)
    match = re.fullmatch(pattern, original, re.DOTALL)
    if match is None:
        raise ValueError(f"the redacted text is not the original with markers: {redacted!r}")
    return [match.span(group) for group in range(1, len(pieces))]


@dataclass
class Score:
    planted: dict[str, int] = field(default_factory=dict)
    caught: dict[str, int] = field(default_factory=dict)
    spans: int = 0
    true_spans: int = 0
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # kind, identifier, output
    false: list[str] = field(default_factory=list)  # text of redacted spans that were not PHI

    def recall(self, kind: str | None = None) -> float:
        kinds = [kind] if kind else list(self.planted)
        planted = sum(self.planted.get(k, 0) for k in kinds)
        return sum(self.caught.get(k, 0) for k in kinds) / planted if planted else float("nan")

    @property
    def precision(self) -> float:
        return self.true_spans / self.spans if self.spans else float("nan")


def score(corpus: Sequence[Note], redact: Callable[[str], str]) -> Score:
    """Recall per planted type and span precision of ``redact`` (note text -> redacted text)."""
    result = Score()
    for note in corpus:
        output = redact(note.text)
        spans = redacted_spans(note.text, output)
        covered = bytearray(len(note.text))
        for start, end in spans:
            covered[start:end] = b"\x01" * (end - start)
        for planted in note.planted:
            result.planted[planted.kind] = result.planted.get(planted.kind, 0) + 1
            if all(all(covered[a:b]) for a, b in planted.must):
                result.caught[planted.kind] = result.caught.get(planted.kind, 0) + 1
            else:
                result.missed.append((planted.kind, planted.text, output))
        for start, end in spans:
            result.spans += 1
            if any(start < p.end and p.start < end for p in note.planted):
                result.true_spans += 1
            else:
                result.false.append(note.text[start:end])
    return result
