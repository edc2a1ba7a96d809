"""Routing-key matching, the event catalog and the envelope."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from spectral_shared.bus.catalog import EventCatalog, EventData, routing_key_matches
from spectral_shared.bus.envelope import Actor, Envelope


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("auth.user.registered", "auth.user.registered", True),
        ("auth.user.registered", "auth.user.deleted", False),
        ("auth.user.registered", "auth.user", False),
        ("auth.*.registered", "auth.user.registered", True),
        ("auth.*.registered", "auth.registered", False),  # * is exactly one word
        ("auth.*.registered", "auth.a.b.registered", False),
        ("auth.*", "auth.user", True),
        ("auth.*", "auth", False),
        ("auth.*", "auth.user.registered", False),
        ("*.*.*", "billing.subscription.updated", True),
        ("*", "auth", True),
        ("*", "auth.user", False),
        ("auth.#", "auth.user.registered", True),
        ("auth.#", "auth.user", True),
        ("auth.#", "auth", True),  # # matches zero words
        ("auth.#", "authx.user", False),
        ("auth.#", "billing.auth.user", False),
        ("#", "auth.user.registered", True),
        ("#", "auth", True),
        ("#.registered", "auth.user.registered", True),
        ("#.registered", "registered", True),
        ("#.registered", "auth.user.deleted", False),
        ("auth.#.registered", "auth.registered", True),
        ("auth.#.registered", "auth.user.org.registered", True),
        ("auth.#.registered", "auth.user.registered.again", False),
        ("#.user.#", "auth.user.registered", True),
        ("#.user.#", "user", True),
        ("#.user.#", "auth.users.registered", False),
        ("*.#", "auth", True),
        ("#.*", "auth", True),
        ("*.*.#", "auth", False),
        ("governance.*.detected", "governance.violation.detected", True),
    ],
)
def test_routing_key_matches_amqp_topic_semantics(pattern: str, key: str, expected: bool) -> None:
    assert routing_key_matches(pattern, key) is expected


class UserRegistered(EventData):
    user_id: str
    email_domain: str


def test_catalog_defines_typed_events() -> None:
    catalog = EventCatalog("auth")
    event_type = catalog.define(
        "auth.user.registered", UserRegistered, "A user signed up.", version=2
    )
    assert catalog.types == {"auth.user.registered": event_type}
    assert event_type.producer == "auth"
    assert event_type.version == 2
    assert set(event_type.json_schema()["properties"]) == {"user_id", "email_domain"}


@pytest.mark.parametrize(
    "name", ["billing.user.registered", "authx.user.registered", "auth", "user.registered"]
)
def test_catalog_rejects_another_producers_prefix(name: str) -> None:
    with pytest.raises(ValueError, match=r"events of auth start with 'auth\.'"):
        EventCatalog("auth").define(name, UserRegistered, "wrong producer")


def test_catalog_rejects_duplicates() -> None:
    catalog = EventCatalog("auth")
    catalog.define("auth.user.registered", UserRegistered, "first")
    with pytest.raises(ValueError, match="declared twice"):
        catalog.define("auth.user.registered", UserRegistered, "second")


def test_event_data_is_closed_and_frozen() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        UserRegistered(user_id="u", email_domain="example.org", password="x")  # type: ignore[call-arg]
    data = UserRegistered(user_id="u", email_domain="example.org")
    with pytest.raises(ValidationError):
        data.user_id = "other"  # type: ignore[misc]


def _envelope(**overrides: object) -> Envelope:
    values: dict[str, object] = {
        "type": "auth.user.registered",
        "actor": Actor.user("3f1c1a7e-0000-4000-8000-000000000001"),
        "organization_id": uuid.uuid4(),
        "data": {"user_id": "u-1", "nested": {"list": [1, 2, 3]}},
    }
    values.update(overrides)
    return Envelope(**values)  # type: ignore[arg-type]


def test_envelope_defaults() -> None:
    envelope = _envelope()
    assert isinstance(envelope.id, uuid.UUID)
    assert envelope.version == 1
    assert envelope.occurred_at.tzinfo is not None
    assert abs(datetime.now(UTC) - envelope.occurred_at) < timedelta(seconds=5)


def test_envelope_json_round_trip() -> None:
    envelope = _envelope()
    body = envelope.to_json()
    document = json.loads(body)
    assert set(document) == {
        "id",
        "type",
        "version",
        "occurred_at",
        "organization_id",
        "actor",
        "data",
    }
    assert document["actor"] == {"type": "user", "id": "3f1c1a7e-0000-4000-8000-000000000001"}
    assert document["occurred_at"].endswith("Z")
    assert Envelope.from_json(body) == envelope
    assert Envelope.from_json(body.encode()) == envelope


def test_envelope_rejects_naive_datetimes() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        _envelope(occurred_at=datetime(2024, 5, 1, 12, 0))


def test_envelope_normalises_offsets_to_utc() -> None:
    cet = timezone(timedelta(hours=2))
    envelope = _envelope(occurred_at=datetime(2024, 5, 1, 14, 0, tzinfo=cet))
    assert envelope.occurred_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert envelope.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "event_type",
    [
        "auth.user",
        "Auth.user.registered",
        "auth.user.registered.now",
        "auth..registered",
        "auth.user-x.created",
        "",
    ],
)
def test_envelope_rejects_bad_types(event_type: str) -> None:
    with pytest.raises(ValidationError, match="type"):
        _envelope(type=event_type)


def test_envelope_rejects_unknown_fields_and_actor_types() -> None:
    with pytest.raises(ValidationError):
        Envelope.from_json(json.dumps({**json.loads(_envelope().to_json()), "extra": 1}))
    with pytest.raises(ValidationError):
        _envelope(actor={"type": "robot", "id": "r2"})


def test_actor_helpers() -> None:
    assert Actor.system("relay") == Actor(type="system", id="relay")
    assert Actor.anonymous() == Actor(type="anonymous", id=None)
