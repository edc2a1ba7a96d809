"""The audit log over HTTP on real PostgreSQL, RabbitMQ and Redis: every auth event lands in the
organization's log, checkpoints are signed within a second here, proofs verify against them,
``spectral audit verify`` trusts only what the key and the proofs show, and one organization
can read nothing of another's log."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from spectral_audit.commands import commands
from spectral_gateway.testing import SliceClient
from spectral_shared.testing import wait_until
from spectral_shared.tlog.client import open_checkpoint
from spectral_shared.tlog.merkle import verify_consistency, verify_inclusion
from spectral_shared.tlog.note import Checkpoint, NoteSigner, NoteVerifier

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def platform(start_live_platform: Callable[..., SliceClient]) -> SliceClient:
    return start_live_platform(audit_checkpoint_interval=0.2)


def key_of(client: SliceClient) -> NoteVerifier:
    response = client.get("/api/v1/audit/public-key")  # public: no credential
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return NoteVerifier.parse(response.text.strip())


def checkpoint_of(client: SliceClient, token: str, at_least: int) -> tuple[str, Checkpoint]:
    """The latest signed checkpoint, once it covers ``at_least`` entries."""
    verifier = key_of(client)

    def signed() -> tuple[str, Checkpoint] | None:
        response = client.get("/api/v1/audit/checkpoint", token)
        if response.status_code != 200:
            return None
        note = response.text
        origin = note.split("\n", 1)[0]
        checkpoint = open_checkpoint(note, verifier, origin)
        return (note, checkpoint) if checkpoint.size >= at_least else None

    return wait_until(signed, what=f"a checkpoint of {at_least} entries")


def b64d(value: str) -> bytes:
    return base64.b64decode(value)


def run_verify(client: SliceClient, token: str, key: str, state: Path, *args: str) -> Result:
    return CliRunner().invoke(
        commands,
        [
            "verify",
            "--url",
            client.base_url,
            "--token",
            token,
            "--key",
            key,
            "--state",
            str(state),
            *args,
        ],
    )


def test_every_auth_event_is_logged_and_the_verifier_confirms_it(
    platform: SliceClient, tmp_path: Path
) -> None:
    client = platform
    created, token = client.onboard("ada@mercy.example")
    organization_id = created["organization"]["id"]
    entries = client.audit_actions(token, at_least=5)  # auth's four, billing's first capabilities
    assert {
        "auth.organization.created",
        "auth.user.registered",
        "auth.user.logged_in",
        "billing.entitlements.updated",
    } <= {e["action"] for e in entries}
    _, checkpoint = checkpoint_of(client, token, at_least=4)
    key = key_of(client)
    assert checkpoint.origin == f"{key.name}/{organization_id}"
    state = tmp_path / "trust.json"

    first = run_verify(client, token, str(key), state, "--entry", "0", "--full")
    assert first.exit_code == 0, first.output
    assert "first use" in first.output and "entry 0: included" in first.output
    assert f"recomputed all {checkpoint.size} entries" in first.output
    trusted = json.loads(state.read_text())[checkpoint.origin]
    assert trusted["size"] >= checkpoint.size

    client.login("ada@mercy.example")  # the log grows; a later checkpoint must extend the first
    checkpoint_of(client, token, at_least=trusted["size"] + 1)
    second = run_verify(client, token, str(key), state)
    assert second.exit_code == 0, second.output
    assert f"consistent with the checkpoint trusted at {trusted['size']} entries" in second.output

    impostor = NoteSigner.generate(key.name).verifier  # the same name, another key
    refused = run_verify(client, token, str(impostor), state)
    assert refused.exit_code == 2 and "REFUSED" in refused.output
    assert json.loads(state.read_text())[checkpoint.origin]["size"] > trusted["size"] - 1

    no_key = CliRunner().invoke(
        commands, ["verify", "--url", client.base_url, "--state", str(state)]
    )
    assert no_key.exit_code != 0 and "prove nothing" in no_key.output


def test_proofs_and_entries_verify_against_the_signed_checkpoints(platform: SliceClient) -> None:
    client = platform
    _, token = client.onboard("bo@mercy.example")
    _, old = checkpoint_of(client, token, at_least=4)
    client.login("bo@mercy.example")
    client.login("bo@mercy.example")
    _, new = checkpoint_of(client, token, at_least=old.size + 2)

    for index in range(new.size):
        entry = client.get(f"/api/v1/audit/entries/{index}", token).json()
        leaf = hashlib.sha256(b"\x00" + entry["canonical"].encode()).digest()
        assert leaf == b64d(entry["leaf_hash"])
        proof = client.get(
            "/api/v1/audit/proof/inclusion", token, params={"index": index, "tree_size": new.size}
        ).json()
        verify_inclusion(index, new.size, leaf, [b64d(h) for h in proof["hashes"]], new.root)

    consistency = client.get(
        "/api/v1/audit/proof/consistency", token, params={"from": old.size, "to": new.size}
    ).json()
    assert (consistency["from"], consistency["to"]) == (old.size, new.size)
    verify_consistency(
        old.size, new.size, old.root, new.root, [b64d(h) for h in consistency["hashes"]]
    )

    verdict = client.get("/api/v1/audit/verify", token).json()
    assert verdict["valid"] is True and verdict["tree_size"] >= new.size

    for params in (
        {"index": 0, "tree_size": new.size + 1000},  # beyond the log
        {"index": new.size, "tree_size": new.size},
        {"index": -1, "tree_size": 1},
        {"index": "x", "tree_size": 1},
        {"tree_size": 1},
    ):
        bad = client.get("/api/v1/audit/proof/inclusion", token, params=params)
        assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    bad = client.get("/api/v1/audit/proof/consistency", token, params={"from": 5, "to": 2})
    assert bad.status_code == 400
    assert client.get("/api/v1/audit/entries/999999", token).status_code == 404


def _export(client: SliceClient, token: str, **params: Any) -> requests.Response:
    response = client.get("/api/v1/audit/export", token, params=params)
    assert response.status_code == 200, response.text
    return response


def test_the_export_streams_what_the_checkpoint_covers(platform: SliceClient) -> None:
    client = platform
    _, token = client.onboard("cy@mercy.example")
    _, checkpoint = checkpoint_of(client, token, at_least=4)

    jsonl = _export(client, token, format="jsonl")
    assert jsonl.headers["Content-Type"].startswith("application/x-ndjson")
    size = int(jsonl.headers["X-Audit-Tree-Size"])
    note = base64.b64decode(jsonl.headers["X-Audit-Checkpoint"]).decode()
    lines = jsonl.content.splitlines()
    assert json.loads(lines[0]) == {"checkpoint": note, "purged_below": 0}
    assert len(lines) == size + 1
    for number, line in enumerate(lines[1:]):
        head, _, body = line.partition(b',"entry":')
        meta = json.loads(head + b"}")
        assert meta["index"] == number
        assert hashlib.sha256(b"\x00" + body[:-1]).digest() == b64d(meta["leaf_hash"])
        assert meta["columns"]["action"] == json.loads(body[:-1])["action"]

    window = _export(client, token, format="jsonl", **{"from": 1, "to": 3}).content.splitlines()
    assert [json.loads(line)["index"] for line in window[1:]] == [1, 2]

    table = _export(client, token, format="csv")
    assert table.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert len(rows) == size and rows[0]["index"] == "0"
    assert rows[0]["action"] == "auth.organization.created" and rows[0]["purged"] == "false"

    for params in (
        {"format": "xml"},
        {"from": "yesterday"},
        {"from": 1, "to": "2026-01-01T00:00:00Z"},
    ):
        bad = client.get("/api/v1/audit/export", token, params=params)
        assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    assert checkpoint.size <= size


def test_one_organization_reads_nothing_of_anothers_log(platform: SliceClient) -> None:
    client = platform
    mercy, mercy_token = client.onboard("dee@mercy.example", org="Mercy General")
    client.login("dee@mercy.example")
    client.login("dee@mercy.example")
    county, county_token = client.onboard("eve@county.example", org="County Health")
    _, mercy_cp = checkpoint_of(client, mercy_token, at_least=6)
    _, county_cp = checkpoint_of(client, county_token, at_least=4)
    assert mercy_cp.origin.endswith(mercy["organization"]["id"])
    assert county_cp.origin.endswith(county["organization"]["id"])

    county_size = int(_export(client, county_token, format="jsonl").headers["X-Audit-Tree-Size"])
    beyond = county_size + 1  # an index only Mercy's log has
    assert client.get(f"/api/v1/audit/entries/{beyond}", mercy_token).status_code == 200
    assert client.get(f"/api/v1/audit/entries/{beyond}", county_token).status_code == 404
    county_export = _export(client, county_token, format="jsonl").text
    assert mercy["organization"]["id"] not in county_export
    assert mercy["user"]["id"] not in county_export
    events = client.get("/api/v1/audit/events", county_token, params={"limit": 200}).json()
    assert {e["organization_id"] for e in events["data"]} == {county["organization"]["id"]}


def test_a_legal_hold_is_an_admins_audited_decision(platform: SliceClient) -> None:
    client = platform
    _, token = client.onboard("fay@mercy.example")
    url = client.base_url + "/api/v1/audit/legal-hold"
    headers = {"Authorization": f"Bearer {token}"}
    bad = requests.put(url, json={"active": True}, headers=headers, timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
    placed = requests.put(
        url,
        json={"active": True, "reason": "Litigation hold, case 26-1187"},
        headers=headers,
        timeout=10,
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["legal_hold"] is True and placed.json()["retention_days"] == 2557
    retention = client.get("/api/v1/audit/retention", token).json()
    assert retention["legal_hold_reason"] == "Litigation hold, case 26-1187"
    logged = client.audit_actions(token, at_least=1, action="audit.legal_hold.placed")
    assert logged[0]["data"]["reason"] == "Litigation hold, case 26-1187"
    assert logged[0]["actor"]["type"] == "user"
