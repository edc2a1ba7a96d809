"""Write the name lexicon the PHI redactor reads (``spectral_governance/telemetry/names/``).

The source is the US Census Bureau's 1990 name frequency lists (public domain), as shipped in the
``names`` package on PyPI (0.3.0: ``dist.male.first``, ``dist.female.first``, ``dist.all.last``;
one name a line, upper case, with its frequency, cumulative frequency and rank). Kept: every
first name (1,219 male and 4,275 female, about 90% of people each) and the 10,000 commonest last
names (about 71% of people). The names are written in title case, sorted, one a line.

Run once, when the lexicon should change; the files it writes are committed:

    .tools/bin/uv run --no-project --with names==0.3.0 python tools/make_name_lexicon.py

The census lists are not Faker's, which makes the test corpus: the PHI benchmark's names are not
drawn from the lexicon (most of Faker's US names are in the census lists all the same, so the
benchmark also measures names of other locales, which mostly are not).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "services" / "governance" / "spectral_governance" / "telemetry" / "names"
LAST_NAMES = 10_000
HEADER = (
    "# {what}: US Census Bureau 1990 name frequency lists ({source}{cut}), title case.\n"
    "# Written by tools/make_name_lexicon.py; do not edit by hand.\n"
)


def census_file(name: str) -> list[str]:
    spec = importlib.util.find_spec("names")
    if spec is None or spec.origin is None:
        sys.exit("make_name_lexicon: the 'names' package is not installed (see the docstring)")
    rows = (Path(spec.origin).parent / name).read_text().splitlines()
    return [row.split()[0] for row in rows if row.strip()]


def title(name: str) -> str:
    # "MCDONALD" -> "Mcdonald", "O'BRIEN" does not occur (the lists have letters only).
    return name[:1] + name[1:].lower()


def write(path: Path, what: str, source: str, cut: str, names: list[str]) -> None:
    lines = sorted({title(n) for n in names if len(n) >= 2})
    path.write_text(HEADER.format(what=what, source=source, cut=cut) + "\n".join(lines) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(lines)} names")


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    first = census_file("dist.male.first") + census_file("dist.female.first")
    write(TARGET / "first.txt", "First names", "dist.male.first, dist.female.first", "", first)
    last = census_file("dist.all.last")[:LAST_NAMES]
    write(
        TARGET / "last.txt", "Last names", "dist.all.last", f", the {LAST_NAMES:,} commonest", last
    )


if __name__ == "__main__":
    main()
