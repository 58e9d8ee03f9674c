"""Canary judgement: baseline and canary samples of each metric compared with scipy, scored and given a verdict.

`judge(config, source)` is the whole of it; `rollguard canary judge` and the tests call it alike.
scipy is imported only when a judgement runs, so the rest of rollguard does not pay for it.
"""

from __future__ import annotations

from typing import Any

from rollguard.canary.config import CanaryConfig, MetricSpec, Side, read_canary_config
from rollguard.canary.result import Judgement, MetricResult, SideSummary
from rollguard.canary.sources import (
    SIDES,
    MetricSource,
    PrometheusSource,
    RecordedSource,
    SourceUnavailable,
    Window,
    render_query,
)
from rollguard.errors import ConfigError, InputError

__all__ = [
    "CanaryConfig",
    "Judgement",
    "MetricResult",
    "MetricSource",
    "MetricSpec",
    "PrometheusSource",
    "RecordedSource",
    "Side",
    "SideSummary",
    "SourceUnavailable",
    "Window",
    "judge",
    "read_canary_config",
    "render_query",
]


def _queries(config: CanaryConfig, metric: MetricSpec, *, required: bool) -> tuple[str | None, str | None]:
    """The metric's PromQL for the baseline and the canary; None for a side that cannot be rendered, unless `required`."""
    rendered: list[str | None] = []
    for name, side in zip(SIDES, (config.baseline, config.canary), strict=True):
        try:
            rendered.append(render_query(metric.query, label=config.label, side=side, name=name))
        except ConfigError as exc:
            if required:
                raise ConfigError(
                    f"canary.metrics {metric.name}: {exc.message}", file=config.source, line=metric.line
                ) from None
            rendered.append(None)
    return rendered[0], rendered[1]


def judge(config: CanaryConfig, source: MetricSource, *, window: dict[str, Any] | None = None) -> Judgement:
    """Fetch both sides of every metric from `source`, judge each, and score the whole.

    Raises ConfigError (a side cannot be selected), InputError (a response cannot be used) or
    SourceUnavailable (Prometheus cannot be reached); a metric without enough data is a
    `nodata` result, never an error.
    """
    from rollguard.canary.statistics import judge_metric

    results = []
    for metric in config.metrics:
        queries = _queries(config, metric, required=source.needs_queries)
        baseline = source.fetch(metric, "baseline", queries[0])
        canary = source.fetch(metric, "canary", queries[1])
        for name, series in (("baseline", baseline), ("canary", canary)):
            if metric.kind == "trend" and series.series > 1:
                # Pooling several pods' series would mix their levels into one slope.
                raise InputError(
                    f"canary.metrics {metric.name}: the {name} query returned {series.series} series; a trend "
                    "needs one: aggregate it with sum(...) or avg(...)",
                    file=config.source,
                    line=metric.line,
                )
        results.append(judge_metric(metric, baseline, canary, confidence=config.confidence, queries=queries))
    if window is None and isinstance(source, PrometheusSource):
        window = source.window.to_json()
    return Judgement(config=config, metrics=tuple(results), source=source.description, window=window)
