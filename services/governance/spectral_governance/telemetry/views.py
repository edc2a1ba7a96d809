"""HTTP API: telemetry intake, reading events and their payloads, the sources' webhooks and
their signing secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections import Counter

import orjson
from flask import Blueprint, Response, request
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from spectral_governance.engine.normalizer import metric_problems
from spectral_governance.telemetry import sources, use_cases
from spectral_governance.telemetry.models import TelemetryEvent
from spectral_governance.telemetry.schemas import (
    MAX_BATCH,
    BatchResult,
    PayloadOut,
    TelemetryBatch,
    TelemetryEventIn,
    TelemetryEventOut,
    TelemetryPage,
    TelemetryQuery,
    WebhookResult,
    WebhookSecretOut,
)
from spectral_governance.web import AI_SYSTEMS, api, newest_first, owned_row
from spectral_shared.bus import Actor
from spectral_shared.db import utcnow
from spectral_shared.identity import current_identity, requires
from spectral_shared.web.problems import Problem, validation_problem
from spectral_shared.web.responses import current_runtime, json_response
from spectral_shared.web.validation import (
    field_errors,
    json_document,
    parse_query,
    read_json_body,
)

bp = Blueprint("telemetry", __name__)


EVENTS = "/api/v1/telemetry/events"


WEBHOOKS = "/api/v1/webhooks"


_ITEM = TypeAdapter(TelemetryEventIn)


# Webhook events whose metric is a name, not a kind of measurement (a Langfuse generation's
# metric is its model).
NAMES_NOT_KINDS = {("langfuse", "generation")}


def _item_errors(index: int, exc: ValidationError) -> use_cases.Result:
    errors = field_errors(exc)
    for error in errors:
        error["pointer"] = f"/events/{index}{error['pointer']}"
    return {"index": index, "status": "rejected", "errors": errors}


def _metric_errors(
    index: int, problems: list[tuple[str, str]], item: TelemetryEventIn
) -> use_cases.Result:
    """Each problem at the field it came from: a payload key, or ``metric_value`` for the
    number the event named with ``metric``."""

    def where(key: str) -> tuple[str, str]:
        if key == item.metric and key not in (item.payload or {}):
            return "metric_value", f"/events/{index}/metric_value"
        return f"payload.{key}", f"/events/{index}/payload/{key}"

    return {
        "index": index,
        "status": "rejected",
        "errors": [
            {
                "field": where(key)[0],
                "pointer": where(key)[1],
                "code": "metric_out_of_range",
                "message": message,
            }
            for key, message in problems
        ],
    }


@bp.post(EVENTS)
@api.operation(
    "Report telemetry: a batch of up to 1,000 events",
    request=TelemetryBatch,
    responses={
        202: BatchResult,
        413: "More than 1,000 events",
        422: "The body is not a batch (a bad event only fails itself)",
    },
    description="Each event is accepted (stored, to be translated), a duplicate (of the id "
    "given), or rejected with its errors; a bad event never sinks the batch. Needs an API key "
    "with telemetry:write, or a user who may edit the inventory.",
)
@requires("telemetry:write")
def report_events() -> Response:
    body = read_json_body(orjson.loads)
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events:
        raise validation_problem(
            [
                {
                    "field": "events",
                    "pointer": "/events",
                    "code": "list_type",
                    "message": 'Send {"events": [...]} with 1 to 1,000 events.',
                }
            ]
        )
    if len(events) > MAX_BATCH:
        raise Problem(
            413,
            "Batch too large",
            detail=f"A batch holds at most {MAX_BATCH:,} events; this one has {len(events):,}. "
            "Split it.",
            type_slug="batch-too-large",
            limit=MAX_BATCH,
        )
    results: list[use_cases.Result] = []
    incoming: list[use_cases.Incoming] = []
    for index, raw in enumerate(events):
        try:
            item = _ITEM.validate_python(raw)
        except ValidationError as exc:
            results.append(_item_errors(index, exc))
            continue
        problems = metric_problems(
            item.event_type, metric=item.metric, payload=use_cases.measured(item)
        )
        if problems:
            results.append(_metric_errors(index, problems, item))
            continue
        incoming.append(use_cases.Incoming(index, item))
    identity = current_identity()
    runtime = current_runtime()
    results += use_cases.store(
        runtime,
        organization_id=identity.organization_id,
        actor=Actor.subject(identity.subject_type, identity.subject_id),
        source="api",
        incoming=incoming,
    )
    results.sort(key=lambda r: int(r["index"]))
    counts = Counter(r["status"] for r in results)
    body = {
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "rejected": counts["rejected"],
        "results": results,
    }
    return Response(orjson.dumps(body), status=202, mimetype="application/json")


def _event_out(row: TelemetryEvent) -> TelemetryEventOut:
    return TelemetryEventOut(
        id=row.id,
        ai_system_id=row.ai_system_id,
        source=row.source,
        event_type=row.event_type,
        canonical_type=row.canonical_type,
        category=row.category,
        severity=row.severity,
        confidence=row.confidence,
        matched_by=row.matched_by,
        metric=row.metric,
        metric_value=row.metric_value,
        threshold=row.threshold,
        metrics=dict(row.metrics or {}),
        run_id=row.run_id,
        event_id=row.client_event_id,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        phi_redactions=dict(row.phi_redactions or {}),
        incident=row.incident,
        translated_at=row.translated_at,
        risk_score=row.risk_score,
        risk_level=row.risk_level,
        escalate=row.escalate,
        escalation_path=row.escalation_path,
    )


@bp.get(EVENTS)
@api.operation(
    "Stored telemetry events, newest first", query=TelemetryQuery, responses={200: TelemetryPage}
)
@requires("telemetry:read")
def list_events() -> tuple[Response, int]:
    query = parse_query(TelemetryQuery)
    identity = current_identity()
    statement = select(TelemetryEvent).where(
        TelemetryEvent.organization_id == identity.organization_id
    )
    if query.ai_system_id:
        statement = statement.where(TelemetryEvent.ai_system_id == str(query.ai_system_id))
    if query.event_type:
        statement = statement.where(TelemetryEvent.canonical_type == query.event_type)
    if query.source:
        statement = statement.where(TelemetryEvent.source == query.source)
    with current_runtime().database.read_session() as session:
        data, cursor = newest_first(
            session, statement, query, TelemetryEvent.received_at, TelemetryEvent.id, _event_out
        )
    return json_response(TelemetryPage(data=data, next_cursor=cursor))


@bp.get(f"{EVENTS}/<uuid:event_id>")
@api.operation("One telemetry event (without its payload)", responses={200: TelemetryEventOut})
@requires("telemetry:read")
def get_event(event_id: str) -> tuple[Response, int]:
    return json_response(_event_out(owned_row(TelemetryEvent, event_id, "telemetry event")))


@bp.get(f"{EVENTS}/<uuid:event_id>/payload")
@api.operation(
    "A telemetry event's stored payload (PHI-redacted, decrypted; audited as PHI access)",
    responses={200: PayloadOut},
)
@requires("telemetry:read_payload")
def get_payload(event_id: str) -> tuple[Response, int]:
    runtime = current_runtime()
    row, payload = use_cases.read_payload(runtime, current_identity(), event_id)
    return json_response(
        PayloadOut(id=row.id, payload=payload, phi_redactions=dict(row.phi_redactions or {}))
    )


def _signature_header(source: str) -> str:
    return f"X-{source.capitalize()}-Signature"


# Checked when a system has no secret to check against (unknown, deleted, none set): the HMAC is
# computed all the same, and never matches, since nobody knows this key.
_DECOY_KEY = secrets.token_hex(32)


def _verified(body: bytes, signature: str, keys: list[str]) -> bool:
    given = signature.strip()
    for prefix in ("sha256=", "v1="):
        if given.startswith(prefix):
            given = given[len(prefix) :]
    # As bytes: a header may hold any Latin-1 character, which compare_digest refuses in a str.
    given_bytes = given.lower().encode()
    matches = [
        hmac.compare_digest(
            hmac.new(key.encode(), body, hashlib.sha256).hexdigest().encode(), given_bytes
        )
        for key in keys
    ]
    return any(matches)


def _unauthenticated(source: str) -> Problem:
    """The one answer to every delivery that is not signed with a live system's secret: an unknown
    or deleted system, no secret set, no signature, a wrong one. Whether a system exists or has
    a secret is nothing a stranger may learn (ADR 0038)."""
    return Problem(
        401,
        "Bad signature",
        detail=f"{_signature_header(source)} must be the HMAC-SHA256 (hex) of the raw body with "
        f"the AI system's webhook secret (created with POST {AI_SYSTEMS}/{{id}}/webhook-secret).",
        type_slug="bad-signature",
    )


@bp.post(f"{WEBHOOKS}/<source>/<uuid:system_id>")
@api.operation(
    "Receive an observability tool's webhook (LangSmith, Arize, Langfuse, W&B)",
    responses={
        202: WebhookResult,
        400: "Signed, but not JSON",
        401: "Not signed with a live AI system's webhook secret (one answer for an unknown or "
        "deleted system, one without a secret, a missing and a wrong signature)",
        404: "No such source",
        422: "Signed, but the payload is not one of this source's",
    },
    description="Signed with the system's webhook secret: HMAC-SHA256 of the raw body, hex, in "
    "X-<Source>-Signature (a sha256= prefix is accepted). The same delivery twice is one event.",
    public=True,
)
def receive_webhook(source: str, system_id: str) -> tuple[Response, int]:
    if source not in sources.SOURCES:  # about the path, never the system: checked first
        raise Problem(
            404,
            "Not found",
            detail=f"No webhook source {source!r}; Spectral takes "
            f"{', '.join(sorted(sources.SOURCES))}.",
            type_slug="unknown-webhook-source",
            sources=sorted(sources.SOURCES),
        )
    runtime = current_runtime()
    body = request.get_data(cache=True)
    signature = request.headers.get(_signature_header(source), "")
    with runtime.database.read_session() as session:
        keys = use_cases.webhook_keys(session, runtime.cipher, system_id, utcnow())
    signed = _verified(body, signature, keys.secrets or [_DECOY_KEY])
    organization_id = keys.organization_id
    if not signed or not keys.secrets or organization_id is None:
        raise _unauthenticated(source)
    data = json_document(body)
    try:
        parsed = sources.parse(source, data)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from exc
    event = TelemetryEventIn(
        ai_system_id=uuid.UUID(system_id),
        event_type=parsed.event_type[:100],
        source=source,
        occurred_at=parsed.occurred_at
        if parsed.occurred_at and parsed.occurred_at <= utcnow()
        else None,
        run_id=parsed.run_id[:200] if parsed.run_id else None,
        event_id=use_cases.body_digest(body),
        severity=parsed.severity,
        metric=parsed.metric[:200] if parsed.metric else None,
        metric_value=parsed.metric_value,
        threshold=parsed.threshold,
        payload=parsed.payload,
    )
    by_metric = (source, parsed.event_type) not in NAMES_NOT_KINDS
    problems = metric_problems(
        event.event_type,
        metric=event.metric if by_metric else None,
        payload=use_cases.measured(event),
    )
    if problems:  # the tool sent a number outside its unit (accuracy 79 for 0.79): nothing stored
        raise validation_problem(
            [
                {
                    "field": key,
                    "pointer": f"/{key}",
                    "code": "metric_out_of_range",
                    "message": f"{message} (as read from the {source} payload)",
                }
                for key, message in problems
            ]
        )
    [result] = use_cases.store(
        runtime,
        organization_id=organization_id,
        actor=Actor.system(f"webhook.{source}"),
        source=source,  # type: ignore[arg-type]
        incoming=[use_cases.Incoming(0, event, classify_by_metric=by_metric)],
    )
    assert result["id"] is not None
    return json_response(
        WebhookResult(
            id=result["id"],
            duplicate=result["status"] == "duplicate",
            warnings=[use_cases.unclassified_warning(None, event.event_type)]
            if result.get("warnings")
            else [],
        ),
        202,
    )


@bp.post(f"{AI_SYSTEMS}/<uuid:system_id>/webhook-secret")
@api.operation(
    "Create or rotate the system's webhook signing secret",
    responses={201: WebhookSecretOut, 409: "The system was deleted (`ai-system-deleted`)"},
    description="The secret is shown once. After a rotation the previous secret keeps "
    "verifying for 24 hours.",
)
@requires("ai_systems:write")
def rotate_webhook_secret(system_id: str) -> tuple[Response, int]:
    runtime = current_runtime()
    row, secret, previous = use_cases.rotate_secret(runtime, current_identity(), system_id)
    return json_response(
        WebhookSecretOut(
            id=row.id,
            ai_system_id=row.ai_system_id,
            created_at=row.created_at,
            secret=secret,
            previous_expires_at=previous,
            header="X-<Source>-Signature: sha256=<hex HMAC-SHA256 of the raw body>",
        ),
        201,
    )
