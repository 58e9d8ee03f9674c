"""The opa-server engine over OPA's REST API: same findings as in-process OPA, errors, tokens, shared servers."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from rollguard.contract import review_for
from rollguard.engine import ENGINE_CHOICES, Engine, create_engine, resolve_engine_name
from rollguard.engine.opa_server import OpaServerEngine
from rollguard.errors import ConfigError, EngineError, PolicyError
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.policy.bundle import PolicyBundle, load_bundle
from rollguard.policy.config import Config, Settings

from ..conftest import NOW, make_gate
from ..test_fixtures import (
    _fixture_files,
    companions,
    expected_ids,
    fixture_exceptions,
    fixture_parameters,
    policy_of,
)
from .opa_rest import STAND_IN_VERSION, OpaRestStandIn, free_port, real_opa_server

OPA = shutil.which("opa")
NO_OPA = "no `opa` binary on PATH: install OPA to run these tests against a real `opa run --server`"
SERVERS = ("stand-in", "opa")

MODULE = 'package t\n\ngreeting := sprintf("hello %s", [input.name])\n\nvalue := data.rollguard.value\n'


@dataclass
class Server:
    """A running OPA REST endpoint; `stand_in` is set when it is the test stand-in."""

    url: str
    stand_in: OpaRestStandIn | None = None


@contextlib.contextmanager
def running(kind: str) -> Iterator[Server]:
    """The test stand-in, or a real `opa run --server` (skipped without the binary)."""
    if kind == "opa":
        if OPA is None:
            pytest.skip(NO_OPA)
        with real_opa_server(OPA) as url:
            yield Server(url)
        return
    stand_in = OpaRestStandIn()
    try:
        yield Server(stand_in.url, stand_in)
    finally:
        stand_in.close()


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with running(request.param) as s:
        yield s


@pytest.fixture
def connect() -> Iterator[Callable[..., OpaServerEngine]]:
    """Engines on a server URL, closed after the test."""
    engines: list[OpaServerEngine] = []

    def make(url: str, **options: object) -> OpaServerEngine:
        engine = create_engine("opa-server", opa_url=url, **options)  # type: ignore[arg-type]
        assert isinstance(engine, OpaServerEngine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def policy_ids(url: str) -> set[str]:
    answer = requests.get(f"{url}/v1/policies", timeout=10)
    answer.raise_for_status()
    return {p["id"] for p in answer.json()["result"]}


def read_data(url: str, path: str) -> object:
    answer = requests.post(f"{url}/v1/data/{path}?strict-builtin-errors=true", json={"input": {}}, timeout=10)
    answer.raise_for_status()
    return answer.json().get("result")


# -- registry --------------------------------------------------------------------------------


def test_registry_offers_opa_server_but_auto_never_picks_it() -> None:
    assert "opa-server" in ENGINE_CHOICES
    assert resolve_engine_name("auto") in ("opa", "regorus")
    with pytest.raises(ConfigError, match="--opa-url"):
        create_engine("opa-server")


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("127.0.0.1:8181", "not an OPA server URL"),
        ("ftp://opa:8181", "not an OPA server URL"),
        ("http://opa:8181/v1", "has a path"),
        ("http://user:secret@opa:8181", "--opa-token"),
        ("http://opa:99999", "--opa-url"),
    ],
)
def test_unusable_urls_are_config_errors(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as info:
        create_engine("opa-server", opa_url=url)
    assert "secret" not in str(info.value)


def test_a_token_with_inner_whitespace_is_refused() -> None:
    with pytest.raises(ConfigError, match="--opa-token contains whitespace") as info:
        create_engine("opa-server", opa_url="http://opa:8181", opa_token="s3cret extra")
    assert "s3cret" not in str(info.value)


# -- the Engine protocol on a server ---------------------------------------------------------


def test_evaluates_replaces_data_and_reports_undefined(server: Server, connect: Callable[..., OpaServerEngine]) -> None:
    engine = connect(server.url)
    engine.load({"t.rego": MODULE})
    engine.set_data({"rollguard": {"value": 1}})
    assert engine.evaluate("t.greeting", {"name": "rollguard"}) == "hello rollguard"
    assert engine.evaluate("t.greeting", {}) is None
    assert engine.evaluate("t.value", {}) == 1
    engine.set_data({"rollguard": {"value": 2}, "inventory": {}})
    assert engine.evaluate("t.value", {}) == 2
    engine.set_data({})  # a full replacement: data.rollguard goes away
    assert engine.evaluate("t.value", {}) is None
    with pytest.raises(EngineError, match=r"writes only data\.inventory and data\.rollguard, not data\.value"):
        engine.set_data({"value": 3})

    versions = engine.versions()
    assert versions["url"] == server.url
    assert versions["opa-python-client"]
    if server.stand_in is not None:
        assert versions["opa"] == STAND_IN_VERSION
    else:
        assert versions["opa"][0].isdigit()


def test_libraries_are_uploaded_before_their_callers(server: Server, connect: Callable[..., OpaServerEngine]) -> None:
    # OPA refuses a module that calls an undefined function. `c` imports the library, so it
    # is uploaded after it; `b` calls it by its full path, fails once and is retried.
    engine = connect(server.url)
    engine.load(
        {
            "b.rego": "package b\n\nv := data.zlib.inc(2)\n",
            "c.rego": "package c\n\nimport data.zlib\n\nv := zlib.inc(1)\n",
            "z/lib.rego": "package zlib\n\ninc(x) := x + 1\n",
        }
    )
    engine.set_data({})
    assert (engine.evaluate("b.v", {}), engine.evaluate("c.v", {})) == (3, 2)
    if server.stand_in is not None:
        uploads = [path for method, path, _ in server.stand_in.requests if method == "PUT" and "/policies/" in path]
        assert uploads == [
            "/v1/policies/rollguard/b.rego",
            "/v1/policies/rollguard/z/lib.rego",
            "/v1/policies/rollguard/c.rego",
            "/v1/policies/rollguard/b.rego",
        ]


# -- same findings as the in-process engine --------------------------------------------------


def _server_gate(bundle: PolicyBundle, url: str, settings: Settings | None = None) -> Gate:
    engine = create_engine("opa-server", opa_url=url)
    return Gate(bundle=bundle, engine=engine, settings=settings or Config().resolve(None), now=NOW)


@dataclass
class ServerGates:
    """A gate with default settings on one server; gates with other settings on a second one."""

    default: Gate
    other_url: str


@pytest.fixture(scope="module", params=SERVERS)
def server_gates(request: pytest.FixtureRequest, bundle: PolicyBundle) -> Iterator[ServerGates]:
    # Gates with other parameters get their own server: data on a server is shared by every
    # client, and the default gate must not judge with another gate's parameters.
    with running(request.param) as default, running(request.param) as other:
        yield ServerGates(_server_gate(bundle, default.url), other.url)


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_findings_match_in_process_opa(
    path: Path, server_gates: ServerGates, gates: dict[str, Gate], bundle: PolicyBundle
) -> None:
    parameters = fixture_parameters(path)
    exceptions = fixture_exceptions(path)
    if parameters is None and not exceptions:
        local, remote = gates["opa"], server_gates.default
    else:
        config = Config(parameters={policy_of(path): parameters or {}}, vulnerability_exceptions=exceptions)
        settings = config.resolve(None)
        local, remote = make_gate(bundle, "opa", settings), _server_gate(bundle, server_gates.other_url, settings)
    change = load_change_set([str(path), *map(str, companions(path))])
    expected, found = local.judge(change), remote.judge(change)
    assert found.engine == "opa-server"
    assert found.findings == expected.findings
    assert {f.policy for f in found.findings} == expected_ids(path)  # both engines right, not only equal


# -- errors ----------------------------------------------------------------------------------


def _policy_error(engine: Engine, modules: Mapping[str, str]) -> PolicyError:
    """The PolicyError `modules` raise, at load (OPA server, parse errors) or first evaluation."""
    with pytest.raises(PolicyError) as info:
        engine.load(modules)
        engine.set_data({})
        engine.evaluate("x.y", {})
    return info.value


@pytest.mark.parametrize(
    ("modules", "file", "text"),
    [
        ({"k8s/broken.rego": "package broken\n\nx := 1 +\n"}, "k8s/broken.rego", "rego_parse_error"),
        (
            {"lib.rego": "package lib\n\nf(x) := x\n", "k8s/uses.rego": "package uses\n\nv := lib_f(1)\n"},
            "k8s/uses.rego",
            "rego_type_error: undefined function lib_f",
        ),
    ],
    ids=["parse", "type"],
)
def test_compile_error_is_a_policy_error_with_file_and_line(
    modules: dict[str, str], file: str, text: str, server: Server, connect: Callable[..., OpaServerEngine]
) -> None:
    remote = _policy_error(connect(server.url), modules)
    local = _policy_error(create_engine("opa"), modules)
    assert remote.file == file and remote.line
    assert text in remote.message
    assert (remote.file, remote.line, remote.message) == (local.file, local.line, local.message)


STRICT_POLICY = """\
# METADATA
# title: Replica label within bounds
# description: Converts a label without guarding it, to raise a builtin error.
# scope: package
# custom:
#   id: k8s.replica_label
#   severity: low
#   applies_to: [Deployment]
package rollguard.k8s.replica_label

violation contains {"msg": msg, "details": {"replicas": n}} if {
	n := to_number(input.review.object.metadata.labels.replicas)
	n > 3
	msg := sprintf("replicas label %v is above 3", [n])
}
"""


def _deployment(name: str, replicas: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: shop\n"
        f"  labels:\n    replicas: {replicas!r}\nspec:\n  template:\n    spec:\n      containers: []\n"
    )


def test_builtin_error_becomes_an_error_finding_for_that_document_only(
    server: Server, connect: Callable[..., OpaServerEngine], tmp_path: Path
) -> None:
    policy = tmp_path / "policies" / "rollguard" / "k8s" / "replica_label" / "replica_label.rego"
    policy.parent.mkdir(parents=True)
    policy.write_text(STRICT_POLICY, encoding="utf-8")
    (tmp_path / "big.yaml").write_text(_deployment("big", "5"), encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(_deployment("bad", "five"), encoding="utf-8")
    bundle = load_bundle(tmp_path / "policies")
    settings = Config().resolve(None)
    local = Gate(bundle=bundle, engine=create_engine("opa"), settings=settings, now=NOW)
    remote = Gate(bundle=bundle, engine=connect(server.url), settings=settings, now=NOW)
    change = load_change_set([str(tmp_path / "big.yaml"), str(tmp_path / "bad.yaml")])

    found = remote.judge(change).findings
    assert found == local.judge(change).findings
    by_name = {f.resource.name: f for f in found}
    assert len(found) == 2
    assert not by_name["big"].error and by_name["big"].message == "replicas label 5 is above 3"
    assert by_name["bad"].error
    assert "replica_label.rego:12: eval_builtin_error: to_number" in by_name["bad"].message

    # The webhook's path (the document as input) isolates the same way.
    bad = next(a for a in change.artifacts if a.resource.name == "bad")
    assert remote.judge_review(bad, review_for(bad)).findings == local.judge_review(bad, review_for(bad)).findings


def test_bearer_token_is_sent_and_a_wrong_one_is_refused(connect: Callable[..., OpaServerEngine]) -> None:
    stand_in = OpaRestStandIn(token="s3cret")
    try:
        engine = connect(stand_in.url, opa_token="s3cret\n")  # as read from a file
        engine.load({"t.rego": MODULE})
        engine.set_data({})
        assert engine.evaluate("t.greeting", {"name": "x"}) == "hello x"
        methods = {method for method, _, _ in stand_in.requests}
        assert {"GET", "PUT", "DELETE", "POST"} <= methods
        assert {headers.get("Authorization") for _, _, headers in stand_in.requests} == {"Bearer s3cret"}

        for token in ("wrong", None):
            with pytest.raises(EngineError, match="refused the request .*; check --opa-token") as info:
                connect(stand_in.url, opa_token=token).evaluate("t.greeting", {"name": "x"})
            assert "s3cret" not in str(info.value)
    finally:
        stand_in.close()


def test_unreachable_server_is_a_one_line_engine_error_naming_the_url(
    connect: Callable[..., OpaServerEngine],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    engine = connect(url)
    for attempt in (lambda: engine.load({"t.rego": MODULE}), lambda: engine.evaluate("t.greeting", {})):
        with pytest.raises(EngineError) as info:
            attempt()
        text = str(info.value)
        assert "\n" not in text
        assert f"OPA server at {url} is unreachable (Connection refused)" in text


def test_a_server_that_does_not_answer_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        engine = OpaServerEngine(url, timeout=0.3)
        try:
            with pytest.raises(
                EngineError, match=rf"evaluate data\.t\.x: OPA server at {url} did not answer within 0\.3 s"
            ):
                engine.evaluate("t.x", {})
        finally:
            engine.close()


class _ProxyErrorPage(BaseHTTPRequestHandler):
    """What a reverse proxy in front of a dead OPA answers: an HTML page."""

    def _page(self) -> None:
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>502 Bad Gateway</body></html>")

    do_GET = do_POST = do_PUT = do_DELETE = _page

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_answer_that_is_not_opas_is_a_one_line_engine_error(connect: Callable[..., OpaServerEngine]) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyErrorPage)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        engine = connect(url)
        with pytest.raises(EngineError) as info:
            engine.evaluate("t.x", {})
        assert str(info.value) == f"evaluate data.t.x: OPA server at {url} answered HTTP 502"
        with pytest.raises(EngineError, match=f"list policies: OPA server at {url} answered HTTP 502"):
            engine.load({"t.rego": MODULE})
    finally:
        proxy.shutdown()
        proxy.server_close()


# -- sharing a server ------------------------------------------------------------------------


def test_reload_removes_stale_rollguard_modules_and_leaves_other_tenants_alone(
    server: Server, connect: Callable[..., OpaServerEngine]
) -> None:
    other = requests.put(
        f"{server.url}/v1/policies/team/authz.rego", data="package team.authz\n\nallow := true\n", timeout=10
    )
    other.raise_for_status()
    requests.put(f"{server.url}/v1/data/payments", json={"owner": "team"}, timeout=10).raise_for_status()

    first = connect(server.url)
    first.load({"a.rego": "package a\n\nv := 1\n", "b.rego": "package b\n\nv := 1\n"})
    first.set_data({"rollguard": {"x": 1}, "inventory": {"namespace": {}}})
    assert policy_ids(server.url) == {"team/authz.rego", "rollguard/a.rego", "rollguard/b.rego"}

    # A later run (another process) whose bundle no longer has b.rego.
    second = connect(server.url)
    second.load({"a.rego": "package a\n\nv := 2\n"})
    assert policy_ids(server.url) == {"team/authz.rego", "rollguard/a.rego"}
    second.load({"c.rego": "package c\n\nv := 3\n"})  # loads within one engine add up
    assert policy_ids(server.url) == {"team/authz.rego", "rollguard/a.rego", "rollguard/c.rego"}
    second.set_data({})
    assert (second.evaluate("a.v", {}), second.evaluate("b.v", {})) == (2, None)

    assert read_data(server.url, "payments") == {"owner": "team"}
    assert read_data(server.url, "team/authz/allow") is True
    assert read_data(server.url, "rollguard") is None
    assert read_data(server.url, "inventory") is None


def test_a_bundle_that_does_not_compile_leaves_the_previous_modules(
    server: Server, connect: Callable[..., OpaServerEngine]
) -> None:
    before = {"a.rego": "package a\n\nv := data.lib.one\n", "lib.rego": "package lib\n\none := 1\n"}
    judging = connect(server.url)
    judging.load(before)
    judging.set_data({})

    with pytest.raises(PolicyError) as info:
        connect(server.url).load({"a.rego": "package a\n\nv := 2\n", "broken.rego": "package broken\n\nx := 1 +\n"})
    assert info.value.file == "broken.rego"
    assert policy_ids(server.url) == {"rollguard/a.rego", "rollguard/lib.rego"}
    assert judging.evaluate("a.v", {}) == 1
