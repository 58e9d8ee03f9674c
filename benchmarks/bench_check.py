"""`make bench`: rollguard check over the shared k8s corpus, per engine, beside checkov.

Prints documents per second per engine (whole command, and in-process phases) and checkov's
time on the same folder when it can be installed in its own virtualenv, then rewrites the
figures section of docs/performance.md. Run on a quiet machine; ratios in one run matter more
than absolute numbers on a shared host.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "k8s-manifests"
CHECKOV_VENV = ROOT / ".bench" / "checkov"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _rollguard() -> list[str]:
    return [sys.executable, "-m", "rollguard.cli"]


def time_command(cmd: list[str], runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Median wall time of `cmd` over `runs` runs, and the last result."""
    times = []
    proc = None
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
    assert proc is not None
    return statistics.median(times), proc


def in_process(corpus: Path, engine: str) -> dict[str, float]:
    """Seconds spent reading, preparing the gate and judging, measured inside one process."""
    from rollguard.engine import create_engine
    from rollguard.gate import Gate
    from rollguard.inputs import load_change_set
    from rollguard.policy.bundle import default_policy_dir, load_bundle
    from rollguard.policy.config import Config

    t0 = time.perf_counter()
    change = load_change_set([str(corpus)])
    t1 = time.perf_counter()
    gate = Gate(
        bundle=load_bundle(default_policy_dir()),
        engine=create_engine(engine),
        settings=Config().resolve(None),
        now=dt.datetime.now(dt.timezone.utc),
    )
    t2 = time.perf_counter()
    decision = gate.judge(change)
    t3 = time.perf_counter()
    return {
        "documents": float(decision.resources),
        "findings": float(len(decision.findings)),
        "load": t1 - t0,
        "setup": t2 - t1,
        "judge": t3 - t2,
        "policies": float(len(gate.policies)),
    }


def ensure_checkov() -> Path | None:
    """checkov in its own virtualenv under .bench/ (installed once); None when it cannot be."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    if exe.exists():
        return exe
    print("installing checkov into .bench/checkov (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", "checkov"], check=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"checkov could not be installed ({exc}); skipping it", flush=True)
        return None
    return exe if exe.exists() else None


def run_checkov(exe: Path, corpus: Path, runs: int) -> dict[str, float] | None:
    """Median seconds and resources checked by `checkov --framework kubernetes` on `corpus`."""
    cmd = [str(exe), "-d", str(corpus), "--framework", "kubernetes", "-o", "json", "--quiet", "--skip-download"]
    seconds, proc = time_command(cmd, runs)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print(f"checkov produced no JSON (exit {proc.returncode}): {proc.stderr[-400:]}")
        return None
    reports = report if isinstance(report, list) else [report]
    resources = sum(int(r.get("summary", {}).get("resource_count", 0)) for r in reports)
    return {"seconds": seconds, "resources": float(resources)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-checkov", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus {args.corpus} not found; nothing to measure")
        return 0

    rows = []
    demo = ROOT / "fixtures" / "demo"
    for engine in ("opa", "regorus"):
        phases = in_process(args.corpus, engine)
        # The corpus as one change, as Checkov reads it; per-release judging is measured apart
        # (docs/performance.md, "Releases").
        cmd = [
            *_rollguard(),
            "check",
            str(args.corpus),
            "--release-by",
            "none",
            "--engine",
            engine,
            "--format",
            "json",
            "--output",
            os.devnull,
        ]
        wall, proc = time_command(cmd, args.runs)
        if proc.returncode not in (0, 1, 2):
            print(proc.stderr)
            return 1
        docs = phases["documents"]
        small, _ = time_command(
            [*_rollguard(), "check", str(demo), "--engine", engine, "--format", "json", "--output", os.devnull],
            args.runs,
        )
        # The default grouping: every release judged as its own change (one compile either way).
        auto, _ = time_command([*cmd[:5], *cmd[7:]], args.runs)
        row = {
            "auto": auto,
            "small": small,
            "engine": engine,
            "documents": int(docs),
            "policies": int(phases["policies"]),
            "wall": wall,
            "wall_rate": docs / wall,
            "load": phases["load"],
            "setup": phases["setup"],
            "judge": phases["judge"],
            "judge_rate": docs / phases["judge"],
            "inproc_rate": docs / (phases["load"] + phases["setup"] + phases["judge"]),
        }
        rows.append(row)
        print(
            f"{engine:8} {int(docs)} docs  command {wall:.2f}s = {row['wall_rate']:.0f} docs/s  |  "
            f"load {row['load']:.2f}s  setup {row['setup']:.2f}s  judge {row['judge']:.2f}s "
            f"({row['judge_rate']:.0f} docs/s)  in-process {row['inproc_rate']:.0f} docs/s  |  demo (5 docs) {small:.2f}s",
            flush=True,
        )

    checkov = None
    if not args.no_checkov:
        exe = ensure_checkov()
        if exe is not None:
            checkov = run_checkov(exe, args.corpus, max(1, args.runs // 3))
            if checkov:
                rate = checkov["resources"] / checkov["seconds"]
                print(
                    f"checkov  {int(checkov['resources'])} resources  {checkov['seconds']:.2f}s = {rate:.0f} resources/s"
                )
                # The demo, the same folder for both: start-up dominates a small change.
                small = run_checkov(exe, demo, args.runs)
                if small:
                    checkov["demo"] = small["seconds"]
                    print(f"checkov  demo (5 docs) {small['seconds']:.2f}s")

    if not args.no_write:
        write_doc(rows, checkov, args.corpus)
    return 0


def write_doc(rows: list[dict[str, object]], checkov: dict[str, float] | None, corpus: Path) -> None:
    """Replace the figures between the bench markers in docs/performance.md."""
    lines = [
        BEGIN,
        f"Measured {dt.date.today().isoformat()} by `make bench` on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, over `{corpus.relative_to(corpus.parents[2]) if len(corpus.parents) > 2 else corpus}` "
        f"with the full pack ({rows[0]['policies']} policies).",
        "",
        "| engine | documents | `rollguard check` wall time | docs/s (whole command) | read YAML | prepare gate | judge | docs/s (judge only) | demo app (5 docs), whole command | `--release-by auto` |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['documents']} | {r['wall']:.2f} s | {r['wall_rate']:.0f} | {r['load']:.2f} s | "
            f"{r['setup']:.2f} s | {r['judge']:.2f} s | {r['judge_rate']:.0f} | {r['small']:.2f} s | {r['auto']:.2f} s |"
        )
    lines.append("")
    if checkov:
        rate = checkov["resources"] / checkov["seconds"]
        best = max(rows, key=lambda r: float(r["wall_rate"]))  # type: ignore[arg-type]
        lines.append(
            f"checkov (`--framework kubernetes`, same folder, same run): {int(checkov['resources'])} resources in "
            f"{checkov['seconds']:.2f} s = {rate:.0f} resources/s; rollguard ({best['engine']}) is "
            f"{float(best['wall_rate']) / rate:.1f}x faster per document, whole command against whole command."  # type: ignore[arg-type]
        )
        if "demo" in checkov:
            quick = min(rows, key=lambda r: float(r["small"]))  # type: ignore[arg-type]
            lines.append(
                f"On the demo app (`fixtures/demo`, same folder, same run) checkov takes {checkov['demo']:.2f} s and "
                f"rollguard ({quick['engine']}) {float(quick['small']):.2f} s: "  # type: ignore[arg-type]
                f"{checkov['demo'] / float(quick['small']):.1f}x faster."  # type: ignore[arg-type]
            )
    else:
        lines.append("checkov was not measured in this run (not installable or `--no-checkov`).")
    lines.append(END)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + "\n".join(lines) + tail, encoding="utf-8")
    print(f"updated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
