"""Webhooks of the observability tools (docs/domain.md#telemetry-and-its-sources): per source and branch, the event a
realistic payload becomes; what each schema refuses; what the engine makes of the events; and
properties over arbitrary JSON."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spectral_governance.engine.mapping import Violation, map_event
from spectral_governance.engine.normalizer import SEVERITIES, Normalized, normalize, rules
from spectral_governance.telemetry.sources import SOURCES, SourceEvent, parse
from spectral_governance.testing import CLINICAL_FACTS

# --- samples, in the shapes the tools send --------------------------------------------------------

# A LangSmith alert webhook: the default body (docs: "alerts webhook").
LANGSMITH_ERRORS = {
    "project_name": "sepsis-watch-prod",
    "alert_rule_id": "2f1c6a4e-0b7d-4e8a-9c51-7d3e2a9b6f10",
    "alert_rule_name": "Errored runs over 5 in 15 minutes",
    "alert_rule_type": "threshold",
    "alert_rule_attribute": "error_count",
    "triggered_metric_value": 12,
    "triggered_threshold": 5,
    "timestamp": "2025-04-01T14:05:00.000Z",
}
FIRED = datetime(2025, 4, 1, 14, 5, tzinfo=UTC)
FIRING = "2f1c6a4e-0b7d-4e8a-9c51-7d3e2a9b6f10@2025-04-01T14:05:00+00:00"
LANGSMITH_LATENCY = {
    **LANGSMITH_ERRORS,
    "alert_rule_name": "Slow triage summaries",
    "alert_rule_attribute": "latency",
    "triggered_metric_value": 7200,
    "triggered_threshold": 4000,
}
LANGSMITH_FEEDBACK = {
    **LANGSMITH_ERRORS,
    "alert_rule_name": "Clinician thumbs-up rate",
    "alert_rule_attribute": "feedback_score",
    "triggered_metric_value": 0.42,
    "triggered_threshold": 0.6,
}

# A LangSmith automation rule's webhook (docs: "webhook notifications for rules").
OK_RUN = {
    "status": "success",
    "is_root": True,
    "trace_id": "6ab80f10-d79c-4fa2-b441-922ed6feb630",
    "dotted_order": "20240405T012854085646Z6ab80f10-d79c-4fa2-b441-922ed6feb630",
    "run_type": "llm",
    "name": "triage-summary",
    "start_time": "2024-04-05T01:28:54.085646",
    "end_time": "2024-04-05T01:28:54.985649",
    "id": "6ab80f10-d79c-4fa2-b441-922ed6feb630",
    "session_id": "6a3be6a2-9a8c-4fc8-b4c6-a8983b286cc5",
    "parent_run_ids": [],
    "error": None,
    "total_tokens": 812,
    "prompt_tokens": 667,
    "completion_tokens": 145,
    "inputs": {"note": "Pt reports chest pain"},
}
FAILED_RUN = {
    **OK_RUN,
    "id": "9c1e77a2-3b4f-4d0e-8a6b-5f2c1d0e9a87",
    "trace_id": "9c1e77a2-3b4f-4d0e-8a6b-5f2c1d0e9a87",
    "status": "error",
    "error": "RateLimitError: Rate limit reached for gpt-4o",
}
LANGSMITH_RULE = {
    "rule_id": "d75d7417-0c57-4655-88fe-1db3cda3a47a",
    "start_time": "2024-04-05T01:28:54.734491+00:00",
    "end_time": "2024-04-05T01:28:56.492563+00:00",
    "runs": [OK_RUN, FAILED_RUN],
    "feedback_stats": {
        "user_score": {"n": 2, "avg": 0.0, "show_feedback_arrow": False, "values": {}}
    },
}
RULE_END = datetime(2024, 4, 5, 1, 28, 56, 492563, tzinfo=UTC)

# Arize monitor alerts, with the field names of Spectral's domain model.
ARIZE = {
    "alert_id": "arz-alert-88213",
    "model_name": "sepsis-watch",
    "model_version": "2.3.1",
    "environment": "production",
    "timestamp": "2025-06-03T09:00:00+02:00",
}
ARIZE_AT = datetime(2025, 6, 3, 7, 0, tzinfo=UTC)
ARIZE_PERFORMANCE = {
    **ARIZE,
    "alert_type": "performance",
    "monitor_name": "Sepsis Watch accuracy",
    "metric_name": "accuracy",
    "metric_value": 0.79,
    "threshold": 0.85,
    "baseline_value": 0.91,
}
ARIZE_DRIFT = {
    **ARIZE,
    "alert_type": "drift",
    "monitor_name": "Lactate PSI",
    "feature_name": "lactate_mmol_l",
    "drift_value": 0.31,
    "threshold": 0.2,
}
ARIZE_BIAS = {
    **ARIZE,
    "alert_type": "bias",
    "monitor_name": "Parity across race and ethnicity",
    "fairness_metric": "demographic_parity",
    "protected_attribute": "race_ethnicity",
    "demographic_variance": 0.12,
    "threshold": 0.05,
}
ARIZE_QUALITY = {
    **ARIZE,
    "monitorCategory": "dataQuality",
    "monitor_name": "Creatinine missing",
    "feature_name": "creatinine",
    "metric_name": "percent_empty",
    "metric_value": 0.18,
    "threshold": 0.05,
}

# Langfuse ingestion events (and a trace object as the API returns it).
LANGFUSE_TRACE = {
    "type": "trace",
    "id": "trace-7f3a",
    "timestamp": "2025-05-20T16:42:10.123Z",
    "name": "discharge-summary",
    "latency": 6400,
    "totalCost": 0.0041,
    "tags": ["production"],
}
LANGFUSE_FAILED_GENERATION = {
    "id": "evt-0c9d",
    "timestamp": "2025-05-20T16:42:11.000Z",
    "type": "generation-update",
    "body": {
        "id": "gen-51b2",
        "traceId": "trace-7f3a",
        "name": "summarize",
        "model": "gpt-4o",
        "level": "ERROR",
        "statusMessage": "context_length_exceeded",
        "startTime": "2025-05-20T16:42:10.200Z",
        "endTime": "2025-05-20T16:42:10.900Z",
        "usage": {"input": 3900, "output": 0, "total": 3900, "unit": "TOKENS"},
    },
}
LANGFUSE_GENERATION = {
    "id": "evt-0c9e",
    "timestamp": "2025-05-20T16:43:00Z",
    "type": "generation-create",
    "body": {
        "id": "gen-51b3",
        "traceId": "trace-7f3b",
        "model": "gpt-4o-mini",
        "level": "DEFAULT",
        "usage": {"promptTokens": 812, "completionTokens": 145},
    },
}
LANGFUSE_SCORE = {
    "id": "evt-1a2b",
    "timestamp": "2025-05-20T16:45:00Z",
    "type": "score-create",
    "body": {
        "id": "score-9e",
        "traceId": "trace-7f3a",
        "name": "faithfulness",
        "value": 0.42,
        "dataType": "NUMERIC",
        "source": "EVAL",
    },
}
LANGFUSE_AT = datetime(2025, 5, 20, 16, 42, 11, tzinfo=UTC)

# Weights & Biases automation webhooks (their payload is the automation's template).
WANDB_FINISHED = {
    "event_type": "RUN_STATE",
    "state": "finished",
    "entity_name": "stmarys-ml",
    "project_name": "sepsis-watch",
    "run_id": "3k9x2m1p",
    "run_name": "retrain-2025-06",
    "val_accuracy": 0.80,
    "baseline_accuracy": 0.92,
    "timestamp": "2025-06-10T22:15:00Z",
}
WANDB_AT = datetime(2025, 6, 10, 22, 15, tzinfo=UTC)
WANDB_ALERT = {
    "event_type": "alert_triggered",
    "alert_id": "al-771",
    "alert_name": "val_loss spike",
    "severity": "CRITICAL",
    "run_id": "3k9x2m1p",
    "timestamp": "2025-06-10T21:00:00Z",
}
WANDB_METRIC = {
    "event_type": "RUN_METRIC_THRESHOLD",
    "event_author": "dr.lee",
    "project_name": "sepsis-watch",
    "run_id": "3k9x2m1p",
    "metric_name": "val_loss",
    "metric_value": 0.92,
    "threshold": 0.6,
}
WANDB_ALIAS = {
    "event_type": "ADD_ARTIFACT_ALIAS",
    "event_author": "dr.lee",
    "alias": "production",
    "artifact_version_string": "stmarys-ml/sepsis-watch/model:v12",
    "run_id": "3k9x2m1p",
}


def event(
    event_type: str,
    severity: str,
    metric: str | None,
    value: float | None,
    threshold: float | None,
    run_id: str | None,
    occurred_at: datetime | None,
    payload: dict[str, Any],
) -> SourceEvent:
    return SourceEvent(event_type, severity, metric, value, threshold, run_id, occurred_at, payload)


# --- golden events --------------------------------------------------------------------------------

GOLDEN = [
    pytest.param(
        "langsmith",
        LANGSMITH_ERRORS,
        event("alert", "critical", "error_count", 12.0, 5.0, FIRING, FIRED, LANGSMITH_ERRORS),
        id="langsmith-error-count-over-twice-its-threshold",
    ),
    pytest.param(
        "langsmith",
        {**LANGSMITH_ERRORS, "triggered_metric_value": 10},
        event(
            "alert",
            "high",
            "error_count",
            10.0,
            5.0,
            FIRING,
            FIRED,
            {**LANGSMITH_ERRORS, "triggered_metric_value": 10},
        ),
        id="langsmith-error-count-at-twice-its-threshold",
    ),
    pytest.param(
        "langsmith",
        LANGSMITH_LATENCY,
        event(
            "alert",
            "high",
            "latency",
            7200.0,
            4000.0,
            FIRING,
            FIRED,
            {**LANGSMITH_LATENCY, "latency_increase": 0.8},
        ),
        id="langsmith-latency",
    ),
    pytest.param(
        "langsmith",
        {**LANGSMITH_LATENCY, "triggered_metric_value": 4500},
        event(
            "alert",
            "medium",
            "latency",
            4500.0,
            4000.0,
            FIRING,
            FIRED,
            {**LANGSMITH_LATENCY, "triggered_metric_value": 4500, "latency_increase": 0.125},
        ),
        id="langsmith-latency-under-five-seconds",
    ),
    pytest.param(
        "langsmith",
        LANGSMITH_FEEDBACK,
        event("alert", "high", "feedback_score", 0.42, 0.6, FIRING, FIRED, LANGSMITH_FEEDBACK),
        id="langsmith-feedback-score",
    ),
    pytest.param(
        "langsmith",
        {**LANGSMITH_FEEDBACK, "triggered_metric_value": 0.55},
        event(
            "alert",
            "medium",
            "feedback_score",
            0.55,
            0.6,
            FIRING,
            FIRED,
            {**LANGSMITH_FEEDBACK, "triggered_metric_value": 0.55},
        ),
        id="langsmith-feedback-score-above-a-half",
    ),
    pytest.param(
        "langsmith",
        {**LANGSMITH_ERRORS, "alert_rule_attribute": "run_count"},
        event(
            "alert",
            "medium",
            "run_count",
            12.0,
            5.0,
            FIRING,
            FIRED,
            {**LANGSMITH_ERRORS, "alert_rule_attribute": "run_count"},
        ),
        id="langsmith-other-attribute",
    ),
    pytest.param(
        "langsmith",
        LANGSMITH_RULE,
        # One of its two runs failed: an error rate of 0.5, which the error-rate rules read.
        event(
            "error",
            "high",
            "error_count",
            1.0,
            None,
            OK_RUN["id"],
            RULE_END,
            {**LANGSMITH_RULE, "error_rate": 0.5},
        ),
        id="langsmith-rule-with-a-failed-run",
    ),
    pytest.param(
        "langsmith",
        {**LANGSMITH_RULE, "runs": [OK_RUN]},
        event(
            "run",
            "low",
            "run_count",
            1.0,
            None,
            OK_RUN["id"],
            RULE_END,
            {**LANGSMITH_RULE, "runs": [OK_RUN]},
        ),
        id="langsmith-rule-without-failures",
    ),
    pytest.param(
        "arize",
        ARIZE_PERFORMANCE,
        event(
            "performance_degradation",
            "high",
            "accuracy",
            0.79,
            0.85,
            "arz-alert-88213",
            ARIZE_AT,
            {**ARIZE_PERFORMANCE, "accuracy_drop": 0.12},
        ),
        id="arize-performance-drop-from-its-baseline",
    ),
    pytest.param(
        "arize",
        {**ARIZE_PERFORMANCE, "metric_name": "mae", "baseline_value": 0.9},
        event(
            "performance_degradation",
            "high",
            "mae",
            0.79,
            0.85,
            "arz-alert-88213",
            ARIZE_AT,
            {**ARIZE_PERFORMANCE, "metric_name": "mae", "baseline_value": 0.9},
        ),
        id="arize-performance-of-an-error-metric-has-no-accuracy-drop",
    ),
    pytest.param(
        "arize",
        ARIZE_DRIFT,
        event(
            "drift",
            "critical",
            "lactate_mmol_l",
            0.31,
            0.2,
            "arz-alert-88213",
            ARIZE_AT,
            {**ARIZE_DRIFT, "drift_score": 0.31},
        ),
        id="arize-drift",
    ),
    pytest.param(
        "arize",
        {**ARIZE, "alert_type": "Drift", "drift_score": 0.15},
        event(
            "drift",
            "high",
            "drift_score",
            0.15,
            None,
            "arz-alert-88213",
            ARIZE_AT,
            {**ARIZE, "alert_type": "Drift", "drift_score": 0.15},
        ),
        id="arize-drift-without-a-feature",
    ),
    pytest.param(
        "arize",
        ARIZE_BIAS,
        event(
            "bias",
            "high",
            "demographic_parity",
            0.12,
            0.05,
            "arz-alert-88213",
            ARIZE_AT,
            ARIZE_BIAS,
        ),
        id="arize-bias",
    ),
    pytest.param(
        "arize",
        {**ARIZE, "alert_type": "bias", "variance": 0.08},
        event(
            "bias",
            "high",
            "demographic_parity",
            0.08,
            None,
            "arz-alert-88213",
            ARIZE_AT,
            {**ARIZE, "alert_type": "bias", "variance": 0.08, "demographic_variance": 0.08},
        ),
        id="arize-bias-without-a-metric-name",
    ),
    pytest.param(
        "arize",
        ARIZE_QUALITY,
        event(
            "data_quality_degradation",
            "medium",
            "percent_empty",
            0.18,
            0.05,
            "arz-alert-88213",
            ARIZE_AT,
            ARIZE_QUALITY,
        ),
        id="arize-data-quality",
    ),
    pytest.param(
        "arize",
        {"alert_type": "custom_metric", "metric_name": "alerts_per_shift", "metric_value": 41},
        event(
            "drift",
            "medium",
            "alerts_per_shift",
            41.0,
            None,
            None,
            None,
            {"alert_type": "custom_metric", "metric_name": "alerts_per_shift", "metric_value": 41},
        ),
        id="arize-other-alert",
    ),
    pytest.param(
        "langfuse",
        LANGFUSE_TRACE,
        event(
            "trace",
            "high",
            "latency",
            6400.0,
            None,
            "trace-7f3a",
            datetime(2025, 5, 20, 16, 42, 10, 123000, tzinfo=UTC),
            LANGFUSE_TRACE,
        ),
        id="langfuse-slow-trace",
    ),
    pytest.param(
        "langfuse",
        {
            "id": "evt-0c9f",
            "type": "trace-create",
            "body": {
                "id": "trace-7f3c",
                "startTime": "2025-05-20T16:42:10Z",
                "endTime": "2025-05-20T16:42:11.250Z",
            },
        },
        event(
            "trace",
            "low",
            "latency",
            1250.0,
            None,
            "evt-0c9f",
            datetime(2025, 5, 20, 16, 42, 10, tzinfo=UTC),
            {
                "id": "evt-0c9f",
                "type": "trace-create",
                "body": {
                    "id": "trace-7f3c",
                    "startTime": "2025-05-20T16:42:10Z",
                    "endTime": "2025-05-20T16:42:11.250Z",
                },
            },
        ),
        id="langfuse-trace-timed-by-its-start-and-end",
    ),
    pytest.param(
        "langfuse",
        LANGFUSE_FAILED_GENERATION,
        event(
            "generation",
            "high",
            "gpt-4o",
            3900.0,
            None,
            "evt-0c9d",
            LANGFUSE_AT,
            LANGFUSE_FAILED_GENERATION,
        ),
        id="langfuse-failed-generation",
    ),
    pytest.param(
        "langfuse",
        LANGFUSE_GENERATION,
        event(
            "generation",
            "low",
            "gpt-4o-mini",
            957.0,
            None,
            "evt-0c9e",
            datetime(2025, 5, 20, 16, 43, tzinfo=UTC),
            LANGFUSE_GENERATION,
        ),
        id="langfuse-generation",
    ),
    pytest.param(
        "langfuse",
        LANGFUSE_SCORE,
        event(
            "score",
            "high",
            "faithfulness",
            0.42,
            None,
            "evt-1a2b",
            datetime(2025, 5, 20, 16, 45, tzinfo=UTC),
            LANGFUSE_SCORE,
        ),
        id="langfuse-low-score",
    ),
    pytest.param(
        "langfuse",
        {**LANGFUSE_SCORE, "body": {"name": "triage_label", "value": "wrong_acuity"}},
        event(
            "score",
            "low",
            "triage_label",
            None,
            None,
            "evt-1a2b",
            datetime(2025, 5, 20, 16, 45, tzinfo=UTC),
            {**LANGFUSE_SCORE, "body": {"name": "triage_label", "value": "wrong_acuity"}},
        ),
        id="langfuse-categorical-score",
    ),
    pytest.param(
        "wandb",
        WANDB_FINISHED,
        event(
            "training_complete",
            "high",
            "val_accuracy",
            0.8,
            None,
            "3k9x2m1p",
            WANDB_AT,
            {**WANDB_FINISHED, "accuracy_drop": 0.12},
        ),
        id="wandb-run-finished-below-its-baseline",
    ),
    pytest.param(
        "wandb",
        {"event_type": "run_finished", "run_id": "3k9x2m1q", "val_accuracy": 0.91},
        event(
            "training_complete",
            "low",
            "val_accuracy",
            0.91,
            None,
            "3k9x2m1q",
            None,
            {"event_type": "run_finished", "run_id": "3k9x2m1q", "val_accuracy": 0.91},
        ),
        id="wandb-run-finished",
    ),
    pytest.param(
        "wandb",
        WANDB_ALERT,
        event(
            "alert",
            "critical",
            "val_loss spike",
            None,
            None,
            "al-771",
            datetime(2025, 6, 10, 21, 0, tzinfo=UTC),
            WANDB_ALERT,
        ),
        id="wandb-critical-alert",
    ),
    pytest.param(
        "wandb",
        WANDB_METRIC,
        event("alert", "high", "val_loss", 0.92, 0.6, None, None, WANDB_METRIC),
        id="wandb-metric-threshold",
    ),
    pytest.param(
        "wandb",
        WANDB_ALIAS,
        event("add_artifact_alias", "low", None, None, None, None, None, WANDB_ALIAS),
        id="wandb-other-event",
    ),
    pytest.param(
        "wandb",
        {**WANDB_FINISHED, "state": "crashed"},
        event(
            "run_state",
            "low",
            None,
            None,
            None,
            None,
            WANDB_AT,
            {**WANDB_FINISHED, "state": "crashed"},
        ),
        id="wandb-run-state-other-than-finished",
    ),
]


@pytest.mark.parametrize(("source", "payload", "expected"), GOLDEN)
def test_a_payload_becomes_its_event(
    source: str, payload: dict[str, Any], expected: SourceEvent
) -> None:
    assert parse(source, payload) == expected


def test_the_payload_is_kept_whole_and_apart_from_the_input() -> None:
    parsed = parse("langsmith", LANGSMITH_RULE)
    assert parsed.payload == {**LANGSMITH_RULE, "error_rate": 0.5}  # the rate derived beside it
    parsed.payload["runs"][0]["inputs"]["note"] = "[REDACTED]"
    assert OK_RUN["inputs"] == {"note": "Pt reports chest pain"}


def test_what_the_source_says_itself_wins_over_a_derived_number() -> None:
    stated = {**ARIZE_PERFORMANCE, "accuracy_drop": 0.2}
    assert parse("arize", stated).payload["accuracy_drop"] == 0.2
    assert parse("arize", {**ARIZE_DRIFT, "drift_score": 0.3}).payload["drift_score"] == 0.3


def test_derived_numbers_are_under_keys_the_normalizer_reads() -> None:
    read = {
        key
        for rule in rules().normalizer.keyword_rules
        for source in rule.metrics.values()
        for key in source.keys
    }
    derived = {
        "accuracy_drop",
        "drift_score",
        "demographic_variance",
        "latency_increase",
        "error_rate",
    }
    assert derived <= read


@pytest.mark.parametrize(
    ("source", "payload", "expected"),
    [
        ("langsmith", {"alert_rule_id": "r-1"}, ("alert", "medium", None, None, None, None)),
        ("langsmith", {"rule_id": "r-2", "runs": []}, ("run", "low", "run_count", 0.0, None, None)),
        ("arize", {"alert_type": "drift"}, ("drift", "high", "drift_score", None, None, None)),
        ("langfuse", {"type": "score"}, ("score", "low", None, None, None, None)),
        (
            "wandb",
            {"event_type": "run_completed"},
            ("training_complete", "low", "val_accuracy", None, None, None),
        ),
    ],
)
def test_optional_fields_may_be_missing(
    source: str, payload: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    parsed = parse(source, payload)
    assert (
        parsed.event_type,
        parsed.severity,
        parsed.metric,
        parsed.metric_value,
        parsed.threshold,
        parsed.run_id,
    ) == expected
    assert parsed.occurred_at is None
    assert parsed.payload == payload


def test_numbers_may_come_as_text_and_ids_as_numbers() -> None:
    parsed = parse(
        "langsmith",
        {
            "alert_rule_id": 4471,
            "alert_rule_attribute": "error_count",
            "triggered_metric_value": "12",
            "triggered_threshold": " 5 ",
            "timestamp": 1743516300,
        },
    )
    assert (parsed.severity, parsed.metric_value, parsed.threshold) == ("critical", 12.0, 5.0)
    assert parsed.run_id == "4471@2025-04-01T14:05:00+00:00"
    assert parsed.occurred_at == FIRED


def test_an_unreadable_timestamp_is_no_reason_to_refuse_an_alert() -> None:
    """Without its time an alert's firing has no id of its own: it is kept without one."""
    parsed = parse("langsmith", {**LANGSMITH_ERRORS, "timestamp": "yesterday at noon"})
    assert (parsed.occurred_at, parsed.run_id, parsed.severity) == (None, None, "critical")
    naive = parse("arize", {**ARIZE_DRIFT, "timestamp": "2025-06-03T07:00:00"})
    assert naive.occurred_at == ARIZE_AT


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("data", [None, [], [LANGSMITH_ERRORS], "alert", 12, True])
def test_only_an_object_can_be_an_event(source: str, data: Any) -> None:
    with pytest.raises(ValidationError, match="valid dictionary"):
        parse(source, data)


@pytest.mark.parametrize(
    ("source", "payload", "problem"),
    [
        ("langsmith", {"project_name": "p"}, "an alert \\(with alert_rule_id\\)"),
        ("langsmith", {"rule_id": "r-1"}, "rule_id and runs"),
        ("langsmith", {"rule_id": "r-1", "runs": {"id": "x"}}, "runs\n.*valid list"),
        ("langsmith", {"rule_id": "r-1", "runs": ["x"]}, "runs.0\n.*valid dictionary"),
        ("langsmith", {"rule_id": "r-1", "runs": [{"error": ["boom"]}]}, "runs.0.error"),
        ("langsmith", {**LANGSMITH_ERRORS, "alert_rule_id": ""}, "alert_rule_id"),
        ("langsmith", {**LANGSMITH_ERRORS, "alert_rule_attribute": 5}, "alert_rule_attribute"),
        (
            "langsmith",
            {**LANGSMITH_ERRORS, "triggered_metric_value": "twelve"},
            "triggered_metric_value\n.*expected a number",
        ),
        (
            "langsmith",
            {**LANGSMITH_ERRORS, "triggered_threshold": True},
            "triggered_threshold\n.*not true or false",
        ),
        (
            "langsmith",
            {**LANGSMITH_ERRORS, "triggered_metric_value": float("nan")},
            "finite number",
        ),
        ("langsmith", {**LANGSMITH_ERRORS, "alert_rule_attribute": "x" * 201}, "200 characters"),
        ("arize", {"monitor_name": "Lactate PSI", "drift_value": 0.3}, "alert_type\n.*required"),
        ("arize", {"alert_type": "  "}, "alert_type"),
        ("arize", {**ARIZE_DRIFT, "drift_value": "high"}, "drift_value"),
        ("arize", {**ARIZE_BIAS, "demographic_variance": [0.12]}, "demographic_variance"),
        ("arize", {**ARIZE, "alert_type": "bias", "variance": {}}, "\nvariance\n"),
        ("arize", {**ARIZE_PERFORMANCE, "metric_value": "79%"}, "metric_value"),
        (
            "langfuse",
            {
                "id": "550e8400-e29b-41d4-a716-446655440000",
                "timestamp": "2024-07-10T10:30:00Z",
                "type": "prompt-version",
                "apiVersion": "v1",
                "action": "created",
                "prompt": {"name": "triage", "version": 4},
            },
            "a trace, generation or score",
        ),
        ("langfuse", {"body": {"name": "faithfulness", "value": 0.4}}, "type\n.*required"),
        ("langfuse", {"type": "trace-delete", "body": {}}, "a trace, generation or score"),
        ("langfuse", {**LANGFUSE_SCORE, "body": "faithfulness=0.4"}, "body\n.*valid dictionary"),
        ("langfuse", {**LANGFUSE_SCORE, "body": {"value": {"score": 0.4}}}, "body.value"),
        (
            "langfuse",
            {**LANGFUSE_GENERATION, "body": {"usage": {"total": "lots"}}},
            "body.usage.total",
        ),
        ("langfuse", {**LANGFUSE_TRACE, "latency": "slow"}, "body.latency"),
        ("wandb", {"run_id": "3k9x2m1p", "val_accuracy": 0.8}, "event_type\n.*required"),
        ("wandb", {**WANDB_FINISHED, "val_accuracy": "0.8x"}, "val_accuracy"),
        ("wandb", {**WANDB_FINISHED, "event_type": "e" * 101}, "100 characters"),
        ("wandb", {**WANDB_ALERT, "alert_name": ["val_loss"]}, "alert_name"),
    ],
)
def test_what_cannot_be_an_event_of_the_source_is_refused(
    source: str, payload: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        parse(source, payload)


@pytest.mark.parametrize("source", ["LangSmith", "datadog", "", "langsmith ", None, ["arize"]])
def test_an_unknown_source_is_refused(source: Any) -> None:
    with pytest.raises(ValueError, match="unknown source") as refused:
        parse(source, LANGSMITH_ERRORS)
    assert not isinstance(refused.value, ValidationError)


# --- what the engine makes of them ---------------------------------------------------------------


def normalized(parsed: SourceEvent) -> Normalized:
    return normalize(
        parsed.event_type,
        metric=parsed.metric,
        metric_value=parsed.metric_value,
        severity=parsed.severity,
        payload=parsed.payload,
    )


def violations(source: str, payload: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    found: list[Violation] = map_event(normalized(parse(source, payload)), CLINICAL_FACTS)
    return [(v.control_id, v.type, v.severity, v.requires_reporting) for v in found]


AUDIT = "164.312(b)"


@pytest.mark.parametrize(
    ("source", "payload", "canonical", "expected"),
    [
        pytest.param(
            "arize",
            ARIZE_PERFORMANCE,
            "prediction_accuracy_drop",
            [
                ("MANAGE-4.1", "deviation", "high", False),
            ],
            id="arize-accuracy-drop-of-twelve-points-from-its-baseline",
        ),
        pytest.param(
            "arize",
            {**ARIZE_PERFORMANCE, "baseline_value": None, "accuracy_drop": 0.12},
            "prediction_accuracy_drop",
            [
                ("MANAGE-4.1", "deviation", "high", False),
            ],
            id="arize-accuracy-drop-of-twelve-points-stated",
        ),
        pytest.param(
            "arize",
            ARIZE_BIAS,
            "bias_detected",
            [("MEASURE-2.11", "threshold_exceeded", "high", False)],
            id="arize-bias-variance-of-twelve-points",
        ),
        pytest.param(
            "arize",
            ARIZE_DRIFT,
            "model_drift",
            [],  # no threshold of ours crossed: no finding (an alert, at its stated severity)
            id="arize-drift-without-an-accuracy-drop",
        ),
        pytest.param(
            "arize",
            ARIZE_QUALITY,
            "data_quality_degradation",
            [("MEASURE-2.4", "threshold_exceeded", "medium", False)],
            id="arize-data-quality",
        ),
        pytest.param(
            "langsmith",
            LANGSMITH_ERRORS,
            "prediction_accuracy_drop",
            [],  # no threshold of ours crossed: no finding (an alert, at its stated severity)
            id="langsmith-error-count-reviewed-as-system-activity",
        ),
        pytest.param(
            "langsmith",
            LANGSMITH_LATENCY,
            "latency_threshold_exceeded",
            [(AUDIT, "deviation", "high", False)],  # latency: service availability
            id="langsmith-latency-eighty-percent-over-its-threshold",
        ),
        pytest.param(
            "langsmith",
            {**LANGSMITH_RULE, "runs": [OK_RUN]},
            "prediction_accuracy_drop",
            [],
            id="langsmith-runs-without-failures",
        ),
        pytest.param(
            "langfuse",
            LANGFUSE_FAILED_GENERATION,
            "prediction_accuracy_drop",
            [],  # no threshold of ours crossed: no finding (an alert, at its stated severity)
            id="langfuse-failed-generation",
        ),
        pytest.param(
            "langfuse",
            LANGFUSE_GENERATION,
            "prediction_accuracy_drop",
            [],
            id="langfuse-generation",
        ),
        pytest.param(
            "wandb",
            WANDB_FINISHED,
            "prediction_accuracy_drop",
            [
                ("MANAGE-4.1", "deviation", "high", False),
            ],
            id="wandb-retrained-model-twelve-points-below-its-baseline",
        ),
        pytest.param(
            "wandb",
            WANDB_ALERT,
            "prediction_accuracy_drop",
            [],  # no threshold of ours crossed: no finding (an alert, at its stated severity)
            id="wandb-critical-alert",
        ),
    ],
)
def test_the_engine_translates_the_event(
    source: str,
    payload: dict[str, Any],
    canonical: str,
    expected: list[tuple[str, str, str, bool]],
) -> None:
    assert normalized(parse(source, payload)).event_type == canonical
    assert violations(source, payload) == expected


# --- properties -----------------------------------------------------------------------------------

# Per source, the keys its schema reads; arbitrary JSON alone seldom gets past the schemas.
SOURCE_KEYS = {
    "langsmith": [
        "alert_rule_id",
        "alert_rule_attribute",
        "triggered_metric_value",
        "triggered_threshold",
        "timestamp",
        "rule_id",
        "runs",
        "end_time",
    ],
    "arize": [
        "alert_type",
        "monitorCategory",
        "alert_id",
        "timestamp",
        "feature_name",
        "drift_value",
        "drift_score",
        "fairness_metric",
        "demographic_variance",
        "variance",
        "metric_name",
        "metric_value",
        "threshold",
        "baseline_value",
        "accuracy_drop",
    ],
    "langfuse": ["type", "id", "timestamp", "body"],
    "wandb": [
        "event_type",
        "state",
        "run_id",
        "val_accuracy",
        "baseline_accuracy",
        "alert_id",
        "alert_name",
        "metric_name",
        "metric_value",
        "threshold",
        "severity",
        "timestamp",
    ],
}
NESTED_KEYS = {
    "runs": ["id", "status", "error", "name"],
    "body": ["id", "name", "model", "latency", "startTime", "endTime", "level", "error", "value"],
    "usage": ["total", "input", "output", "totalTokens"],
}
WORDS = [
    "error_count",
    "latency",
    "feedback_score",
    "drift",
    "bias",
    "performance",
    "dataQuality",
    "accuracy",
    "mae",
    "trace",
    "generation-create",
    "score-create",
    "ERROR",
    "RUN_STATE",
    "finished",
    "run_finished",
    "alert",
    "critical",
    "2025-04-01T14:05:00Z",
    "0001-01-01T00:00:00+05:00",
    "0.3",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
NUMBERS = {
    "triggered_metric_value",
    "triggered_threshold",
    "drift_value",
    "drift_score",
    "demographic_variance",
    "variance",
    "metric_value",
    "threshold",
    "baseline_value",
    "accuracy_drop",
    "latency",
    "value",
    "val_accuracy",
    "baseline_accuracy",
    "total",
    "input",
    "output",
    "totalTokens",
}
numbers = st.floats(min_value=0, max_value=10_000) | st.integers(0, 100) | st.just("0.3")


def leaf(key: str) -> st.SearchStrategy[Any]:
    """Mostly values the schema takes for the key, now and then anything."""
    likely = numbers if key in NUMBERS else st.sampled_from(WORDS)
    return st.integers(0, 9).flatmap(lambda n: scalars if n == 0 else likely)


def fields(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={key: _nested(key) for key in keys})


def _nested(key: str) -> st.SearchStrategy[Any]:
    if key == "runs":
        return st.lists(fields(NESTED_KEYS["runs"]), max_size=3) | leaf(key)
    if key == "body":
        body = fields(NESTED_KEYS["body"])
        usage = fields(NESTED_KEYS["usage"])
        return st.builds(lambda b, u: {**b, "usage": u}, body, usage) | body | leaf(key)
    return leaf(key)


shaped = st.sampled_from(SOURCES).flatmap(
    lambda source: st.tuples(st.just(source), fields(SOURCE_KEYS[source]))
)


def check(source: str, data: Any) -> None:
    """An event or a refusal (ValidationError is a ValueError), the same every time."""
    try:
        first = parse(source, data)
    except ValueError as refused:
        with pytest.raises(type(refused)):
            parse(source, data)
        return
    assert parse(source, data) == first
    assert isinstance(data, dict)
    assert {key: first.payload[key] for key in data} == data
    assert first.severity in SEVERITIES
    assert 0 < len(first.event_type) <= 100
    assert first.metric is None or 0 < len(first.metric) <= 200
    assert first.run_id is None or 0 < len(first.run_id) <= 200
    for number in (first.metric_value, first.threshold):
        assert number is None or math.isfinite(number)
    assert first.occurred_at is None or first.occurred_at.utcoffset() == timedelta(0)


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(SOURCES), data=values)
def test_any_json_is_an_event_or_refused_and_always_the_same(source: str, data: Any) -> None:
    check(source, data)


@settings(max_examples=300, deadline=None)
@given(sample=shaped)
def test_any_payload_of_a_sources_shape_is_an_event_or_refused(sample: tuple[str, Any]) -> None:
    check(*sample)
