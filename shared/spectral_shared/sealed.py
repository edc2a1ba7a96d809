"""What each service holds encrypted, and the start-up check that it can open it (ADR 0039).

A service declares its encrypted columns (``Component.sealed``; every service's ``deliveries``
are added here). Before a target serves, :func:`unusable_keys` asks the database which key ids
those columns use that the process's key ring (``ENCRYPTION_KEY`` and
``ENCRYPTION_KEYS_PREVIOUS``) lacks: one ``GROUP BY`` per column over the rows that do not start
with a configured key id, so a healthy database answers with no rows. A service may add a
deeper check of its own (``Component.key_check``: auth decrypts its active signing keys).
:func:`refusal` turns what was found into the one line the process stops with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, KeyedColumnElement

from spectral_shared.bus.tables import BusTables
from spectral_shared.crypto import ciphertext_key_id
from spectral_shared.logging import get_logger

if TYPE_CHECKING:
    from spectral_shared.component import Runtime

log = get_logger("spectral.keys")

# How the operator starts a development database afresh, by where it lives.
RESET_STACK = "make stack-reset"
RESET_EMBEDDED = "make clean"


@dataclass(frozen=True)
class Sealed:
    """A column of FieldCipher ciphertexts the service will have to open again.

    ``where`` narrows it to those rows (e.g. signing keys not yet retired: a retired one is never
    decrypted again); ``remedy`` is what replaces the column's values when their key is lost;
    ``prefixed`` says values may carry the associated data they were sealed under before the
    ciphertext (rows a migration moved, see ``spectral_shared.delivery``)."""

    column: KeyedColumnElement[Any]  # a table's column: ``Model.__table__.c.name``
    where: Callable[[], ColumnElement[bool]] | None = None
    remedy: str | None = None
    prefixed: bool = False

    @property
    def table(self) -> str:
        return str(self.column).partition(".")[0]

    def place(self, service: str) -> str:
        return f"{service}.{self.column}"  # auth.signing_keys.private_key


def delivery_columns(tables: BusTables) -> tuple[Sealed, ...]:
    """Every service's delivery outbox: the target and body of messages still to be sent."""
    deliveries = tables.deliveries

    def unsent() -> ColumnElement[bool]:
        return deliveries.c.sent_at.is_(None) & deliveries.c.dead_at.is_(None)

    return tuple(
        Sealed(deliveries.c[name], where=unsent, prefixed=True) for name in ("target", "body")
    )


@dataclass
class UnusableKey:
    """A key id the database uses that the process does not have, and where (place -> rows)."""

    key_id: str
    places: dict[str, int] = field(default_factory=dict)
    remedies: list[str] = field(default_factory=list)


def _known(
    column: KeyedColumnElement[Any], kids: Iterable[str], prefixed: bool
) -> ColumnElement[bool]:
    patterns = [f"v1.{kid}.%" for kid in kids]
    if prefixed:
        patterns += [f"% v1.{kid}.%" for kid in kids]
    return sa.or_(*(column.like(pattern) for pattern in patterns))


def unusable_keys(runtime: Runtime) -> list[UnusableKey] | None:
    """The key ids this service's database uses that its key ring lacks: empty when all is well,
    None when the database is unreachable (the process then starts as it always did, and its
    ``/health`` says the database is down). A table not migrated yet holds nothing to check."""
    database = runtime.database
    if not database.ping(timeout_seconds=5):
        log.warning("keys.check_skipped", service=runtime.name, reason="database unreachable")
        return None
    kids = runtime.cipher.key_ids
    found: dict[str, UnusableKey] = {}
    with database.engine.connect() as conn:
        inspector = sa.inspect(conn)
        for sealed in (*delivery_columns(runtime.component.tables), *runtime.component.sealed):
            column = sealed.column
            if not inspector.has_table(sealed.table):
                continue  # not migrated yet: nothing sealed in it either
            # "v1.<kid>." of a ciphertext; the whole value where the ciphertext may come later.
            head = sa.func.substr(column, 1, 12)
            kid = sa.case((column.like("v1.%"), head), else_=column) if sealed.prefixed else head
            query = (
                sa.select(kid, sa.func.count())
                .where(column.is_not(None), ~_known(column, kids, sealed.prefixed))
                .group_by(kid)
                .limit(1000)
            )
            if sealed.where is not None:
                query = query.where(sealed.where())
            for value, count in conn.execute(query):
                key = ciphertext_key_id(value)
                if key is None or key in kids:
                    continue  # not a ciphertext: no key can open it, and it is not a key's fault
                entry = found.setdefault(key, UnusableKey(key))
                place = sealed.place(runtime.name)
                entry.places[place] = entry.places.get(place, 0) + count
                if sealed.remedy and sealed.remedy not in entry.remedies:
                    entry.remedies.append(sealed.remedy)
    return list(found.values())


def refusal(
    service: str,
    unusable: list[UnusableKey],
    problems: list[str],
    *,
    key_ids: tuple[str, ...],
    reset: str | None,
) -> str:
    """The one line a process stops with: which key ids, where, and what to do. ``reset`` is the
    command that starts a development database afresh (None in production)."""
    found = [
        f"key id {entry.key_id} in "
        + ", ".join(f"{place} ({count} rows)" for place, count in entry.places.items())
        for entry in unusable
    ]
    previous = key_ids[1:]
    ring = f"ENCRYPTION_KEY has id {key_ids[0]}; ENCRYPTION_KEYS_PREVIOUS " + (
        f"ids {', '.join(previous)}" if previous else "is empty"
    )
    remedies = []
    if unusable:
        remedies.append("add the key with that id to ENCRYPTION_KEYS_PREVIOUS (comma-separated)")
    remedies += list(dict.fromkeys(r for entry in unusable for r in entry.remedies))
    if reset:
        remedies.append(f"or, for a development database, start afresh (its data is lost): {reset}")
    return (
        f"{service} cannot decrypt what its database holds: {'; '.join([*found, *problems])} "
        f"({ring}). To start: {'; '.join(remedies)}. See docs/operations.md#troubleshooting."
    )


def check(runtime: Runtime) -> str | None:
    """None if this service can decrypt what it holds (or cannot tell yet), else the line to stop
    with. Raises ConfigurationError for a key ring that does not parse."""
    from spectral_shared.config import ConfigurationError

    try:
        key_ids = runtime.cipher.key_ids
    except ValueError as exc:
        raise ConfigurationError(f"ENCRYPTION_KEY or ENCRYPTION_KEYS_PREVIOUS: {exc}") from exc
    unusable = unusable_keys(runtime)
    if unusable is None:
        return None
    key_check = runtime.component.key_check
    # The deeper check only once every key id is known: it would report the same rows again.
    problems = key_check(runtime) if key_check is not None and not unusable else []
    if not unusable and not problems:
        return None
    settings = runtime.settings
    reset = None
    if not settings.is_production:
        reset = RESET_STACK if runtime.database.is_postgres else RESET_EMBEDDED
    return refusal(runtime.name, unusable, problems, key_ids=key_ids, reset=reset)
