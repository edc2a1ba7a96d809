"""Typed settings from the environment (twelve-factor), validated at start-up.

Names are the ones docs/operations.md#configuration-and-secrets lists. Under ``SPECTRAL_ENV=production`` start-up refuses a missing
secret or a development default; elsewhere missing secrets are generated once into ``var/`` so a
fresh clone runs with no configuration at all.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from spectral_shared.files import write_private

Environment = Literal["development", "test", "production"]

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable deployment."""


def parse_duration(value: str) -> timedelta:
    """Parse ``"1h"``, ``"15m"``, ``"30s"``, ``"900"`` (seconds) into a timedelta."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 15m, 1h, 3600)")
    amount, unit = match.groups()
    return timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])


def sqlalchemy_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver; leave others alone."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    """Every setting Spectral reads. ``.env.example`` and the README list the same names."""

    # Names a service declares for itself (ServiceSettings) are kept as extras for it to read.
    model_config = SettingsConfigDict(extra="allow", case_sensitive=False, frozen=True)

    spectral_env: Environment = Field(
        default="development", validation_alias=AliasChoices("SPECTRAL_ENV", "NODE_ENV")
    )
    port: int = 5000
    base_url: str = ""  # empty: http://localhost:$PORT
    var_dir: Path = Path("var")

    # Database
    database_url: str | None = None
    database_replica_url: str | None = None
    pghost: str | None = None
    pgport: int = 5432
    pguser: str | None = None
    pgpassword: SecretStr | None = None
    pgdatabase: str | None = None

    # Security
    session_secret: SecretStr | None = None
    encryption_key: SecretStr | None = None
    # The audit log's checkpoint signer, a C2SP signed-note key: PRIVATE+KEY+<name>+<id>+<key>.
    audit_signing_key: SecretStr | None = None
    encryption_keys_previous: SecretStr | None = None
    cookie_secure: bool | None = None
    cookie_same_site: Literal["strict", "lax", "none"] = "strict"
    jwt_expiry: str = "1h"
    jwt_secret: SecretStr | None = (
        None  # accepted from the guide; tokens are EdDSA-signed (ADR 0005)
    )

    # Messaging and cache
    broker_url: str = "memory://"
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "UPSTASH_REDIS_URL")
    )
    upstash_redis_token: SecretStr | None = None
    redis_key_prefix: str = "spectral"  # lets environments (or test runs) share one Redis
    bus_exchange: str = "spectral.events"
    bus_queue_prefix: str = ""
    bus_retry_delays: str = "1,5,30"
    bus_prefetch: int = 16
    outbox_poll_interval: float = 0.5
    # Published outbox rows, sent deliveries and processed inbox records are deleted after this.
    bus_retention_days: int = Field(default=7, ge=1)
    # Failed sends of an outgoing message (e-mail, Slack, webhook) before it is dead (ADR 0032).
    delivery_max_attempts: int = Field(default=30, ge=1)
    # Networks (CIDR or one address) and host names whose private addresses tenant-set URLs
    # (Slack, webhooks) may reach, over http:// too: local fakes in development and tests
    # (ADR 0036). Empty (the default) is public HTTPS only; refused in production.
    outbound_allow_private: str = ""

    # E-mail
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_host: str = "https://api.sendgrid.com"
    from_email: str = "notifications@localhost"

    # Billing (Stripe)
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_public_key: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_PUBLIC_KEY", "VITE_STRIPE_PUBLIC_KEY")
    )

    # SSO (WorkOS)
    workos_api_key: SecretStr | None = None
    workos_client_id: str | None = None
    workos_cookie_password: SecretStr | None = None
    workos_base_url: str = "https://api.workos.com"  # a local fake in tests

    # Object storage
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_region: str = "us-east-1"
    aws_s3_bucket: str | None = None
    s3_endpoint_url: str | None = None

    # Observability and limits
    log_level: str = Field(
        default="info", validation_alias=AliasChoices("LOG_LEVEL", "PINO_LOG_LEVEL")
    )
    rate_limit_window_ms: int = 3_600_000
    rate_limit_max_requests: int = 1000
    # Per client address, on the gateway's abuse-prone public routes (sign-in, registration, ...).
    gateway_abuse_rate_per_minute: int = Field(default=30, ge=1)
    gateway_abuse_burst: int = Field(default=20, ge=0)

    # The audit log: how long entries keep their payloads (seven years, docs/operations.md#the-audit-log's
    # promise; HIPAA 164.316(b)(2) asks for six), and how often growing logs get a checkpoint.
    audit_retention_days: int = Field(default=2557, ge=1)
    audit_checkpoint_interval: float = Field(default=30.0, gt=0, le=60)

    # Where the services reach each other (split topology); unset means "this process".
    auth_internal_url: str | None = None

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        if not self.base_url:
            object.__setattr__(self, "base_url", f"http://localhost:{self.port}")
        return self

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return "WARNING" if level == "WARN" else level

    @field_validator("jwt_expiry")
    @classmethod
    def _jwt_expiry(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("outbound_allow_private")
    @classmethod
    def _outbound_allow_private(cls, value: str) -> str:
        from spectral_shared.outbound import OutboundPolicy

        OutboundPolicy.parse(value)  # raises on an entry that is no network, address or host
        return value

    @field_validator("bus_retry_delays")
    @classmethod
    def _retry_delays(cls, value: str) -> str:
        delays = [float(part) for part in value.split(",") if part.strip()]
        if not delays or any(d <= 0 for d in delays):
            raise ValueError("BUS_RETRY_DELAYS must be positive seconds, e.g. 1,5,30")
        return value

    # ---- derived values -------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.spectral_env == "production"

    @property
    def jwt_lifetime(self) -> timedelta:
        return parse_duration(self.jwt_expiry)

    @property
    def retry_delays(self) -> list[float]:
        return [float(part) for part in self.bus_retry_delays.split(",") if part.strip()]

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")

    def database_url_for(self, service: str) -> str:
        """``<SERVICE>_DATABASE_URL``, else ``DATABASE_URL``, else ``PG*``, else SQLite in var/."""
        own = os.environ.get(f"{service.upper()}_DATABASE_URL")
        if own:
            return sqlalchemy_url(own)
        if self.database_url:
            if self.database_url.startswith("sqlite"):
                # Every service has tables named outbox and inbox, and its own migration history:
                # they cannot share one SQLite file.
                raise ConfigurationError(
                    "DATABASE_URL may not point at SQLite: each service needs its own file. Leave it "
                    f"unset (files under {self.var_dir}/) or set {service.upper()}_DATABASE_URL per service."
                )
            return sqlalchemy_url(self.database_url)
        if self.pghost:
            return self._pg_url()
        return f"sqlite:///{(self.var_dir / f'{service}.db').resolve()}"

    def _pg_url(self) -> str:
        # URL.create escapes credentials, so passwords with @ : / % survive.
        return URL.create(
            "postgresql+psycopg",
            username=self.pguser or "postgres",
            password=self.pgpassword.get_secret_value() if self.pgpassword else None,
            host=self.pghost,
            port=self.pgport,
            database=self.pgdatabase or "spectral",
        ).render_as_string(hide_password=False)

    def shared_database_url(self) -> str | None:
        """The one PostgreSQL database the services share (``DATABASE_URL`` or ``PG*``), if any."""
        if self.database_url and not self.database_url.startswith("sqlite"):
            return sqlalchemy_url(self.database_url)
        return self._pg_url() if self.pghost else None

    def replica_url_for(self, service: str) -> str | None:
        own = os.environ.get(f"{service.upper()}_DATABASE_REPLICA_URL")
        url = own or self.database_replica_url
        return sqlalchemy_url(url) if url else None

    @cached_property
    def _generated_secrets(self) -> dict[str, str]:
        """Development-only secrets, generated once and kept with the data they encrypt, so
        restarts keep it readable (ADR 0039): in the PostgreSQL database the services share
        (``make stack``), so every clone and every ``make clean`` finds the ones its data needs;
        else in var/ beside the embedded SQLite files (``make run``), which go with them."""
        path = self.var_dir / "dev-secrets.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        shared = self.shared_database_url()
        if shared is not None:
            # A database made before its secrets moved into it got them from this file: keep them.
            return database_secrets(shared, {name: stored.get(name) for name in _DEV_SECRETS})
        if any(name not in stored for name in _DEV_SECRETS):
            for name, make in _DEV_SECRETS.items():
                stored.setdefault(name, make())
            write_private(path, json.dumps(stored, indent=2))
        return stored

    def secret(self, name: Literal["SESSION_SECRET", "ENCRYPTION_KEY"]) -> str:
        value = {"SESSION_SECRET": self.session_secret, "ENCRYPTION_KEY": self.encryption_key}[name]
        if value is not None and not _blank(value):
            return value.get_secret_value()
        if self.is_production:
            raise ConfigurationError(f"{name} is required when SPECTRAL_ENV=production")
        return self._generated_secrets[name]

    # ---- production checks ----------------------------------------------------------------

    def production_problems(self, services: list[str], extra_required: list[str]) -> list[str]:
        """Everything that makes this configuration unfit for production, in words an operator acts
        on. ``services`` are those the process runs (none for the router, which only proxies);
        ``extra_required`` the settings they need besides the common ones (their components'
        ``production_requires``, e.g. auth's SESSION_SECRET)."""
        problems: list[str] = []
        if services:
            problems += self._service_problems(services)
        if not self.base_url.startswith("https://"):
            problems.append("BASE_URL must be https:// in production")
        if self.cookie_secure is False:
            problems.append("COOKIE_SECURE must not be false in production")
        if self.outbound_allow_private.strip():
            problems.append(
                "OUTBOUND_ALLOW_PRIVATE must be empty in production (tenant URLs would reach "
                "private addresses)"
            )
        for name in extra_required:
            if _blank(getattr(self, name.lower(), None)):
                problems.append(f"{name} is missing{_GENERATE.get(name, '')}")
        return problems

    def _service_problems(self, services: list[str]) -> list[str]:
        """What every process running a service needs: field encryption, PostgreSQL, RabbitMQ,
        Redis, real e-mail, and the audit retention HIPAA asks for."""
        problems: list[str] = []
        if _blank(self.encryption_key):
            problems.append(f"ENCRYPTION_KEY is missing{_GENERATE['ENCRYPTION_KEY']}")
        else:
            assert self.encryption_key is not None
            try:
                if (
                    len(base64.b64decode(self.encryption_key.get_secret_value(), validate=True))
                    != 32
                ):
                    problems.append("ENCRYPTION_KEY must be base64 of exactly 32 bytes")
            except ValueError:
                problems.append("ENCRYPTION_KEY is not valid base64")
        for service in services:
            try:
                url = self.database_url_for(service)
            except ConfigurationError as exc:
                problems.append(str(exc))
                continue
            if url.startswith("sqlite"):
                problems.append(
                    f"{service}: DATABASE_URL (or {service.upper()}_DATABASE_URL) must be PostgreSQL"
                )
        if not self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
            problems.append("BROKER_URL must point at RabbitMQ (amqp:// or amqps://)")
        if not self.redis_url:
            problems.append("REDIS_URL is missing")
        if _blank(self.sendgrid_api_key):
            problems.append("SENDGRID_API_KEY is missing (e-mail would only be written to files)")
        if self.audit_retention_days < 2190:
            problems.append(
                "AUDIT_RETENTION_DAYS must be at least 2190 (six years, HIPAA 164.316(b)(2))"
            )
        return problems

    def ensure_runnable(
        self,
        services: list[str],
        extra_required: list[str] | None = None,
        service_problems: list[str] | None = None,
    ) -> None:
        """Refuse a production configuration that is unfit; ``service_problems`` are what the
        services' own settings found (``ServiceSettings.production_problems``)."""
        if not self.is_production:
            return
        problems = [
            *self.production_problems(services, extra_required or []),
            *(service_problems or []),
        ]
        if problems:
            raise ConfigurationError(
                "refusing to start with SPECTRAL_ENV=production:\n  - " + "\n  - ".join(problems)
            )


_DEV_SECRETS: dict[str, Callable[[], str]] = {
    "SESSION_SECRET": lambda: secrets.token_urlsafe(32),
    "ENCRYPTION_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
}
# Where a development PostgreSQL database keeps its generated secrets (never in production).
DEV_SECRETS_TABLE = "spectral_dev_secrets"


def database_secrets(url: str, seed: dict[str, str | None]) -> dict[str, str]:
    """The development secrets kept in the database at ``url`` (``public.spectral_dev_secrets``),
    created on first use (from ``seed`` where it has a value), under a lock so processes
    starting together agree. An unreachable database raises as any query would."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
    table = "public.spectral_dev_secrets"  # DEV_SECRETS_TABLE
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": table})
            if conn.scalar(sa.text("SELECT to_regclass(:t)"), {"t": table}) is None:
                conn.execute(
                    sa.text(
                        "CREATE TABLE public.spectral_dev_secrets (name text PRIMARY KEY, "
                        "value text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
                    )
                )
                conn.execute(
                    sa.text(
                        "COMMENT ON TABLE public.spectral_dev_secrets IS 'Development secrets "
                        "(SESSION_SECRET, ENCRYPTION_KEY) generated for the data in this "
                        "database; never production'"
                    )
                )
            rows = conn.execute(sa.text("SELECT name, value FROM public.spectral_dev_secrets"))
            stored: dict[str, str] = {name: value for name, value in rows}
            for name, make in _DEV_SECRETS.items():
                if name not in stored:
                    stored[name] = seed.get(name) or make()
                    conn.execute(
                        sa.text(
                            "INSERT INTO public.spectral_dev_secrets (name, value) VALUES (:n, :v)"
                        ),
                        {"n": name, "v": stored[name]},
                    )
    except sa.exc.ProgrammingError as exc:  # e.g. no CREATE on schema public for this role
        raise ConfigurationError(
            f"could not keep the generated development secrets in {table} "
            f"({type(exc.orig).__name__}): set SESSION_SECRET and ENCRYPTION_KEY yourself"
        ) from exc
    finally:
        engine.dispose()
    return stored


_GENERATE = {
    "SESSION_SECRET": " (generate with: openssl rand -base64 32)",
    "ENCRYPTION_KEY": " (generate with: openssl rand -base64 32)",
}


def _blank(value: object) -> bool:
    """Unset, or set to nothing (``SESSION_SECRET=`` in an env file)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())


class ServiceSettings(BaseSettings):
    """The settings one service alone reads, declared by its component (``Component.settings``)
    so a new service adds its own without touching the shared ``Settings``. Read from the same
    environment; values given to ``Settings(...)`` in code (tests) are passed on by name."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    @classmethod
    def of(cls, settings: Settings) -> Self:
        given = {k: v for k, v in (settings.model_extra or {}).items() if k in cls.model_fields}
        return cls(**given)

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for production, in words an operator acts on."""
        return []


def load_settings(**overrides: object) -> Settings:
    """Settings from the process environment, with explicit overrides (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
