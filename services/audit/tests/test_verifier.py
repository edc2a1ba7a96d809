"""The server's ``GET /api/v1/audit/verify`` and the auditor's ``spectral audit verify --full``
hold every entry to the same checks, on SQLite and on real PostgreSQL: whatever an attacker with
the database's keys did to a row (its payload dropped above the purged range, a search column
rewritten, a blob rewritten as text), both name the entry's index, and the server never answers
500."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result
from werkzeug.serving import make_server

from spectral_audit import services
from spectral_audit.commands import commands
from spectral_audit.signing import runtime_signer
from spectral_shared.bus import Envelope
from spectral_shared.component import Runtime
from spectral_shared.db import utcnow
from spectral_shared.identity import StaticKeySource, TokenVerifier
from spectral_shared.testing.tokens import TokenSigner

Login = Callable[..., Envelope]
TAMPERED = 7  # above the purged range [0, 3)


@dataclass
class ServedLog:
    runtime: Runtime
    log_id: str
    url: str
    token: str
    key: str

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def verify(self) -> dict[str, Any]:
        response = self.get("/api/v1/audit/verify")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def verify_full(self, state: Path) -> Result:
        return CliRunner().invoke(
            commands,
            [
                *("verify", "--url", self.url, "--token", self.token, "--key", self.key),
                *("--state", str(state), "--full"),
            ],
        )


@pytest.fixture
def served(audit: Runtime, login: Login) -> Iterator[ServedLog]:
    """Twelve entries of one organization, the first three purged, signed and served over
    HTTP to a token of the organization's compliance officer."""
    org = uuid.uuid4()
    log_id = str(org)
    tables = audit.component.tables
    with audit.database.session() as session:
        services.append_entries(session, [login(org, user=f"u-{i}") for i in range(3)])
    with audit.database.session() as session:
        later = utcnow() + timedelta(days=1)
        assert services.purge_log(session, tables, log_id, later, 30) == 3
    with audit.database.session() as session:
        services.append_entries(session, [login(org, user=f"u-{i}") for i in range(3, 12)])
    services.sign_due_checkpoints(audit.database, runtime_signer(audit))

    signer = TokenSigner("test-key", audit.settings.base_url, jti=None)
    audit.__dict__["verifier"] = TokenVerifier(
        StaticKeySource(signer.jwks()), issuer=audit.settings.base_url
    )
    server = make_server("127.0.0.1", 0, audit.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ServedLog(
            audit,
            log_id,
            f"http://127.0.0.1:{server.server_port}",
            signer.token(sub="u-0", org=log_id, role="compliance_officer"),
            str(runtime_signer(audit).verifier),
        )
    finally:
        server.shutdown()
        thread.join()


def test_an_untouched_log_verifies_on_both_sides(served: ServedLog, tmp_path: Path) -> None:
    verdict = served.verify()
    assert verdict["valid"] is True and verdict["tree_size"] == 12
    result = served.verify_full(tmp_path / "trust.json")
    assert result.exit_code == 0, result.output
    assert "recomputed all 12 entries" in result.output


@dataclass(frozen=True)
class Tampering:
    statement: str
    reason: str  # in the server's reason and the client's refusal alike
    sqlite_only: bool = False


TAMPERINGS = {
    "payload dropped above the purged range": Tampering(
        "UPDATE entries SET body = NULL WHERE log_id = :l AND idx = :i",
        "lost its payload outside the purged range",
    ),
    "action rewritten": Tampering(
        "UPDATE entries SET action = 'auth.nothing.happened' WHERE log_id = :l AND idx = :i",
        "stored action is not the action its hashed payload holds",
    ),
    "actor rewritten": Tampering(
        "UPDATE entries SET actor_id = 'u-99' WHERE log_id = :l AND idx = :i",
        "stored actor_id is not",
    ),
    "resource rewritten": Tampering(
        "UPDATE entries SET resource_id = NULL WHERE log_id = :l AND idx = :i",
        "stored resource_id is not",
    ),
    "occurrence moved": Tampering(
        "UPDATE entries SET occurred_at = '2020-01-01 00:00:00+00' WHERE log_id = :l AND idx = :i",
        "stored occurred_at is not",
    ),
    "message id rewritten": Tampering(
        "UPDATE entries SET message_id = :other WHERE log_id = :l AND idx = :i",
        "stored message_id is not",
    ),
    "payload rewritten as text": Tampering(
        "UPDATE entries SET body = CAST(body AS TEXT) WHERE log_id = :l AND idx = :i",
        "payload is stored as text, not bytes",
        sqlite_only=True,
    ),
    "payload rewritten as text that is not UTF-8": Tampering(
        "UPDATE entries SET body = CAST(X'FF' || body AS TEXT) WHERE log_id = :l AND idx = :i",
        "payload is stored as text",
        sqlite_only=True,
    ),
    "leaf hash rewritten as text": Tampering(
        "UPDATE nodes SET hash = CAST(hash AS TEXT) WHERE log_id = :l AND level = 0 AND idx = :i",
        "leaf hash is stored as text",
        sqlite_only=True,
    ),
    "action rewritten as a blob": Tampering(
        "UPDATE entries SET action = CAST(action AS BLOB) WHERE log_id = :l AND idx = :i",
        "stored action is stored as blob",
        sqlite_only=True,
    ),
    "time rewritten as a number": Tampering(
        "UPDATE entries SET received_at = 12 WHERE log_id = :l AND idx = :i",
        "stored received_at is stored as integer",
        sqlite_only=True,
    ),
}


def _named_at_its_index(
    served: ServedLog, tamper: Callable[..., None], tmp_path: Path, case: str
) -> None:
    tampering = TAMPERINGS[case]
    state = tmp_path / "trust.json"
    assert served.verify_full(state).exit_code == 0  # trusted before the tampering
    tamper(
        served.runtime,
        tampering.statement,
        l=served.log_id,
        i=TAMPERED,
        other=str(uuid.uuid4()),
    )

    verdict = served.verify()
    assert (verdict["valid"], verdict["broken_at"]) == (False, TAMPERED), verdict
    assert tampering.reason in verdict["reason"]

    refused = served.verify_full(state)
    assert refused.exit_code == 2, refused.output
    assert f"broken at entry {TAMPERED}" in refused.output
    assert tampering.reason in refused.output


@pytest.mark.parametrize("case", [c for c, t in TAMPERINGS.items() if not t.sqlite_only])
def test_tampering_is_named_at_its_index_by_the_server_and_the_auditor(
    served: ServedLog, tamper: Callable[..., None], tmp_path: Path, case: str
) -> None:
    _named_at_its_index(served, tamper, tmp_path, case)


# PostgreSQL keeps every column to its declared type; SQLite stores whatever it is given.
@pytest.mark.parametrize("audit", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", [c for c, t in TAMPERINGS.items() if t.sqlite_only])
def test_a_value_stored_as_another_type_is_named_at_its_index_too(
    served: ServedLog, tamper: Callable[..., None], tmp_path: Path, case: str
) -> None:
    _named_at_its_index(served, tamper, tmp_path, case)


def test_a_rewritten_action_hides_an_entry_from_filtered_reads_but_not_from_verification(
    served: ServedLog, tamper: Callable[..., None]
) -> None:
    def indexes(**params: Any) -> set[int]:
        response = served.get("/api/v1/audit/events", limit=100, **params)
        assert response.status_code == 200, response.text
        return {entry["index"] for entry in response.json()["data"]}

    assert TAMPERED in indexes(action="auth.user.logged_in")
    tamper(
        served.runtime,
        "UPDATE entries SET action = 'auth.user.viewed' WHERE log_id = :l AND idx = :i",
        l=served.log_id,
        i=TAMPERED,
    )
    assert TAMPERED not in indexes(action="auth.user.logged_in")  # the column is what is searched
    verdict = served.verify()
    assert (verdict["valid"], verdict["broken_at"]) == (False, TAMPERED)


def test_the_export_says_what_was_purged_and_carries_the_stored_columns(
    served: ServedLog,
) -> None:
    from spectral_shared.tlog.audit_entries import parse_export_head, parse_export_line

    response = served.get("/api/v1/audit/export", format="jsonl")
    assert response.status_code == 200, response.text
    first, *lines = response.content.splitlines()
    assert parse_export_head(first)[1] == 3
    entries = [parse_export_line(line) for line in lines]
    assert [e.body is None for e in entries] == [True] * 3 + [False] * 9
    assert entries[TAMPERED].columns["actor_id"] == f"u-{TAMPERED}"
    assert entries[TAMPERED].columns["action"] == "auth.user.logged_in"
