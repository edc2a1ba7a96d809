"""One append-only Merkle log per organization: logs, entries (canonical bytes), nodes, checkpoints.

Entries recorded before this revision are appended, in their original order, to their
organization's new log (ADR 0023). ``entries``, ``nodes`` and ``checkpoints`` refuse UPDATE and
DELETE by trigger, bar the one update retention makes (an entry's payload set to NULL); on
PostgreSQL the migrating role also gives up its own UPDATE (all but ``entries.body``), DELETE and
TRUNCATE on them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UTCDateTime
from spectral_shared.tlog.canonical import canonical_json
from spectral_shared.tlog.merkle import EMPTY_ROOT, CompactRange, leaf_hash

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("entries", "nodes", "checkpoints")
# Every column of an entry but its payload: what retention must leave as it was.
ENTRY_KEPT = (
    "log_id",
    "idx",
    "message_id",
    "action",
    "actor_type",
    "actor_id",
    "resource_type",
    "resource_id",
    "occurred_at",
    "received_at",
)


def _create_tables() -> None:
    op.create_table(
        "logs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("compact_range", sa.LargeBinary, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpointed_size", sa.BigInteger, nullable=False),
        sa.Column("purged_below", sa.BigInteger, nullable=False),
        sa.Column("legal_hold", sa.Boolean, nullable=False),
        sa.Column("legal_hold_reason", sa.Text, nullable=True),
        sa.Column("legal_hold_since", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("log_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("actor_type", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_entries_action", "entries", ["log_id", "action", "idx"])
    op.create_index("ix_entries_actor", "entries", ["log_id", "actor_id", "idx"])
    op.create_index(
        "ix_entries_resource", "entries", ["log_id", "resource_type", "resource_id", "idx"]
    )
    op.create_index("ix_entries_occurred", "entries", ["log_id", "occurred_at"])
    op.create_table(
        "nodes",
        sa.Column("log_id", sa.String(64), primary_key=True),
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("log_id", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("signed_at", UTCDateTime, nullable=False),
    )


def _stamp(value: object) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _carry_over(old: list[sa.Row[tuple[object, ...]]]) -> None:
    """Append the entries of revision 0001, in their order, to their organizations' logs."""
    bind = op.get_bind()
    meta = sa.MetaData()
    logs, entries, nodes = (sa.Table(n, meta, autoload_with=bind) for n in ("logs", "entries", "nodes"))
    trees: dict[str, CompactRange] = {}
    now = datetime.now(UTC)
    for row in old:
        log_id = str(row.organization_id) if row.organization_id else "platform"
        tree = trees.setdefault(log_id, CompactRange())
        body = canonical_json(
            {
                "format": 1,
                "organization_id": str(row.organization_id) if row.organization_id else None,
                "message_id": str(row.message_id),
                "action": row.action,
                "event_version": 1,
                "actor": {"type": row.actor_type, "id": row.actor_id},
                "resource": {"type": row.resource_type, "id": row.resource_id},
                "occurred_at": _stamp(row.occurred_at),
                "received_at": _stamp(row.received_at),
                "data": json.loads(row.data),
            }
        )
        index = tree.size
        bind.execute(
            entries.insert().values(
                log_id=log_id,
                idx=index,
                message_id=str(row.message_id),
                action=row.action,
                actor_type=row.actor_type,
                actor_id=row.actor_id,
                resource_type=row.resource_type,
                resource_id=row.resource_id,
                occurred_at=row.occurred_at,
                received_at=row.received_at,
                body=body,
            )
        )
        created = tree.append(leaf_hash(body))
        bind.execute(
            nodes.insert(),
            [{"log_id": log_id, "level": lv, "idx": ix, "hash": h} for lv, ix, h in created],
        )
    for log_id, tree in trees.items():
        bind.execute(
            logs.insert().values(
                id=log_id,
                size=tree.size,
                compact_range=tree.to_bytes(),
                root=tree.root() if tree.size else EMPTY_ROOT,
                checkpointed_size=0,
                purged_below=0,
                legal_hold=False,
                created_at=now,
            )
        )


def _postgres_guards() -> None:
    kept = ", ".join(f"NEW.{c}" for c in ENTRY_KEPT)
    was = ", ".join(f"OLD.{c}" for c in ENTRY_KEPT)
    op.execute(
        """
        CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit % rows are append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION guard_audit_entry() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.body IS NULL
             AND ROW({kept}) IS NOT DISTINCT FROM ROW({was}) THEN
            RETURN NEW;  -- retention: the payload goes, the leaf hash stays in nodes
          END IF;
          RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries "
        "FOR EACH ROW EXECUTE FUNCTION guard_audit_entry()"
    )
    for table in ("nodes", "checkpoints"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_audit_change()"
        )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change()"
        )
    tables = ", ".join(APPEND_ONLY)
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM PUBLIC, CURRENT_USER")
    op.execute("GRANT UPDATE (body) ON entries TO CURRENT_USER")


def _sqlite_guards() -> None:
    same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in ENTRY_KEPT)
    op.execute(
        f"""
        CREATE TRIGGER entries_append_only_update BEFORE UPDATE ON entries
        WHEN NOT (NEW.body IS NULL AND {same})
        BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE refused'); END
        """
    )
    for table in APPEND_ONLY:
        if table != "entries":
            op.execute(
                f"CREATE TRIGGER {table}_append_only_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit {table} rows are append-only: UPDATE refused'); END"
            )
        op.execute(
            f"CREATE TRIGGER {table}_append_only_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'audit {table} rows are append-only: DELETE refused'); END"
        )


def upgrade() -> None:
    bind = op.get_bind()
    old = list(bind.execute(sa.text("SELECT * FROM entries ORDER BY seq")))
    op.drop_table("entries")
    _create_tables()
    _carry_over(old)
    if bind.dialect.name == "postgresql":
        _postgres_guards()
    else:
        _sqlite_guards()


def downgrade() -> None:
    # Going back would mean deleting signed, append-only history: restore a backup instead.
    raise RuntimeError("audit 0002 is irreversible: the Merkle logs cannot be un-made")
