"""`make bench-parallel`: judging on two cores, threads against processes, in one run.

The OPA bridge's calls release the GIL, so one process could judge with a thread per engine; a
process pays start-up, YAML and compiling the pack again, but shares nothing. This measures, on
the shared k8s corpus, side by side:

- threads: N threads in one process, each with its own gate and engine, each judging the whole
  change, against one thread doing the same once (evaluation throughput, start-up excluded);
- processes, evaluation only: the same with N spawned processes (each timed after its start-up);
- the whole command: `rollguard check --jobs N` against `--jobs 1` (threads on OPA, processes on
  regorus).

Figures are ratios of throughput (2.0 would be perfect scaling on two cores), medians of --runs,
written to docs/performance.md between the bench-parallel markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "k8s-manifests"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench-parallel:begin -->", "<!-- bench-parallel:end -->"


def _prepared(corpus: str, engine: str) -> tuple[Any, Any]:
    """A gate over the corpus and the change, ready to judge (start-up paid)."""
    from rollguard.engine import create_engine
    from rollguard.gate import Gate
    from rollguard.inputs import load_change_set
    from rollguard.policy.bundle import default_policy_dir, load_bundle
    from rollguard.policy.config import Config

    change = load_change_set([corpus])
    gate = Gate(
        bundle=load_bundle(default_policy_dir()),
        engine=create_engine(engine),
        settings=Config().resolve(None),
        now=dt.datetime.now(dt.timezone.utc),
    )
    gate.judge(change)  # compile and warm up outside the timed part
    return gate, change


def _judge_seconds(corpus: str, engine: str, start: Any = None) -> float:
    """Seconds one process takes to judge the corpus once, after its start-up (process worker)."""
    gate, change = _prepared(corpus, engine)
    if start is not None:
        start.wait()
    t0 = time.perf_counter()
    gate.judge(change)
    return time.perf_counter() - t0


def threads_ratio(corpus: str, engine: str, n: int) -> tuple[float, float]:
    """(seconds of one judgement alone, throughput of n threads over one thread)."""
    prepared = [_prepared(corpus, engine) for _ in range(n)]
    gate, change = prepared[0]
    t0 = time.perf_counter()
    gate.judge(change)
    alone = time.perf_counter() - t0

    barrier = threading.Barrier(n + 1)

    def work(index: int) -> None:
        g, c = prepared[index]
        barrier.wait()
        g.judge(c)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    together = time.perf_counter() - t0
    return alone, n * alone / together


def processes_ratio(corpus: str, engine: str, n: int, alone: float) -> float:
    """Throughput of n processes judging at once over one judgement alone (start-up excluded)."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(n + 1)
        with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
            futures = [pool.submit(_judge_seconds, corpus, engine, start) for _ in range(n)]
            start.wait()
            t0 = time.perf_counter()
            for f in futures:
                f.result()
            together = time.perf_counter() - t0
    return n * alone / together


def command_seconds(corpus: str, jobs: int, engine: str) -> float:
    cmd = [sys.executable, "-m", "rollguard.cli", "check", corpus, "--release-by", "none", "--jobs", str(jobs)]
    cmd += ["--engine", engine]
    cmd += ["--format", "json", "--output", os.devnull]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1, 2):  # 2: the corpus holds some unusable files, reported
        raise SystemExit(f"rollguard check --jobs {jobs} exited {proc.returncode}: {proc.stderr[-400:]}")
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--engine", default="opa", choices=["opa", "regorus"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus {args.corpus} not found; nothing to measure")
        return 0
    corpus, n = str(args.corpus), args.workers
    rows: dict[str, list[float]] = {"alone": [], "threads": [], "processes": [], "jobs1": [], "jobsN": []}
    for run in range(args.runs):
        alone, threads = threads_ratio(corpus, args.engine, n)
        rows["alone"].append(alone)
        rows["threads"].append(threads)
        rows["processes"].append(processes_ratio(corpus, args.engine, n, alone))
        rows["jobs1"].append(command_seconds(corpus, 1, args.engine))
        rows["jobsN"].append(command_seconds(corpus, n, args.engine))
        print(
            f"run {run + 1}: judge alone {alone:.2f}s  threads x{threads:.2f}  processes x{rows['processes'][-1]:.2f}  "
            f"check --jobs 1 {rows['jobs1'][-1]:.2f}s  --jobs {n} {rows['jobsN'][-1]:.2f}s",
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in rows.items()}
    spread = {k: (min(v), max(v)) for k, v in rows.items()}
    lines = [
        BEGIN,
        f"Measured {dt.date.today().isoformat()} by `make bench-parallel` on {os.cpu_count()} cores, engine "
        f"{args.engine}, {n} workers, medians of {args.runs} runs (range in brackets).",
        "",
        "| how | throughput over one | note |",
        "|---|---|---|",
        f"| {n} threads, one engine each, one process | {med['threads']:.2f}x "
        f"({spread['threads'][0]:.2f}–{spread['threads'][1]:.2f}) | evaluation only; one judgement alone "
        f"takes {med['alone']:.2f} s |",
        f"| {n} processes, evaluation only | {med['processes']:.2f}x "
        f"({spread['processes'][0]:.2f}–{spread['processes'][1]:.2f}) | start-up, YAML and compile excluded |",
        f"| `check --jobs {n}` against `--jobs 1`, whole command ({'threads' if args.engine == 'opa' else 'processes'}) "
        f"| {med['jobs1'] / med['jobsN']:.2f}x | "
        f"{med['jobs1']:.2f} s against {med['jobsN']:.2f} s |",
        END,
    ]
    for line in lines[2:-1]:
        print(line)
    if not args.no_write:
        text = DOC.read_text(encoding="utf-8")
        if BEGIN not in text:
            print(f"{DOC.relative_to(ROOT)} has no {BEGIN} marker; figures not written")
            return 0
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOC.write_text(head + "\n".join(lines) + tail, encoding="utf-8")
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
