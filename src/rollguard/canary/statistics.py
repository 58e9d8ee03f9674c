"""The statistics of one metric, with scipy: Mann-Whitney U and a Hodges-Lehmann shift, or Theil-Sen slopes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from rollguard.canary.config import MetricSpec, Outliers
from rollguard.canary.result import Classification, MetricResult, SideSummary
from rollguard.canary.sources import Series

# Above this many pairwise differences the Hodges-Lehmann estimate is taken over evenly spaced
# quantiles of each side (THINNED_SIDE of them) rather than every sample: n·m differences of
# two 11,000-point series would need about a gigabyte.
MAX_PAIRS = 4_000_000
THINNED_SIDE = 2_000


@dataclass(frozen=True)
class Shift:
    """The Hodges-Lehmann estimate of canary − baseline with its distribution-free confidence interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Cleaned:
    """A side's values after outlier removal, with how many were removed."""

    points: tuple[tuple[float, float], ...]
    outliers: int

    @property
    def values(self) -> list[float]:
        """The values alone."""
        return [v for _, v in self.points]


def without_outliers(points: Sequence[tuple[float, float]], how: Outliers) -> Cleaned:
    """`points` without values beyond 1.5 interquartile ranges of the quartiles (`iqr`), or all of them (`keep`)."""
    if how == "keep" or len(points) < 4:
        return Cleaned(tuple(points), 0)
    values = np.array([v for _, v in points], dtype=float)
    q1, q3 = np.percentile(values, [25, 75])
    spread = 1.5 * (q3 - q1)
    low, high = q1 - spread, q3 + spread
    kept = tuple(p for p in points if low <= p[1] <= high)
    return Cleaned(kept, len(points) - len(kept))


def _thinned(values: Sequence[float], count: int) -> npt.NDArray[np.float64]:
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if len(ordered) <= count:
        return ordered
    return np.asarray(np.quantile(ordered, np.linspace(0.0, 1.0, count)), dtype=np.float64)


def hodges_lehmann(baseline: Sequence[float], canary: Sequence[float], *, confidence: float) -> Shift:
    """The median of all canary − baseline differences, and the interval between the order statistics
    k and n·m − k + 1 of those differences, k from the normal approximation of the U distribution."""
    n, m = len(canary), len(baseline)
    if n == 0 or m == 0:
        raise ValueError("both sides need samples")
    if n * m > MAX_PAIRS:
        canary_v, baseline_v = _thinned(canary, THINNED_SIDE), _thinned(baseline, THINNED_SIDE)
        n, m = len(canary_v), len(baseline_v)
    else:
        canary_v, baseline_v = np.asarray(canary, dtype=float), np.asarray(baseline, dtype=float)
    differences = np.sort(np.subtract.outer(canary_v, baseline_v).ravel())
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    k = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    k = min(max(k, 0), (n * m - 1) // 2)
    return Shift(
        estimate=float(np.median(differences)),
        low=float(differences[k]),
        high=float(differences[n * m - 1 - k]),
    )


def allowed_effect(spec: MetricSpec, baseline_median: float) -> float:
    """The larger of the relative allowance (of the baseline median) and the absolute one."""
    return max(spec.relative_effect * abs(baseline_median), spec.absolute_effect)


def _side(series: Series, cleaned: Cleaned, *, query: str | None) -> SideSummary:
    values = cleaned.values
    return SideSummary(
        samples=len(values),
        non_finite=series.non_finite,
        outliers=cleaned.outliers,
        series=series.series,
        median=float(np.median(values)) if values else None,
        points=cleaned.points,
        query=query,
    )


def judge_metric(
    spec: MetricSpec,
    baseline: Series,
    canary: Series,
    *,
    confidence: float,
    queries: tuple[str | None, str | None] = (None, None),
) -> MetricResult:
    """Judge one metric from both sides' samples (non-finite ones are already dropped by the source)."""
    base_clean = without_outliers(baseline.points, spec.outliers)
    canary_clean = without_outliers(canary.points, spec.outliers)
    base = _side(baseline, base_clean, query=queries[0])
    cand = _side(canary, canary_clean, query=queries[1])
    short = [
        f"{name} has {side.samples} sample{'' if side.samples == 1 else 's'}"
        for name, side in (("baseline", base), ("canary", cand))
        if side.samples < spec.min_samples
    ]
    if short:
        reason = f"{' and '.join(short)}; at least {spec.min_samples} are needed"
        return MetricResult(spec, base, cand, "nodata", reason=reason)
    if spec.kind == "trend":
        return _judge_trend(spec, base, cand, confidence=confidence)
    return _judge_sample(spec, base, cand, confidence=confidence)


def _judge_sample(spec: MetricSpec, base: SideSummary, cand: SideSummary, *, confidence: float) -> MetricResult:
    base_values = [v for _, v in base.points]
    cand_values = [v for _, v in cand.points]
    test = stats.mannwhitneyu(cand_values, base_values, alternative="two-sided", method="auto")
    p_value = float(test.pvalue)
    if math.isnan(p_value):  # every sample of both sides equal: no evidence of any shift
        p_value = 1.0
    shift = hodges_lehmann(base_values, cand_values, confidence=confidence)
    assert base.median is not None
    allowed = allowed_effect(spec, base.median)
    significant = p_value < 1 - confidence
    classification: Classification = "pass"
    if significant and shift.estimate > allowed and shift.low > 0:
        classification = "high"
    elif significant and shift.estimate < -allowed and shift.high < 0:
        classification = "low"
    reason = (
        f"shift {shift.estimate:.6g} (interval {shift.low:.6g} to {shift.high:.6g}) against an allowed "
        f"{allowed:.6g}, p = {p_value:.3g}"
    )
    return MetricResult(
        spec,
        base,
        cand,
        classification,
        effect=shift.estimate,
        interval=(shift.low, shift.high),
        allowed=allowed,
        p_value=p_value,
        statistic=float(test.statistic),
        reason=reason,
    )


def _slope(side: SideSummary, *, confidence: float) -> tuple[float, float, float] | None:
    """Theil-Sen slope per second with its interval; None when the samples span a single instant."""
    times = np.array([t for t, _ in side.points], dtype=float)
    if len(np.unique(times)) < 2:
        return None
    values = np.array([v for _, v in side.points], dtype=float)
    fit = stats.theilslopes(values, times - times[0], alpha=confidence)
    return float(fit.slope), float(fit.low_slope), float(fit.high_slope)


def _judge_trend(spec: MetricSpec, base: SideSummary, cand: SideSummary, *, confidence: float) -> MetricResult:
    base_fit, cand_fit = _slope(base, confidence=confidence), _slope(cand, confidence=confidence)
    if base_fit is None or cand_fit is None:
        return MetricResult(spec, base, cand, "nodata", reason="the samples of a side span a single instant")
    hour = 3600.0
    base = _with_slope(base, base_fit, hour)
    cand = _with_slope(cand, cand_fit, hour)
    span = cand.points[-1][0] - cand.points[0][0]
    assert base.median is not None
    allowed = allowed_effect(spec, base.median)
    # The growth the canary adds over its span beyond the baseline's, and a conservative interval for
    # it: the farthest ends of the two slope intervals.
    effect = (cand_fit[0] - base_fit[0]) * span
    low, high = (cand_fit[1] - base_fit[2]) * span, (cand_fit[2] - base_fit[1]) * span
    classification: Classification = "pass"
    if low > 0 and effect > allowed:
        classification = "high"
    elif high < 0 and effect < -allowed:
        classification = "low"
    reason = (
        f"slope {cand_fit[0] * hour:.6g}/h against the baseline's {base_fit[0] * hour:.6g}/h: "
        f"{effect:.6g} over {span:g} s (interval {low:.6g} to {high:.6g}) against an allowed {allowed:.6g}"
    )
    return MetricResult(
        spec, base, cand, classification, effect=effect, interval=(low, high), allowed=allowed, reason=reason
    )


def _with_slope(side: SideSummary, fit: tuple[float, float, float], hour: float) -> SideSummary:
    from dataclasses import replace

    return replace(side, slope_per_hour=fit[0] * hour, slope_interval=(fit[1] * hour, fit[2] * hour))
