"""Normalizing a telemetry event (docs/domain.md#the-normalizer): its canonical type, severity,
the confidence of the match, and the numbers the mapping rules use.

An event nothing recognises is ``unclassified`` (confidence 0): kept and shown as such, never
translated into findings, so that a misspelt type is visible instead of guessed.

An exact canonical type or alias is taken as is; otherwise the ordered keyword rules of
``rules/normalizer.yaml`` decide (a keyword matches as a whole word: letters and digits around it
break the match, underscores, spaces and punctuation do not), and ``unclassified`` when none fires. Pure: same input, same
output; any payload is accepted (unknown keys ignored, non-numbers skipped).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
Metric = Literal[
    "value",
    "accuracy_drop",
    "error_rate",
    "latency_increase_pct",
    "demographic_variance",
    "impact_ratio",
    "phi_exposure_count",
]
# The type of an event nothing recognises: kept and shown, never translated.
UNCLASSIFIED = "unclassified"


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventType(_Closed):
    type: str
    category: Literal["privacy", "security", "performance", "safety", "fairness", "quality"]
    default_severity: Severity
    fields: list[str]
    # Its findings come from measurements crossing thresholds: without a stated severity or a
    # measurement it is of low severity, not its default.
    measured: bool = False


class Taxonomy(_Closed):
    event_types: list[EventType] = Field(min_length=1)
    aliases: dict[str, str]


class MetricSource(_Closed):
    keys: list[str] = Field(min_length=1)
    default: float | None = None


class Scaled(_Closed):
    scale: str
    of: Metric
    # The scale to use when this one's metric was not measured.
    otherwise: Scaled | None = None


class KeywordRule(_Closed):
    id: str
    type: str
    keywords: list[str] = Field(min_length=1)
    severity: Severity | Scaled
    confidence: float = Field(gt=0, le=1)
    metrics: dict[Metric, MetricSource] = Field(default_factory=dict)


class Fallback(_Closed):
    type: Literal["unclassified"]


class MetricUnit(_Closed):
    min: float | None = None
    max: float | None = None
    integer: bool = False
    unit: str


class NormalizerRules(_Closed):
    keyword_rules: list[KeywordRule] = Field(min_length=1)
    fallback: Fallback
    severity_scales: dict[str, list[tuple[float | None, Severity]]]
    metric_units: dict[Metric, MetricUnit] = Field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    taxonomy: Taxonomy
    normalizer: NormalizerRules
    types: dict[str, EventType] = field(init=False)

    def __post_init__(self) -> None:
        types = {t.type: t for t in self.taxonomy.event_types}
        object.__setattr__(self, "types", types)
        named = [
            *self.taxonomy.aliases.values(),
            *(r.type for r in self.normalizer.keyword_rules),
        ]
        unknown = sorted({t for t in named if t not in types})
        if unknown:
            raise ValueError(f"rules name event types the taxonomy lacks: {unknown}")
        scales = set()
        for r in self.normalizer.keyword_rules:
            spec = r.severity if isinstance(r.severity, Scaled) else None
            while spec is not None:
                scales.add(spec.scale)
                spec = spec.otherwise
        missing = sorted(scales - set(self.normalizer.severity_scales))
        if missing:
            raise ValueError(f"severity scales missing: {missing}")

    def canonical(self, event_type: str) -> str | None:
        name = event_type.strip().lower()
        if name in self.types:
            return name
        return self.taxonomy.aliases.get(name)


@cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    """Per keyword rule, its keywords as whole words: between letters and digits, so "phi" matches
    "phi_detected" and "phi count" but not "demographic" (the reference matched substrings, which
    turned bias events into PHI breaches), and "auth" not "author"."""
    return tuple(
        re.compile(
            "|".join(rf"(?<![a-z0-9]){re.escape(k.lower())}(?![a-z0-9])" for k in rule.keywords)
        )
        for rule in rules().normalizer.keyword_rules
    )


def _table(name: str) -> Any:
    return yaml.safe_load(files(__package__).joinpath("rules", name).read_text())


@cache
def rules() -> Rules:
    return Rules(
        Taxonomy.model_validate(_table("taxonomy.yaml")),
        NormalizerRules.model_validate(_table("normalizer.yaml")),
    )


@dataclass(frozen=True)
class Normalized:
    event_type: str
    category: str
    severity: str
    confidence: float
    matched_by: str  # "exact", "alias", a keyword rule's id, or "unclassified"
    metrics: dict[str, float]
    # Patient harm the source reported with the event: death, serious_injury or malfunction.
    harm: str | None = None


def number(value: Any) -> float | None:
    """A finite number from a payload value (a number, or text that reads as one), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):  # not a number, or an integer past any float
        return None
    return result if math.isfinite(result) else None


NO_METRICS: dict[Metric, MetricSource] = {}


def _metrics(
    sources: Mapping[Metric, MetricSource], payload: Mapping[str, Any], metric_value: Any
) -> dict[str, float]:
    found: dict[str, float] = {}
    for name, source in sources.items():
        for key in source.keys:
            measured = number(payload.get(key))
            if measured is not None:
                found[name] = measured
                break
        else:
            if source.default is not None:
                found[name] = source.default
    if "value" not in found:
        own = number(metric_value)
        if own is not None:
            found["value"] = own
    return found


def _scaled(scale: list[tuple[float | None, Severity]], measured: float | None) -> str:
    if measured is None:
        return "medium"
    for bound, severity in scale:
        if bound is None or measured > bound:
            return severity
    return "low"


def _measured_scale(spec: Scaled, metrics: Mapping[str, float]) -> Scaled | None:
    """The first scale of the chain whose metric was measured."""
    current: Scaled | None = spec
    while current is not None and metrics.get(current.of) is None:
        current = current.otherwise
    return current


def _severity(spec: Severity | Scaled, metrics: Mapping[str, float], table: NormalizerRules) -> str:
    if isinstance(spec, Scaled):
        scale = _measured_scale(spec, metrics) or spec
        return _scaled(table.severity_scales[scale.scale], metrics.get(scale.of))
    return spec


def _own_severity(severity: Any) -> str | None:
    text = str(severity).strip().lower() if severity is not None else ""
    return text if text in SEVERITIES else None


def metric_problems(
    event_type: str, *, metric: str | None = None, payload: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """The payload keys the rules for this event would read a number from whose value is not a
    number in the metric's range, each with what is wrong; never quoting text (it may be PHI)."""
    table = rules()
    data = payload if isinstance(payload, Mapping) else {}
    exact = table.canonical(event_type or "")
    if exact is not None:
        rule = next((r for r in table.normalizer.keyword_rules if r.type == exact), None)
    else:
        text = f"{event_type or ''} {metric or ''}".lower()
        rule = next(
            (
                r
                for r, p in zip(table.normalizer.keyword_rules, _patterns(), strict=True)
                if p.search(text)
            ),
            None,
        )
    problems: list[tuple[str, str]] = []
    for name, source in (rule.metrics if rule else NO_METRICS).items():
        unit = table.normalizer.metric_units.get(name)
        if unit is None:
            continue
        for key in source.keys:
            if key not in data or data[key] is None:
                continue
            value = data[key]
            measured = number(value)
            if measured is None:
                problems.append((key, f"must be a number, {unit.unit}"))
            elif (
                (unit.min is not None and measured < unit.min)
                or (unit.max is not None and measured > unit.max)
                or (unit.integer and not measured.is_integer())
            ):
                problems.append((key, f"must be {unit.unit}; got {measured:g}"))
    return problems


def normalize(
    event_type: str,
    *,
    metric: str | None = None,
    metric_value: Any = None,
    severity: Any = None,
    payload: Mapping[str, Any] | None = None,
) -> Normalized:
    table = rules()
    data = payload if isinstance(payload, Mapping) else {}
    exact = table.canonical(event_type or "")
    if exact is not None:
        # The metrics of the first keyword rule for this type; its severity scale only when the
        # event states none; the taxonomy's default when neither says.
        rule = next((r for r in table.normalizer.keyword_rules if r.type == exact), None)
        metrics = _metrics(rule.metrics if rule else NO_METRICS, data, metric_value)
        stated = _own_severity(severity)
        if (
            stated is None
            and rule is not None
            and isinstance(rule.severity, Scaled)
            and _measured_scale(rule.severity, metrics) is not None
        ):
            stated = _severity(rule.severity, metrics, table.normalizer)
        kind = table.types[exact]
        return Normalized(
            exact,
            kind.category,
            stated or ("low" if kind.measured else kind.default_severity),
            1.0,
            "exact" if exact == (event_type or "").strip().lower() else "alias",
            metrics,
        )
    text = f"{event_type or ''} {metric or ''}".lower()
    for rule, pattern in zip(table.normalizer.keyword_rules, _patterns(), strict=True):
        if pattern.search(text):
            metrics = _metrics(rule.metrics, data, metric_value)
            kind = table.types[rule.type]
            # A measured type takes its severity from its measurement; unmeasured, from what
            # the source said, else low.
            scaled = isinstance(rule.severity, Scaled) and _measured_scale(rule.severity, metrics)
            severity_of = (
                _own_severity(severity) or "low"
                if kind.measured and not scaled
                else _severity(rule.severity, metrics, table.normalizer)
            )
            return Normalized(
                rule.type,
                kind.category,
                severity_of,
                rule.confidence,
                rule.id,
                metrics,
            )
    return Normalized(
        UNCLASSIFIED,
        UNCLASSIFIED,
        _own_severity(severity) or "low",
        0.0,
        UNCLASSIFIED,
        _metrics(NO_METRICS, data, metric_value),
    )


def known_types() -> list[str]:
    """Every event type and alias the normalizer takes as is, sorted."""
    table = rules()
    return sorted({*table.types, *table.taxonomy.aliases})
