"""`rollguard canary judge` end to end on recorded responses: exit codes, formats, errors and --record."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.cli.canary import FORMATS

from .recorded import DATA, query_range

GOLDEN = Path(__file__).parent / "golden"
# Run with ROLLGUARD_UPDATE_GOLDEN=1 to rewrite the golden files, then read the diff.
UPDATE = os.environ.get("ROLLGUARD_UPDATE_GOLDEN") == "1"


def judge(*args: str, cwd: Path = DATA) -> Result:
    here = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["canary", "judge", *args], catch_exceptions=False)
    finally:
        os.chdir(here)


@pytest.mark.parametrize(
    ("scenario", "code", "verdict"),
    [("healthy", 0, "pass"), ("errors", 1, "fail"), ("leak", 0, "marginal"), ("nodata", 1, "fail")],
)
def test_exit_codes_of_the_scenarios(scenario: str, code: int, verdict: str) -> None:
    result = judge("--recorded", scenario, "--format", "json")
    assert result.exit_code == code, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == verdict and report["exit_code"] == code


def test_the_scenarios_fail_for_the_right_metric() -> None:
    errors = json.loads(judge("--recorded", "errors", "--format", "json").stdout)
    by_name = {m["name"]: m for m in errors["metrics"]}
    assert by_name["error_rate"]["classification"] == "high" and by_name["error_rate"]["outcome"] == "fail"
    assert errors["reasons"][0].startswith("critical metric error_rate is fail: shift 0.0399")
    leak = json.loads(judge("--recorded", "leak", "--format", "json").stdout)
    memory = {m["name"]: m for m in leak["metrics"]}["memory"]
    assert (memory["kind"], memory["classification"], leak["score"]) == ("trend", "high", 80.0)
    assert memory["canary"]["slope_per_hour"] == pytest.approx(9.04521e7, rel=1e-5)  # 1.5 MB a minute
    nodata = json.loads(judge("--recorded", "nodata", "--format", "json").stdout)
    assert nodata["reasons"] == ["critical metric error_rate is nodata: canary has 0 samples; at least 10 are needed"]


def test_marginal_warns_and_fail_on_marginal_fails() -> None:
    result = judge("--recorded", "leak")
    assert result.exit_code == 0
    assert "rollguard: warning: the canary is marginal (score 80)" in result.stderr
    strict = judge("--recorded", "leak", "--fail-on-marginal", "--format", "json")
    assert strict.exit_code == 1 and json.loads(strict.stdout)["exit_code"] == 1


def test_no_data_for_any_metric_is_exit_2(tmp_path: Path) -> None:
    for name in ("error_rate", "latency_p99", "cpu", "memory"):
        for side in ("baseline", "canary"):
            (tmp_path / f"{name}.{side}.json").write_text(json.dumps(query_range([])))
    result = judge("--recorded", str(tmp_path), "--format", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["verdict"] == "nodata"


def test_a_truncated_response_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    shutil.copytree(DATA / "healthy", tmp_path / "rec")
    broken = tmp_path / "rec" / "cpu.canary.json"
    broken.write_bytes(broken.read_bytes()[:500])
    result = judge("--recorded", str(tmp_path / "rec"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"rollguard: {broken.as_posix()}: not a JSON query_range response:")
    assert "Traceback" not in result.output


def test_a_config_mistake_is_exit_2_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text((DATA / "rollguard.yaml").read_text().replace("weight: 2", "wieght: 2"))
    result = judge("--config", str(config), "--recorded", str(DATA / "healthy"))
    assert result.exit_code == 2
    assert f"rollguard: {config}:15: canary.metrics.1.wieght: Additional properties" in result.stderr


def test_source_options_are_checked() -> None:
    neither = judge()
    assert neither.exit_code == 2
    assert "give --recorded DIR or --prometheus URL (or set canary.prometheus in rollguard.yaml)" in neither.stderr
    two = judge("--recorded", "healthy", "--prometheus", "http://127.0.0.1:9")
    assert two.exit_code == 2 and "give one of --recorded DIR and --prometheus URL, not both" in two.stderr
    both = judge("--recorded", "healthy", "--step", "30s")
    assert both.exit_code == 2 and "--step only apply to --prometheus" in both.stderr
    workload = judge("--recorded", "healthy", "--workload", "Deploymnt/shop/web")
    assert workload.exit_code == 2 and "--workload 'Deploymnt/shop/web'" in workload.stderr


def test_an_unreachable_prometheus_is_exit_3() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = judge("--prometheus", f"http://127.0.0.1:{port}", "--lookback", "10m", "--timeout", "2")
    assert result.exit_code == 3
    assert "cannot reach Prometheus" in result.stderr


def test_the_formats_are_the_renderers() -> None:
    from rollguard.canary.render import RENDERERS

    assert tuple(RENDERERS) == FORMATS


@pytest.mark.parametrize(("fmt", "suffix"), [("text", "txt"), ("json", "json"), ("markdown", "md")])
def test_golden_reports(fmt: str, suffix: str) -> None:
    for scenario in ("healthy", "leak"):
        result = judge("--recorded", scenario, "--format", fmt)
        golden = GOLDEN / f"{scenario}.{suffix}"
        if UPDATE:
            golden.parent.mkdir(exist_ok=True)
            golden.write_text(result.stdout, encoding="utf-8")
        assert golden.exists(), f"{golden} missing; run with ROLLGUARD_UPDATE_GOLDEN=1 and review it"
        assert result.stdout == golden.read_text(encoding="utf-8"), f"{golden.name} differs"


def test_several_formats_go_to_their_outputs(tmp_path: Path) -> None:
    html, md = tmp_path / "canary.html", tmp_path / "canary.md"
    result = judge(
        "--recorded", "healthy", "--format", "html", "--output", str(html), "--format", "markdown", "--output", str(md)
    )
    assert result.exit_code == 0 and result.stdout == ""
    assert html.read_text().count("<svg") == 4
    assert md.read_text().startswith("## canary PASS: score 100")


def test_record_puts_the_verdict_and_evidence_in_the_decision_log(tmp_path: Path) -> None:
    from rollguard.audit.store import open_store

    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    args = [
        "--store",
        store,
        "--workload",
        "Deployment/shop/checkout",
        "--env",
        "prod",
        "--now",
        "2025-12-06T00:31:00Z",
    ]
    failed = judge("--recorded", "errors", "--record", "--actor", "ci:bot", "--commit", "abc123", *args)
    assert failed.exit_code == 1
    assert "rollguard: recorded decision 1 in" in failed.stderr
    assert judge("--recorded", "healthy", "--record", *args).exit_code == 0
    with open_store(store, create=False) as opened:
        first, second = list(opened.records())
    body = first.body
    assert (body["source"], body["verdict"], body["exit_code"], body["environment"]) == ("canary", "fail", 1, "prod")
    assert body["time"] == "2025-12-06T00:31:00.000000Z" and body["actor"] == "ci:bot"
    assert body["change"]["commit"] == "abc123"
    assert body["resources"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "checkout"}
    ]
    (finding,) = body["findings"]
    assert (finding["policy"], finding["severity"], body["summary"]["blocking"]) == ("canary.error_rate", "critical", 1)
    assert body["canary"]["verdict"] == "fail" and len(body["canary"]["metrics"]) == 4
    assert body["canary"]["settings"]["metrics"][0]["name"] == "error_rate"
    assert (second.body["verdict"], second.body["findings"]) == ("pass", [])
    report = CliRunner().invoke(
        main,
        ["audit", "report", "--store", store, "--since", "2025-12-01", "--until", "2025-12-07", "--format", "json"],
        catch_exceptions=False,
    )
    assert report.exit_code == 0, report.output
    assert '"source": "canary"' in report.stdout and "canary.error_rate" in report.stdout


def test_scipy_is_imported_only_when_a_judgement_runs() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from rollguard.cli import main\n"
        "import rollguard.gate, rollguard.canary, rollguard.canary.render\n"
        "before = 'scipy' in sys.modules\n"
        "from rollguard.canary import statistics\n"
        "print(before, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_live_prometheus_is_asked_for_each_side_over_the_window() -> None:
    import re
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    asked: list[dict[str, list[str]]] = []
    files = {"1.4.2": "baseline", "1.5.0": "canary"}

    class Prometheus(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            query = parse_qs(urlsplit(self.path).query)
            asked.append(query)
            version = re.search(r'version="([^"]+)"', query["query"][0])
            metric = _metric_of(query["query"][0])
            assert version is not None
            body = (DATA / "errors" / f"{metric}.{files[version.group(1)]}.json").read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Prometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = judge(
            "--prometheus",
            url,
            "--start",
            "2025-12-06T00:00:00Z",
            "--end",
            "1764981000",
            "--step",
            "1m",
            "--format",
            "json",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "fail" and report["source"] == url.replace("http://", "Prometheus at http://")
    assert report["window"] == {
        "start": "2025-12-06T00:00:00+00:00",
        "end": "2025-12-06T00:30:00+00:00",
        "step_seconds": 60.0,
    }
    assert len(asked) == 8
    assert {(q["start"][0], q["end"][0], q["step"][0]) for q in asked} == {("1764979200.000", "1764981000.000", "60")}
    assert asked[0]["query"] == [
        'sum(rate(http_requests_total{code=~"5..",version="1.4.2"}[1m])) / sum(rate(http_requests_total{ version="1.4.2" }[1m]))'
    ]


def _metric_of(query: str) -> str:
    for marker, metric in (
        ("code=~", "error_rate"),
        ("histogram_quantile", "latency_p99"),
        ("cpu", "cpu"),
        ("memory", "memory"),
    ):
        if marker in query:
            return metric
    raise AssertionError(query)


def test_without_a_source_option_the_config_prometheus_is_asked(tmp_path: Path) -> None:
    from .query_range_server import recorded_prometheus

    with recorded_prometheus() as served:
        served.scenario = "errors"
        config = tmp_path / "rollguard.yaml"
        text = (DATA / "rollguard.yaml").read_text()
        config.write_text(text.replace("  label: version\n", f"  label: version\n  prometheus: {served.url}\n"))
        result = judge("--config", str(config), "--format", "json", "--end", "2025-12-06T00:30:00Z")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "fail" and report["source"] == f"Prometheus at {served.url}"
    assert report["window"]["start"] == "2025-12-06T00:00:00+00:00"
    assert len(served.asked) == 8  # four metrics, two sides
