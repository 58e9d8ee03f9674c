"""The statistics against known results: scipy's documented values and small samples worked by hand."""

from __future__ import annotations

import random

import pytest

from rollguard.canary import CanaryConfig, Judgement, MetricResult, MetricSpec, SideSummary
from rollguard.canary.sources import Series
from rollguard.canary.statistics import MAX_PAIRS, hodges_lehmann, judge_metric, without_outliers


def series(values: list[float], *, step: float = 60.0) -> Series:
    return Series(points=tuple((1_764_979_200 + i * step, v) for i, v in enumerate(values)), series=1)


def spec(**overrides: object) -> MetricSpec:
    return MetricSpec(**({"name": "m", "query": "x{ {{ selector }} }", "min_samples": 3} | overrides))  # type: ignore[arg-type]


def test_mann_whitney_matches_scipys_documented_example() -> None:
    # scipy.stats.mannwhitneyu's documentation: U1 = 17 and an exact two-sided p of 0.1111 for
    # these two samples (males' and females' ages at diagnosis).
    males, females = [19.0, 22, 16, 29, 24], [20.0, 11, 17, 12]
    result = judge_metric(spec(), series(females), series(males), confidence=0.95)
    assert result.statistic == 17.0
    assert result.p_value == pytest.approx(0.111111, abs=1e-6)
    assert result.classification == "pass"  # not significant at 0.05


def test_hodges_lehmann_of_two_small_samples_worked_by_hand() -> None:
    # Canary 6..10 against baseline 1..5: the 25 differences are 1 (once), 2 (twice), ..., 5 (5 times),
    # ..., 9 (once); their median is the 13th, 5. k = floor(25/2 − 1.95996·√(25·11/12)) = floor(3.117) = 3,
    # so the interval runs from the 4th smallest difference (3) to the 4th largest (7).
    shift = hodges_lehmann([1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10], confidence=0.95)
    assert (shift.estimate, shift.low, shift.high) == (5.0, 3.0, 7.0)
    # At 80 % confidence z = 1.28155: k = floor(12.5 − 6.135) = 6, the 7th difference from each end: 4 and 6.
    narrow = hodges_lehmann([1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10], confidence=0.80)
    assert (narrow.low, narrow.high) == (4.0, 6.0)


def test_a_clear_shift_is_high_with_its_numbers() -> None:
    baseline = [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    canary = [v + 20 for v in baseline]
    result = judge_metric(spec(direction="increase"), series(baseline), series(canary), confidence=0.95)
    assert result.classification == "high" and result.outcome == "fail"
    assert result.effect == 20.0
    assert result.statistic == 100.0  # every canary sample above every baseline sample: U = 10·10
    # Samples of 10 use scipy's normal approximation with continuity correction:
    # z = (100 − 50 − 0.5) / √(10·10·21/12) = 49.5 / √175 = 3.74185, two-sided p = 2·(1 − Φ(z)) = 0.00018267.
    assert result.p_value == pytest.approx(0.00018267, rel=1e-4)
    assert result.allowed == pytest.approx(0.55)  # 10 % of the baseline median 5.5
    assert result.relative_effect == pytest.approx(20 / 5.5)


def test_the_direction_decides_whether_a_class_fails() -> None:
    baseline = [float(v) for v in range(10, 20)]
    lower = [v - 8 for v in baseline]
    for direction, outcome in (("increase", "pass"), ("decrease", "fail"), ("either", "fail")):
        result = judge_metric(spec(direction=direction), series(baseline), series(lower), confidence=0.95)
        assert (result.classification, result.outcome) == ("low", outcome)


def test_a_significant_shift_within_the_allowed_effect_passes() -> None:
    baseline = [100.0 + i for i in range(20)]
    canary = [v + 5 for v in baseline]  # 5 above, significant, but 10 % of 109.5 allows 10.95
    result = judge_metric(spec(direction="increase"), series(baseline), series(canary), confidence=0.95)
    assert result.p_value is not None and result.p_value < 0.05
    assert result.effect == 5.0 and result.allowed == pytest.approx(10.95)
    assert result.classification == "pass"
    absolute = judge_metric(
        spec(direction="increase", relative_effect=0.0, absolute_effect=4.0),
        series(baseline),
        series(canary),
        confidence=0.95,
    )
    assert absolute.allowed == 4.0 and absolute.classification == "high"


def test_all_equal_samples_are_no_shift() -> None:
    zeros = [0.0] * 12
    result = judge_metric(spec(), series(zeros), series(zeros), confidence=0.95)
    assert (result.p_value, result.effect, result.interval, result.classification) == (1.0, 0.0, (0.0, 0.0), "pass")


def test_iqr_outlier_removal_worked_by_hand() -> None:
    # Quartiles of 1, 2, 3, 4, 100 are 2 and 4: the fences are −1 and 7, so 100 goes.
    cleaned = without_outliers([(0, 1.0), (1, 2.0), (2, 3.0), (3, 4.0), (4, 100.0)], "iqr")
    assert cleaned.values == [1.0, 2.0, 3.0, 4.0] and cleaned.outliers == 1
    assert without_outliers([(0, 1.0), (1, 100.0)], "keep").outliers == 0


def test_outliers_option_changes_the_judgement() -> None:
    baseline = [10.0] * 9 + [11.0] * 9
    canary = [10.0] * 9 + [11.0] * 8 + [500.0]
    kept = judge_metric(spec(), series(baseline), series(canary), confidence=0.95)
    dropped = judge_metric(spec(outliers="iqr"), series(baseline), series(canary), confidence=0.95)
    assert kept.canary.samples == 18 and kept.canary.outliers == 0
    assert dropped.canary.samples == 17 and dropped.canary.outliers == 1


def test_too_few_samples_is_nodata_with_the_reason() -> None:
    result = judge_metric(spec(min_samples=10), series([1.0] * 12), series([1.0] * 4), confidence=0.95)
    assert result.classification == "nodata" and result.outcome == "nodata"
    assert result.reason == "canary has 4 samples; at least 10 are needed"
    assert result.p_value is None and result.effect is None


def test_theil_sen_trend_worked_by_hand() -> None:
    # Baseline flat at 100 MB; canary 100 MB growing 2 kB a second: every pairwise slope is
    # exactly 2000/s, so the Theil-Sen slope is 2000/s (7.2 MB/h) with a zero-width interval,
    # and over the 9 minutes (540 s) the canary gains 1,080,000 bytes more than the baseline.
    flat = [100e6] * 10
    growing = [100e6 + 2000.0 * 60 * i for i in range(10)]
    result = judge_metric(
        spec(kind="trend", direction="increase", relative_effect=0.001), series(flat), series(growing), confidence=0.95
    )
    assert result.canary.slope_per_hour == pytest.approx(7.2e6)
    assert result.baseline.slope_per_hour == 0.0
    assert result.effect == pytest.approx(1_080_000.0)
    assert result.interval == pytest.approx((1_080_000.0, 1_080_000.0))
    assert result.allowed == pytest.approx(100_000.0)  # 0.1 % of 100 MB
    assert result.classification == "high" and result.outcome == "fail"
    assert result.p_value is None


def test_a_trend_within_the_allowance_passes() -> None:
    flat = [100e6] * 10
    slow = [100e6 + 10.0 * 60 * i for i in range(10)]  # 5,400 bytes over the window
    result = judge_metric(spec(kind="trend", direction="increase"), series(flat), series(slow), confidence=0.95)
    assert result.effect == pytest.approx(5400.0) and result.classification == "pass"


def test_a_trend_of_a_single_instant_is_nodata() -> None:
    same_time = Series(points=tuple((1.0, float(v)) for v in range(10)), series=1)
    result = judge_metric(spec(kind="trend"), same_time, same_time, confidence=0.95)
    assert result.classification == "nodata"


def test_large_samples_are_thinned_for_the_shift_and_stay_accurate() -> None:
    rng = random.Random(7)
    baseline = [rng.gauss(0, 1) for _ in range(3000)]
    canary = [rng.gauss(1, 1) for _ in range(3000)]
    assert len(baseline) * len(canary) > MAX_PAIRS
    shift = hodges_lehmann(baseline, canary, confidence=0.95)
    assert 0.9 < shift.estimate < 1.1
    assert shift.low < shift.estimate < shift.high and shift.high - shift.low < 0.2


def _result(name: str, outcome: str, *, weight: float = 1.0, critical: bool = False) -> MetricResult:
    classification = {"pass": "pass", "fail": "high", "nodata": "nodata"}[outcome]
    return MetricResult(
        spec(name=name, weight=weight, critical=critical, direction="increase"),
        SideSummary(samples=10),
        SideSummary(samples=10),
        classification,  # type: ignore[arg-type]
    )


def _judgement(*metrics: MetricResult, pass_score: float = 95, marginal: float = 75) -> Judgement:
    config = CanaryConfig(metrics=tuple(m.spec for m in metrics), pass_score=pass_score, marginal_score=marginal)
    return Judgement(config=config, metrics=metrics, source="test")


def test_score_weighs_the_metrics_and_nodata_never_counts_as_passed() -> None:
    j = _judgement(_result("a", "pass", weight=3), _result("b", "fail"), _result("c", "nodata"))
    assert j.score == 60.0 and j.verdict == "fail" and j.exit_code() == 1
    marginal = _judgement(_result("a", "pass", weight=4), _result("b", "fail"))
    assert marginal.score == 80.0 and marginal.verdict == "marginal"
    assert marginal.exit_code() == 0 and marginal.exit_code(fail_on_marginal=True) == 1
    assert marginal.reasons == ("score 80 is below the pass threshold 95",)


def test_a_critical_metric_fails_alone_and_nodata_everywhere_is_exit_2() -> None:
    critical = _judgement(_result("a", "pass", weight=99), _result("b", "nodata", critical=True))
    assert critical.score == 99.0 and critical.verdict == "fail" and critical.exit_code() == 1
    nothing = _judgement(_result("a", "nodata"), _result("b", "nodata"))
    assert nothing.verdict == "nodata" and nothing.exit_code() == 2
    assert _judgement(_result("a", "pass")).verdict == "pass"
