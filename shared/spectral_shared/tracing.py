"""OpenTelemetry tracing across HTTP and bus messages, configured by the standard OTEL_* variables.

Spans always exist (so every log line and message carries a trace id); they are exported only
when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` or ``console``) or
``OTEL_EXPORTER_OTLP_ENDPOINT``/``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set. Context crosses
the bus in W3C ``traceparent`` message headers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

_provider: TracerProvider | None = None


def _exporter_from_env() -> SpanExporter | None:
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if choice == "none":
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp" or endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return None


def configure_tracing(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install the process's tracer provider once; later calls return it (one process, one
    provider), adding ``exporter`` to it if one is given."""
    global _provider
    if _provider is not None:
        if exporter is not None:
            _provider.add_span_processor(SimpleSpanProcessor(exporter))
        return _provider
    name = os.environ.get("OTEL_SERVICE_NAME", f"spectral-{service_name}")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    chosen = exporter or _exporter_from_env()
    if chosen is not None:
        provider.add_span_processor(BatchSpanProcessor(chosen))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


@functools.cache
def tracer(name: str) -> trace.Tracer:
    """The tracer for ``name``, looked up once: the SDK's lookup compares instrumentation scopes
    on every call, which costs more than the span it is for. Before ``configure_tracing`` this is
    OpenTelemetry's proxy, which follows the provider once one is set."""
    return trace.get_tracer(name)


def inject_headers(headers: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, Any]) -> Context:
    return propagate.extract({k.lower(): str(v) for k, v in headers.items() if v is not None})


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
