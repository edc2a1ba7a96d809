"""The start-up check that a service can decrypt what it holds (ADR 0039): which key ids its
encrypted columns use that the key ring lacks, on both databases, and the line it stops with."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from spectral_shared import sealed
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import ConfigurationError, Settings
from spectral_shared.crypto import FieldCipher
from spectral_shared.db import utcnow
from spectral_shared.delivery import queue_delivery

OLD = base64.b64encode(b"o" * 32).decode()
NEW = base64.b64encode(b"n" * 32).decode()
OLD_KID = FieldCipher.from_config(OLD).current_key_id
NEW_KID = FieldCipher.from_config(NEW).current_key_id


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def audit(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Iterator[Any]:
    """The audit service's runtime under the OLD key (its deliveries are every service's)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    runtime = Runtime(
        installed_components()["audit"], make_settings(database_url=url, encryption_key=OLD)
    )
    runtime.migrate()
    yield runtime
    runtime.database.dispose()


def under(runtime: Runtime, current: str, previous: str | None = None, **more: Any) -> Runtime:
    update: dict[str, Any] = {"encryption_key": SecretStr(current), **more}
    if previous is not None:
        update["encryption_keys_previous"] = SecretStr(previous)
    return Runtime(runtime.component, runtime.settings.model_copy(update=update))


def queue(runtime: Runtime, n: int, **values: Any) -> None:
    tables = runtime.component.tables
    with runtime.database.session() as session:
        for _ in range(n):
            delivery = queue_delivery(session, tables, runtime.cipher, "email", "a@b.example", {})
            if values:
                session.execute(
                    tables.deliveries.update()
                    .where(tables.deliveries.c.id == delivery)
                    .values(**values)
                )


def test_unsent_deliveries_under_a_missing_key_are_found_and_counted(audit: Runtime) -> None:
    queue(audit, 2)
    queue(audit, 3, sent_at=utcnow())  # sent: never opened again
    # A row a migration moved keeps the associated data it was sealed under before the ciphertext.
    queue(
        audit,
        1,
        body="mail_outbox.message " + audit.cipher.encrypt_text("{}", "mail_outbox.message"),
    )

    assert sealed.unusable_keys(audit) == []
    assert sealed.unusable_keys(under(audit, NEW, OLD)) == []
    [found] = sealed.unusable_keys(under(audit, NEW)) or []
    assert found.key_id == OLD_KID
    assert found.places == {"audit.deliveries.target": 3, "audit.deliveries.body": 3}

    line = sealed.check(under(audit, NEW))
    assert line is not None and "\n" not in line
    assert line.startswith("audit cannot decrypt what its database holds: ")
    assert (
        f"key id {OLD_KID} in audit.deliveries.target (3 rows), audit.deliveries.body (3 rows)"
        in line
    )
    assert f"ENCRYPTION_KEY has id {NEW_KID}; ENCRYPTION_KEYS_PREVIOUS is empty" in line
    reset = "make stack-reset" if audit.database.is_postgres else "make clean"
    assert line.endswith(
        f"start afresh (its data is lost): {reset}. See docs/operations.md#troubleshooting."
    )
    assert "rotate-keys" not in line  # only where signing keys are affected


def test_production_is_not_told_to_start_afresh(audit: Runtime) -> None:
    queue(audit, 1)
    line = sealed.check(under(audit, NEW, spectral_env="production"))
    assert line is not None and "start afresh" not in line


def test_a_key_ring_that_does_not_parse_is_a_configuration_error(audit: Runtime) -> None:
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEYS_PREVIOUS"):
        sealed.check(under(audit, NEW, "not base64!"))


def test_an_unreachable_database_is_not_a_refusal(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    runtime = Runtime(installed_components()["audit"], settings)
    assert sealed.check(runtime) is None
