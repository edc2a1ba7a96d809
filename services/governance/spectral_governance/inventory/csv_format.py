"""The inventory as CSV: one row per AI system, the API's field names as the header.

Import reads the same columns (``name``, ``department``, ``category``, ``uses_phi`` and
``risk_level`` are required; the others optional). Lists (``serves_states``, ``serves_localities``) are separated by
``;``, booleans are ``true``/``false`` (also ``yes``/``no``, ``1``/``0``), an empty cell is no
value. Each row is validated like a POST body; the errors come back per row and field.
Pure: text in, values out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from spectral_governance.inventory.schemas import AISystemCreate, create_values
from spectral_shared.errors import DomainError
from spectral_shared.web.validation import field_errors

IMPORT_COLUMNS = tuple(AISystemCreate.model_fields)
REQUIRED_COLUMNS = ("name", "department", "category", "uses_phi", "risk_level")
EXPORT_COLUMNS = (
    "id",
    *IMPORT_COLUMNS,
    "compliance_posture",
    "created_at",
    "updated_at",
    "deleted_at",
)
MAX_ROWS = 5000
LIST_SEPARATOR = ";"
# A cell a spreadsheet would run as a formula is written with a leading apostrophe (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    """One problem with one row of an import (row 1 is the first data row after the header)."""

    row: int
    field: str
    message: str


class CsvRefused(DomainError):
    """The file as a whole cannot be read (not its rows)."""

    title = "Unreadable CSV"
    slug = "invalid-csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def render(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The header, then one line per system, as text chunks (streamable)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in EXPORT_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _value(column: str, cell: str) -> Any:
    if column in ("serves_states", "serves_localities"):
        return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]
    return cell


def parse(text: str) -> list[dict[str, Any] | list[RowError]]:
    """Each data row's values for ``services.import_systems``, or that row's errors."""
    if text.startswith("\ufeff"):
        text = text[1:]  # Excel's byte-order mark
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise CsvRefused("The file is empty: give a header row and one row per AI system.")
    reader.fieldnames = header
    unknown = sorted(set(header) - set(IMPORT_COLUMNS) - {"id"} - set(EXPORT_COLUMNS))
    if unknown:
        raise CsvRefused(
            f"Unknown column(s): {', '.join(unknown)}. Columns: {', '.join(IMPORT_COLUMNS)}."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CsvRefused(f"Missing required column(s): {', '.join(missing)}.")
    if len(set(header)) != len(header):
        raise CsvRefused("A column appears twice in the header.")
    parsed: list[dict[str, Any] | list[RowError]] = []
    try:
        for number, row in enumerate(reader, start=1):
            if number > MAX_ROWS:
                raise CsvRefused(f"At most {MAX_ROWS} rows per import; split the file.")
            if None in row:
                parsed.append([RowError(number, "", "This row has more cells than the header.")])
                continue
            values = {
                column: _value(column, cell.strip())
                for column, cell in row.items()
                if column in IMPORT_COLUMNS and cell is not None and cell.strip() != ""
            }
            try:
                body = AISystemCreate.model_validate(values)
            except ValidationError as exc:
                parsed.append(
                    [RowError(number, e["field"], e["message"]) for e in field_errors(exc)]
                )
                continue
            parsed.append(create_values(body))
    except csv.Error as exc:
        raise CsvRefused(f"The file is not valid CSV: {exc}.") from exc
    if not parsed:
        raise CsvRefused("The file has a header but no rows.")
    return parsed
