"""Every service's migrations, on real PostgreSQL: they build exactly the schema its models
declare (a model changed without a migration fails here), and the newest one rolls back."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from spectral_shared import migrations
from spectral_shared.component import Component, installed_components
from spectral_shared.db import Database

pytestmark = pytest.mark.integration

COMPONENTS = installed_components()


def not_alembics_own(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (type_ == "table" and name == "alembic_version")


def differences(database: Database, component: Component) -> list[Any]:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "version_table_schema": database.schema,
                "include_object": not_alembics_own,
            },
        )
        return list(compare_metadata(context, component.metadata))


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_the_migrations_build_the_schema_the_models_declare(name: str, pg_url: str) -> None:
    database = Database(name, pg_url)  # migrated to head, as `spectral db upgrade` does
    try:
        assert differences(database, COMPONENTS[name]) == []
    finally:
        database.dispose()


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_the_newest_migration_rolls_back_and_forward(name: str, empty_pg_url: str) -> None:
    """What rolling back a release needs ("Upgrades" in docs/operations.md). Older steps may be
    irreversible on purpose (audit 0002: signed history is not un-made; restore a backup)."""
    component = COMPONENTS[name]
    database = Database(name, empty_pg_url)
    try:
        migrations.upgrade(database, component.migrations)
        head = migrations.current_revision(database)
        migrations.downgrade(database, component.migrations, "-1")
        assert migrations.current_revision(database) != head
        migrations.upgrade(database, component.migrations)
        assert migrations.current_revision(database) == head
        assert differences(database, component) == []
    finally:
        database.dispose()


def test_the_delivery_outbox_takes_over_unsent_mail_and_slack_messages(empty_pg_url: str) -> None:
    """ADR 0032: governance 0006 moves unsent mail and Slack messages into ``deliveries`` without
    the keys (abandoned Slack messages become dead deliveries), the relay then opens and sends
    them, and the downgrade moves them back, refusing while newer deliveries wait unsent."""
    import json
    from collections.abc import Mapping

    from sqlalchemy import text

    from spectral_shared.crypto import FieldCipher
    from spectral_shared.db import utcnow
    from spectral_shared.delivery import DeliveryPolicy, deliver_due, queue_delivery
    from spectral_shared.outbound import OutboundPolicy
    from spectral_shared.testing.plugin import TEST_ENCRYPTION_KEY

    component = COMPONENTS["governance"]
    database = Database("governance", empty_pg_url)
    cipher = FieldCipher.from_config(TEST_ENCRYPTION_KEY)
    org = "7d1e6f2a-4c59-4a8e-9a0e-1f7f3b6f2c11"
    url = "http://127.0.0.1:9/services/T/B/x"
    mail = json.dumps({"to": "ada@mercy.example", "subject": "Verify", "text": "t", "html": None})
    now = utcnow()
    try:
        migrations.upgrade(database, component.migrations, "0005")
        with database.engine.begin() as conn:
            for sent_at in (None, now):
                conn.execute(
                    text(
                        "INSERT INTO mail_outbox (id, message, created_at, available_at,"
                        " attempts, sent_at) VALUES (gen_random_uuid(), :m, :now, :now, 2, :sent)"
                    ),
                    {
                        "m": cipher.encrypt_text(mail, "mail_outbox.message"),
                        "now": now,
                        "sent": sent_at,
                    },
                )
            for text_, sent_at, abandoned_at in (
                ("pending", None, None),
                ("abandoned", None, now),
                ("sent", now, None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO notifications (organization_id, channel, target, body,"
                        " created_at, available_at, attempts, sent_at, abandoned_at) VALUES"
                        " (:org, 'slack', :target, :body, :now, :now, 1, :sent, :abandoned)"
                    ),
                    {
                        "org": org,
                        "target": cipher.encrypt_text(
                            url, f"governance.organizations.slack_webhook_url:{org}"
                        ),
                        "body": cipher.encrypt_text(
                            json.dumps({"text": text_}), "governance.notifications"
                        ),
                        "now": now,
                        "sent": sent_at,
                        "abandoned": abandoned_at,
                    },
                )
        migrations.upgrade(database, component.migrations, "0006")  # the delivery outbox's

        def moved() -> list[tuple[str, int, bool]]:
            with database.engine.connect() as conn:
                return [
                    (row.channel, row.attempts, row.dead_at is not None)
                    for row in conn.execute(text("SELECT * FROM deliveries ORDER BY seq"))
                ]

        assert moved() == [("email", 2, False), ("slack", 1, False), ("slack", 1, True)]

        # Back and forth: the moved rows survive both ways.
        migrations.downgrade(database, component.migrations, "-1")
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM mail_outbox")).scalar_one() == 1
            assert [
                (json.loads(cipher.decrypt_text(body, "governance.notifications"))["text"], gone)
                for body, gone in conn.execute(
                    text("SELECT body, abandoned_at IS NOT NULL FROM notifications ORDER BY seq")
                )
            ] == [("pending", False), ("abandoned", True)]
        migrations.upgrade(database, component.migrations, "0006")  # the delivery outbox's
        assert moved() == [("email", 2, False), ("slack", 1, False), ("slack", 1, True)]

        sent: list[tuple[str, str, Mapping[str, object]]] = []

        class Recording:
            def __init__(self, channel: str) -> None:
                self.channel = channel

            def send(self, target: str, body: Mapping[str, object]) -> None:
                sent.append((self.channel, target, dict(body)))

        with database.engine.begin() as conn:
            conn.execute(text("UPDATE deliveries SET available_at = :t"), {"t": now})
        senders = {"email": Recording("email"), "slack": Recording("slack")}
        local = DeliveryPolicy(OutboundPolicy.parse("127.0.0.1"))  # the moved row's fake Slack
        assert deliver_due(database, component.tables, cipher, senders, policy=local) == 2
        assert sent == [
            ("email", "ada@mercy.example", {**json.loads(mail)}),
            ("slack", url, {"text": "pending"}),
        ]

        # A delivery queued since cannot be moved back: the downgrade refuses, changing nothing.
        with database.session() as session:
            queue_delivery(session, component.tables, cipher, "webhook", "https://x.example/h", {})
        with pytest.raises(RuntimeError, match="1 unsent deliveries"):
            migrations.downgrade(database, component.migrations, "-1")
        assert len(moved()) == 4
        assert migrations.current_revision(database) == "0006"
    finally:
        database.dispose()
