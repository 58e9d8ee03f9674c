"""What a canary judgement found: per metric its evidence and class, then the score and the verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rollguard.canary.config import CanaryConfig, MetricSpec
from rollguard.model import EXIT_FINDINGS, EXIT_INPUT, EXIT_PASS

Classification = Literal["pass", "high", "low", "nodata"]
Outcome = Literal["pass", "fail", "nodata"]
Verdict = Literal["pass", "marginal", "fail", "nodata"]


def finite(value: float | None) -> float | None:
    """`value` when it is a finite number, else None (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class SideSummary:
    """One side of one metric: the samples judged and how many were dropped, with their median (and slope)."""

    samples: int
    non_finite: int = 0
    outliers: int = 0
    series: int = 0
    median: float | None = None
    slope_per_hour: float | None = None  # trend metrics: the Theil-Sen slope
    slope_interval: tuple[float, float] | None = None
    points: tuple[tuple[float, float], ...] = ()  # the samples judged, for charts
    query: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The side's entry in the JSON report (without its points)."""
        found: dict[str, Any] = {
            "samples": self.samples,
            "dropped_non_finite": self.non_finite,
            "dropped_outliers": self.outliers,
            "series": self.series,
            "median": finite(self.median),
            "query": self.query,
        }
        if self.slope_per_hour is not None:
            found["slope_per_hour"] = finite(self.slope_per_hour)
            found["slope_interval"] = [finite(v) for v in self.slope_interval] if self.slope_interval else None
        return found


@dataclass(frozen=True)
class MetricResult:
    """The judgement of one metric: the shift (or trend difference) with its interval, the p-value and the class.

    `effect` is the Hodges-Lehmann shift canary − baseline for sample metrics, and the difference of
    the slopes projected over the canary's span for trend metrics; `allowed` is the allowed effect.
    """

    spec: MetricSpec
    baseline: SideSummary
    canary: SideSummary
    classification: Classification
    effect: float | None = None
    interval: tuple[float, float] | None = None
    allowed: float | None = None
    p_value: float | None = None
    statistic: float | None = None
    reason: str = ""

    @property
    def outcome(self) -> Outcome:
        """pass, fail (a change in the bad direction) or nodata."""
        match self.classification:
            case "nodata":
                return "nodata"
            case "pass":
                return "pass"
            case "high":
                return "fail" if self.spec.direction in ("increase", "either") else "pass"
            case "low":
                return "fail" if self.spec.direction in ("decrease", "either") else "pass"

    @property
    def relative_effect(self) -> float | None:
        """The effect relative to the baseline's median (None when that is 0 or unknown)."""
        median = self.baseline.median
        if self.effect is None or not median:
            return None
        return finite(self.effect / abs(median))

    def to_json(self) -> dict[str, Any]:
        """The metric's entry in the JSON report."""
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "direction": self.spec.direction,
            "critical": self.spec.critical,
            "weight": self.spec.weight,
            "classification": self.classification,
            "outcome": self.outcome,
            "reason": self.reason,
            "baseline": self.baseline.to_json(),
            "canary": self.canary.to_json(),
            "effect": finite(self.effect),
            "relative_effect": self.relative_effect,
            "allowed_effect": finite(self.allowed),
            "interval": [finite(v) for v in self.interval] if self.interval else None,
            "p_value": finite(self.p_value),
            "statistic": finite(self.statistic),
        }


@dataclass(frozen=True)
class Judgement:
    """Every metric's result, the weighted score (0-100) and the verdict."""

    config: CanaryConfig
    metrics: tuple[MetricResult, ...]
    source: str
    window: dict[str, Any] | None = None

    @property
    def score(self) -> float:
        """The weight of the metrics that passed, in percent of all weight; nodata never counts as passed."""
        total = sum(m.spec.weight for m in self.metrics)
        passed = sum(m.spec.weight for m in self.metrics if m.outcome == "pass")
        return round(100.0 * passed / total, 2) if total else 0.0

    @property
    def verdict(self) -> Verdict:
        """nodata when no metric had data; fail on a critical metric's fail or nodata; else by the score."""
        if all(m.outcome == "nodata" for m in self.metrics):
            return "nodata"
        if any(m.spec.critical and m.outcome != "pass" for m in self.metrics):
            return "fail"
        if self.score >= self.config.pass_score:
            return "pass"
        if self.score >= self.config.marginal_score:
            return "marginal"
        return "fail"

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the verdict is what it is, one sentence each."""
        found = [
            f"critical metric {m.spec.name} is {m.outcome}: {m.reason}"
            for m in self.metrics
            if m.spec.critical and m.outcome != "pass"
        ]
        verdict = self.verdict
        if verdict == "nodata":
            found.append("no metric had enough samples on both sides")
        elif verdict in ("marginal", "fail") and not found:
            below = "pass" if verdict == "marginal" else "marginal"
            limit = self.config.pass_score if verdict == "marginal" else self.config.marginal_score
            found.append(f"score {self.score:g} is below the {below} threshold {limit:g}")
        return tuple(found)

    def exit_code(self, *, fail_on_marginal: bool = False) -> int:
        """0 pass (and marginal unless `fail_on_marginal`), 1 fail, 2 no data for any metric."""
        match self.verdict:
            case "pass":
                return EXIT_PASS
            case "marginal":
                return EXIT_FINDINGS if fail_on_marginal else EXIT_PASS
            case "fail":
                return EXIT_FINDINGS
            case "nodata":
                return EXIT_INPUT

    def to_json(self, *, fail_on_marginal: bool = False) -> dict[str, Any]:
        """The documented JSON report (docs/canary.md)."""
        return {
            "version": 1,
            "verdict": self.verdict,
            "score": self.score,
            "exit_code": self.exit_code(fail_on_marginal=fail_on_marginal),
            "thresholds": {"pass": self.config.pass_score, "marginal": self.config.marginal_score},
            "confidence": self.config.confidence,
            "source": self.source,
            "window": self.window,
            "reasons": list(self.reasons),
            "metrics": [m.to_json() for m in self.metrics],
        }


def summarize(metrics: Sequence[MetricResult]) -> dict[str, int]:
    """How many metrics passed, failed and had no data."""
    counts = {"pass": 0, "fail": 0, "nodata": 0}
    for m in metrics:
        counts[m.outcome] += 1
    return counts
