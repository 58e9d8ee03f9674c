"""Recorded Prometheus `query_range` responses for the canary tests, generated from a fixed seed.

The files under data/ are what `write_scenarios` writes (a test keeps them equal): four
scenarios of a 30-minute window, baseline and canary side by side, as the API answers.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
START = 1764979200  # 2025-12-06T00:00:00Z
STEP = 60
POINTS = 31  # 30 minutes at one point a minute, both ends included
METRICS = ("error_rate", "latency_p99", "cpu", "memory")
SCENARIOS = ("healthy", "errors", "leak", "nodata")


def prometheus_number(value: float) -> str:
    """A sample value as Prometheus writes it (Go's shortest 'f' formatting; NaN and ±Inf spelled out)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return format(value, ".17g") if "e" in repr(value) else repr(value)


def query_range(
    series: Sequence[tuple[dict[str, str], Sequence[float]]], *, start: int = START, step: int = STEP
) -> dict[str, Any]:
    """A successful `/api/v1/query_range` response holding `series`."""
    return {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": labels,
                    "values": [[start + i * step, prometheus_number(v)] for i, v in enumerate(values)],
                }
                for labels, values in series
            ],
        },
    }


def _noisy(rng: random.Random, mean: Callable[[int], float], sd: float, *, floor: float = 0.0) -> list[float]:
    return [max(floor, rng.gauss(mean(i), sd)) for i in range(POINTS)]


def _sides(scenario: str, metric: str, rng: random.Random) -> tuple[list[float], list[float]]:
    """Baseline and canary values of one metric in one scenario."""
    if metric == "error_rate":
        base = _noisy(rng, lambda _i: 0.010, 0.002)
        canary = _noisy(
            rng, lambda _i: 0.050 if scenario == "errors" else 0.0102, 0.004 if scenario == "errors" else 0.002
        )
        base[7] = math.nan  # a minute without requests: 0/0
        if scenario == "nodata":
            canary = []
        return base, canary
    if metric == "latency_p99":
        return _noisy(rng, lambda _i: 0.250, 0.02), _noisy(rng, lambda _i: 0.252, 0.02)
    if metric == "cpu":
        return _noisy(rng, lambda _i: 0.30, 0.03), _noisy(rng, lambda _i: 0.30, 0.03)
    # memory, bytes: both sides grow slowly as caches warm; the leaking canary gains 1.5 MB a minute.
    growth = 1_500_000.0 if scenario == "leak" else 20_000.0
    base = [round(v) for v in _noisy(rng, lambda i: 210e6 + 20_000.0 * i, 250_000.0)]
    canary = [round(v) for v in _noisy(rng, lambda i: 208e6 + growth * i, 250_000.0)]
    return [float(v) for v in base], [float(v) for v in canary]


def scenario_files(scenario: str) -> dict[str, dict[str, Any]]:
    """File name → response for one scenario."""
    rng = random.Random(f"rollguard-canary-{scenario}")
    files: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        base, canary = _sides(scenario, metric, rng)
        for side, version, values in (("baseline", "1.4.2", base), ("canary", "1.5.0", canary)):
            series = [({"app": "checkout", "version": version}, values)] if values else []
            files[f"{metric}.{side}.json"] = query_range(series)
    return files


def write_scenarios(root: Path = DATA) -> None:
    """Write every scenario's files under `root/<scenario>/`."""
    for scenario in SCENARIOS:
        folder = root / scenario
        folder.mkdir(parents=True, exist_ok=True)
        for name, document in scenario_files(scenario).items():
            (folder / name).write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_scenarios()
