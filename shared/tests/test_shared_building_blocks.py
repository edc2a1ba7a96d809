"""The shared building blocks every service's views and use cases stand on: keyset pages (on
SQLite and real PostgreSQL), domain errors answered as problems, the ``uuid`` path converter and
the acting identity as one ``Actor``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from spectral_shared.bus.envelope import Actor
from spectral_shared.db import UTCDateTime
from spectral_shared.errors import Conflict, NotFound, RuleBroken, UpgradeRequired
from spectral_shared.identity import Identity
from spectral_shared.web.converters import is_uuid, register_converters
from spectral_shared.web.pagination import Keyset, PageQuery, encode_cursor
from spectral_shared.web.problems import Problem, domain_problem

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
metadata = sa.MetaData()
things = sa.Table(
    "keyset_things",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = (
        f"sqlite:///{tmp_path / 'pages.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("empty_pg_url")
    )
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    # 25 rows; timestamps tie in pairs so the id has to break ties.
    rows = [
        {"id": f"{i:04d}", "created_at": START + timedelta(minutes=i // 2), "rank": i % 3}
        for i in range(25)
    ]
    with engine.begin() as connection:
        connection.execute(things.insert(), rows)
    yield engine
    engine.dispose()


def walk(
    engine: sa.Engine, keyset: Keyset[sa.Row[tuple[str, datetime, int]]], limit: int
) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        query = PageQuery(limit=limit, cursor=cursor)
        with engine.connect() as connection:
            rows = list(connection.execute(keyset.apply(sa.select(things), query)))
        page, cursor = keyset.page(rows, query)
        assert len(page) <= limit
        seen += [row.id for row in page]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("limit", [1, 4, 25, 200])
def test_keyset_pages_visit_every_row_once_in_order_both_ways(
    engine: sa.Engine, limit: int
) -> None:
    ids = [f"{i:04d}" for i in range(25)]
    ascending = Keyset((things.c.created_at, things.c.id))
    assert walk(engine, ascending, limit) == ids
    descending = Keyset((things.c.created_at, things.c.id), descending=True)
    assert walk(engine, descending, limit) == ids[::-1]


def test_keyset_orders_by_an_expression_and_reads_its_value_with_values(engine: sa.Engine) -> None:
    keyset: Keyset[sa.Row[tuple[str, datetime, int]]] = Keyset(
        (things.c.rank, things.c.id), values=lambda row: (row.rank, row.id)
    )
    expected = sorted((f"{i:04d}" for i in range(25)), key=lambda i: (int(i) % 3, i))
    assert walk(engine, keyset, 7) == expected


def test_a_new_row_before_the_cursor_does_not_shift_the_next_page(engine: sa.Engine) -> None:
    keyset = Keyset((things.c.created_at, things.c.id))
    query = PageQuery(limit=5)
    with engine.connect() as connection:
        page, cursor = keyset.page(
            list(connection.execute(keyset.apply(sa.select(things), query))), query
        )
    with engine.begin() as connection:
        connection.execute(things.insert(), [{"id": "0000a", "created_at": START, "rank": 0}])
    with engine.connect() as connection:
        following = list(
            connection.execute(keyset.apply(sa.select(things), PageQuery(limit=5, cursor=cursor)))
        )
    assert [r.id for r in page] == ["0000", "0001", "0002", "0003", "0004"]
    assert [r.id for r in following][:5] == ["0005", "0006", "0007", "0008", "0009"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        encode_cursor(5),  # not a key of two values
        encode_cursor(["2026-12-01T09:00:00+00:00"]),
        encode_cursor(["2026-12-01T09:00:00", "0001"]),  # a naive time was never handed out
        encode_cursor(["yesterday", "0001"]),
        encode_cursor([17, "0001"]),
        encode_cursor(["2026-12-01T09:00:00+00:00", 3]),
    ],
)
def test_a_cursor_that_was_not_handed_out_is_a_400(cursor: str) -> None:
    keyset = Keyset((things.c.created_at, things.c.id))
    with pytest.raises(Problem) as refused:
        keyset.apply(sa.select(things), PageQuery(cursor=cursor))
    assert refused.value.status == 400
    assert refused.value.type.endswith("/invalid-cursor")


def test_an_integer_key_refuses_a_boolean_or_text_cursor() -> None:
    keyset = Keyset((things.c.rank, things.c.id))
    for forged in ([True, "0001"], ["1", "0001"]):
        with pytest.raises(Problem):
            keyset.decode(encode_cursor(forged))
    assert keyset.decode(encode_cursor([2, "0001"])) == [2, "0001"]


def test_domain_errors_become_the_problems_they_name() -> None:
    missing = domain_problem(NotFound("AI system")).to_dict()
    assert missing == {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
        "detail": "No AI system with this id in your organization.",
    }
    broken = domain_problem(RuleBroken("owner_user_id", "This user is deactivated.")).to_dict()
    assert broken["status"] == 422
    assert broken["errors"] == [
        {
            "field": "owner_user_id",
            "pointer": "/owner_user_id",
            "code": "value_error",
            "message": "This user is deactivated.",
        }
    ]
    clash = domain_problem(Conflict("Name taken.", slug="duplicate-name")).to_dict()
    assert (clash["status"], clash["type"].rsplit("/", 1)[1]) == (409, "duplicate-name")
    upgrade = domain_problem(
        UpgradeRequired("Starter allows 3.", plan="starter", limit=3)
    ).to_dict()
    assert upgrade["status"] == 402
    assert (upgrade["upgrade_required"], upgrade["plan"], upgrade["limit"]) == (True, "starter", 3)


def test_the_uuid_converter_hands_views_canonical_ids_and_refuses_the_rest() -> None:
    app = Flask(__name__)
    register_converters(app)

    @app.get("/things/<uuid:thing_id>")
    def thing(thing_id: str) -> str:
        return thing_id

    client = app.test_client()
    upper = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    assert client.get(f"/things/{upper}").text == upper.lower()
    for wrong in ("not-a-uuid", "3f2504e0", "' OR 1=1 --"):
        assert client.get(f"/things/{wrong}").status_code == 404
    assert is_uuid(upper) and not is_uuid("nope") and not is_uuid(None)  # type: ignore[arg-type]


def test_the_acting_identity_is_one_actor_value() -> None:
    user = Identity(subject_type="user", subject_id="u1", organization_id="o1", role="admin")
    key = Identity(subject_type="api_key", subject_id="k1", organization_id="o1", role="analyst")
    service = Identity(subject_type="service", subject_id="s1", organization_id="o1", role="admin")
    assert user.actor == Actor(type="user", id="u1")
    assert key.actor == Actor(type="api_key", id="k1")
    assert service.actor == Actor(type="service", id="s1")
    assert user.acting_as == "user:u1"


def test_a_service_reads_its_own_settings_from_the_environment_or_from_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from spectral_shared.component import Runtime, installed_components
    from spectral_shared.config import Settings

    governance = installed_components()["governance"]
    monkeypatch.setenv("ACTION_EXECUTOR_INTERVAL_SECONDS", "15")
    from_env = Runtime(governance, Settings(var_dir=tmp_path)).service_settings
    assert from_env.action_executor_interval_seconds == 15.0  # type: ignore[attr-defined]
    given = Settings(var_dir=tmp_path, action_executor_interval_seconds=2)  # type: ignore[call-arg]
    in_code = Runtime(governance, given).service_settings
    assert in_code.action_executor_interval_seconds == 2.0  # type: ignore[attr-defined]
    monkeypatch.setenv("ACTION_EXECUTOR_INTERVAL_SECONDS", "0")
    with pytest.raises(ValueError, match="greater than 0"):
        _ = Runtime(governance, Settings(var_dir=tmp_path)).service_settings


def test_a_list_built_in_memory_pages_by_its_items_keys() -> None:
    from spectral_shared.web.pagination import page_of_list

    items = [f"C-{i}" for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = page_of_list(items, PageQuery(limit=3, cursor=cursor), key=str)
        seen += page
        if cursor is None:
            break
    assert seen == items
    with pytest.raises(Problem) as refused:
        page_of_list(items, PageQuery(limit=3, cursor=encode_cursor("C-99")), key=str)
    assert refused.value.status == 400
