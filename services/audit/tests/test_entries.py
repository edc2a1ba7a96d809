"""Turning events into audit entries: pure, canonical, and free of secrets and PHI."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import rfc8785

from spectral_audit.entries import WITHHELD, appendable, audit_entry
from spectral_shared.bus import Actor, Envelope

RECEIVED = datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)


def test_an_entry_names_its_organization_action_actor_and_resource() -> None:
    org = uuid.uuid4()
    envelope = Envelope(
        type="auth.user.registered",
        organization_id=org,
        actor=Actor.user("u-1"),
        data={"user_id": "u-1", "email": "ada@mercy.example", "name": "Ada", "role": "admin"},
    )
    entry = audit_entry(envelope, RECEIVED)
    assert entry["organization_id"] == str(org) and entry["action"] == "auth.user.registered"
    assert entry["actor"] == {"type": "user", "id": "u-1"}
    assert entry["resource"] == {"type": "user", "id": "u-1"}
    assert entry["message_id"] == str(envelope.id)
    assert entry["received_at"] == "2026-11-26T10:00:00.123456Z"
    assert entry["occurred_at"].endswith("Z")
    item = appendable(envelope, RECEIVED)
    assert item.log_id == str(org) and (item.resource_type, item.resource_id) == ("user", "u-1")


def test_the_leaf_is_the_rfc8785_bytes_with_the_leaf_prefix() -> None:
    envelope = Envelope(
        type="auth.user.logged_in", actor=Actor.user("u"), data={"b": 1.5, "a": "é", "user_id": "u"}
    )
    item = appendable(envelope, RECEIVED)
    assert item.body == rfc8785.dumps(audit_entry(envelope, RECEIVED))
    assert item.body.index(b'"a"') < item.body.index(b'"b"')  # members sorted, no whitespace
    assert item.leaf == hashlib.sha256(b"\x00" + item.body).digest()
    assert item.log_id == "platform"  # no organization: the platform log
    assert appendable(envelope, RECEIVED).body == item.body  # deterministic


def test_secrets_and_phi_never_reach_an_entry_at_any_depth() -> None:
    envelope = Envelope(
        type="governance.ai_system.updated",
        organization_id=uuid.uuid4(),
        actor=Actor.user("u"),
        data={
            "ai_system_id": "s-1",
            "password": "hunter2hunter2",
            "context": {"api_key": "spk_live_x", "ip": "10.0.0.1", "patient_name": "Jane Roe"},
            "changes": [{"field": "notes", "mrn": "12345678"}],
            "payload": {"text": "Patient DOB 1970-01-01"},
            "description": "x" * 5000,
        },
    )
    data = audit_entry(envelope, RECEIVED)["data"]
    assert data["password"] == "[REDACTED]" and data["context"]["api_key"] == "[REDACTED]"
    assert data["context"]["patient_name"] == WITHHELD and data["payload"] == WITHHELD
    assert data["changes"][0]["mrn"] == WITHHELD and data["changes"][0]["field"] == "notes"
    assert data["context"]["ip"] == "10.0.0.1"
    assert len(data["description"]) == 513  # cut, marked with an ellipsis
    text = json.dumps(data)
    assert "hunter2" not in text and "Jane Roe" not in text and "1970-01-01" not in text


def test_values_json_numbers_cannot_carry_exactly_are_kept_as_text() -> None:
    envelope = Envelope(
        type="auth.user.logged_in",
        actor=Actor.user("u"),
        data={"big": 2**64, "nan": float("nan"), "deep": {"a": {"b": {"c": {"d": 1}}}}},
    )
    data = audit_entry(envelope, RECEIVED)["data"]
    assert data["big"] == str(2**64) and data["nan"] == "nan"
    assert data["deep"]["a"]["b"]["c"] == "[nested data omitted]"
    appendable(envelope, RECEIVED)  # canonicalizable
