"""The live Prometheus of tests/canary/prometheus.py answers as the canary judge expects (both
versions' series with their labels, the canary's higher error ratio and growing memory), and the
judge, reading it over HTTP, fails the canary and passes the baseline against itself."""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from click.testing import CliRunner

from rollguard.audit.store import open_store
from rollguard.canary import CanaryConfig, PrometheusSource, RecordedSource, Window, judge, read_canary_config
from rollguard.canary.sources import MAX_SAMPLES, parse_query_range
from rollguard.cli import main

from .prometheus import BASELINE, CANARY, LivePrometheus

ERROR_RATIO = (
    'sum by (version) (rate(http_requests_total{{job="{job}",code=~"5.."}}[5s]))'
    ' / sum by (version) (rate(http_requests_total{{job="{job}"}}[5s]))'
)


def _window(prometheus: LivePrometheus) -> tuple[float, float]:
    """From a few seconds after Prometheus started (rate needs two samples) until now."""
    return prometheus.started + 6, time.time()


def test_range_query_returns_both_versions_with_their_labels(live_prometheus: LivePrometheus) -> None:
    start, end = _window(live_prometheus)
    result = live_prometheus.query_range(
        f'http_requests_total{{job="{live_prometheus.job}"}}', start=start, end=end, step=1
    )
    labels = sorted((r["metric"]["version"], r["metric"]["code"], r["metric"]["instance"]) for r in result)
    assert labels == [
        ("baseline", "200", live_prometheus.baseline_target),
        ("baseline", "500", live_prometheus.baseline_target),
        ("canary", "200", live_prometheus.canary_target),
        ("canary", "500", live_prometheus.canary_target),
    ]
    for series in result:
        assert series["metric"]["job"] == live_prometheus.job
        assert series["metric"]["__name__"] == "http_requests_total"
        values = [float(v) for _, v in series["values"]]
        assert len(values) >= 5
        assert values == sorted(values), "a counter never goes down"


def test_canary_error_ratio_is_higher_through_the_real_server(live_prometheus: LivePrometheus) -> None:
    start, end = _window(live_prometheus)
    result = live_prometheus.query_range(ERROR_RATIO.format(job=live_prometheus.job), start=start, end=end, step=1)
    ratios = {r["metric"]["version"]: [float(v) for _, v in r["values"]] for r in result}
    assert sorted(ratios) == ["baseline", "canary"]
    assert all(len(v) >= 5 for v in ratios.values())
    baseline, canary = (statistics.median(ratios[side]) for side in ("baseline", "canary"))
    # The exporters serve exact shares; scrape timing only moves rate() a little around them.
    assert abs(baseline - BASELINE.error_ratio) < 0.005
    assert abs(canary - CANARY.error_ratio) < 0.005
    assert min(ratios["canary"]) > max(ratios["baseline"])


def test_canary_memory_grows_and_the_baseline_does_not(live_prometheus: LivePrometheus) -> None:
    start, end = _window(live_prometheus)
    result = live_prometheus.query_range(
        f'app_memory_bytes{{job="{live_prometheus.job}"}}', start=start, end=end, step=1
    )
    memory = {r["metric"]["version"]: [float(v) for _, v in r["values"]] for r in result}
    assert sorted(memory) == ["baseline", "canary"]
    seconds = len(memory["canary"]) - 1
    growth = memory["canary"][-1] - memory["canary"][0]
    # 2 MiB a second, give or take the wobble (a quarter MiB either way) and scrape timing.
    assert growth > 0.5 * CANARY.memory_growth_bytes_per_second * seconds
    assert abs(memory["baseline"][-1] - memory["baseline"][0]) <= 2 * 256 * 2**10


def test_latency_histogram_is_slower_on_the_canary(live_prometheus: LivePrometheus) -> None:
    p90 = (
        "histogram_quantile(0.9, sum by (version, le) "
        f'(rate(http_request_duration_seconds_bucket{{job="{live_prometheus.job}"}}[5s])))'
    )
    start, end = _window(live_prometheus)
    result = live_prometheus.query_range(p90, start=start, end=end, step=1)
    quantiles = {r["metric"]["version"]: statistics.median(float(v) for _, v in r["values"]) for r in result}
    # 90% of the baseline's requests take at most 100 ms; the canary's 90th percentile is past it.
    assert quantiles["baseline"] <= 0.1 + 1e-9
    assert quantiles["canary"] > 0.1


def _config(canary_version: str) -> CanaryConfig:
    """The canary's error rate (critical) and the memory trend, with `canary_version` as the canary."""
    return read_canary_config(_section(canary_version))


def _section(canary_version: str) -> dict[str, Any]:
    """rollguard.yaml's `canary:` section of `_config`."""
    return dict(
        {
            "baseline": {"version": "baseline"},
            "canary": {"version": canary_version},
            # A live window of a few seconds at one step a second.
            "min_samples": 5,
            "metrics": [
                {
                    "name": "error_rate",
                    "query": (
                        'sum(rate(http_requests_total{code=~"5..",{{ selector }}}[5s]))'
                        " / sum(rate(http_requests_total{ {{ selector }} }[5s]))"
                    ),
                    "direction": "increase",
                    "critical": True,
                },
                {
                    "name": "memory",
                    "kind": "trend",
                    "query": "sum(app_memory_bytes{ {{ selector }} })",
                    "direction": "increase",
                    # 1% of 200 MiB: the canary gains 2 MiB a second, the baseline nothing.
                    "effect": {"relative": 0.01},
                },
            ],
        }
    )


def _source(prometheus: LivePrometheus) -> PrometheusSource:
    start, end = _window(prometheus)
    window = Window(
        start=dt.datetime.fromtimestamp(start, tz=dt.timezone.utc),
        end=dt.datetime.fromtimestamp(end, tz=dt.timezone.utc),
        step_seconds=1,
    )
    return PrometheusSource(url=prometheus.url, window=window)


def test_judge_fails_the_canary_on_errors_and_memory(live_prometheus: LivePrometheus) -> None:
    judgement = judge(_config("canary"), _source(live_prometheus))
    results = {m.spec.name: m for m in judgement.metrics}
    assert results["error_rate"].classification == "high", results["error_rate"].reason
    assert results["memory"].classification == "high", results["memory"].reason
    baseline, canary = results["error_rate"].baseline.median, results["error_rate"].canary.median
    assert baseline is not None and canary is not None
    assert abs(baseline - BASELINE.error_ratio) < 0.005
    assert abs(canary - CANARY.error_ratio) < 0.005
    slope = results["memory"].canary.slope_per_hour
    assert slope is not None and slope > 0.5 * CANARY.memory_growth_bytes_per_second * 3600
    assert judgement.verdict == "fail"
    assert judgement.exit_code() == 1


def test_judge_passes_the_baseline_against_itself(live_prometheus: LivePrometheus) -> None:
    judgement = judge(_config("baseline"), _source(live_prometheus))
    assert {m.spec.name: m.classification for m in judgement.metrics} == {"error_rate": "pass", "memory": "pass"}
    assert judgement.verdict == "pass"
    assert judgement.exit_code() == 0


class _Recording:
    """Asks the real Prometheus exactly what judge asks and keeps each answer as `--recorded` reads it."""

    def __init__(self, source: PrometheusSource, directory: Path) -> None:
        self.source, self.directory = source, directory

    description = "recording"
    needs_queries = True

    def fetch(self, metric: Any, side: Any, query: str | None) -> Any:
        assert query is not None
        window = self.source.window
        params = urlencode(
            {
                "query": query,
                "start": f"{window.start.timestamp():.3f}",
                "end": f"{window.end.timestamp():.3f}",
                "step": f"{window.step_seconds:g}",
            }
        )
        with urllib.request.urlopen(f"{self.source.url}/api/v1/query_range?{params}", timeout=30) as response:
            data = response.read()
        (self.directory / f"{metric.name}.{side}.json").write_bytes(data)
        return parse_query_range(data, where=f"{metric.name}.{side}", max_samples=MAX_SAMPLES)


def test_the_same_answers_recorded_give_the_same_judgement(live_prometheus: LivePrometheus, tmp_path: Path) -> None:
    live = judge(_config("canary"), _Recording(_source(live_prometheus), tmp_path))
    recorded = judge(_config("canary"), RecordedSource(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "error_rate.baseline.json",
        "error_rate.canary.json",
        "memory.baseline.json",
        "memory.canary.json",
    ]
    assert recorded.verdict == live.verdict == "fail"
    assert recorded.to_json()["metrics"] == live.to_json()["metrics"]
    assert recorded.score == live.score


def _cli(tmp_path: Path, *args: str, path: str | None = None) -> Any:
    config = tmp_path / "rollguard.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "canary": _section("canary")}))
    env = {"PATH": f"{path}{os.pathsep}{os.environ.get('PATH', '')}"} if path else None
    return CliRunner(env=env).invoke(main, ["canary", *args, "--config", str(config)], catch_exceptions=False)


def test_canary_judge_on_the_command_line_fails_and_records(live_prometheus: LivePrometheus, tmp_path: Path) -> None:
    start, end = _window(live_prometheus)
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    result = _cli(
        tmp_path, "judge", "--prometheus", live_prometheus.url, "--start", f"{start:.3f}", "--end", f"{end:.3f}",
        "--step", "1s", "--format", "json", "--record", "--store", store,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "fail"
    assert {m["name"]: m["classification"] for m in report["metrics"]} == {"error_rate": "high", "memory": "high"}
    with open_store(store, create=False) as opened:
        (record,) = list(opened.records())
    assert (record.body["source"], record.body["verdict"]) == ("canary", "fail")


def test_canary_watch_stops_at_the_first_fail_and_rolls_back(live_prometheus: LivePrometheus, tmp_path: Path) -> None:
    # A `kubectl` that keeps its arguments: there is no Kubernetes API here, only the real Prometheus.
    folder, log = tmp_path / "bin", tmp_path / "kubectl-argv"
    folder.mkdir()
    kubectl = folder / "kubectl"
    kubectl.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\n')
    kubectl.chmod(0o755)
    start, end = _window(live_prometheus)
    # The first judgement fails, so the watch ends there: no waiting for the next interval.
    result = _cli(
        tmp_path, "watch", "--prometheus", live_prometheus.url, "--lookback", f"{int(end - start)}s", "--step", "1s",
        "--interval", "60", "--duration", "600", "--rollback",
        "--kind", "Deployment", "--name", "checkout", "--namespace", "shop",
        path=str(folder),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "judgement 1: fail" in result.stdout and "judgement 2" not in result.stdout
    assert log.read_text().splitlines() == ["rollout", "undo", "deployment/checkout", "-n", "shop"]
