"""Recorded and live sources: real query_range responses read, hostile ones refused with a clear error."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rollguard.canary import MetricSpec, PrometheusSource, RecordedSource, Side, SourceUnavailable, Window, render_query
from rollguard.canary.sources import parse_query_range
from rollguard.errors import ConfigError, InputError

from .recorded import DATA, query_range

METRIC = MetricSpec(name="error_rate", query='sum(rate(x{code=~"5..",{{ selector }}}[1m]))')
UTC = dt.timezone.utc


def test_a_recorded_response_is_read_with_nan_and_inf_dropped() -> None:
    document = query_range([({"pod": "a"}, [1.0, float("nan"), 2.5]), ({"pod": "b"}, [float("inf"), 4.0, 0.5])])
    parsed = parse_query_range(json.dumps(document).encode(), where="x.json")
    assert parsed.series == 2 and parsed.non_finite == 2
    assert parsed.values == (1.0, 4.0, 0.5, 2.5)  # pooled, in time order
    assert [p[0] for p in parsed.points] == [1764979200.0, 1764979260.0, 1764979320.0, 1764979320.0]


def test_the_scenario_files_are_read() -> None:
    series = RecordedSource(DATA / "healthy").fetch(METRIC, "baseline", None)
    assert len(series.points) == 30 and series.non_finite == 1 and series.series == 1


def test_the_recorded_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    from .recorded import SCENARIOS, write_scenarios

    write_scenarios(tmp_path)
    for scenario in SCENARIOS:
        for written in sorted((tmp_path / scenario).iterdir()):
            assert written.read_text() == (DATA / scenario / written.name).read_text(), written.name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]', "not a JSON"),
        (b"", "not a JSON"),
        (b"[1, 2]", "not a Prometheus API response"),
        (
            b'{"status":"error","errorType":"bad_data","error":"parse error at char 5"}',
            "bad_data: parse error at char 5",
        ),
        (b'{"status":"success","data":{"resultType":"vector","result":[]}}', "resultType is 'vector'"),
        (b'{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}', "resultType is 'scalar'"),
        (b'{"status":"success","data":{"resultType":"matrix","result":{}}}', "`data.result` is not a list"),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,2]]}]}}',
            "the value is not a string",
        ),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"abc"]]}]}}',
            "'abc' is not a number",
        ),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1e400,"1"]]}]}}',
            "not a finite number",
        ),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[["1","1"]]}]}}',
            "not a finite number",
        ),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1]]}]}}',
            "not a [time, value] pair",
        ),
        (b'{"status":"success","data":{"resultType":"matrix","result":[7]}}', "values is not a list"),
        (b'{"status":"succes"}', "not 'success'"),
        (b"[" * 100_000, "not a JSON"),
        (b"\xff\xfe garbage", "not a JSON"),
    ],
)
def test_hostile_responses_are_input_errors_naming_the_file(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_query_range(data, where="m.canary.json")
    assert message in caught.value.message
    assert caught.value.file == "m.canary.json"


def test_huge_values_are_non_finite_and_dropped() -> None:
    document = query_range([({}, [1.0, 2.0])])
    document["data"]["result"][0]["values"].append([1764979400, "1e400"])
    document["data"]["result"][0]["values"].append([1764979460, "-1e999"])
    parsed = parse_query_range(json.dumps(document).encode(), where="x")
    assert parsed.values == (1.0, 2.0) and parsed.non_finite == 2


def test_too_many_samples_and_too_many_bytes_are_refused(tmp_path: Path) -> None:
    document = query_range([({}, [1.0] * 50)])
    with pytest.raises(InputError, match="more than 40 samples"):
        parse_query_range(json.dumps(document).encode(), where="x", max_samples=40)
    (tmp_path / "error_rate.baseline.json").write_text(json.dumps(document))
    with pytest.raises(InputError, match="larger than 100 bytes"):
        RecordedSource(tmp_path, max_bytes=100).fetch(METRIC, "baseline", None)


def test_a_missing_recorded_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        RecordedSource(tmp_path).fetch(METRIC, "canary", None)
    assert caught.value.file == (tmp_path / "error_rate.canary.json").as_posix()
    assert "no recorded canary response for metric 'error_rate'" in caught.value.message


def test_queries_are_rendered_for_each_side() -> None:
    version = render_query(METRIC.query, label="version", side=Side(version="1.5.0"), name="canary")
    assert version == 'sum(rate(x{code=~"5..",version="1.5.0"}[1m]))'
    hashed = render_query("up{ {{ selector }} }", label="pod_template_hash", side=Side(version="5d8f7c"), name="canary")
    assert hashed == 'up{ pod_template_hash="5d8f7c" }'
    explicit = render_query(
        "up{ {{selector}} } and on() vector({{ version }})",
        label="version",
        side=Side(version="2", selector='app="web",track="stable"'),
        name="baseline",
    )
    assert explicit == 'up{ app="web",track="stable" } and on() vector(2)'
    escaped = render_query('x{v="{{ version }}"}', label="version", side=Side(version='a"b\\c'), name="canary")
    assert escaped == 'x{v="a\\"b\\\\c"}'


def test_a_side_without_version_or_selector_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--baseline-version or --baseline-selector"):
        render_query("up{ {{ selector }} }", label="version", side=Side(), name="baseline")
    with pytest.raises(ConfigError, match="uses {{ version }} but the canary has no version"):
        render_query("up{v='{{ version }}'}", label="version", side=Side(selector='a="b"'), name="canary")


# --- live: a local HTTP server answering as Prometheus does ------------------------------------


class _Prometheus(BaseHTTPRequestHandler):
    answers: list[tuple[int, bytes]] = []
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        parts = urlsplit(self.path)
        self.seen.append(
            {"path": parts.path, "query": parse_qs(parts.query), "auth": self.headers.get("Authorization")}
        )
        status, body = self.answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    _Prometheus.answers, _Prometheus.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


WINDOW = Window(dt.datetime(2025, 12, 6, tzinfo=UTC), dt.datetime(2025, 12, 6, 0, 30, tzinfo=UTC), 60.0)


def test_live_query_range_sends_the_window_the_query_and_the_token(prometheus: str) -> None:
    _Prometheus.answers.append((200, json.dumps(query_range([({}, [0.5, 0.25])])).encode()))
    source = PrometheusSource(prometheus + "/prom/", WINDOW, bearer_token="s3cret")
    series = source.fetch(METRIC, "canary", 'up{version="2"}')
    assert series.values == (0.5, 0.25)
    (request,) = _Prometheus.seen
    assert request["path"] == "/prom/api/v1/query_range"
    assert request["query"] == {
        "query": ['up{version="2"}'],
        "start": ["1764979200.000"],
        "end": ["1764981000.000"],
        "step": ["60"],
    }
    assert request["auth"] == "Bearer s3cret"


def test_live_errors_are_input_errors_or_unavailable(prometheus: str) -> None:
    source = PrometheusSource(prometheus, WINDOW)
    _Prometheus.answers.append((400, b'{"status":"error","errorType":"bad_data","error":"1:5: parse error"}'))
    with pytest.raises(InputError, match="bad_data: 1:5: parse error"):
        source.fetch(METRIC, "canary", "up{")
    _Prometheus.answers.append((400, b"<html>proxy says no</html>"))
    with pytest.raises(InputError, match=r"Prometheus refused the query \(HTTP 400\)"):
        source.fetch(METRIC, "canary", "up")
    _Prometheus.answers.append((503, b"Service Unavailable"))
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        source.fetch(METRIC, "canary", "up")
    _Prometheus.answers.append((200, b'{"status":"success","data":{"resultType":"vector","result":[]}}'))
    with pytest.raises(InputError, match="resultType is 'vector'"):
        source.fetch(METRIC, "canary", "up")


def test_an_unreachable_prometheus_is_unavailable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceUnavailable, match="cannot reach Prometheus"):
        PrometheusSource(f"http://127.0.0.1:{port}", WINDOW, timeout_seconds=2).fetch(METRIC, "canary", "up")


def test_bad_urls_and_windows_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        PrometheusSource("ftp://prometheus", WINDOW)
    with pytest.raises(ConfigError, match="before it starts"):
        Window(WINDOW.end, WINDOW.start, 60)
    with pytest.raises(ConfigError, match="at most 11000 points"):
        Window(WINDOW.start, WINDOW.start + dt.timedelta(days=30), 60)


def test_a_trend_over_several_series_is_refused(tmp_path: Path) -> None:
    from rollguard.canary import CanaryConfig, judge

    two = query_range([({"pod": "a"}, [1.0] * 12), ({"pod": "b"}, [2.0] * 12)])
    for side in ("baseline", "canary"):
        (tmp_path / f"memory.{side}.json").write_text(json.dumps(two))
    config = CanaryConfig(
        metrics=(MetricSpec(name="memory", query="m{ {{ selector }} }", kind="trend", line=4),), source="r.yaml"
    )
    with pytest.raises(InputError, match="the baseline query returned 2 series; a trend needs one") as caught:
        judge(config, RecordedSource(tmp_path))
    assert (caught.value.file, caught.value.line) == ("r.yaml", 4)
