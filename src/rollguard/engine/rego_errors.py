"""Turn engine error text into rollguard errors with the .rego file and line."""

from __future__ import annotations

import re

from rollguard.errors import PolicyError

# OPA: "a.rego:4: rego_type_error: ..."; regorus: "--> a.rego:4:6"
_OPA_LOCATION = re.compile(r"(?P<file>[^\s:]+\.rego):(?P<line>\d+)(?::\d+)?:\s*(?P<msg>.*)")
_REGORUS_LOCATION = re.compile(r"-->\s*(?P<file>[^\s:]+\.rego):(?P<line>\d+)(?::\d+)?")


def policy_error(text: str, *, action: str) -> PolicyError:
    """Build a PolicyError naming the first .rego location found in `text`."""
    text = text.split("\n\nStack backtrace:")[0].strip()
    m = _REGORUS_LOCATION.search(text)
    if m:
        lines = [ln for ln in text.splitlines() if ln.startswith("error:")]
        msg = lines[0].removeprefix("error:").strip() if lines else text
        return PolicyError(f"{action}: {msg}", file=m["file"], line=int(m["line"]))
    m = _OPA_LOCATION.search(text)
    if m:
        return PolicyError(f"{action}: {m['msg'].strip()}", file=m["file"], line=int(m["line"]))
    return PolicyError(f"{action}: {text}")


def clean(text: str) -> str:
    """Drop Rust backtraces and collapse an engine error to its useful lines."""
    text = text.split("\n\nStack backtrace:")[0].strip()
    return " ".join(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("|"))
