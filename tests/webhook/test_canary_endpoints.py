"""`/canary/judge` and `/canary/flagger` over HTTPS on a real `rollguard serve`, against a local server that
answers Prometheus's query_range from the recorded scenarios."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.audit.store import open_store
from rollguard.webhook.canary import BadRequest, parse_flagger_request, parse_judge_request

from ..canary.query_range_server import RecordedPrometheus, recorded_prometheus
from ..canary.recorded import DATA
from .test_https import SERVICE_NAME, Server, running_server, wait_for

SIDES = {"baseline": {"version": "1.4.2"}, "canary": {"version": "1.5.0"}}
FLAGGER_SIDES = {"baseline_version": "1.4.2", "canary_version": "1.5.0"}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[RecordedPrometheus]:
    with recorded_prometheus() as served:
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, prometheus: RecordedPrometheus) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("canary-serve")
    section = yaml.safe_load((DATA / "rollguard.yaml").read_text())["canary"]
    # The sides come from each request here, so a request without them is refused.
    del section["baseline"], section["canary"]
    section["prometheus"] = prometheus.url
    config = root / "rollguard.yaml"
    config.write_text(yaml.safe_dump({"canary": section}, sort_keys=False))
    with running_server(root, "--config", str(config)) as srv:
        yield srv


@pytest.mark.parametrize(("scenario", "verdict", "score"), [("healthy", "pass", 100.0), ("errors", "fail", 80.0)])
def test_argo_web_metric_gets_the_judgement(
    server: Server, prometheus: RecordedPrometheus, scenario: str, verdict: str, score: float
) -> None:
    prometheus.scenario = scenario
    answer = server.post("/canary/judge", {**SIDES, "lookback": "30m", "workload": "Deployment/shop/checkout"})
    assert answer.status_code == 200
    report = answer.json()
    assert (report["verdict"], report["score"]) == (verdict, score)
    assert report["source"].startswith("Prometheus at http://127.0.0.1:")
    assert report["window"]["step_seconds"] == 60.0
    assert [m["name"] for m in report["metrics"]] == ["error_rate", "latency_p99", "cpu", "memory"]
    assert report["metrics"][0]["baseline"]["query"].endswith('{ version="1.4.2" }[1m]))')


def test_flagger_continues_on_a_pass_and_halts_on_a_fail(server: Server, prometheus: RecordedPrometheus) -> None:
    payload = {"name": "checkout", "namespace": "shop", "phase": "Progressing", "metadata": FLAGGER_SIDES}
    # The server is shared by this module's tests and records in the background: only this test's
    # records count, and the wait is for all three of them.
    with open_store(server.store) as store:
        before = max((r.seq for r in store.records()), default=0)
    prometheus.scenario = "healthy"
    passed = server.post("/canary/flagger", payload)
    assert passed.status_code == 200
    assert passed.json() == {"verdict": "pass", "score": 100.0, "exit_code": 0, "reasons": [], "phase": "Progressing"}
    prometheus.scenario = "errors"
    halted = server.post("/canary/flagger", payload)
    assert halted.status_code == 412
    assert halted.json()["verdict"] == "fail"
    assert halted.json()["reasons"][0].startswith("critical metric error_rate is fail: shift 0.0399")
    prometheus.scenario = "nodata"
    nodata = server.post("/canary/flagger", payload)
    assert nodata.status_code == 412 and nodata.json()["verdict"] == "fail"
    with open_store(server.store) as store:

        def mine() -> list[dict[str, Any]]:
            return [
                dict(r.body)
                for r in store.records()
                if r.seq > before and r.body["source"] == "canary" and r.body["actor"] == "flagger"
            ]

        wait_for(lambda: len(mine()) >= 3)
        flagger = mine()
        assert store.verify().ok
    assert [r["verdict"] for r in flagger] == ["pass", "fail", "fail"]
    assert flagger[1]["resources"] == [
        {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "namespace": "shop", "name": "checkout"}
    ]
    assert flagger[1]["canary"]["metrics"][0]["outcome"] == "fail"


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/canary/judge", b"[1, 2]", 400, "the body must be a JSON object"),
        ("/canary/judge", b"{not json", 400, "the body is not JSON"),
        ("/canary/judge", b'{"baseline": {"version": "1"}, "cannary": {}}', 400, "body: unknown key 'cannary'"),
        ("/canary/judge", b'{"lookback": "soon"}', 400, "lookback: 'soon' is not a positive duration"),
        ("/canary/judge", b"{}", 422, "the baseline has neither a version nor a selector"),
        (
            "/canary/judge",
            b'{"canary": {"selector": "app=\\"x\\"} or vector(1) or up{job=\\"y\\""}}',
            400,
            'canary.selector must be label matchers such as app="web",track="canary" (no \'}\')',
        ),
        ("/canary/judge", b'{"label": "ver sion"}', 400, "label 'ver sion' is not a Prometheus label name"),
        ("/canary/flagger", b'{"namespace": "shop"}', 400, "name must be a non-empty string"),
        ("/canary/flagger", b'{"name": "a", "namespace": "b", "metadata": {"cmd": "x"}}', 400, "unknown key 'cmd'"),
        ("/canary/flagger", b'{"name": "a", "namespace": "b", "metadata": {"lookback": 5}}', 400, "object of strings"),
    ],
)
def test_bad_requests_are_answered_in_json(server: Server, path: str, body: bytes, status: int, error: str) -> None:
    with server.client() as client:
        answer = client.post(
            path,
            content=body,
            headers={"Content-Type": "application/json"},
            extensions={"sni_hostname": SERVICE_NAME},
        )
    assert answer.status_code == status
    assert error in answer.json()["error"]
    assert "Traceback" not in answer.text


def test_a_large_body_is_refused_unread(server: Server) -> None:
    with server.client() as client:
        answer = client.post(
            "/canary/judge", content=b"{" + b" " * 70_000 + b"}", extensions={"sni_hostname": SERVICE_NAME}
        )
    assert answer.status_code == 413
    assert answer.json() == {"error": "request body is larger than 65536 bytes"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


@pytest.mark.parametrize(
    ("config", "status", "error"),
    [
        ({}, 503, "the serve config has no canary: section; add one (docs/canary.md)"),
        ({"canary": {"metrics": [{"name": "m", "query": "up{ {{ selector }} }"}]}}, 503, "canary.prometheus is not set"),
        ({"canary": {"metrics": [{"name": "m", "query": "up{ {{ selector }} }"}], "prometheus": "PROM"}}, 502, "cannot reach Prometheus"),
    ],
)  # fmt: skip
def test_a_server_that_cannot_judge_says_why(
    tmp_path: Path, config: dict[str, object], status: int, error: str
) -> None:
    path = tmp_path / "rollguard.yaml"
    path.write_text(yaml.safe_dump(config).replace("PROM", f"http://127.0.0.1:{_closed_port()}"))
    with running_server(tmp_path, "--config", str(path)) as srv:
        answer = srv.post("/canary/flagger", {"name": "checkout", "namespace": "shop", "metadata": FLAGGER_SIDES})
    assert answer.status_code == status
    assert error in answer.json()["error"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["baseline", "canary", "label", "lookback", "step", "fail_on_marginal", "workload", "name",
                        "namespace", "phase", "metadata", "version", "selector", "baseline_selector"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, JSON | st.dictionaries(KEYS, JSON, max_size=3), max_size=5) | JSON)
def test_any_json_is_parsed_or_refused_as_a_bad_request(document: object) -> None:
    body = json.dumps(document).encode()
    for parse in (parse_judge_request, parse_flagger_request):
        try:
            parse(body)
        except BadRequest as exc:
            assert str(exc)
