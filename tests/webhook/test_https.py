"""`rollguard serve` as a real process: HTTPS only (TLS 1.2+), hot reload, logs and the decision log,
slow clients and the connection cap, and a worst-case request beside compliant ones."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from rollguard.audit.store import open_store
from rollguard.policy.bundle import load_bundle
from rollguard.webhook.certs import issue_certificates, write_certificates
from rollguard.webhook.evaluation import PoolOptions

from ..conftest import POLICIES
from .test_app import BOOM, NO_PROBE, admission_review, the_deployment

SERVICE_NAME = "rollguard.rollguard-system.svc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    ca: Path
    policies: Path
    store: str
    log: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca))
        return httpx.Client(base_url=self.url, verify=context, timeout=10, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str) -> httpx.Response:
        with self.client() as c:
            return c.get(path, extensions={"sni_hostname": SERVICE_NAME})

    def post(self, path: str, body: object) -> httpx.Response:
        with self.client() as c:
            return c.post(path, json=body, extensions={"sni_hostname": SERVICE_NAME})

    def metric(self, prefix: str) -> float:
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def logs(self) -> list[dict[str, object]]:
        entries = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
        return entries


def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@contextmanager
def running_server(root: Path, *args: str, extra_policies: Mapping[str, str] | None = None) -> Iterator[Server]:
    """`rollguard serve` on 127.0.0.1 with the shipped policies (plus `extra_policies`, path → source) and `args`."""
    certs = root / "certs"
    write_certificates(issue_certificates(service="rollguard", namespace="rollguard-system"), certs)
    policies = root / "policies"
    shutil.copytree(POLICIES, policies, ignore=shutil.ignore_patterns("*_test.rego"))
    for relative, source in (extra_policies or {}).items():
        (policies / relative).parent.mkdir(parents=True, exist_ok=True)
        (policies / relative).write_text(source)
    store = f"sqlite:///{root / 'decisions.db'}"
    port = free_port()
    log = root / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rollguard.cli",
                "serve",
                "--policies",
                str(policies),
                "--cert",
                str(certs / "tls.crt"),
                "--key",
                str(certs / "tls.key"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--store",
                store,
                "--engine",
                "opa",
                *args,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    srv = Server(proc, port, certs / "ca.crt", policies, store, log)
    try:
        wait_for(lambda: srv.get("/readyz").status_code == 200, timeout=60)
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path) as srv:
        yield srv


def test_serves_admission_over_https_and_records_each_decision(server: Server) -> None:
    assert server.get("/healthz").text == "ok"
    review = admission_review(the_deployment(NO_PROBE), uid="https-1")
    answer = server.post("/validate", review).json()["response"]
    assert answer["uid"] == "https-1" and answer["allowed"] is False
    # Which containers serve depends on the Services, which this server does not sync: it says so.
    assert "[k8s.readiness_probe] not judged: needs Service from the cluster" in answer["status"]["message"]
    server.proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert server.proc.wait(timeout=20) in (0, -signal.SIGTERM)
    assert any(e.get("event") == "stopped" for e in server.logs())
    with open_store(server.store) as store:
        [record] = list(store.records())
        assert store.verify().ok
    assert record.body["source"] == "admission" and record.body["admission"]["uid"] == "https-1"
    entries = [e for e in server.logs() if e.get("event") == "admission"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["uid"] == "https-1" and entry["decision"] == "denied"
    assert entry["bundle"] == record.body["bundle_digest"]
    assert isinstance(entry["latency_ms"], float)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_plain_http_and_old_tls_are_refused(server: Server) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    old = ssl.create_default_context(cafile=str(server.ca))
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw, server_hostname=SERVICE_NAME)
    modern = ssl.create_default_context(cafile=str(server.ca))
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        modern.wrap_socket(raw, server_hostname=SERVICE_NAME) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert server.get("/healthz").status_code == 200  # still serving


def test_sighup_reloads_and_a_broken_bundle_keeps_the_old_one(server: Server) -> None:
    digest = server.metric("rollguard_policy_bundle_info")
    assert digest == 1.0
    before = server.get("/metrics").text
    broken = server.policies / "rollguard" / "k8s" / "boom" / "boom.rego"
    broken.parent.mkdir(parents=True)
    broken.write_text(BOOM.replace("violation contains", "violation contains contains"))
    os.kill(server.proc.pid, signal.SIGHUP)
    wait_for(lambda: server.metric('rollguard_policy_reloads_total{result="failed"}') >= 1)
    assert _bundle_line(server.get("/metrics").text) == _bundle_line(before)
    review = admission_review(the_deployment(NO_PROBE))
    assert server.post("/validate", review).json()["response"]["allowed"] is False  # still judging
    # Fixed on disk: the directory watcher picks it up without a signal.
    broken.write_text(BOOM.replace("to_number(input.review.object.metadata.name) > 0", "false"))
    wait_for(lambda: server.metric('rollguard_policy_reloads_total{result="ok"}') >= 1)
    after = server.get("/metrics").text
    k8s = sum(1 for info in load_bundle(POLICIES).policies if info.domain == "k8s")  # shipped, plus boom
    assert _bundle_line(after) != _bundle_line(before) and f'policies="{k8s + 1}"' in _bundle_line(after)
    failed = [e for e in server.logs() if e.get("event") == "reload_failed"]
    assert failed and "boom.rego" in str(failed[0]["error"])


def _bundle_line(metrics: str) -> str:
    return next(line for line in metrics.splitlines() if line.startswith("rollguard_policy_bundle_info"))


def test_missing_certificate_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rollguard.cli",
            "serve",
            "--cert",
            str(tmp_path / "nope.crt"),
            "--key",
            str(tmp_path / "nope.key"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("rollguard: --cert/--key: cannot load the certificate and key:")
    assert proc.stderr.count("\n") == 1


def test_the_shared_listening_socket_is_tcp_so_answers_are_not_delayed() -> None:
    """With --workers N uvicorn binds the socket itself; it must carry IPPROTO_TCP, or asyncio
    leaves Nagle's algorithm on and each keep-alive answer waits for a delayed ACK."""
    from rollguard.webhook.server import TlsConfig

    config = TlsConfig("rollguard.webhook.server:create_from_environment", host="127.0.0.1", port=free_port())
    sock = config.bind_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP
        sock.listen()
        with socket.create_connection(sock.getsockname(), timeout=5):
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


# -- slow clients ---------------------------------------------------------------------------------

CLOSED_WITHIN = 30.0  # generous: the server's own timeouts in these tests are 1 s


def tls_connect(server: Server) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(server.ca))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return context.wrap_socket(raw, server_hostname=SERVICE_NAME)


def closed_by_server(sock: socket.socket, *, trickle: bytes | None = None) -> bool:
    """Whether the server ends the connection within CLOSED_WITHIN s, while we send `trickle` now and then."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + CLOSED_WITHIN
    while time.monotonic() < deadline:
        try:
            if trickle is not None:
                sock.sendall(trickle)
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    args = ("--header-timeout", "1", "--body-timeout", "1", "--keep-alive-timeout", "1")
    with running_server(tmp_path_factory.mktemp("impatient"), *args) as srv:
        yield srv


def test_a_client_that_never_completes_the_tls_handshake_is_disconnected(impatient_server: Server) -> None:
    with socket.create_connection(("127.0.0.1", impatient_server.port), timeout=10) as raw:
        assert closed_by_server(raw)


def test_an_idle_tls_connection_is_disconnected(impatient_server: Server) -> None:
    with tls_connect(impatient_server) as tls:
        assert closed_by_server(tls)


def test_headers_sent_a_line_at_a_time_do_not_keep_the_connection(impatient_server: Server) -> None:
    with tls_connect(impatient_server) as tls:
        tls.sendall(b"POST /validate HTTP/1.1\r\nHost: rollguard\r\n")
        assert closed_by_server(tls, trickle=b"X-Slow: 1\r\n")
    assert any(e.get("event") == "slow_client" and e.get("phase") == "headers" for e in impatient_server.logs())


def test_a_body_that_stops_half_way_does_not_keep_the_connection(impatient_server: Server) -> None:
    with tls_connect(impatient_server) as tls:
        tls.sendall(
            b"POST /validate HTTP/1.1\r\nHost: rollguard\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"apiVersion": "admission.k8s.io/v1", '
        )
        assert closed_by_server(tls)
    assert any(e.get("event") == "slow_client" and e.get("phase") == "body" for e in impatient_server.logs())


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(impatient_server: Server) -> None:
    with tls_connect(impatient_server) as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: rollguard\r\n\r\n")
        assert read_status(tls) == 200
        assert closed_by_server(tls)
    assert impatient_server.get("/healthz").status_code == 200  # and the server still serves


def read_status(tls: ssl.SSLSocket) -> int:
    """The status of one response with a Content-Length, read whole so the connection can be used again."""
    tls.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        assert chunk, "connection closed before the response"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        body += tls.recv(4096)
    return int(head.split(b" ", 2)[1])


def test_connections_beyond_the_cap_get_503(tmp_path: Path) -> None:
    args = ("--max-connections", "2", "--keep-alive-timeout", "60", "--header-timeout", "60")
    with running_server(tmp_path, *args) as srv:
        first, second = tls_connect(srv), tls_connect(srv)
        try:
            for held in (first, second):  # answered, so the server surely counts them
                held.sendall(b"GET /healthz HTTP/1.1\r\nHost: rollguard\r\n\r\n")
                assert read_status(held) == 200
            with tls_connect(srv) as third:
                third.sendall(b"GET /healthz HTTP/1.1\r\nHost: rollguard\r\n\r\n")
                assert read_status(third) == 503
        finally:
            first.close()
            second.close()
        wait_for(lambda: srv.get("/healthz").status_code == 200)  # room again once they are gone


# -- one request must not take admission down --------------------------------------------------


def memory_limit_bytes() -> int:
    """The memory limit of the webhook container in deploy/."""
    from ..conftest import ROOT

    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text())
    limit = str(deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    return int(limit[:-2]) * units[limit[-2:]]


def process_tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            # A child is listed under the thread that started it, not only under the main one.
            children = [
                int(child)
                for task in Path(f"/proc/{current}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except OSError:
            continue
        # A zombie (killed, not yet reaped) has no VmRSS: it holds no memory.
        total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        pending.extend(children)
    return total


class PeakMemory:
    """Samples the server's process tree in the background; `peak` is the largest total seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, process_tree_rss(self.pid))
            self._stop.wait(0.02)


def post_in_background(server: Server, review: object) -> tuple[threading.Thread, list[httpx.Response]]:
    answered: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answered.append(server.post("/validate", review)))
    thread.start()
    return thread, answered


def test_a_worst_case_request_does_not_hold_up_the_others_nor_exceed_the_memory_limit(tmp_path: Path) -> None:
    from .test_app import BASELINE, many_containers
    from .test_evaluation import SLOW

    config = tmp_path / "rollguard.yaml"
    # Limits far above the defaults, so that the issue's 100,000-container Deployment is evaluated.
    config.write_text(
        "admission:\n  deadline_seconds: 5\n  limits:\n    max_containers: 1000000\n    max_nodes: 10000000\n"
    )
    args = ("--config", str(config), "--inventory", str(BASELINE), "--evaluators", "2")
    extra = {"rollguard/k8s/slow/slow.rego": SLOW}

    def compliant_requests_are_allowed(tag: str) -> None:
        for n in range(10):
            good = admission_review(the_deployment(BASELINE), uid=f"good-{tag}-{n}")
            assert srv.post("/validate", good).json()["response"] == {"uid": f"good-{tag}-{n}", "allowed": True}

    with running_server(tmp_path, *args, extra_policies=extra) as srv, PeakMemory(srv.proc.pid) as memory:
        # A policy that never finishes: the request is being judged until its deadline, whatever the machine.
        slow = the_deployment(BASELINE)
        slow["metadata"]["labels"]["test.rollguard.io/slow"] = "cpu"
        sender, answered = post_in_background(srv, admission_review(slow, uid="worst"))
        wait_for(lambda: srv.metric('rollguard_evaluators{state="busy"}') >= 1)
        compliant_requests_are_allowed("during-worst")
        sender.join()
        assert answered[0].json()["response"]["status"]["message"] == (
            "rollguard could not judge Deployment shop/checkout: not judged within the 5 s deadline; "
            "failure mode closed denies it"
        )
        # The issue's object: 100,000 containers, 2.9 MB; its evaluation grows until a limit stops it.
        sender, answered = post_in_background(srv, admission_review(many_containers(100_000), uid="big"))
        compliant_requests_are_allowed("beside-big")
        sender.join()
        message = answered[0].json()["response"]["status"]["message"]
        assert message.startswith("rollguard could not judge Deployment shop/checkout: ")
        assert f"evaluation needed more than {PoolOptions.memory_limit_mib} MiB" in message or "5 s deadline" in message
        restarts = [line for line in srv.get("/metrics").text.splitlines() if line.startswith("rollguard_evaluator_")]
        assert 'rollguard_evaluator_restarts_total{reason="deadline"} 1.0' in restarts
        assert sum(float(line.rsplit(" ", 1)[1]) for line in restarts if "restarts_total" in line) == 2
        wait_for(lambda: srv.metric('rollguard_evaluators{state="idle"}') == 2, timeout=60)  # replaced
    print(f"peak RSS of the server and its evaluators: {memory.peak / 2**20:.0f} MiB")
    assert 0 < memory.peak < memory_limit_bytes()
