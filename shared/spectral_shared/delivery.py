"""The delivery outbox: every message that leaves Spectral for a person or another system (e-mail,
Slack, outbound webhooks), queued in the caller's transaction and sent by the service's relay,
with one retry, backoff and dead state for all of them (ADR 0032).

- **Queueing** (:func:`queue_delivery`): a row in the service's ``deliveries`` table, written in
  the caller's transaction, so a message exists exactly when the change that caused it commits.
  The target (an address, a webhook URL: personal data or a secret) and the body are sealed with
  ``FieldCipher``, bound to the row (associated data ``deliveries.<column>:<id>``). A target no
  configuration could send to is refused here, with :class:`DeliveryRefused`, before anything is
  written; where a URL may lead is the outbound policy's (ADR 0036), applied when the URL is set
  and by the sending relay. :func:`cancel_deliveries` removes the unsent rows to a target whose
  setting was cleared or changed.
- **Sending** (:func:`deliver_due`, the relay's second job): due rows are *claimed* in a short
  transaction (``FOR UPDATE SKIP LOCKED``, so relays share the work, then ``available_at`` moved a
  lease ahead), the transaction commits, and only then are they sent, each outcome recorded in
  its own short transaction. No database lock or transaction is held while a sender talks to the
  network, and nothing but delivery rows is ever locked by the relay; a business transaction
  only inserts a row. Delivery is at least once: a relay that dies after a send and before its
  outcome is written sends that message again once the lease runs out.
- **Failures**: a failed send is retried with the event outbox's backoff (0.5 s doubling, at most
  5 min); after ``DELIVERY_MAX_ATTEMPTS`` failures the row is *dead* (``dead_at``): kept, never
  pruned, counted by ``spectral_deliveries_dead_total`` and logged as ``delivery.dead``, and
  replayed by ``spectral bus replay-deliveries`` once the cause is fixed. A target the sending
  relay's policy refuses, before sending or at connect time, is dead at once. ``last_error``
  holds the error's type and status, never the body, the target or a response body.
- **Senders** are pluggable per channel (:class:`Sender`): e-mail through the configured mailer
  (``spectral_shared.email``), Slack and webhooks as a POST of JSON through
  :class:`~spectral_shared.outbound.OutboundPolicy`'s transport, which checks every resolved
  address, connects to the one it checked and follows no redirects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from spectral_shared import metrics
from spectral_shared.bus.relay import backoff
from spectral_shared.bus.tables import BusTables
from spectral_shared.crypto import DecryptionError, FieldCipher
from spectral_shared.db import Database, utcnow
from spectral_shared.logging import get_logger
from spectral_shared.outbound import WHAT, OutboundPolicy, OutboundRefused

log = get_logger(__name__)

Channel = Literal["email", "slack", "webhook"]
CHANNELS: tuple[Channel, ...] = ("email", "slack", "webhook")

SEND_TIMEOUT = 10.0  # seconds, per HTTP send
BATCH = 20
# How long a claimed row is left to the relay that claimed it. Longer than a batch can take
# (BATCH sends of at most SEND_TIMEOUT each), so two live relays never send the same row.
LEASE = timedelta(minutes=5)
DEFAULT_MAX_ATTEMPTS = 30  # about 1 h 45 min of failures with the outbox's backoff


class DeliveryRefused(ValueError):
    """The message may not be sent where it is addressed (the reason never repeats the target)."""


class Sender(Protocol):
    def send(self, target: str, body: Mapping[str, Any]) -> None:
        """Send one message; raise on any failure (it is retried)."""


# ---- where messages may go ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPolicy:
    """Where messages may go: e-mail to one plain address; Slack and webhooks where ``outbound``
    (:class:`~spectral_shared.outbound.OutboundPolicy`, ADR 0036) lets a tenant's URL lead. The
    default is the strict policy (public HTTPS, Slack only on hooks.slack.com); the relay uses
    its runtime's, which carries the operator's ``OUTBOUND_ALLOW_PRIVATE``. With ``outbound``
    None (queue time, see below) only what no configuration could send is refused."""

    outbound: OutboundPolicy | None = field(default_factory=OutboundPolicy)

    def check(self, channel: str, target: str) -> None:
        """Raise :class:`DeliveryRefused` unless ``target`` is an allowed destination for
        ``channel``."""
        if channel not in CHANNELS:
            raise DeliveryRefused(f"unknown delivery channel {channel!r}")
        if channel == "email":
            _check_address(target)
            return
        try:
            if self.outbound is None:
                _check_url_shape(channel, target)
            else:
                self.outbound.check_url(target, channel)
        except OutboundRefused as refused:
            raise DeliveryRefused(str(refused)) from None


def _check_url_shape(channel: str, target: str) -> None:
    """What no operator setting can allow: a malformed URL, credentials in it, a scheme other
    than https (or http, which ``OUTBOUND_ALLOW_PRIVATE`` may allow for its hosts)."""
    what = WHAT[channel]
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise OutboundRefused(f"{what} must be a valid URL") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundRefused(f"{what} may not carry credentials in the URL")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OutboundRefused(f"{what} must be an https:// URL")


def _check_address(address: str) -> None:
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c in address for c in "\r\n\t <>,;"):
        raise DeliveryRefused("an e-mail delivery needs one plain address (name@domain)")


# Queue time knows no deployment (a step inside a use case is handed a session and a cipher, not
# the settings), so it refuses only what no configuration could send. Where a URL may lead is
# decided when it is set (the settings endpoint applies the runtime's OutboundPolicy) and again
# by the sending relay, before and while connecting; a row the relay refuses is dead at once.
QUEUE_POLICY = DeliveryPolicy(outbound=None)


# ---- queueing -------------------------------------------------------------------------------------


def _aad(column: str, delivery_id: str) -> str:
    return f"deliveries.{column}:{delivery_id}"


def queue_delivery(
    session: Session,
    tables: BusTables,
    cipher: FieldCipher,
    channel: Channel,
    target: str,
    body: Mapping[str, Any],
    *,
    policy: DeliveryPolicy = QUEUE_POLICY,
) -> str:
    """Queue one message in the caller's transaction; returns its id. Raises
    :class:`DeliveryRefused` for a target the channel may not send to (see
    :class:`DeliveryPolicy`)."""
    policy.check(channel, target)
    delivery_id = str(uuid.uuid4())
    now = utcnow()
    session.execute(
        tables.deliveries.insert().values(
            id=delivery_id,
            channel=channel,
            target=cipher.encrypt_text(target, _aad("target", delivery_id)),
            body=cipher.encrypt_text(json.dumps(dict(body)), _aad("body", delivery_id)),
            attempts=0,
            available_at=now,
            created_at=now,
        )
    )
    return delivery_id


def cancel_deliveries(
    session: Session, tables: BusTables, cipher: FieldCipher, channel: Channel, target: str
) -> int:
    """In the caller's transaction, delete every unsent row (pending or dead) of ``channel``
    addressed to ``target``: the setting that named it was cleared or changed, so nothing more
    goes there (not even an operator's replay). Returns how many. A row a relay claimed before
    this commits is not sent either: the relay reads, just before each send, that its row is
    still there."""
    table = tables.deliveries
    rows = session.execute(
        select(table.c.seq, table.c.id, table.c.target).where(
            table.c.channel == channel, table.c.sent_at.is_(None)
        )
    ).all()
    doomed: list[int] = []
    for row in rows:
        try:
            if _open(cipher, row.target, "target", row.id) == target:
                doomed.append(row.seq)
        except DecryptionError:
            continue  # not openable, so not sendable either: the relay marks it dead
    if doomed:
        session.execute(delete(table).where(table.c.seq.in_(doomed)))
        log.info("delivery.cancelled", channel=channel, count=len(doomed))
    return len(doomed)


# ---- opening a row ------------------------------------------------------------------------------

# Rows the migrations that created ``deliveries`` moved from the tables it replaced keep the
# ciphertext they had (a migration holds no keys), prefixed with the associated data they were
# sealed under: ``"<aad> <ciphertext>"``. Only these names are accepted, so a ciphertext copied in
# from anywhere else cannot be opened (and sent) by the relay.
LEGACY_MAIL = "mail_outbox.message"  # the whole message as JSON, the address included
LEGACY_SLACK_BODY = "governance.notifications"
LEGACY_SLACK_URL = "governance.organizations.slack_webhook_url:"


def _open(cipher: FieldCipher, value: str, column: str, delivery_id: str) -> str:
    sealed_as, _, token = value.rpartition(" ")
    if not sealed_as:
        return cipher.decrypt_text(value, _aad(column, delivery_id))
    if sealed_as == LEGACY_MAIL:
        plain = cipher.decrypt_text(token, sealed_as)
        return str(json.loads(plain)["to"]) if column == "target" else plain
    if sealed_as == LEGACY_SLACK_BODY or sealed_as.startswith(LEGACY_SLACK_URL):
        return cipher.decrypt_text(token, sealed_as)
    raise DecryptionError("sealed under associated data no delivery may use")


def queued(
    session: Session, tables: BusTables, cipher: FieldCipher, channel: Channel
) -> list[tuple[str, dict[str, Any]]]:
    """Every message of ``channel`` in the outbox (sent or not), opened: (target, body). For
    operators' checks and tests; never logged."""
    rows = session.execute(
        select(tables.deliveries.c.id, tables.deliveries.c.target, tables.deliveries.c.body)
        .where(tables.deliveries.c.channel == channel)
        .order_by(tables.deliveries.c.seq)
    ).all()
    return [
        (
            _open(cipher, row.target, "target", row.id),
            json.loads(_open(cipher, row.body, "body", row.id)),
        )
        for row in rows
    ]


# ---- sending --------------------------------------------------------------------------------------


class SendFailed(RuntimeError):
    """A send the other side refused; the message says only how (a status)."""


class SlackSender:
    """Posts ``{"text": ...}`` to an incoming webhook, through ``outbound``'s checked transport."""

    def __init__(
        self, outbound: OutboundPolicy | None = None, timeout: float = SEND_TIMEOUT
    ) -> None:
        self.outbound = outbound or OutboundPolicy()
        self.timeout = timeout

    def send(self, target: str, body: Mapping[str, Any]) -> None:
        _post(self.outbound, "slack", target, {"text": body["text"]}, self.timeout)


class WebhookSender:
    """Posts the body as JSON, through ``outbound``'s checked transport."""

    def __init__(
        self, outbound: OutboundPolicy | None = None, timeout: float = SEND_TIMEOUT
    ) -> None:
        self.outbound = outbound or OutboundPolicy()
        self.timeout = timeout

    def send(self, target: str, body: Mapping[str, Any]) -> None:
        _post(self.outbound, "webhook", target, dict(body), self.timeout)


def _post(
    outbound: OutboundPolicy, purpose: str, url: str, payload: dict[str, Any], timeout: float
) -> None:
    # No redirects: a redirect could lead anywhere the policy would have refused.
    response = outbound.post_json(url, payload, purpose=purpose, timeout=timeout)
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"answered {response.status_code}")


@dataclass(frozen=True)
class _Claimed:
    seq: int
    id: str
    channel: str
    target: str
    body: str
    attempts: int


def _claim(
    database: Database, table: Table, batch_size: int, channels: tuple[str, ...]
) -> list[_Claimed]:
    now = utcnow()
    with database.session() as session:
        rows = session.execute(
            select(
                table.c.seq,
                table.c.id,
                table.c.channel,
                table.c.target,
                table.c.body,
                table.c.attempts,
            )
            .where(
                table.c.sent_at.is_(None),
                table.c.dead_at.is_(None),
                table.c.available_at <= now,
                table.c.channel.in_(channels),
            )
            .order_by(table.c.seq)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        if rows:
            session.execute(
                update(table)
                .where(table.c.seq.in_([row.seq for row in rows]))
                .values(available_at=now + LEASE)
            )
    return [_Claimed(*row) for row in rows]


def _error_text(exc: Exception) -> str:
    """What ``last_error`` and the log keep: the type and, for a refusal, its reason or status.
    Never ``str()`` of an HTTP library's exception, which names the URL."""
    if isinstance(exc, (SendFailed, DeliveryRefused, OutboundRefused)):
        return f"{type(exc).__name__}: {exc}"[:500]
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    return f"{type(exc).__name__}" + (f": status {status}" if isinstance(status, int) else "")


def deliver_due(
    database: Database,
    tables: BusTables,
    cipher: FieldCipher,
    senders: Mapping[str, Sender],
    *,
    policy: DeliveryPolicy,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    batch_size: int = BATCH,
) -> int:
    """Send one batch of due deliveries (see the module); returns how many were sent."""
    table = tables.deliveries
    service = database.service
    sent = 0
    for row in _claim(database, table, batch_size, tuple(senders)):
        outcome: dict[str, Any]
        try:
            target = _open(cipher, row.target, "target", row.id)
            policy.check(row.channel, target)
            body = json.loads(_open(cipher, row.body, "body", row.id))
            if not _still_queued(database, table, row.seq):
                continue  # cancelled since the claim (its setting was cleared or changed)
            senders[row.channel].send(target, body)
        except (DeliveryRefused, OutboundRefused) as exc:
            outcome = _dead(row, _error_text(exc), service)
        except Exception as exc:
            error = _error_text(exc)
            metrics.delivery_failures.labels(service, row.channel).inc()
            if row.attempts + 1 >= max_attempts:
                outcome = _dead(row, error, service)
            else:
                log.warning(
                    "delivery.send_failed",
                    delivery_id=row.id,
                    channel=row.channel,
                    attempts=row.attempts + 1,
                    error=error,
                )
                outcome = {
                    "attempts": row.attempts + 1,
                    "available_at": utcnow() + backoff(row.attempts),
                    "last_error": error,
                }
        else:
            outcome = {"sent_at": utcnow()}
            sent += 1
            metrics.deliveries_sent.labels(service, row.channel).inc()
        with database.session() as session:
            session.execute(
                update(table)
                .where(table.c.seq == row.seq, table.c.sent_at.is_(None))
                .values(**outcome)
            )
    return sent


def _still_queued(database: Database, table: Table, seq: int) -> bool:
    """Whether the claimed row is still there, read just before its send: a row cancelled after
    the claim (:func:`cancel_deliveries`) is not sent."""
    with database.session() as session:
        return session.scalar(select(table.c.seq).where(table.c.seq == seq)) is not None


def _dead(row: _Claimed, error: str, service: str) -> dict[str, Any]:
    metrics.deliveries_dead.labels(service, row.channel).inc()
    log.error(
        "delivery.dead",
        service=service,
        delivery_id=row.id,
        channel=row.channel,
        attempts=row.attempts + 1,
        error=error,
    )
    return {"attempts": row.attempts + 1, "dead_at": utcnow(), "last_error": error}


# ---- dead deliveries ------------------------------------------------------------------------------


def dead_deliveries(
    database: Database, tables: BusTables, limit: int = 100
) -> list[dict[str, Any]]:
    """The dead rows, newest first: id, channel, attempts, times and error (never target or body)."""
    table = tables.deliveries
    with database.session() as session:
        rows = session.execute(
            select(
                table.c.id,
                table.c.channel,
                table.c.attempts,
                table.c.created_at,
                table.c.dead_at,
                table.c.last_error,
            )
            .where(table.c.dead_at.is_not(None))
            .order_by(table.c.dead_at.desc())
            .limit(limit)
        ).all()
    return [dict(row._mapping) for row in rows]


def replay_dead_deliveries(
    database: Database,
    tables: BusTables,
    *,
    ids: list[str] | None = None,
    channel: str | None = None,
) -> int:
    """Make dead rows due again with a fresh count of attempts; returns how many."""
    table = tables.deliveries
    where: list[ColumnElement[bool]] = [table.c.dead_at.is_not(None), table.c.sent_at.is_(None)]
    if ids:
        where.append(table.c.id.in_(ids))
    if channel:
        where.append(table.c.channel == channel)
    with database.session() as session:
        result = session.execute(
            update(table).where(*where).values(dead_at=None, attempts=0, available_at=utcnow())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
