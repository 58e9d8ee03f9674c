"""Run Checkov on the files of a change and turn its failed checks into rollguard findings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollguard.errors import ConfigError, EngineError
from rollguard.inputs import iter_input_files
from rollguard.model import Artifact, Finding, Resource, Severity

POLICY_PREFIX = "checkov."
INSTALL_HINT = "install it with `pip install 'rollguard[checkov]'` or pass --checkov PATH"
# Checkov starts slowly (it imports every framework) and a large change takes a while.
DEFAULT_TIMEOUT = 600.0
# rollguard judges Kubernetes manifests, SQL and scan reports; of these Checkov understands only
# the manifests. Naming the framework keeps it from running every other scanner over them.
FRAMEWORKS = ("kubernetes",)
# Checkov filters its runners by file type; SQL and other files would only slow it down.
_SCANNED_SUFFIXES = {".yaml", ".yml", ".json"}
# Without a platform API key Checkov reports no severity: medium is the middle of the scale.
DEFAULT_SEVERITY = Severity.MEDIUM
# With network calls off Checkov needs no API key, sends nothing and downloads no mappings.
_ENVIRONMENT = {"BC_SKIP_MAPPING": "TRUE"}


class CheckovNotFound(ConfigError):
    """The checkov executable is not installed or not where --checkov says (exit code 2)."""


class CheckovFailed(EngineError):
    """Checkov ran but gave no usable report (exit code 3)."""


@dataclass(frozen=True)
class Target:
    """A file Checkov scans and the name rollguard shows for it."""

    path: Path
    display: str


def find_checkov(explicit: str | None = None) -> str:
    """The checkov executable: `explicit` (a path or a name on PATH), else `checkov` on PATH."""
    name = explicit or "checkov"
    found = shutil.which(name)
    if found is None:
        where = f"--checkov {explicit}: no executable there" if explicit else "checkov is not on PATH"
        raise CheckovNotFound(f"{where}; {INSTALL_HINT}")
    return found


def command(executable: str, files: Sequence[Path]) -> list[str]:
    """Checkov's argument list for `files`: JSON on stdout, failed checks only, no network.

    Checkov takes no positional arguments (its parser rejects a `--`): the files are values of
    `--file`, so each is passed as an absolute path, which cannot be read as an option.
    """
    return [
        executable,
        "--file",
        *(str(f.absolute()) for f in files),
        "--output",
        "json",
        "--quiet",
        "--compact",
        "--skip-download",
        "--framework",
        *FRAMEWORKS,
    ]


def run_checkov(
    paths: Sequence[str],
    *,
    extra: Iterable[tuple[str, str]] = (),
    artifacts: Sequence[Artifact] = (),
    executable: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Finding]:
    """Findings for every check Checkov fails on the files of `paths` and the texts of `extra`.

    `extra` are inputs without a file (stdin, rendered kustomizations) as (display name, text);
    they are written to a temporary directory for Checkov. `artifacts` are the change's documents:
    a finding about one of them gets its resource identity (apiVersion, cluster scope).
    """
    checkov = find_checkov(executable)
    targets = [
        Target(path, name)
        for name, path in iter_input_files(paths)
        if path is not None and path.suffix.lower() in _SCANNED_SUFFIXES and path.is_file()
    ]
    with tempfile.TemporaryDirectory(prefix="rollguard-checkov-") as scratch:
        for i, (name, text) in enumerate(extra):
            suffix = Path(name).suffix.lower()
            path = Path(scratch) / f"input-{i}{suffix if suffix in _SCANNED_SUFFIXES else '.yaml'}"
            path.write_text(text, encoding="utf-8")
            targets.append(Target(path, name))
        if not targets:
            return []
        output = _run(command(checkov, [t.path for t in targets]), timeout=timeout)
        displays = {_key(t.path): t.display for t in targets}
    return findings_from_report(parse_report(output), displays=displays, artifacts=artifacts)


def _run(argv: list[str], *, timeout: float) -> str:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **_ENVIRONMENT},
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckovFailed(f"run checkov: no report within {timeout:g} s") from exc
    except OSError as exc:
        raise CheckovFailed(f"run checkov: {exc}") from exc
    # Exit code 1 means "some check failed": the report is on stdout either way.
    if not proc.stdout.strip():
        detail = _last_line(proc.stderr) or "no output"
        raise CheckovFailed(f"run checkov: exit code {proc.returncode} without a report: {detail}")
    return proc.stdout


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_report(output: str) -> list[Mapping[str, Any]]:
    """The failed checks of Checkov's JSON report, whichever of its three shapes it has.

    One framework gives an object with `results`; several give a list of such objects; nothing
    to scan gives a bare summary (`{"passed": 0, "failed": 0, ...}`).
    """
    try:
        report = json.loads(output)
    except json.JSONDecodeError as exc:
        raise CheckovFailed(
            f"read checkov's report: not JSON ({exc.msg} at line {exc.lineno}): {output[:80]!r}"
        ) from exc
    reports = report if isinstance(report, list) else [report]
    checks: list[Mapping[str, Any]] = []
    for part in reports:
        if not isinstance(part, dict):
            raise CheckovFailed(f"read checkov's report: expected objects, got {type(part).__name__}")
        if "results" not in part:
            if "failed" in part and "passed" in part:
                continue  # the bare summary of a run that found nothing to scan
            raise CheckovFailed("read checkov's report: an entry has neither `results` nor a summary")
        results = part["results"]
        failed = results.get("failed_checks", []) if isinstance(results, dict) else None
        if not isinstance(failed, list):
            raise CheckovFailed("read checkov's report: `results.failed_checks` is not a list")
        checks.extend(c for c in failed if isinstance(c, dict))
    return checks


def findings_from_report(
    checks: Iterable[Mapping[str, Any]], *, displays: Mapping[str, str], artifacts: Sequence[Artifact] = ()
) -> list[Finding]:
    """One finding per failed check; `displays` maps resolved file paths to rollguard's names."""
    known = {(a.file, a.resource.kind, a.resource.namespace or "default", a.resource.name): a for a in artifacts}
    findings = []
    for check in checks:
        check_id = check.get("check_id")
        if not isinstance(check_id, str) or not check_id:
            continue
        file = _display_file(check, displays)
        kind, namespace, name = parse_resource(check.get("resource"))
        artifact = known.get((file or "", kind, namespace or "default", name))
        resource = artifact.resource if artifact else Resource("", kind, namespace, name)
        title = str(check.get("check_name") or check_id)
        guideline = check.get("guideline")
        findings.append(
            Finding(
                policy=POLICY_PREFIX + check_id,
                title=title,
                severity=severity_of(check.get("severity")),
                message=title,
                resource=resource,
                file=file,
                line=_first_line(check.get("file_line_range")),
                remediation=guideline if isinstance(guideline, str) else "",
                details={"check_id": check_id, "check_class": check.get("check_class")},
            )
        )
    return findings


def severity_of(value: object) -> Severity:
    """Checkov's severity (CRITICAL, HIGH, MEDIUM, LOW, INFO) when it gives one, else medium."""
    if isinstance(value, str):
        try:
            return Severity.parse(value)
        except ValueError:
            pass
    return DEFAULT_SEVERITY


def parse_resource(value: object) -> tuple[str, str | None, str]:
    """`Deployment.shop.web` → (kind, namespace, name); names may hold dots, namespaces cannot."""
    if not isinstance(value, str) or not value:
        return "", None, ""
    parts = value.split(".", 2)
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], None, parts[1]
    return "", None, value


def _display_file(check: Mapping[str, Any], displays: Mapping[str, str]) -> str | None:
    raw = check.get("file_abs_path") or check.get("file_path")
    if not isinstance(raw, str) or not raw:
        return None
    return displays.get(_key(Path(raw)), raw)


def _key(path: Path) -> str:
    """Paths compare resolved, so `./deploy/a.yaml` and its absolute form meet."""
    return str(path.resolve())


def _first_line(value: object) -> int | None:
    if isinstance(value, list) and value and isinstance(value[0], int) and not isinstance(value[0], bool):
        return value[0] if value[0] > 0 else None
    return None
