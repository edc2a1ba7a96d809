"""Prometheus metrics shared by every service (labelled by service, so the all-in-one exports one set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

http_request_duration = Histogram(
    "spectral_http_request_duration_seconds",
    "HTTP request latency by service, method, route and status.",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
outbox_pending = Gauge("spectral_outbox_pending", "Outbox rows not yet published.", ["service"])
outbox_lag = Gauge(
    "spectral_outbox_lag_seconds",
    "Age of the oldest unpublished outbox row (0 when the outbox is drained).",
    ["service"],
)
events_published = Counter(
    "spectral_events_published_total", "Events published by the relay.", ["service"]
)
publish_failures = Counter(
    "spectral_publish_failures_total", "Failed publish attempts (retried later).", ["service"]
)
messages_consumed = Counter(
    "spectral_messages_consumed_total",
    "Messages consumed, by consumer queue and outcome (handled, duplicate, retried, dead_lettered).",
    ["consumer", "outcome"],
)
handler_duration = Histogram(
    "spectral_handler_duration_seconds", "Event handler latency.", ["consumer"]
)
dead_letters = Counter(
    "spectral_dead_letters_total", "Messages sent to a dead-letter queue.", ["consumer"]
)
queue_depth = Gauge(
    "spectral_queue_depth", "Ready messages in a consumer queue (consumer lag).", ["queue"]
)
bus_rows_pruned = Counter(
    "spectral_bus_rows_pruned_total",
    "Outbox, delivery-outbox and inbox rows deleted after BUS_RETENTION_DAYS.",
    ["service", "table"],
)
deliveries_sent = Counter(
    "spectral_deliveries_sent_total",
    "Outgoing messages handed over (to the mail backend, Slack, a webhook), by channel.",
    ["service", "channel"],
)
delivery_failures = Counter(
    "spectral_delivery_failures_total",
    "Failed sends of outgoing messages (retried with backoff, or dead at the last attempt).",
    ["service", "channel"],
)
deliveries_dead = Counter(
    "spectral_deliveries_dead_total",
    "Outgoing messages given up on (DELIVERY_MAX_ATTEMPTS failures, or a refused target).",
    ["service", "channel"],
)
scheduled_runs = Counter(
    "spectral_scheduled_runs_total",
    "Periodic job runs, by job and outcome (ok, failed).",
    ["job", "outcome"],
)
scheduled_duration = Histogram(
    "spectral_scheduled_duration_seconds", "Periodic job run time.", ["job"]
)
