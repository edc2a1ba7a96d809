"""Entries refuse every update but retention's, and the purge watermark only moves forward.

Migration 0002 let any entry's payload be set to NULL, so an entry above the purged range could
be stripped of its payload through the application's own role. Now an UPDATE of ``entries`` is
let through only when it is a purge: ``body`` set to NULL, every other column as it was, at an
index below its log's ``purged_below`` watermark (which retention raises first, in the same
transaction). Every other UPDATE and every DELETE is refused, on PostgreSQL and SQLite alike.
The watermark itself (``logs.purged_below``) may only grow, never past the log's size, and not
while the log is under a legal hold; a log's size never shrinks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column of an entry but its payload: what a purge must leave as it was.
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
REFUSED_UPDATE = "audit entries are append-only: UPDATE refused"
WATERMARK_REFUSED = (
    "audit logs: the purge watermark only moves forward, within the log and not under a legal "
    "hold, and a log never shrinks"
)


def _postgres_entry_guard(below_watermark: bool) -> str:
    kept = ", ".join(f"NEW.{c}" for c in ENTRY_KEPT)
    was = ", ".join(f"OLD.{c}" for c in ENTRY_KEPT)
    watermark = (
        # The logs table of the trigger's own schema, whatever the session's search_path.
        """
          EXECUTE format('SELECT purged_below FROM %I.logs WHERE id = $1', TG_TABLE_SCHEMA)
            INTO watermark USING NEW.log_id;
          IF NEW.idx >= COALESCE(watermark, 0) THEN
            RAISE EXCEPTION 'audit entries are append-only: UPDATE refused (entry % is above the purge watermark)',
              NEW.idx USING ERRCODE = 'insufficient_privilege';
          END IF;"""
        if below_watermark
        else ""
    )
    return f"""
        CREATE OR REPLACE FUNCTION guard_audit_entry() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          watermark bigint;
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.body IS NULL
             AND ROW({kept}) IS NOT DISTINCT FROM ROW({was}) THEN{watermark}
            RETURN NEW;  -- retention: the payload goes, the leaf hash stays in nodes
          END IF;
          RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """


def _sqlite_entry_guard(below_watermark: bool) -> str:
    same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in ENTRY_KEPT)
    watermark = (
        " AND NEW.idx < COALESCE((SELECT purged_below FROM logs WHERE id = NEW.log_id), 0)"
        if below_watermark
        else ""
    )
    return f"""
        CREATE TRIGGER entries_append_only_update BEFORE UPDATE ON entries
        WHEN NOT (NEW.body IS NULL AND {same}{watermark})
        BEGIN SELECT RAISE(ABORT, '{REFUSED_UPDATE}'); END
        """


# A change of the watermark or the size that no purge or append makes.
_WATERMARK_MISUSED = (
    "NEW.size < OLD.size OR (NEW.purged_below <> OLD.purged_below AND NOT ("
    "NEW.purged_below > OLD.purged_below AND NEW.purged_below <= NEW.size "
    "AND NOT OLD.legal_hold AND NOT NEW.legal_hold))"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_postgres_entry_guard(below_watermark=True))
        op.execute(
            f"""
            CREATE FUNCTION guard_audit_log_head() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF {_WATERMARK_MISUSED} THEN
                RAISE EXCEPTION '{WATERMARK_REFUSED}' USING ERRCODE = 'insufficient_privilege';
              END IF;
              RETURN NEW;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER logs_purge_watermark BEFORE UPDATE ON logs "
            "FOR EACH ROW EXECUTE FUNCTION guard_audit_log_head()"
        )
    else:
        op.execute("DROP TRIGGER entries_append_only_update")
        op.execute(_sqlite_entry_guard(below_watermark=True))
        op.execute(
            f"""
            CREATE TRIGGER logs_purge_watermark BEFORE UPDATE ON logs
            WHEN {_WATERMARK_MISUSED}
            BEGIN SELECT RAISE(ABORT, '{WATERMARK_REFUSED}'); END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER logs_purge_watermark ON logs")
        op.execute("DROP FUNCTION guard_audit_log_head()")
        op.execute(_postgres_entry_guard(below_watermark=False))
    else:
        op.execute("DROP TRIGGER logs_purge_watermark")
        op.execute("DROP TRIGGER entries_append_only_update")
        op.execute(_sqlite_entry_guard(below_watermark=False))
