"""The Merkle logs on SQLite and on real PostgreSQL: appended exactly once and without gaps,
signed only when provably consistent, and every kind of tampering caught by /verify's scan."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from spectral_audit import services
from spectral_audit.models import Checkpoint, Entry, Log, Node
from spectral_audit.signing import runtime_signer
from spectral_shared.bus import Envelope
from spectral_shared.bus.worker import EventConsumer
from spectral_shared.component import Runtime
from spectral_shared.config import Settings
from spectral_shared.testing import fire
from spectral_shared.tlog.client import LogRefused, extend_trust, open_checkpoint
from spectral_shared.tlog.merkle import leaf_hash, root_hash, verify_inclusion
from spectral_shared.tlog.note import NoteSigner, parse_checkpoint

Login = Callable[..., Envelope]


def append(runtime: Runtime, envelopes: list[Envelope]) -> list[tuple[str, int]]:
    with runtime.database.session() as session:
        return services.append_entries(session, envelopes)


def sign(runtime: Runtime) -> int:
    return services.sign_due_checkpoints(runtime.database, runtime_signer(runtime))


def leaves_of(runtime: Runtime, log_id: str) -> list[bytes]:
    with runtime.database.session() as session:
        bodies = session.scalars(
            select(Entry.body).where(Entry.log_id == log_id).order_by(Entry.idx)
        )
        return [leaf_hash(body) for body in bodies]


def test_redelivered_events_are_appended_once(audit: Runtime, login: Login) -> None:
    envelope = login(uuid.uuid4())
    outcomes = [fire(audit, "audit.log", envelope) for _ in range(3)]
    assert outcomes == ["handled", "duplicate", "duplicate"]
    subscription = audit.subscriptions[0]
    again = login(uuid.uuid4())
    batch = EventConsumer(audit.database, audit.component.tables).handle_batch(
        subscription, [again, envelope, again]
    )
    assert batch == ["handled", "duplicate", "duplicate"]
    with audit.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Entry)) == 2


def test_each_organization_has_its_own_gapless_log(audit: Runtime, login: Login) -> None:
    mercy, county = uuid.uuid4(), uuid.uuid4()
    placed = append(audit, [login(mercy), login(county), login(mercy), login(None)])
    assert placed == [(str(mercy), 0), (str(county), 0), (str(mercy), 1), ("platform", 0)]
    placed = append(audit, [login(mercy)])
    assert placed == [(str(mercy), 2)]
    leaves = leaves_of(audit, str(mercy))
    with audit.database.session() as session:
        head = session.get(Log, str(mercy))
        assert head is not None and head.size == 3
        assert bytes(head.root) == root_hash(leaves)
        # every perfect subtree stored once: 3 leaves, 1 parent
        assert (
            session.scalar(select(func.count()).select_from(Node).where(Node.log_id == str(mercy)))
            == 4
        )


@pytest.mark.integration
def test_concurrent_appends_keep_a_gapless_order(pg_audit: Runtime, login: Login) -> None:
    org = uuid.uuid4()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(15):
                append(pg_audit, [login(org), login(org)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with pg_audit.database.session() as session:
        indexes = list(session.scalars(select(Entry.idx).where(Entry.log_id == str(org))))
        head = session.get(Log, str(org))
        assert head is not None
    assert sorted(indexes) == list(range(180)) and head.size == 180
    assert bytes(head.root) == root_hash(leaves_of(pg_audit, str(org)))
    assert sign(pg_audit) == 1 and services.verify_log(pg_audit.database, str(org)).valid  # type: ignore[union-attr]


def test_checkpoints_are_signed_as_logs_grow_and_prove_consistency(
    audit: Runtime, login: Login
) -> None:
    org = uuid.uuid4()
    log_id = str(org)
    signer = runtime_signer(audit)
    append(audit, [login(org) for _ in range(5)])
    assert sign(audit) == 1 and sign(audit) == 0  # nothing new, nothing signed
    with audit.database.session() as session:
        first_note = services.latest_checkpoint(session, log_id).note  # type: ignore[union-attr]
    first = open_checkpoint(first_note, signer.verifier, f"{signer.name}/{log_id}")
    assert first.size == 5 and first.origin == f"localhost:5000/audit/{log_id}"

    append(audit, [login(org) for _ in range(8)])
    assert sign(audit) == 1
    with audit.database.session() as session:
        second_note = services.latest_checkpoint(session, log_id).note  # type: ignore[union-attr]
        proof = services.consistency_proof(session, log_id, 5, 13)
        inclusion = services.inclusion_proof(session, log_id, 7, 13)
    second = open_checkpoint(second_note, signer.verifier, first.origin)
    assert extend_trust(first, second, proof) == second
    verify_inclusion(7, 13, inclusion.leaf_hash, inclusion.hashes, second.root)
    assert inclusion.leaf_hash == leaves_of(audit, log_id)[7]

    forged = [bytes(32), *proof[1:]]
    with pytest.raises(LogRefused, match="does not extend"):
        extend_trust(first, second, forged)
    other = NoteSigner.generate(signer.name)  # same name, another key
    with pytest.raises(LogRefused, match="not the log's"):
        open_checkpoint(
            other.sign(parse_checkpoint(second_note.split("\n\n")[0] + "\n").text()),
            signer.verifier,
            first.origin,
        )


def test_a_log_whose_stored_tree_was_rewritten_gets_no_new_signature(
    pg_audit: Runtime, login: Login
) -> None:
    org = uuid.uuid4()
    append(pg_audit, [login(org) for _ in range(4)])
    assert sign(pg_audit) == 1
    append(pg_audit, [login(org) for _ in range(4)])
    with pg_audit.database.engine.begin() as conn:  # the superuser, behind the service's back
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text("UPDATE nodes SET hash = :h WHERE log_id = :l AND level = 2 AND idx = 1"),
            {"h": bytes(32), "l": str(org)},
        )
    assert sign(pg_audit) == 0
    with pg_audit.database.session() as session:
        assert (
            session.scalar(select(func.max(Checkpoint.size)).where(Checkpoint.log_id == str(org)))
            == 4
        )


def _tamper(runtime: Runtime, statement: str, **params: object) -> None:
    """As the database superuser with triggers off: what an attacker with the keys could do."""
    with runtime.database.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(statement), params)


@pytest.fixture
def signed_log(pg_audit: Runtime, login: Login) -> tuple[Runtime, str]:
    org = uuid.uuid4()
    append(pg_audit, [login(org, user=f"u-{i}") for i in range(20)])
    sign(pg_audit)
    verdict = services.verify_log(pg_audit.database, str(org))
    assert verdict is not None and verdict.valid and verdict.tree_size == 20
    return pg_audit, str(org)


@pytest.mark.integration
def test_an_entry_changed_behind_the_services_back_is_reported_at_its_index(
    signed_log: tuple[Runtime, str],
) -> None:
    runtime, log_id = signed_log
    _tamper(
        runtime,
        "UPDATE entries SET body = convert_to(replace(convert_from(body, 'UTF8'), 'u-13', 'u-99'), 'UTF8') "
        "WHERE log_id = :l AND idx = 13",
        l=log_id,
    )
    verdict = services.verify_log(runtime.database, log_id)
    assert verdict is not None and not verdict.valid
    assert verdict.broken_at == 13 and "changed" in (verdict.reason or "")


@pytest.mark.integration
def test_a_deleted_entry_is_caught(signed_log: tuple[Runtime, str]) -> None:
    runtime, log_id = signed_log
    _tamper(runtime, "DELETE FROM entries WHERE log_id = :l AND idx = 6", l=log_id)
    verdict = services.verify_log(runtime.database, log_id)
    assert verdict is not None and (verdict.valid, verdict.broken_at) == (False, 6)
    assert "missing" in (verdict.reason or "")


@pytest.mark.integration
def test_reordered_entries_are_caught(signed_log: tuple[Runtime, str]) -> None:
    runtime, log_id = signed_log
    _tamper(runtime, "UPDATE entries SET idx = 1000 WHERE log_id = :l AND idx = 4", l=log_id)
    _tamper(runtime, "UPDATE entries SET idx = 4 WHERE log_id = :l AND idx = 9", l=log_id)
    _tamper(runtime, "UPDATE entries SET idx = 9 WHERE log_id = :l AND idx = 1000", l=log_id)
    verdict = services.verify_log(runtime.database, log_id)
    assert verdict is not None and (verdict.valid, verdict.broken_at) == (False, 4)


@pytest.mark.integration
def test_rewritten_leaf_hashes_are_narrowed_down_by_the_signed_checkpoints(
    pg_audit: Runtime, login: Login
) -> None:
    org = uuid.uuid4()
    log_id = str(org)
    for _ in range(3):  # checkpoints at 10, 20 and 30 entries
        append(pg_audit, [login(org) for _ in range(10)])
        sign(pg_audit)
    # An entry and its leaf hash changed together: each entry still matches its own leaf.
    _tamper(
        pg_audit,
        "UPDATE entries SET body = convert_to(replace(convert_from(body, 'UTF8'), 'password', 'passkey'), 'UTF8') "
        "WHERE log_id = :l AND idx = 14",
        l=log_id,
    )
    with pg_audit.database.session() as session:
        body = session.scalar(select(Entry.body).where(Entry.log_id == log_id, Entry.idx == 14))
    assert body is not None
    _tamper(
        pg_audit,
        "UPDATE nodes SET hash = :h WHERE log_id = :l AND level = 0 AND idx = 14",
        h=leaf_hash(body),
        l=log_id,
    )
    verdict = services.verify_log(pg_audit.database, log_id)
    assert verdict is not None and not verdict.valid
    assert (verdict.broken_at, verdict.broken_before) == (10, 20)


def test_the_database_refuses_every_change_but_a_purge_below_the_watermark(
    audit: Runtime, login: Login
) -> None:
    org = uuid.uuid4()
    log_id = str(org)
    append(audit, [login(org) for _ in range(4)])
    sign(audit)

    def refused(statement: str, match: str = "append-only") -> None:
        with (
            pytest.raises(DatabaseError, match=match),
            audit.database.engine.begin() as conn,
        ):
            conn.execute(text(statement), {"l": log_id})

    for statement in (
        "UPDATE entries SET action = 'auth.nothing.happened' WHERE idx = 1",
        "UPDATE entries SET actor_id = 'someone-else' WHERE idx = 1",
        "UPDATE entries SET occurred_at = received_at WHERE idx = 1",
        "UPDATE entries SET body = body WHERE idx = 1",
        "UPDATE entries SET body = NULL WHERE idx = 1",  # above the watermark (0): no purge
        "UPDATE entries SET body = NULL, actor_id = 'someone-else' WHERE idx = 1",
        "DELETE FROM entries WHERE idx = 2",
        "UPDATE nodes SET hash = hash WHERE idx = 0",
        "UPDATE nodes SET hash = :l WHERE level = 0 AND idx = 1",
        "DELETE FROM nodes WHERE level = 1",
        "UPDATE checkpoints SET note = 'forged'",
        "DELETE FROM checkpoints",
    ):
        refused(statement)
    if audit.database.is_postgres:
        refused("TRUNCATE entries")

    with audit.database.engine.begin() as conn:  # retention's update: the watermark, then bodies
        conn.execute(text("UPDATE logs SET purged_below = 2 WHERE id = :l"), {"l": log_id})
        conn.execute(
            text("UPDATE entries SET body = NULL WHERE log_id = :l AND idx < 2"), {"l": log_id}
        )
    refused("UPDATE entries SET body = NULL WHERE idx = 2")  # still above it
    refused("UPDATE entries SET actor_id = 'someone-else' WHERE idx = 0")  # purged, still kept
    refused("DELETE FROM entries WHERE idx = 0")
    watermark = "purge watermark only moves forward"
    refused("UPDATE logs SET purged_below = 1 WHERE id = :l", watermark)
    refused("UPDATE logs SET purged_below = 5 WHERE id = :l", watermark)  # beyond the log
    refused("UPDATE logs SET size = 3 WHERE id = :l", watermark)
    refused("UPDATE logs SET purged_below = 3, legal_hold = true WHERE id = :l", watermark)
    verdict = services.verify_log(audit.database, log_id)
    assert verdict is not None and verdict.valid


@pytest.mark.integration
def test_the_applications_role_holds_no_update_or_delete_grant(
    empty_pg_url: str, make_settings: Callable[..., Settings], login: Login
) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from spectral_shared.component import installed_components

    role = f"audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(empty_pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"CREATE SCHEMA audit AUTHORIZATION {role}"))
    url = make_url(empty_pg_url).set(username=role).render_as_string(hide_password=False)
    runtime = Runtime(installed_components()["audit"], make_settings(database_url=url))
    try:
        runtime.migrate()  # run as the service's own role, which owns its schema
        org = uuid.uuid4()
        append(runtime, [login(org) for _ in range(2)])
        for statement in (
            "UPDATE nodes SET hash = hash",
            "DELETE FROM checkpoints",
            "UPDATE entries SET action = action",
            "TRUNCATE nodes",
        ):
            with (
                pytest.raises(DatabaseError, match="permission denied"),
                runtime.database.engine.begin() as conn,
            ):
                conn.execute(text(statement))
    finally:
        runtime.database.dispose()
        with admin.begin() as conn:
            conn.execute(text("DROP SCHEMA audit CASCADE"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()
