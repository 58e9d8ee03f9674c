"""Load-test `rollguard serve` over HTTPS with `hey` at fixed rates; write the figures to docs/performance.md.

The server runs the full pack on OPA with the demo app as its inventory and a SQLite decision
store, as a cluster deployment would. Ten single-connection `hey` streams run side by side,
started evenly staggered.

The headline measures judging, not the decision cache: the server runs with `--decision-cache 0`,
so every request is judged, and each stream sends its own object (name, labels and images
varied; half from the demo's Deployment, denied for real mistakes, half from a compliant one).
The second figure is a pod storm with the cache on: every stream sends a pod of one ReplicaSet
template, each with its own generated name and uid, as the API server sends them.
`--profile` times each step of one request in this process instead (docs/performance.md).
"""

from __future__ import annotations

import argparse
import copy
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
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench-webhook:begin -->", "<!-- bench-webhook:end -->"
DEMO = ROOT / "fixtures" / "demo" / "storefront.yaml"
COMPLIANT = ROOT / "fixtures" / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
RATES = (100, 250, 500, 750, 1000)
STORM_RATES = (250, 500, 1000)
TARGET_RATE, TARGET_P99_MS = 250, 10.0
STREAMS = 10


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


def distinct(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """`doc` as the `n`th distinct object: its name, a label and every image tag its own."""
    doc = copy.deepcopy(doc)
    doc["metadata"]["name"] = f"{doc['metadata']['name']}-{n}"
    doc["metadata"].setdefault("labels", {})["bench/variant"] = str(n)
    for container in doc["spec"]["template"]["spec"]["containers"]:
        repository = container["image"].split("@")[0].rsplit(":", 1)[0]
        container["image"] = f"{repository}:1.{n}.0"
    return doc


def storm_pod(template: dict[str, Any], n: int) -> dict[str, Any]:
    """A pod of ReplicaSet `<name>-7d4b9c` as a validating webhook sees it: generated name, uid, time."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    suffix = "".join(alphabet[(n * 7 + i * 3) % len(alphabet)] for i in range(5))
    prefix = f"{template['metadata']['name']}-7d4b9c-"
    stamp = f"2026-11-27T10:00:{n % 60:02d}Z"
    pod_template = copy.deepcopy(template["spec"]["template"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **pod_template.get("metadata", {}),
            "name": prefix + suffix,
            "generateName": prefix,
            "namespace": template["metadata"].get("namespace", "default"),
            "uid": f"0000-{n:08d}",
            "creationTimestamp": stamp,
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "time": stamp}],
        },
        "spec": pod_template["spec"],
    }


def start_server(work: Path, workers: int, *, cache: int) -> tuple[subprocess.Popen[bytes], int, Path]:
    from rollguard.webhook.certs import issue_certificates, write_certificates

    certs = work / "certs"
    if not (certs / "tls.crt").exists():  # one set for every server of the run
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
        "--decision-cache",
        str(cache),
    ]
    log = (work / "serve.log").open("ab")
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


def run_hey(
    port: int, bodies: list[Path], rate: int, seconds: float, *, streams: int = STREAMS, path: str = "/validate"
) -> Result:
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
                    f"https://127.0.0.1:{port}{path}",
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


def measure(
    work: Path, workers: int, bodies: list[Path], rates: tuple[int, ...], seconds: float, *, cache: int
) -> tuple[list[Result], Result]:
    """One server, warmed up, at each of `rates`; and /healthz (TLS, HTTP, no judging) at 100 req/s."""
    proc, port, _ = start_server(work, workers, cache=cache)
    try:
        run_hey(port, bodies, 100, 3)  # warm-up: connections, caches, the store's first pages
        results = []
        for rate in rates:
            result = run_hey(port, bodies, rate, seconds)
            results.append(result)
            print(
                f"{rate:>5} req/s offered: {result.throughput:7.1f} req/s served, p50 {result.p50:6.2f} ms, "
                f"p90 {result.p90:6.2f} ms, p99 {result.p99:6.2f} ms, errors {result.errors}",
                flush=True,
            )
        health = run_hey(port, bodies, 100, 3, path="/healthz")
        print(f"/healthz at 100 req/s: p50 {health.p50:.2f} ms, p99 {health.p99:.2f} ms", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results, health


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration of each rate step.")
    parser.add_argument("--workers", type=int, default=2, help="`rollguard serve --workers`.")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/performance.md alone.")
    parser.add_argument("--profile", action="store_true", help="Time each step of a request in-process, then stop.")
    args = parser.parse_args()
    if args.profile:
        return profile()
    if shutil.which("hey") is None:
        print("hey is not installed (Debian package hey); `make bench-webhook` installs it", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="rollguard-bench-webhook-"))
    demo, compliant = deployment(DEMO), deployment(COMPLIANT)

    def body(name: str, doc: dict[str, Any]) -> Path:
        path = work / f"{name}.json"
        path.write_text(json.dumps(review_for(doc, f"bench-{name}")))
        return path

    judged = [body(f"distinct-{n}", distinct(demo if n % 2 == 0 else compliant, n)) for n in range(STREAMS)]
    storm = [body(f"storm-{n}", storm_pod(demo, n)) for n in range(STREAMS)]
    print("every request judged (--decision-cache 0), a distinct object per stream:", flush=True)
    results, health = measure(work, args.workers, judged, RATES, args.seconds, cache=0)
    print("pod storm from one template, decision cache on:", flush=True)
    storm_results, _ = measure(work, args.workers, storm, STORM_RATES, args.seconds, cache=10_000)
    held = [r.rate for r in results if r.p99 <= TARGET_P99_MS and r.errors == 0 and r.throughput >= 0.95 * r.rate]
    best = max(held) if held else None
    print(f"highest rate held with p99 <= {TARGET_P99_MS:g} ms and no errors: {best or 'none'} req/s")
    if not args.no_write:
        write_doc(results, storm_results, health, best, args.workers)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def write_doc(results: list[Result], storm: list[Result], health: Result, best: int | None, workers: int) -> None:
    import os

    def table(rows: list[Result]) -> list[str]:
        lines = ["| offered req/s | served req/s | p50 | p90 | p99 | errors |", "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r.rate} | {r.throughput:.0f} | {r.p50:.2f} ms | {r.p90:.2f} ms | {r.p99:.2f} ms | {r.errors} |"
            )
        return lines

    at_target = next((r for r in results if r.rate == TARGET_RATE), None)
    verdict = "meets" if at_target and at_target.p99 <= TARGET_P99_MS and at_target.errors == 0 else "does not meet"
    saturation = max(r.throughput for r in results)
    lines = [
        f"Measured {dt.date.today().isoformat()} by `make bench-webhook` on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}: `rollguard serve --workers {workers}` (OPA, full pack, "
        f"TLS, decisions recorded to SQLite) driven by `hey` over HTTPS from the same cores, {STREAMS} streams.",
        "",
        "Every request judged (`--decision-cache 0`), each stream its own Deployment (name, labels and "
        "images varied), half denied, half allowed:",
        "",
        *table(results),
        "",
        f"Highest rate held with p99 at or under {TARGET_P99_MS:g} ms and no errors: "
        f"{f'{best} req/s' if best else 'none of the rates tried'}; at most {saturation:.0f} req/s served. "
        f"This run {verdict} the target of p99 <= {TARGET_P99_MS:g} ms at {TARGET_RATE} req/s.",
        "",
        "Pod storm with the decision cache on (the default): every request a pod of one ReplicaSet "
        "template with its own generated name and uid; the first two of the template are judged, "
        "the rest answered from the cache:",
        "",
        *table(storm),
        "",
        f"`/healthz` over the same HTTPS connections at 100 req/s (TLS, HTTP, no judging): "
        f"p50 {health.p50:.2f} ms, p99 {health.p99:.2f} ms.",
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


def profile(count: int = 300) -> int:
    """Median time of each step of answering one request, in this process, on the benchmark's set-up."""
    import asyncio
    import statistics

    import orjson

    from rollguard.audit.record import ChangeIdentity, build_record
    from rollguard.audit.store import open_store
    from rollguard.webhook.evaluation import WorkerSetup, build_gate
    from rollguard.webhook.review import parse_review, request_artifact, review_response
    from rollguard.webhook.server import ServeOptions, build_service, static_inventory
    from rollguard.webhook.service import CLUSTER_DOMAINS, utc_now

    work = Path(tempfile.mkdtemp(prefix="rollguard-profile-webhook-"))
    options = ServeOptions(
        policy_dir=str(ROOT / "policies"),
        config_path=None,
        environment=None,
        engine="opa",
        cert="",
        key="",
        inventory=(str(DEMO), str(COMPLIANT)),
        decision_cache=0,
    )
    service, _ = build_service(options)
    runtime = service.runtime
    assert runtime is not None
    bodies = [json.dumps(review_for(distinct(deployment(DEMO), n), f"p-{n}")).encode() for n in range(count)]
    bundle, config, settings = service.source.load()
    inventory, synced = static_inventory(options.inventory)()
    setup = WorkerSetup(bundle, config, settings, "opa", {}, inventory, synced, CLUSTER_DOMAINS, utc_now())
    gate = build_gate(setup)  # the gate a worker builds, here in this process
    times: dict[str, list[float]] = {}

    def timed(step: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        value = fn(*args, **kwargs)
        times.setdefault(step, []).append((time.perf_counter() - started) * 1000)
        return value

    async def run() -> None:
        for body in bodies:
            timed("parse the body (json module, before)", json.loads, body)
            _, request = timed("parse and check the review (orjson)", parse_review, body)
            timed("structural limits", service.settings.limits.exceeded, request)
            now = utc_now()
            timed("decision cache key", runtime.key, request, now=now)
            started = time.perf_counter()
            decision = await runtime.judge(request, now=now, timeout=5, limits=None)
            times.setdefault("judge through the pool (hop + evaluation)", []).append(
                (time.perf_counter() - started) * 1000
            )
            artifact = request_artifact(request)
            timed(
                "evaluation alone (the same gate in-process)",
                gate.judge_review,
                artifact,
                request,
                isolate=False,
                now=now,
            )
            answer = timed(
                "build the answer", review_response, "admission.k8s.io/v1", request["uid"], allowed=False, message="x"
            )
            timed("encode the answer (orjson)", orjson.dumps, answer)
            record = timed(
                "build the decision record",
                build_record,
                decision,
                source="admission",
                when=now,
                policies=runtime.policies,
                artifacts=[artifact],
                bundle_digest=runtime.digest,
                config_digest=runtime.config_digest,
                rollguard_version="bench",
                change=ChangeIdentity(images=()),
                actor="bench",
                admission={"uid": request["uid"]},
            )
            times.setdefault("_records", []).append(record)

    asyncio.run(run())
    records = times.pop("_records")
    with open_store(f"sqlite:///{work / 'decisions.db'}") as store:
        batch = 50
        for i in range(0, len(records), batch):
            started = time.perf_counter()
            store.append_many(records[i : i + batch])
            times.setdefault("append to SQLite (per record, batches of 50)", []).append(
                (time.perf_counter() - started) * 1000 / batch
            )
    service.close()
    shutil.rmtree(work, ignore_errors=True)
    print("| step | median | p90 |\n|---|---|---|")
    for step, values in times.items():
        values.sort()
        print(f"| {step} | {statistics.median(values):.3f} ms | {values[int(0.9 * len(values))]:.3f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
