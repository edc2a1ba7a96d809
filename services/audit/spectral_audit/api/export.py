"""Streaming a log's entries out, up to the checkpoint the export is consistent with.

JSON lines: the first line is ``{"checkpoint": "<signed note>", "purged_below": N}`` (the purge
watermark); then one line per entry, ``{"index":N,"leaf_hash":"<base64>","columns":{...},
"entry":<canonical bytes verbatim>}`` (``"entry":null`` once purged), ``columns`` being the
stored search columns a verifier checks against the entry. The entry member comes last and is
the exact RFC 8785 bytes that were hashed, so a verifier takes everything after ``,"entry":`` up
to the closing brace and hashes it as it is. The lines are written and read by
``spectral_shared.tlog.audit_entries``, so the auditor's verifier sees each entry as stored.

CSV: one row per entry for spreadsheets, cells that a spreadsheet would run as a formula
prefixed with ``'`` (OWASP's CSV-injection advice); JSON lines are the form to verify.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import and_, select

from spectral_audit.models import Checkpoint, Entry, Node
from spectral_audit.stored import in_window, read_log
from spectral_shared.db import Database
from spectral_shared.tlog.audit_entries import export_head, export_line

CSV_COLUMNS = (
    "index",
    "leaf_hash",
    "message_id",
    "organization_id",
    "action",
    "actor_type",
    "actor_id",
    "resource_type",
    "resource_id",
    "occurred_at",
    "received_at",
    "data",
    "purged",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK = 5_000


def _rows(
    database: Database,
    log_id: str,
    size: int,
    start: int | datetime | None,
    end: int | datetime | None,
) -> Iterator[tuple[Entry, bytes]]:
    statement = (
        select(Entry, Node.hash)
        .join(Node, and_(Node.log_id == Entry.log_id, Node.level == 0, Node.idx == Entry.idx))
        .where(Entry.log_id == log_id, Entry.idx < size)
    )
    statement = in_window(statement, start, end)
    statement = statement.order_by(Entry.idx).execution_options(yield_per=_CHUNK)
    with database.session() as session:
        for entry, leaf in session.execute(statement):
            yield entry, bytes(leaf)


def _jsonl(
    database: Database,
    log_id: str,
    checkpoint: Checkpoint,
    start: int | datetime | None,
    end: int | datetime | None,
) -> Iterator[bytes]:
    with database.session() as session:
        purged_below, entries = read_log(session, log_id, checkpoint.size, start, end)
        yield export_head(checkpoint.note, purged_below)
        buffer: list[bytes] = []
        for entry in entries:
            buffer.append(export_line(entry))
            if len(buffer) >= 500:
                yield b"".join(buffer)
                buffer.clear()
        if buffer:
            yield b"".join(buffer)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv(rows: Iterator[tuple[Entry, bytes]]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for count, (entry, leaf) in enumerate(rows, 1):
        body = json.loads(entry.body) if entry.body is not None else None
        writer.writerow(
            [
                _cell(v)
                for v in (
                    entry.idx,
                    base64.b64encode(leaf).decode(),
                    entry.message_id,
                    body["organization_id"] if body else None,
                    entry.action,
                    entry.actor_type,
                    entry.actor_id,
                    entry.resource_type,
                    entry.resource_id,
                    body["occurred_at"] if body else entry.occurred_at.isoformat(),
                    body["received_at"] if body else entry.received_at.isoformat(),
                    json.dumps(body["data"], sort_keys=True) if body else None,
                    "true" if body is None else "false",
                )
            ]
        )
        if count % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def export_stream(
    database: Database,
    log_id: str,
    checkpoint: Checkpoint,
    format: str,
    start: int | datetime | None,
    end: int | datetime | None,
) -> tuple[Iterator[bytes], str]:
    if format == "csv":
        return _csv(_rows(database, log_id, checkpoint.size, start, end)), "text/csv"
    return _jsonl(database, log_id, checkpoint, start, end), "application/x-ndjson"
