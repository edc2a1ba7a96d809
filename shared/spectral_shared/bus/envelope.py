"""The envelope every event travels in (docs/architecture.md#message-bus)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ActorType = Literal["user", "api_key", "service", "system", "anonymous"]


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ActorType
    id: str | None = None

    @classmethod
    def user(cls, user_id: str) -> Actor:
        return cls(type="user", id=str(user_id))

    @classmethod
    def subject(cls, subject_type: str, subject_id: str) -> Actor:
        """Whoever an identity names: an API key, a service, or else a user."""
        kind: ActorType = subject_type if subject_type in ("api_key", "service") else "user"  # type: ignore[assignment]
        return cls(type=kind, id=str(subject_id))

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(type="system", id=name)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(type="anonymous")


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(pattern=r"^[a-z]+\.[a-z_]+\.[a-z_]+$")
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    organization_id: uuid.UUID | None = None
    actor: Actor
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone")
        return value.astimezone(UTC)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, body: str | bytes) -> Envelope:
        return cls.model_validate_json(body)
