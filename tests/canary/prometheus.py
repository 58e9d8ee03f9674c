"""A real Prometheus scraping two small exporters, baseline and canary, for end-to-end canary tests.

`live_prometheus` starts both exporters (prometheus_client, in threads, on free local ports), a
Prometheus scraping them every second with a `version` label, and waits until each side has
`MIN_SAMPLES` samples. The canary answers more of its requests with a 5xx, answers slower, and
its memory grows; the baseline's stays flat. Everything stops, and the storage goes, at teardown.
Skips when Debian's `prometheus` package is not installed (scripts/install-system-deps).
"""

from __future__ import annotations

import math
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

PROMETHEUS = Path("/usr/bin/prometheus")
JOB = "app"
SCRAPE_INTERVAL = "1s"
# Samples each side needs before a test runs: enough for rate() over a few seconds and for a
# statistical comparison with a dozen points per side.
MIN_SAMPLES = 15
# Generous: Prometheus starts in a second or two, then scrapes once a second; a loaded machine
# may take several times that.
STARTUP_CAP_SECONDS = 120.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Behaviour:
    """What one exporter serves: its request rate, error share, latency buckets and memory."""

    requests_per_second: float
    error_ratio: float
    # Share of requests at or under each bucket's upper bound (seconds), the last being +Inf.
    latency_buckets: tuple[tuple[float, float], ...]
    mean_latency_seconds: float
    memory_bytes: float
    memory_growth_bytes_per_second: float


BASELINE = Behaviour(
    requests_per_second=50.0,
    error_ratio=0.01,
    latency_buckets=((0.05, 0.5), (0.1, 0.9), (0.25, 0.99), (math.inf, 1.0)),
    mean_latency_seconds=0.06,
    memory_bytes=200 * 2**20,
    memory_growth_bytes_per_second=0.0,
)
CANARY = Behaviour(
    requests_per_second=50.0,
    error_ratio=0.08,
    latency_buckets=((0.05, 0.3), (0.1, 0.7), (0.25, 0.95), (math.inf, 1.0)),
    mean_latency_seconds=0.09,
    memory_bytes=200 * 2**20,
    memory_growth_bytes_per_second=2 * 2**20,
)


class _Traffic(Collector):
    """Counters, a histogram and a gauge computed from the time since start, so every scrape sees
    steady traffic without a thread ticking them: counters only grow, and the memory gauge wobbles
    by a few hundred KiB (as a real one does) around its trend."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.started = time.monotonic()

    def collect(self) -> Iterator[Any]:
        b = self.behaviour
        elapsed = time.monotonic() - self.started
        total = b.requests_per_second * elapsed
        errors = total * b.error_ratio
        requests = CounterMetricFamily("http_requests", "HTTP requests answered, by status code.", labels=["code"])
        requests.add_metric(["200"], total - errors)
        requests.add_metric(["500"], errors)
        yield requests
        buckets = [("+Inf" if math.isinf(le) else repr(le), total * share) for le, share in b.latency_buckets]
        yield HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            buckets=buckets,
            sum_value=total * b.mean_latency_seconds,
        )
        wobble = 256 * 2**10 * math.sin(elapsed)
        yield GaugeMetricFamily(
            "app_memory_bytes",
            "Resident memory of the application.",
            value=b.memory_bytes + b.memory_growth_bytes_per_second * elapsed + wobble,
        )


@dataclass(frozen=True)
class LivePrometheus:
    """A running Prometheus at `url` scraping the baseline and canary exporters of job `job`."""

    url: str
    job: str
    baseline_target: str
    canary_target: str
    # Unix time Prometheus was started: no sample is older, so the earliest useful range start.
    started: float

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """The `data.result` of an instant query."""
        params = {"query": promql, **({"time": str(at)} if at is not None else {})}
        return _api(self.url, "query", params)

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """The `data.result` of a range query, as `/api/v1/query_range` returns it."""
        return _api(self.url, "query_range", {"query": promql, "start": str(start), "end": str(end), "step": str(step)})


def _api(url: str, endpoint: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/{endpoint}", params=params, timeout=10.0)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _free_port() -> int:
    """A local port nothing listens on now (the kernel's choice); Prometheus binds it next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(baseline: str, canary: str) -> str:
    return f"""\
global:
  scrape_interval: {SCRAPE_INTERVAL}
  scrape_timeout: {SCRAPE_INTERVAL}
  evaluation_interval: {SCRAPE_INTERVAL}
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ["{baseline}"]
        labels: {{version: baseline}}
      - targets: ["{canary}"]
        labels: {{version: canary}}
"""


def _log_tail(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
    return "\n".join(lines[-20:]) or "(empty)"


def _samples(url: str) -> dict[str, int]:
    """Samples of each side's request counter over the last 5 minutes, by version."""
    try:
        result = _api(url, "query", {"query": f'count_over_time(http_requests_total{{job="{JOB}",code="200"}}[5m])'})
    except (httpx.HTTPError, ValueError):
        return {}
    return {r["metric"].get("version", ""): int(float(r["value"][1])) for r in result}


def _wait_for_samples(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the query API until both sides have MIN_SAMPLES samples; fail with the reason otherwise."""
    deadline = time.monotonic() + STARTUP_CAP_SECONDS
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Prometheus exited with {process.returncode} before scraping; its log ends:\n{_log_tail(log)}")
        seen = _samples(url)
        if all(seen.get(side, 0) >= MIN_SAMPLES for side in ("baseline", "canary")):
            return
        time.sleep(POLL_SECONDS)
    pytest.fail(
        f"Prometheus at {url} did not collect {MIN_SAMPLES} samples per side within {STARTUP_CAP_SECONDS:.0f}s "
        f"(samples by version: {seen or 'none'}); its log ends:\n{_log_tail(log)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def live_prometheus() -> Iterator[LivePrometheus]:
    """A real Prometheus with baseline and canary samples; skips when Prometheus is not installed."""
    if not PROMETHEUS.is_file():
        pytest.skip("Prometheus is not installed (Debian's prometheus package; see scripts/install-system-deps).")
    servers = []
    for behaviour in (BASELINE, CANARY):
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Traffic(behaviour))
        server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        servers.append(server)
    baseline, canary = (f"127.0.0.1:{s.server_port}" for s in servers)
    with tempfile.TemporaryDirectory(prefix="rollguard-prometheus-") as tmp:
        folder = Path(tmp)
        config = folder / "prometheus.yml"
        config.write_text(_config(baseline, canary), encoding="utf-8")
        log = folder / "prometheus.log"
        url = f"http://127.0.0.1:{_free_port()}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address={url.removeprefix('http://')}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            started = time.time()
            _wait_for_samples(url, process, log)
            yield LivePrometheus(url=url, job=JOB, baseline_target=baseline, canary_target=canary, started=started)
        finally:
            _stop(process)
            for server in servers:
                server.shutdown()
                server.server_close()
