"""One open violation per (AI system, control): repeats add occurrences; a person's assessment
that a finding contradicts keeps, with the contradicting violation beside it. Violations carry
their discovery time and computed obligations; telemetry events the incident facts they need.

Open duplicates already stored are merged into the oldest, which takes their count and last-seen
time; the others are resolved as merged and their pending automated actions cancelled.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UTCDateTime, UUIDString

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("resolved_at IS NULL")


def upgrade() -> None:
    op.add_column(
        "violations", sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column("violations", sa.Column("last_seen_at", UTCDateTime, nullable=True))
    op.add_column("violations", sa.Column("discovered_at", UTCDateTime, nullable=True))
    op.execute(
        "UPDATE violations SET last_seen_at = detected_at, discovered_at = ("
        "SELECT occurred_at FROM telemetry_events e WHERE e.id = violations.telemetry_event_id)"
    )
    op.execute("UPDATE violations SET discovered_at = detected_at WHERE discovered_at IS NULL")
    _merge_open_duplicates()
    op.drop_index("ix_violations_open_control", table_name="violations")
    op.create_index(
        "ux_violations_open_control",
        "violations",
        ["ai_system_id", "control_id"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.add_column("violations", sa.Column("obligations", sa.JSON(), nullable=True))
    op.add_column("telemetry_events", sa.Column("incident", sa.JSON(), nullable=True))
    op.add_column("control_statuses", sa.Column("contested_by", UUIDString, nullable=True))
    op.add_column("control_statuses", sa.Column("contested_at", UTCDateTime, nullable=True))


def _merge_open_duplicates() -> None:
    bind = op.get_bind()
    groups = bind.execute(
        sa.text(
            "SELECT ai_system_id, control_id FROM violations WHERE resolved_at IS NULL "
            "GROUP BY ai_system_id, control_id HAVING COUNT(*) > 1"
        )
    ).all()
    for system_id, control_id in groups:
        rows = bind.execute(
            sa.text(
                "SELECT id, detected_at FROM violations WHERE ai_system_id = :s AND "
                "control_id = :c AND resolved_at IS NULL ORDER BY detected_at, id"
            ),
            {"s": system_id, "c": control_id},
        ).all()
        kept, merged = rows[0], rows[1:]
        bind.execute(
            sa.text("UPDATE violations SET occurrences = :n, last_seen_at = :seen WHERE id = :id"),
            {"n": len(rows), "seen": max(r.detected_at for r in rows), "id": kept.id},
        )
        for row in merged:
            bind.execute(
                sa.text(
                    "UPDATE violations SET resolved_at = detected_at, resolved_by = 'system', "
                    "resolution_note = :note WHERE id = :id"
                ),
                {"note": f"Merged into violation {kept.id}", "id": row.id},
            )
            bind.execute(
                sa.text(
                    "UPDATE required_actions SET status = 'cancelled' "
                    "WHERE violation_id = :id AND status = 'pending'"
                ),
                {"id": row.id},
            )


def downgrade() -> None:
    with op.batch_alter_table("control_statuses") as batch:
        batch.drop_column("contested_at")
        batch.drop_column("contested_by")
    op.drop_index("ux_violations_open_control", table_name="violations")
    op.create_index(
        "ix_violations_open_control",
        "violations",
        ["ai_system_id", "control_id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    with op.batch_alter_table("telemetry_events") as batch:
        batch.drop_column("incident")
    with op.batch_alter_table("violations") as batch:
        batch.drop_column("obligations")
        batch.drop_column("discovered_at")
        batch.drop_column("last_seen_at")
        batch.drop_column("occurrences")
