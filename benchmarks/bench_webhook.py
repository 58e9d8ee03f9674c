"""Load-test `rollguard serve` over HTTPS with `hey` at fixed rates; write the figures to docs/performance.md.

The server runs the full pack on OPA with the demo app as its inventory and a SQLite decision
store, as a cluster deployment would. Ten single-connection `hey` streams run side by side,
started evenly staggered; half send the demo's Deployment (denied: it has real mistakes), half
a compliant Deployment (allowed), so both answers are in the mix.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench-webhook:begin -->", "<!-- bench-webhook:end -->"
DEMO = ROOT / "fixtures" / "demo" / "storefront.yaml"
COMPLIANT = ROOT / "fixtures" / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
RATES = (100, 250, 500, 750, 1000)
TARGET_RATE, TARGET_P99_MS = 500, 10.0


@dataclass
class Result:
    rate: int
    seconds: float
    requests: int
    throughput: float
    p50: float
    p90: float
    p99: float
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def review_for(doc: dict[str, object], uid: str) -> dict[str, object]:
    api = str(doc["apiVersion"])
    group, _, version = api.rpartition("/")
    meta = doc["metadata"]
    assert isinstance(meta, dict)
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": doc["kind"]},
            "operation": "CREATE",
            "namespace": meta.get("namespace", "default"),
            "name": meta["name"],
            "object": doc,
            "userInfo": {"username": "system:serviceaccount:ci:deployer", "groups": ["system:serviceaccounts"]},
        },
    }


def deployment(path: Path) -> dict[str, object]:
    return next(d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Deployment")


def start_server(work: Path, workers: int) -> tuple[subprocess.Popen[bytes], int, Path]:
    from rollguard.webhook.certs import issue_certificates, write_certificates

    certs = work / "certs"
    write_certificates(issue_certificates(service="rollguard", namespace="rollguard-system"), certs)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "rollguard.cli",
        "serve",
        "--cert",
        str(certs / "tls.crt"),
        "--key",
        str(certs / "tls.key"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--engine",
        "opa",
        "--store",
        f"sqlite:///{work / 'decisions.db'}",
        "--inventory",
        str(DEMO),
        "--inventory",
        str(COMPLIANT),
    ]
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    context.check_hostname = False  # the certificate names the Service, the benchmark dials 127.0.0.1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=context, timeout=2) as r:
                if r.status == 200:
                    return proc, port, certs
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"rollguard serve did not become ready; see {work / 'serve.log'}")


def run_hey(port: int, bodies: list[Path], rate: int, seconds: float, *, streams: int = 10) -> Result:
    """`rate` requests/s in total from `streams` hey processes, started evenly staggered.

    One hey process with many workers fires all of them on the same tick, which turns a fixed
    rate into bursts; staggered single-connection streams spread the arrivals evenly, closer to
    what an API server sends. A stream whose answers take longer than its interval falls
    behind, which shows as served < offered.
    """
    procs = []
    for n in range(streams):
        procs.append(
            subprocess.Popen(
                [
                    "hey",
                    "-z",
                    f"{seconds}s",
                    "-c",
                    "1",
                    "-q",
                    f"{rate / streams:.3f}",
                    "-m",
                    "POST",
                    "-T",
                    "application/json",
                    "-D",
                    str(bodies[n % len(bodies)]),
                    "-o",
                    "csv",
                    f"https://127.0.0.1:{port}/validate",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        time.sleep(1 / rate)
    latencies: list[float] = []
    errors = 0
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 60)
        for line in out.splitlines()[1:]:
            fields = line.split(",")
            if len(fields) < 7:
                continue
            latencies.append(float(fields[0]))
            if fields[6] != "200":
                errors += 1
        # hey leaves requests that failed outright (connection errors, timeouts) out of the CSV.
        errors += sum(int(n) for n in re.findall(r"\[(\d+)\]", err))
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return Result(rate, seconds, len(latencies), len(latencies) / seconds, pct(0.5), pct(0.9), pct(0.99), errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration of each rate step.")
    parser.add_argument("--workers", type=int, default=2, help="`rollguard serve --workers`.")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/performance.md alone.")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("hey is not installed (Debian package hey); `make bench-webhook` installs it", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="rollguard-bench-webhook-"))
    bodies = []
    for n, path in enumerate((DEMO, COMPLIANT)):
        body = work / f"review-{n}.json"
        body.write_text(json.dumps(review_for(deployment(path), f"bench-{n}")))
        bodies.append(body)
    proc, port, _ = start_server(work, args.workers)
    try:
        run_hey(port, bodies, 100, 3)  # warm-up: connections, caches, the store's first pages
        results = []
        for rate in RATES:
            result = run_hey(port, bodies, rate, args.seconds)
            results.append(result)
            print(
                f"{rate:>5} req/s offered: {result.throughput:7.1f} req/s served, p50 {result.p50:6.2f} ms, "
                f"p90 {result.p90:6.2f} ms, p99 {result.p99:6.2f} ms, errors {result.errors}",
                flush=True,
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    held = [r.rate for r in results if r.p99 <= TARGET_P99_MS and r.errors == 0 and r.throughput >= 0.95 * r.rate]
    best = max(held) if held else None
    print(f"highest rate held with p99 <= {TARGET_P99_MS:g} ms and no errors: {best or 'none'} req/s")
    if not args.no_write:
        write_doc(results, best, args.workers)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def write_doc(results: list[Result], best: int | None, workers: int) -> None:
    import os

    at_target = next((r for r in results if r.rate == TARGET_RATE), None)
    verdict = "meets" if at_target and at_target.p99 <= TARGET_P99_MS and at_target.errors == 0 else "does not meet"
    lines = [
        f"Measured {dt.date.today().isoformat()} by `make bench-webhook` on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}: `rollguard serve --workers {workers}` (OPA, full pack, "
        "TLS, decisions recorded to SQLite) driven by `hey` over HTTPS, half the requests a denied "
        "Deployment, half an allowed one.",
        "",
        "| offered req/s | served req/s | p50 | p90 | p99 | errors |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.rate} | {r.throughput:.0f} | {r.p50:.2f} ms | {r.p90:.2f} ms | {r.p99:.2f} ms | {r.errors} |"
        )
    lines += [
        "",
        f"Highest rate held with p99 at or under {TARGET_P99_MS:g} ms and no errors: "
        f"{f'{best} req/s' if best else 'none of the rates tried'}. "
        f"This run {verdict} the target of p99 <= {TARGET_P99_MS:g} ms at {TARGET_RATE} req/s.",
    ]
    block = "\n".join(lines)
    text = DOC.read_text()
    if BEGIN in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = f"{head}{BEGIN}\n{block}\n{END}{tail}"
    else:
        text += f"\n## Admission webhook under load\n\n{BEGIN}\n{block}\n{END}\n"
    DOC.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
