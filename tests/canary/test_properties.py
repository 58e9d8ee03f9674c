"""Properties: identical samples pass, a clearly higher error rate fails, nodata is never a pass, and no
response, however broken, gets past the reader as anything but an InputError."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.canary import CanaryConfig, Judgement, MetricSpec
from rollguard.canary.sources import Series, parse_query_range
from rollguard.canary.statistics import judge_metric
from rollguard.errors import InputError

from .recorded import query_range

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
rates = st.floats(min_value=0.0, max_value=0.01, allow_nan=False)
directions = st.sampled_from(["increase", "decrease", "either"])
kinds = st.sampled_from(["sample", "trend"])


def series(values: list[float]) -> Series:
    return Series(points=tuple((1_764_979_200.0 + 60 * i, v) for i, v in enumerate(values)), series=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=10, max_size=60), directions, kinds, st.sampled_from(["keep", "iqr"]))
def test_identical_samples_pass(values: list[float], direction: str, kind: str, outliers: str) -> None:
    spec = MetricSpec(name="m", query="q", kind=kind, direction=direction, outliers=outliers)  # type: ignore[arg-type]
    result = judge_metric(spec, series(values), series(values), confidence=0.95)
    if result.classification == "nodata":  # iqr may leave fewer than 10, and nodata is not a pass either
        assert result.outcome == "nodata"
        return
    assert result.outcome == "pass", result.reason
    assert result.effect == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(rates, min_size=10, max_size=60),
    st.lists(rates, min_size=10, max_size=60),
    st.sampled_from(["increase", "either"]),
)
def test_a_clearly_higher_error_rate_fails(baseline: list[float], noise: list[float], direction: str) -> None:
    # The canary's error rate is 5 percentage points above the baseline's highest, allowed 0.5.
    canary = [max(baseline) + 0.05 + n for n in noise]
    spec = MetricSpec(name="error_rate", query="q", direction=direction, absolute_effect=0.005, critical=True)  # type: ignore[arg-type]
    result = judge_metric(spec, series(baseline), series(canary), confidence=0.95)
    assert (result.classification, result.outcome) == ("high", "fail")
    judgement = Judgement(CanaryConfig(metrics=(spec,)), (result,), source="test")
    assert judgement.verdict == "fail" and judgement.exit_code() == 1


@settings(max_examples=80, deadline=None)
@given(
    st.lists(finite, max_size=30),
    st.lists(finite, max_size=30),
    st.integers(min_value=3, max_value=40),
    kinds,
    directions,
    st.booleans(),
)
def test_nodata_is_never_a_pass(
    baseline: list[float], canary: list[float], min_samples: int, kind: str, direction: str, critical: bool
) -> None:
    spec = MetricSpec(name="m", query="q", kind=kind, direction=direction, min_samples=min_samples, critical=critical)  # type: ignore[arg-type]
    result = judge_metric(spec, series(baseline), series(canary), confidence=0.95)
    if min(len(baseline), len(canary)) < min_samples:
        assert result.outcome == "nodata"
    if result.outcome == "nodata":
        judgement = Judgement(CanaryConfig(metrics=(spec,)), (result,), source="test")
        assert judgement.verdict == "nodata" and judgement.exit_code() == 2


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_as_input_errors(data: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_query_range(data, where="x.json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from(["values", "result", "data", None]))
def test_any_json_in_any_place_is_read_or_refused_as_input_errors(value: object, where: str | None) -> None:
    document = query_range([({}, [1.0, 2.0])])
    match where:
        case "values":
            document["data"]["result"][0]["values"].append(value)
        case "result":
            document["data"]["result"].append(value)
        case "data":
            document["data"] = value
        case None:
            document = value  # type: ignore[assignment]
    try:
        parsed = parse_query_range(json.dumps(document).encode(), where="x.json")
    except InputError:
        return
    assert all(isinstance(t, float) and isinstance(v, float) for t, v in parsed.points)
