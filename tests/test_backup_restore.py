"""Backups and restores (``spectral db backup`` / ``restore``) against real PostgreSQL: a backup
restored into an empty database holds every row and every audit log its checkpoints signed; a
restore that lost or changed data is reported; retention keeps 30 daily and 12 monthly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from spectral_audit import services as audit
from spectral_audit.signing import runtime_signer
from spectral_shared.backup import (
    MANIFEST,
    BackupError,
    backups,
    check_restore,
    restore,
    retained,
    take_backup,
)
from spectral_shared.bus import Actor, Envelope
from spectral_shared.cli import cli
from spectral_shared.component import Runtime, installed_components
from spectral_shared.config import Settings

NOW = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


def test_retention_keeps_the_newest_of_each_of_30_days_and_12_months() -> None:
    every_6_hours = [NOW - timedelta(hours=h) for h in range(0, 24 * 400, 6)]  # 400 days
    kept = retained(every_6_hours, NOW)
    recent = {stamp.date() for stamp in kept if stamp.date() > (NOW - timedelta(days=30)).date()}
    assert len(recent) == 30
    assert {(s.year, s.month) for s in kept} == {(2025, 12)} | {(2026, m) for m in range(1, 12)}
    for stamp in kept:  # each the newest of its day
        assert stamp == max(s for s in every_6_hours if s.date() == stamp.date())
    assert len(kept) == 30 + 10  # 30 days (in November and October) and 10 earlier months
    assert retained([NOW - timedelta(days=900)], NOW) == {NOW - timedelta(days=900)}


def _signed_audit_log(settings: Settings, entries: int) -> str:
    runtime = Runtime(installed_components()["audit"], settings)
    organization = uuid.uuid4()
    envelopes = [
        Envelope(
            type="auth.user.logged_in",
            organization_id=organization,
            actor=Actor.user(f"u-{n}"),
            data={"user_id": f"u-{n}", "method": "password"},
        )
        for n in range(entries)
    ]
    with runtime.database.session() as session:
        audit.append_entries(session, envelopes)
    assert audit.sign_due_checkpoints(runtime.database, runtime_signer(runtime)) >= 1
    runtime.database.dispose()
    return str(organization)


@pytest.mark.integration
def test_a_backup_restores_whole_into_an_empty_database(
    make_settings: Callable[..., Settings], pg_url: str, empty_pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url=pg_url)
    log_id = _signed_audit_log(settings, 25)
    root = tmp_path / "backups"
    backup = take_backup(settings, root, NOW)
    assert backup.name == "20261126T210000Z" and list(backups(root)) == [NOW]
    manifest = json.loads((backup / MANIFEST).read_text())
    assert set(manifest["services"]) == set(installed_components())
    assert manifest["services"]["audit"]["rows"]["entries"] == 25
    assert manifest["services"]["governance"]["rows"]["controls"] > 200  # the catalog

    restore(backup, empty_pg_url)
    report = check_restore(backup, empty_pg_url)
    assert report.ok, report.problems
    assert report.services == tuple(sorted(installed_components()))
    with pytest.raises(BackupError, match="already has the schemas"):
        restore(backup, empty_pg_url)

    # A restore that lost a row, or whose log no longer reproduces its checkpoint, is reported.
    engine = sa.create_engine(empty_pg_url)
    with engine.begin() as connection:
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            sa.text(
                "UPDATE audit.entries SET body = convert_to(replace(convert_from(body, 'UTF8'), "
                "'u-13', 'u-99'), 'UTF8') WHERE log_id = :log AND idx = 13"
            ),
            {"log": log_id},
        )
        connection.execute(sa.text("DELETE FROM governance.controls WHERE id = 'MAP-1.1'"))
    engine.dispose()
    problems = check_restore(backup, empty_pg_url).problems
    assert any(p.startswith("governance.controls:") for p in problems), problems
    assert any(p.startswith(f"audit: log {log_id}:") for p in problems), problems


@pytest.mark.integration
def test_the_commands(
    make_settings: Callable[..., Settings],
    pg_url: str,
    empty_pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(database_url=pg_url)
    _signed_audit_log(settings, 3)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ENCRYPTION_KEY", settings.secret("ENCRYPTION_KEY"))
    runner = CliRunner()
    made = runner.invoke(cli, ["db", "backup", "--to", str(tmp_path / "b")])
    assert made.exit_code == 0, made.output
    [backup] = backups(tmp_path / "b").values()
    done = runner.invoke(cli, ["db", "restore", "--from", str(backup), "--into", empty_pg_url])
    assert done.exit_code == 0, done.output
    assert "restored and checked: audit, auth, billing, governance, reports" in done.output
    again = runner.invoke(cli, ["db", "restore", "--from", str(backup), "--into", empty_pg_url])
    assert again.exit_code != 0
