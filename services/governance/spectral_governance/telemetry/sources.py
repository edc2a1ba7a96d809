"""What the AI-observability tools send by webhook, and the telemetry event each payload becomes
(docs/domain.md#telemetry-and-its-sources). Pure: no I/O.

One schema per source: LangSmith (alert webhooks, and automation rules' matching runs), Arize
(monitor alerts), Langfuse (trace, generation and score events) and Weights & Biases (automation
webhooks). A schema keeps the fields the mapping branches on (the reference's schemas stripped
them, so every webhook landed on its default branch), refuses what cannot be an event of its
source, and ignores what it does not read. The event keeps the whole payload as sent, plus the
numbers the normalizer reads (``engine/rules/normalizer.yaml``) under its keys when the source
says them another way: a drift score, a demographic variance, an accuracy drop from a baseline.

``run_id`` names one occurrence (a run, an alert's firing, a delivered event), never something
that recurs, because telemetry keeps one event per system, source and run id.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

SOURCES = ("langsmith", "arize", "langfuse", "wandb")


@dataclass(frozen=True)
class SourceEvent:
    event_type: str
    severity: str | None
    metric: str | None
    metric_value: float | None
    threshold: float | None
    run_id: str | None  # one occurrence: the key that keeps a redelivered webhook from repeating
    occurred_at: datetime | None  # UTC
    payload: dict[str, Any]  # as sent, plus derived numbers under the normalizer's keys


# --- field types --------------------------------------------------------------------------------


def _finite(value: Any) -> float:
    """A finite number, or text that reads as one; true and false are not numbers."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError("expected a number") from None
    if not isinstance(value, int | float):
        raise ValueError("expected a number")
    try:
        result = float(value)
    except OverflowError:
        raise ValueError("expected a finite number") from None
    if not math.isfinite(result):
        raise ValueError("expected a finite number")
    return result


def _id(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _moment(value: Any) -> datetime | None:
    """A time in UTC (one without a zone is taken as UTC); None when unreadable: a timestamp is
    not worth refusing an alert for, and the payload keeps it as sent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        moment = _DATETIME.validate_python(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # pydantic's ValidationError is a ValueError
        return None


Number = Annotated[float, PlainValidator(_finite)]
# A source's id: run ids are stored in 200 characters, and a LangSmith firing's adds a time.
Id = Annotated[
    str,
    BeforeValidator(_id),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=160),
]
# A name that becomes the event's metric (stored in 200 characters).
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Moment = Annotated[datetime | None, PlainValidator(_moment)]


def _either(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class _Schema(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _word(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").replace(".", " ").split())


def _difference(high: float, low: float) -> float:
    return round(high - low, 9)  # 0.92 - 0.80 is 0.12, not 0.12000000000000011


# --- LangSmith ----------------------------------------------------------------------------------


class LangSmithRun(_Schema):
    id: Id | None = None
    status: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.error) or (self.status or "").strip().lower() == "error"


class LangSmithWebhook(_Schema):
    """An alert webhook (a threshold rule fired: ``alert_rule_id``), or an automation rule's
    webhook (``rule_id`` and the ``runs`` it matched)."""

    alert_rule_id: Id | None = None
    alert_rule_attribute: Name | None = None  # error_count, latency, feedback_score, ...
    triggered_metric_value: Number | None = None
    triggered_threshold: Number | None = None
    timestamp: Moment = None
    rule_id: Id | None = None
    runs: list[LangSmithRun] | None = None
    end_time: Moment = None

    @model_validator(mode="after")
    def _alert_or_rule(self) -> LangSmithWebhook:
        if self.alert_rule_id is None and (self.rule_id is None or self.runs is None):
            raise ValueError(
                "a LangSmith webhook is an alert (with alert_rule_id) "
                "or an automation rule's runs (with rule_id and runs)"
            )
        return self


def _langsmith_alert(hook: LangSmithWebhook, data: Mapping[str, Any]) -> SourceEvent:
    attribute = hook.alert_rule_attribute or None
    value, limit = hook.triggered_metric_value, hook.triggered_threshold
    kind = (attribute or "").lower()
    derived: dict[str, float] = {}
    if kind == "error_count":
        doubled = value is not None and limit is not None and value > 2 * limit
        severity = "critical" if doubled else "high"
    elif kind == "latency":
        severity = "high" if value is not None and value > 5000 else "medium"
        if value is not None and limit is not None and value > limit > 0:
            # The rule's threshold is the latency the team accepts: the increase over it.
            derived["latency_increase"] = round((value - limit) / limit, 9)
    elif kind == "feedback_score":
        severity = "high" if value is not None and value < 0.5 else "medium"
    else:
        severity = "medium"
    # The rule fires again and again under one id: its firing is the rule and the time.
    fired = hook.timestamp
    return _event(
        data,
        "alert",
        severity,
        metric=attribute,
        value=value,
        threshold=limit,
        run_id=f"{hook.alert_rule_id}@{fired.isoformat()}" if fired else None,
        occurred_at=fired,
        derived=derived,
    )


def _langsmith(data: Mapping[str, Any]) -> SourceEvent:
    hook = LangSmithWebhook.model_validate(data)
    if hook.alert_rule_id is not None:
        return _langsmith_alert(hook, data)
    runs = hook.runs or []
    failed = sum(1 for run in runs if run.failed)
    # The share of the rule's runs that failed is the error rate the rules compare (NIST
    # MANAGE-1.1); its severity follows the same bands (engine/rules/thresholds.yaml).
    rate = failed / len(runs) if runs else 0.0
    severity = "high" if rate > 0.05 else "medium" if rate > 0.01 else "low"
    return _event(
        data,
        "error" if failed else "run",
        severity,
        metric="error_count" if failed else "run_count",
        value=float(failed if failed else len(runs)),
        run_id=runs[0].id if runs else None,
        occurred_at=hook.end_time,
        derived={"error_rate": round(rate, 9)} if failed else {},
    )


# --- Arize --------------------------------------------------------------------------------------


def _name_or_number(value: Any) -> str | float:
    if not isinstance(value, str):
        return _finite(value)
    if len(value.strip()) > 200:
        raise ValueError("a name of at most 200 characters")
    return value.strip()


# Performance metrics where a fall is a loss: the only ones an accuracy drop is taken from.
HIGHER_IS_BETTER = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "sensitivity",
        "specificity",
        "f1",
        "f1_score",
        "auc",
        "auc_roc",
        "roc_auc",
        "pr_auc",
    }
)


class ArizeAlert(_Schema):
    """A monitor alert: its type (drift, performance, data quality, bias), the measurement and
    the threshold it crossed."""

    alert_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        validation_alias=AliasChoices("alert_type", "monitor_category", "monitorCategory")
    )
    alert_id: Id | None = None
    timestamp: Moment = _either("timestamp", "triggered_at")
    feature_name: Name | None = None
    drift_value: Number | None = _either("drift_value", "drift_score")
    # The fairness metric's name, or (as the normalizer also reads it) its measured value.
    fairness_metric: Annotated[str | float, PlainValidator(_name_or_number)] | None = None
    demographic_variance: Number | None = _either("demographic_variance", "variance", "bias_score")
    metric_name: Name | None = None
    metric_value: Number | None = _either("metric_value", "current_value", "value")
    threshold: Number | None = None
    baseline_value: Number | None = _either("baseline_value", "baseline")
    accuracy_drop: Number | None = None


def _arize_kind(alert_type: str) -> str:
    kind = _word(alert_type)
    return {"dataquality": "data_quality", "fairness": "bias"}.get(kind, kind)


def _arize(data: Mapping[str, Any]) -> SourceEvent:
    alert = ArizeAlert.model_validate(data)
    kind = _arize_kind(alert.alert_type)
    common: dict[str, Any] = {"run_id": alert.alert_id, "occurred_at": alert.timestamp}
    if kind == "drift":
        drift = alert.drift_value
        return _event(
            data,
            "drift",
            "critical" if drift is not None and drift > 0.2 else "high",
            metric=alert.feature_name or "drift_score",
            value=drift,
            threshold=alert.threshold,
            derived={"drift_score": drift} if drift is not None else {},
            **common,
        )
    if kind == "bias":
        fairness = alert.fairness_metric
        named = fairness if isinstance(fairness, str) else ""
        variance = alert.demographic_variance
        if variance is None and isinstance(fairness, float):
            variance = fairness
        return _event(
            data,
            "bias",
            "high",
            metric=named or "demographic_parity",
            value=variance if variance is not None else alert.metric_value,
            threshold=alert.threshold,
            derived={"demographic_variance": variance} if variance is not None else {},
            **common,
        )
    if kind == "performance":
        metric = alert.metric_name or "accuracy"
        current, baseline = alert.metric_value, alert.baseline_value
        derived = {}
        if (
            alert.accuracy_drop is None
            and current is not None
            and baseline is not None
            and _word(metric) in HIGHER_IS_BETTER
        ):
            derived["accuracy_drop"] = _difference(baseline, current)
        return _event(
            data,
            "performance_degradation",
            "high",
            metric=metric,
            value=current,
            threshold=alert.threshold,
            derived=derived,
            **common,
        )
    if kind == "data_quality":
        return _event(
            data,
            "data_quality_degradation",
            "medium",
            metric=alert.metric_name or alert.feature_name or "data_quality",
            value=alert.metric_value,
            threshold=alert.threshold,
            **common,
        )
    return _event(
        data,
        "drift",
        "medium",
        metric=alert.metric_name or alert.feature_name or None,
        value=alert.metric_value if alert.metric_value is not None else alert.drift_value,
        threshold=alert.threshold,
        **common,
    )


# --- Langfuse -----------------------------------------------------------------------------------

LANGFUSE_TYPES = ("trace", "generation", "score")
_LANGFUSE_ACTIONS = ("", "create", "created", "update", "updated")


def _langfuse_kind(event_type: str) -> str | None:
    kind, _, action = _word(event_type).replace("_", "-").partition("-")
    return kind if kind in LANGFUSE_TYPES and action in _LANGFUSE_ACTIONS else None


def _score_value(value: Any) -> float | str | None:
    """A numeric score; a categorical one's label; a boolean one as 1 or 0."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return _finite(value)


class LangfuseUsage(_Schema):
    total: Number | None = _either("total", "totalTokens", "total_tokens")
    input: Number | None = _either("input", "promptTokens", "prompt_tokens")
    output: Number | None = _either("output", "completionTokens", "completion_tokens")

    def tokens(self) -> float | None:
        if self.total is not None:
            return self.total
        if self.input is None and self.output is None:
            return None
        return (self.input or 0.0) + (self.output or 0.0)


class LangfuseBody(_Schema):
    """The trace, generation (an observation) or score."""

    name: Name | None = None  # a score's name
    model: Name | None = None  # a generation's model
    latency: Number | None = None  # milliseconds
    start_time: Moment = _either("startTime", "start_time")
    end_time: Moment = _either("endTime", "end_time")
    timestamp: Moment = None
    level: str | None = None  # DEBUG, DEFAULT, WARNING, ERROR
    error: bool | str | dict[str, Any] | None = None
    tokens: Number | None = _either("tokens", "total_tokens")
    usage: LangfuseUsage | None = _either("usage", "usageDetails", "usage_details")
    value: Annotated[float | str | None, PlainValidator(_score_value)] = None


class LangfuseEvent(_Schema):
    """An ingestion event (``{"id", "timestamp", "type": "trace-create", "body": {...}}``) or the
    object itself with its ``type`` beside its fields."""

    type: str
    id: Id | None = None
    timestamp: Moment = None
    body: LangfuseBody

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "body" not in data:
            return {**data, "body": data}
        return data

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if _langfuse_kind(value) is None:
            raise ValueError(
                "a Langfuse event is a trace, generation or score "
                "(trace-create, generation-create, generation-update, score-create)"
            )
        return value


def _langfuse(data: Mapping[str, Any]) -> SourceEvent:
    event = LangfuseEvent.model_validate(data)
    body = event.body
    kind = _langfuse_kind(event.type)
    common: dict[str, Any] = {
        "run_id": event.id,
        "occurred_at": event.timestamp or body.timestamp or body.start_time,
    }
    if kind == "trace":
        latency = body.latency
        if latency is None and body.start_time and body.end_time:
            latency = (body.end_time - body.start_time).total_seconds() * 1000
        slow = latency is not None and latency > 5000
        return _event(data, "trace", "high" if slow else "low", "latency", latency, **common)
    if kind == "generation":
        tokens = body.tokens
        if tokens is None and body.usage is not None:
            tokens = body.usage.tokens()
        failed = bool(body.error) or (body.level or "").strip().upper() == "ERROR"
        severity = "high" if failed else "low"
        return _event(data, "generation", severity, body.model or None, tokens, **common)
    score = body.value if isinstance(body.value, float) else None
    low = score is not None and score < 0.5
    return _event(data, "score", "high" if low else "low", body.name or None, score, **common)


# --- Weights & Biases ---------------------------------------------------------------------------

_WANDB_FINISHED = frozenset({"run_finished", "run_completed", "training_complete"})
_WANDB_STATE = frozenset({"run_state", "run_state_change"})
_WANDB_ALERTS = frozenset(
    {"alert", "alert_triggered", "run_metric_threshold", "run_metric_change", "run_metric_zscore"}
)


class WandbEvent(_Schema):
    """An automation's webhook. W&B sends the payload its automation's template says; these are
    the fields Spectral's domain model names, with W&B's own event types (RUN_METRIC_THRESHOLD, ...)."""

    event_type: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    run_id: Id | None = None
    state: str | None = _either("state", "run_state")
    val_accuracy: Number | None = None
    baseline_accuracy: Number | None = _either("baseline_accuracy", "baseline_val_accuracy")
    alert_id: Id | None = None
    alert_name: Name | None = None
    metric_name: Name | None = None
    metric_value: Number | None = _either("metric_value", "value")
    threshold: Number | None = None
    severity: str | None = None
    timestamp: Moment = None


def _wandb(data: Mapping[str, Any]) -> SourceEvent:
    event = WandbEvent.model_validate(data)
    kind = _word(event.event_type)
    state = (event.state or "").strip().lower()
    if kind in _WANDB_FINISHED or (kind in _WANDB_STATE and state in ("finished", "completed")):
        accuracy, baseline = event.val_accuracy, event.baseline_accuracy
        drop = None if accuracy is None or baseline is None else _difference(baseline, accuracy)
        return _event(
            data,
            "training_complete",
            "high" if accuracy is not None and accuracy < 0.85 else "low",
            metric="val_accuracy",
            value=accuracy,
            run_id=event.run_id,
            occurred_at=event.timestamp,
            derived={"accuracy_drop": drop} if drop is not None else {},
        )
    # Other events of the run (started, alerted) are not the run: they go without its id, so
    # that its completion is never taken for a repeat of them.
    if kind in _WANDB_ALERTS:
        critical = (event.severity or "").strip().lower() == "critical"
        return _event(
            data,
            "alert",
            "critical" if critical else "high",
            metric=event.alert_name or event.metric_name or None,
            value=event.metric_value,
            threshold=event.threshold,
            run_id=event.alert_id,
            occurred_at=event.timestamp,
        )
    return _event(
        data,
        (kind or event.event_type.lower())[:100],
        "low",
        metric=event.metric_name or None,
        value=event.metric_value,
        threshold=event.threshold,
        occurred_at=event.timestamp,
    )


# --- the event ----------------------------------------------------------------------------------


def _event(
    data: Mapping[str, Any],
    event_type: str,
    severity: str,
    metric: str | None = None,
    value: float | None = None,
    *,
    threshold: float | None = None,
    run_id: str | None = None,
    occurred_at: datetime | None = None,
    derived: Mapping[str, float] | None = None,
) -> SourceEvent:
    payload = copy.deepcopy(dict(data))
    for key, number in (derived or {}).items():
        payload.setdefault(key, number)  # what the source said itself wins
    return SourceEvent(event_type, severity, metric, value, threshold, run_id, occurred_at, payload)


SCHEMAS: dict[str, type[BaseModel]] = {
    "langsmith": LangSmithWebhook,
    "arize": ArizeAlert,
    "langfuse": LangfuseEvent,
    "wandb": WandbEvent,
}
_PARSERS: dict[str, Callable[[Mapping[str, Any]], SourceEvent]] = {
    "langsmith": _langsmith,
    "arize": _arize,
    "langfuse": _langfuse,
    "wandb": _wandb,
}


def parse(source: str, data: Any) -> SourceEvent:
    """The telemetry event of one webhook payload of ``source``. Raises pydantic's
    ValidationError for a payload its schema refuses, ValueError for an unknown source."""
    parser = _PARSERS.get(source) if isinstance(source, str) else None
    if parser is None:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")
    return parser(data)
