"""Billing's own tables: the organizations it serves (with their Stripe customer) and their
members, the AI systems governance reports, Stripe's subscriptions and invoices as last read,
checkout sessions, Stripe's webhook events, the capabilities decided per organization, notices
sent once, and daily usage.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from spectral_shared.db import UTCDateTime, UUIDString

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "usage_daily",
    "notices",
    "entitlements",
    "stripe_events",
    "checkouts",
    "invoices",
    "subscriptions",
    "ai_systems",
    "members",
    "organizations",
)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("type", sa.String(20)),
        sa.Column("state", sa.String(2)),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("stripe_customer_id", sa.String(255), unique=True),
        sa.Column("customer_deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("trial_used", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("sync_requested_at", UTCDateTime),
        sa.Column("sync_lease_until", UTCDateTime),
        sa.Column("sync_lease_token", sa.String(36)),
        sa.Column("synced_at", UTCDateTime),
    )
    op.create_table(
        "members",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False, index=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("role", sa.String(20)),
        sa.Column("personas", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "ai_systems",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False, index=True),
        sa.Column("counted", sa.Boolean, nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False, index=True),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("plan", sa.String(40)),
        sa.Column("price_id", sa.String(255)),
        sa.Column("item_id", sa.String(255)),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("collection_method", sa.String(30), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("current_period_start", UTCDateTime),
        sa.Column("current_period_end", UTCDateTime),
        sa.Column("trial_end", UTCDateTime),
        sa.Column("canceled_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("synced_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False, index=True),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("subscription_id", sa.String(255)),
        sa.Column("number", sa.String(100)),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("collection_method", sa.String(30), nullable=False),
        sa.Column("billing_reason", sa.String(50)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("amount_due", sa.Integer, nullable=False),
        sa.Column("amount_paid", sa.Integer, nullable=False),
        sa.Column("amount_remaining", sa.Integer, nullable=False),
        sa.Column("attempt_count", sa.Integer, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("finalized_at", UTCDateTime),
        sa.Column("paid_at", UTCDateTime),
        sa.Column("due_date", UTCDateTime),
        sa.Column("period_start", UTCDateTime),
        sa.Column("period_end", UTCDateTime),
        sa.Column("hosted_invoice_url", sa.Text),
        sa.Column("invoice_pdf", sa.Text),
        sa.Column("synced_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "checkouts",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("organization_id", UUIDString, nullable=False, index=True),
        sa.Column("plan", sa.String(40), nullable=False),
        sa.Column("trial", sa.Boolean, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", UUIDString),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("customer_id", sa.String(255), index=True),
        sa.Column("object_id", sa.String(255)),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(30)),
        sa.Column("processed_at", UTCDateTime, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "entitlements",
        sa.Column("organization_id", UUIDString, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("capabilities", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("plan", sa.String(40)),
        sa.Column("subscription_id", sa.String(255)),
        sa.Column("overdue_since", UTCDateTime),
        sa.Column("read_only_since", UTCDateTime),
        sa.Column("next_review_at", UTCDateTime, index=True),
        sa.Column("decided_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "notices",
        sa.Column("organization_id", UUIDString, primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("sent_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "usage_daily",
        sa.Column("organization_id", UUIDString, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("metric", sa.String(30), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
