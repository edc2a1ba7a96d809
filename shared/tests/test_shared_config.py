"""Settings from the environment: durations, database URLs, aliases, dev secrets, production checks."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from spectral_shared.component import installed_components
from spectral_shared.config import (
    ConfigurationError,
    Settings,
    parse_duration,
    sqlalchemy_url,
)

GOOD_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine running the tests; var/ lives in tmp_path."""
    names = {name.upper() for name in Settings.model_fields}
    names |= {"UPSTASH_REDIS_URL", "VITE_STRIPE_PUBLIC_KEY", "PINO_LOG_LEVEL"}
    for name in list(os.environ):
        if (
            name in names
            or name.endswith("_DATABASE_URL")
            or name.endswith("_DATABASE_REPLICA_URL")
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))


# ---- durations and URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("15m", timedelta(minutes=15)),
        ("30s", timedelta(seconds=30)),
        ("900", timedelta(seconds=900)),
        ("250ms", timedelta(milliseconds=250)),
        ("2d", timedelta(days=2)),
        (" 15 m ", timedelta(minutes=15)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "1.5h", "-1h", "1w", "1 hour", "abc", "1h30m"])
def test_parse_duration_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_jwt_expiry_is_validated_and_exposed_as_a_timedelta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_EXPIRY", "15m")
    assert Settings().jwt_lifetime == timedelta(minutes=15)
    monkeypatch.setenv("JWT_EXPIRY", "soon")
    with pytest.raises(ValidationError, match="not a duration"):
        Settings()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///var/auth.db", "sqlite:///var/auth.db"),
        ("mysql://u@h/d", "mysql://u@h/d"),
    ],
)
def test_sqlalchemy_url_selects_psycopg3_for_postgres_only(url: str, expected: str) -> None:
    assert sqlalchemy_url(url) == expected


# ---- database_url_for precedence ------------------------------------------------------------


def test_database_url_defaults_to_sqlite_under_var_dir(tmp_path: Path) -> None:
    url = Settings().database_url_for("auth")
    assert url == f"sqlite:///{(tmp_path / 'var' / 'auth.db').resolve()}"


def test_pg_variables_beat_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("PGPORT", "6543")
    monkeypatch.setenv("PGUSER", "spectral")
    monkeypatch.setenv("PGPASSWORD", "hunter2")
    monkeypatch.setenv("PGDATABASE", "platform")
    url = make_url(Settings().database_url_for("auth"))
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "spectral",
        "hunter2",
        "db.internal",
        6543,
        "platform",
    )


def test_pg_variables_have_sensible_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.internal")
    assert (
        Settings().database_url_for("auth")
        == "postgresql+psycopg://postgres@db.internal:5432/spectral"
    )


def test_pg_password_with_url_special_characters_survives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("PGPASSWORD", "p@ss:w/rd#1")
    url = make_url(Settings().database_url_for("auth"))
    assert (url.host, url.password) == ("db.internal", "p@ss:w/rd#1")


def test_database_url_beats_pg_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared@main-db/spectral")
    assert Settings().database_url_for("auth") == "postgresql+psycopg://shared@main-db/spectral"


def test_service_database_url_beats_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared@main-db/spectral")
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgres://billing@billing-db/billing")
    settings = Settings()
    assert settings.database_url_for("billing") == "postgresql+psycopg://billing@billing-db/billing"
    # Only the named service is affected.
    assert settings.database_url_for("auth") == "postgresql+psycopg://shared@main-db/spectral"


# ---- aliases --------------------------------------------------------------------------------


def test_upstash_redis_url_is_accepted_as_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTASH_REDIS_URL", "rediss://default:tok@eu1.upstash.io:6379")
    assert Settings().redis_url == "rediss://default:tok@eu1.upstash.io:6379"


def test_redis_url_wins_over_upstash_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTASH_REDIS_URL", "rediss://upstash:6379")
    monkeypatch.setenv("REDIS_URL", "redis://local:6379/0")
    assert Settings().redis_url == "redis://local:6379/0"


def test_vite_stripe_public_key_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITE_STRIPE_PUBLIC_KEY", "pk_test_123")
    assert Settings().stripe_public_key == "pk_test_123"
    monkeypatch.setenv("STRIPE_PUBLIC_KEY", "pk_test_456")
    assert Settings().stripe_public_key == "pk_test_456"


def test_overrides_by_field_name_still_work() -> None:
    settings = Settings(redis_url="redis://x:6379/1", stripe_public_key="pk_live_1")
    assert settings.redis_url == "redis://x:6379/1"
    assert settings.stripe_public_key == "pk_live_1"


# ---- development secrets --------------------------------------------------------------------


def test_dev_secrets_are_generated_once_and_stable_across_instances(tmp_path: Path) -> None:
    first = Settings()
    session = first.secret("SESSION_SECRET")
    key = first.secret("ENCRYPTION_KEY")
    assert len(session) >= 32
    assert len(base64.b64decode(key, validate=True)) == 32

    path = tmp_path / "var" / "dev-secrets.json"
    assert json.loads(path.read_text()) == {"SESSION_SECRET": session, "ENCRYPTION_KEY": key}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "var" / "dev-secrets.tmp").exists()

    second = Settings()
    assert second.secret("SESSION_SECRET") == session
    assert second.secret("ENCRYPTION_KEY") == key


def test_dev_secrets_keep_existing_values_and_fill_the_missing_one(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / "dev-secrets.json").write_text(json.dumps({"SESSION_SECRET": "kept-session"}))
    settings = Settings()
    assert settings.secret("SESSION_SECRET") == "kept-session"
    key = settings.secret("ENCRYPTION_KEY")
    assert json.loads((var / "dev-secrets.json").read_text())["ENCRYPTION_KEY"] == key


def test_configured_secrets_win_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SESSION_SECRET", "from-env")
    monkeypatch.setenv("ENCRYPTION_KEY", GOOD_KEY)
    settings = Settings()
    assert settings.secret("SESSION_SECRET") == "from-env"
    assert settings.secret("ENCRYPTION_KEY") == GOOD_KEY
    assert not (tmp_path / "var" / "dev-secrets.json").exists()


def test_production_never_generates_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SPECTRAL_ENV", "production")
    with pytest.raises(ConfigurationError, match="SESSION_SECRET is required"):
        Settings().secret("SESSION_SECRET")
    assert not (tmp_path / "var" / "dev-secrets.json").exists()


# ---- production checks ----------------------------------------------------------------------

PRODUCTION_ENV = {
    "SPECTRAL_ENV": "production",
    "BASE_URL": "https://spectral.example.org",
    "DATABASE_URL": "postgresql://spectral:pw@db.internal:5432/spectral",
    "BROKER_URL": "amqps://spectral:pw@mq.internal:5671/",
    "REDIS_URL": "rediss://cache.internal:6379/0",
    "SESSION_SECRET": "x" * 44,
    "ENCRYPTION_KEY": GOOD_KEY,
    "SENDGRID_API_KEY": "SG.real-looking-key",
}
SERVICES = ["auth", "governance"]
# What auth's processes need besides the common settings (its component's production_requires).
AUTH_REQUIRES = list(installed_components()["auth"].production_requires)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_complete_production_config_is_accepted(production: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.is_production
    assert settings.production_problems(SERVICES, []) == []
    settings.ensure_runnable(SERVICES)
    assert settings.secure_cookies


def test_development_never_refuses() -> None:
    Settings().ensure_runnable(SERVICES)  # sqlite, memory://, http, no secrets: all fine here


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SESSION_SECRET": None}, "SESSION_SECRET is missing"),
        ({"ENCRYPTION_KEY": None}, "ENCRYPTION_KEY is missing"),
        ({"ENCRYPTION_KEY": "not base64 at all!"}, "ENCRYPTION_KEY is not valid base64"),
        ({"ENCRYPTION_KEY": base64.b64encode(b"short").decode()}, "exactly 32 bytes"),
        ({"DATABASE_URL": None}, "auth: DATABASE_URL (or AUTH_DATABASE_URL) must be PostgreSQL"),
        ({"BROKER_URL": None}, "BROKER_URL must point at RabbitMQ"),
        ({"BROKER_URL": "memory://"}, "BROKER_URL must point at RabbitMQ"),
        ({"REDIS_URL": None}, "REDIS_URL is missing"),
        ({"BASE_URL": "http://spectral.example.org"}, "BASE_URL must be https://"),
        ({"COOKIE_SECURE": "false"}, "COOKIE_SECURE must not be false"),
        ({"SENDGRID_API_KEY": None}, "SENDGRID_API_KEY is missing"),
    ],
)
def test_production_refuses_a_development_default(
    production: pytest.MonkeyPatch, change: dict[str, str | None], message: str
) -> None:
    for name, value in change.items():
        if value is None:
            production.delenv(name)
        else:
            production.setenv(name, value)
    with pytest.raises(ConfigurationError, match="refusing to start") as info:
        Settings().ensure_runnable(SERVICES, AUTH_REQUIRES)
    assert message in str(info.value)


def test_production_refuses_a_sqlite_database_url(production: pytest.MonkeyPatch) -> None:
    production.setenv("DATABASE_URL", "sqlite:////srv/spectral.db")
    with pytest.raises(ConfigurationError, match=r"SQLite|PostgreSQL"):
        Settings().ensure_runnable(SERVICES)


def test_production_refuses_sqlite_for_one_service_only(production: pytest.MonkeyPatch) -> None:
    production.setenv("GOVERNANCE_DATABASE_URL", "sqlite:////srv/governance.db")
    with pytest.raises(ConfigurationError) as info:
        Settings().ensure_runnable(SERVICES)
    assert "governance: DATABASE_URL" in str(info.value)
    assert "auth:" not in str(info.value)


def test_production_lists_every_problem_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECTRAL_ENV", "production")
    problems = Settings().production_problems(SERVICES, [*AUTH_REQUIRES, "STRIPE_SECRET_KEY"])
    text = "\n".join(problems)
    for expected in (
        "SESSION_SECRET is missing",
        "ENCRYPTION_KEY is missing",
        "auth: DATABASE_URL",
        "governance: DATABASE_URL",
        "BROKER_URL",
        "REDIS_URL is missing",
        "BASE_URL must be https://",
        "SENDGRID_API_KEY is missing",
        "STRIPE_SECRET_KEY is missing",
    ):
        assert expected in text


def test_production_checks_extra_required_settings(production: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="STRIPE_WEBHOOK_SECRET is missing"):
        Settings().ensure_runnable(SERVICES, ["STRIPE_WEBHOOK_SECRET"])
    production.setenv("STRIPE_WEBHOOK_SECRET", "whsec_123")
    Settings().ensure_runnable(SERVICES, ["STRIPE_WEBHOOK_SECRET"])


@pytest.mark.parametrize("name", ["SESSION_SECRET", "SENDGRID_API_KEY", "STRIPE_SECRET_KEY"])
def test_production_refuses_empty_secrets(production: pytest.MonkeyPatch, name: str) -> None:
    production.setenv(name, "")
    with pytest.raises(ConfigurationError, match=f"{name} is missing"):
        Settings().ensure_runnable(SERVICES, [*AUTH_REQUIRES, "STRIPE_SECRET_KEY"])


def test_only_auth_needs_the_session_secret(production: pytest.MonkeyPatch) -> None:
    production.delenv("SESSION_SECRET")
    Settings().ensure_runnable(["governance"], [])  # nothing outside auth derives keys from it
    with pytest.raises(
        ConfigurationError, match=r"SESSION_SECRET is missing \(generate with: openssl rand"
    ):
        Settings().ensure_runnable(["auth"], AUTH_REQUIRES)


def test_the_router_needs_no_service_infrastructure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The router only proxies: no database, broker, Redis, secrets or mail of its own."""
    monkeypatch.setenv("SPECTRAL_ENV", "production")
    monkeypatch.setenv("BASE_URL", "https://spectral.example.org")
    assert Settings().production_problems([], []) == []
    monkeypatch.setenv("BASE_URL", "http://spectral.example.org")
    assert Settings().production_problems([], []) == ["BASE_URL must be https:// in production"]
