"""`make compare-squawk`: squawk's own rule tests through the squawk binary and through rollguard, side by side.

Installs PyPI `squawk-cli` into its own virtualenv under .bench/ (once), runs `squawk` on every
case of the shared corpus whose rule maps to a rollguard policy (with the case's PostgreSQL
version and transaction setting), judges the same files with rollguard's migration pack on
the real gate, and prints per rule how often each agrees with squawk's test labels and with
each other, then every case where they differ.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_squawk_agreement import (  # noqa: E402
    DELIBERATE_DIFFERENCES,
    SQUAWK_TO_ROLLGUARD,
    SUITE,
    judge_cases,
    mapped_cases,
)

from rollguard.policy.bundle import load_bundle  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SQUAWK_VENV = ROOT / ".bench" / "squawk"
_PG_VERSION = re.compile(r'pg_version:\s*"(\d+)"')
# The binary names some rules differently from the source files the test labels come from.
CLI_NAMES = {
    "adding_not_null_field": {"adding-not-nullable-field"},
    "adding_primary_key_constraint": {"adding-serial-primary-key-field"},
    "disallow_unique_constraint": {"disallowed-unique-constraint"},
    "require_timeout_settings": {"require-timeout-settings", "require-lock-timeout", "require-statement-timeout"},
}


def ensure_squawk(requirement: str) -> Path:
    """The squawk binary of `squawk-cli` in its own virtualenv under .bench/ (installed once)."""
    exe = SQUAWK_VENV / "bin" / "squawk"
    if exe.exists():
        return exe
    print(f"installing {requirement} into {SQUAWK_VENV.relative_to(ROOT)} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(SQUAWK_VENV)], check=True)
    subprocess.run([str(SQUAWK_VENV / "bin" / "pip"), "install", "--quiet", requirement], check=True, timeout=900)
    return exe


def squawk_flags(exe: Path, case: Mapping[str, Any], path: Path) -> bool:
    """Whether the squawk binary reports the case's own rule on its file."""
    cmd = [str(exe), "--reporter", "json"]
    settings = case["settings"] or ""
    m = _PG_VERSION.search(settings)
    if m:
        cmd += ["--pg-version", m.group(1)]
    if "assume_in_transaction: true" in settings:
        cmd.append("--assume-in-transaction")
    proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True, check=False, timeout=60)
    try:
        reported = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        raise SystemExit(f"squawk printed no JSON for {path} (exit {proc.returncode}): {proc.stderr[-400:]}") from None
    names = CLI_NAMES.get(case["rule"], {case["rule"].replace("_", "-")})
    return any(isinstance(v, dict) and v.get("rule_name") in names for v in reported)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--engine", default="opa", choices=["opa", "regorus"])
    parser.add_argument("--squawk", default="squawk-cli", help="pip requirement to install (e.g. squawk-cli==2.70.0)")
    args = parser.parse_args()
    if not (args.corpus / SUITE / "labels.json").is_file():
        print(f"no squawk rule tests under {args.corpus}; pass --corpus", file=sys.stderr)
        return 2
    exe = ensure_squawk(args.squawk)
    cases = mapped_cases(args.corpus)
    label = {c["file"]: c["expect"] == "violation" for c in cases}
    squawk = {c["file"]: squawk_flags(exe, c, args.corpus / SUITE / c["file"]) for c in cases}
    rollguard = judge_cases(load_bundle(ROOT / "policies"), args.engine, args.corpus)

    header = ("squawk rule", "rollguard policy", "cases", "squawk=label", "rollguard=label", "rollguard=squawk")
    rows = []
    for rule, policy in SQUAWK_TO_ROLLGUARD.items():
        files = [c["file"] for c in cases if c["rule"] == rule]
        rows.append((rule, policy, files))
    rows.append(("total", "", [c["file"] for c in cases]))
    print(f"{header[0]:<46} {header[1]:<32} {header[2]:>5}  {header[3]:>13}  {header[4]:>15}  {header[5]:>16}")
    for rule, policy, files in rows:
        n = len(files)
        a = sum(squawk[f] == label[f] for f in files)
        b = sum(rollguard[f] == label[f] for f in files)
        c = sum(rollguard[f] == squawk[f] for f in files)
        print(f"{rule:<46} {policy:<32} {n:>5}  {a:>6}/{n:<6}  {b:>8}/{n:<6}  {c:>9}/{n:<6}")

    def mark(flag: bool) -> str:
        return "flags" if flag else "ok"

    differ = [f for f in label if len({label[f], squawk[f], rollguard[f]}) > 1]
    if differ:
        print("\ncases where the label, squawk and rollguard do not all agree:")
        for f in differ:
            if rollguard[f] == label[f]:
                why = "rollguard agrees with the label"
            else:
                why = DELIBERATE_DIFFERENCES.get(f, "not a listed deliberate difference")
            print(f"  {f}\n    label {mark(label[f])}, squawk {mark(squawk[f])}, rollguard {mark(rollguard[f])}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
