"""Trivy JSON reports (SchemaVersion 2): one `ImageScan` document per report, vulnerabilities flattened."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from rollguard.inputs.jsontext import load_json_artifact
from rollguard.model import Artifact, InputProblem

API_VERSION = "rollguard.io/v1"
KIND = "ImageScan"
SCHEMA_VERSION = 2
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")

# Trivy writes pretty-printed JSON with one vulnerability per block: the n-th `"VulnerabilityID"`
# key is the n-th vulnerability in document order, which gives findings a line to point at.
_VULNERABILITY_ID = re.compile(r'"VulnerabilityID"\s*:\s*"((?:[^"\\]|\\.)*)"')
_CREATED_AT = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9})\d*)?(?P<zone>Z|[+-]\d{2}:\d{2})$"
)
# Names that are archives or paths, not registry references (`trivy image --input app.tar`).
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst")


def is_scan(name: str, text: str) -> bool:
    """Whether a non-SQL input is meant as a Trivy report: a JSON object with a `SchemaVersion` key.

    Decided from content so reports saved under any name are recognised. A cheap substring test
    comes first: Kubernetes JSON never has that key, and most inputs are not JSON objects at all.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped.startswith("{") or '"SchemaVersion"' not in stripped:
        return False
    try:
        doc = json.loads(stripped)
    except (ValueError, RecursionError):  # the loader reports either, with its line
        # A truncated report still names itself early on; the loader then reports the JSON error.
        return '"SchemaVersion"' in stripped[:512] or name.lower().endswith((".json", ".json.golden"))
    return isinstance(doc, dict) and "SchemaVersion" in doc


def load_text(name: str, text: str) -> tuple[list[Artifact], list[InputProblem]]:
    """The `scan` artifact of one Trivy JSON report, and the problems met reading it."""
    return load_json_artifact(
        name,
        text,
        artifact_kind="scan",
        resource=(API_VERSION, KIND),
        what="a Trivy report",
        advice="scan again with `rollguard scan IMAGE` or `trivy image --format json --output FILE IMAGE`",
        shape=_shape_problem,
        build=_document,
    )


def _shape_problem(name: str, raw: Any) -> InputProblem | None:
    """Why a parsed JSON value is not a usable Trivy report, or None."""
    if not isinstance(raw, dict):
        return InputProblem(name, 1, f"expected a Trivy JSON report (an object), got a JSON {type(raw).__name__}")
    version = raw.get("SchemaVersion")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        return InputProblem(
            name,
            1,
            f"unsupported Trivy report SchemaVersion {version!r}; rollguard reads SchemaVersion 2 "
            "(Trivy 0.20 and later): scan again with a current Trivy",
        )
    if "ArtifactName" not in raw and "Results" not in raw:
        return InputProblem(
            name, 1, "has SchemaVersion but neither ArtifactName nor Results: not a Trivy report; check the file"
        )
    for key, kind in (("Results", list), ("Metadata", dict), ("ArtifactName", str), ("CreatedAt", str)):
        if raw.get(key) is not None and not isinstance(raw[key], kind):
            return InputProblem(
                name, 1, f"Trivy report field {key} should be a JSON {_json_type(kind)}; check the file"
            )
    return None


def _json_type(kind: type) -> str:
    names: dict[type, str] = {list: "array", dict: "object", str: "string"}
    return names[kind]


def _document(name: str, raw: Mapping[str, Any], text: str, problems: list[InputProblem]) -> dict[str, Any]:
    """The normalised ImageScan document (docs/scans.md)."""
    metadata: Mapping[str, Any] = raw.get("Metadata") or {}
    artifact_name = raw.get("ArtifactName") if isinstance(raw.get("ArtifactName"), str) else None
    artifact_type = raw.get("ArtifactType") if isinstance(raw.get("ArtifactType"), str) else None
    image = _image(metadata, artifact_name, artifact_type)
    scanned_at, scanned_at_ns = _created_at(raw.get("CreatedAt"))
    if raw.get("CreatedAt") is not None and scanned_at is None:
        problems.append(
            InputProblem(name, 1, f"CreatedAt {raw['CreatedAt']!r} is not an RFC 3339 time; the scan's age is unknown")
        )
    vulnerabilities = _vulnerabilities(name, raw.get("Results") or [], text, problems)
    counts = {s: 0 for s in SEVERITIES}
    for v in vulnerabilities:
        counts[v["severity"]] += 1
    # An image built in CI and scanned before it is pushed has no Metadata.RepoDigests: that is the
    # usual order, not unusable input. Its `digests` stay [] and image.scan_coverage says, once,
    # when a workload pinned by digest cannot be matched to it.
    trivy = _object(raw.get("Trivy"))
    db = _object(trivy.get("VulnerabilityDB"))
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": image["reference"] or artifact_name or PurePosixPath(name).name},
        "file": name,
        "scanner": {
            "name": "trivy",
            "version": _str_or_none(trivy.get("Version")),
            "db_updated_at": _str_or_none(db.get("UpdatedAt")),
        },
        "artifact": {"name": artifact_name, "type": artifact_type},
        "image": {k: v for k, v in image.items() if k != "is_image"},
        "is_image": image["is_image"],
        "scanned_at": scanned_at,
        "scanned_at_ns": scanned_at_ns,
        "vulnerabilities": vulnerabilities,
        "vulnerability_counts": counts,
        "misconfigurations": _misconfigurations(raw.get("Results") or []),
        "secrets": sum(len(r.get("Secrets") or []) for r in raw.get("Results") or [] if isinstance(r, dict)),
    }


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _image(metadata: Mapping[str, Any], artifact_name: str | None, artifact_type: str | None) -> dict[str, Any]:
    """Name, tag, references and digests of the scanned image (all empty for non-image scans)."""
    is_image = artifact_type == "container_image" or (artifact_type is None and "ImageID" in metadata)
    repo_digests = _strings(metadata.get("RepoDigests"))
    references: list[str] = []
    if is_image:
        candidates = [*_strings(metadata.get("RepoTags")), metadata.get("Reference"), artifact_name]
        for ref in candidates:
            if isinstance(ref, str) and _is_reference(ref) and ref not in references:
                references.append(ref)
    digests: list[str] = []
    for ref in [*repo_digests, *(r for r in references if "@" in r)]:
        digest = ref.rpartition("@")[2]
        if digest and digest not in digests:
            digests.append(digest)
    tagged = next((r for r in references if "@" not in r), None)
    name, tag = _split_tag(tagged) if tagged else (repo_digests[0].rpartition("@")[0] if repo_digests else None, None)
    os_info = _object(metadata.get("OS"))
    os_name = " ".join(str(os_info[k]) for k in ("Family", "Name") if os_info.get(k)) or None
    return {
        "is_image": is_image,
        "reference": tagged or (repo_digests[0] if repo_digests else None),
        "name": name,
        "tag": tag,
        "references": references,
        "repo_digests": repo_digests,
        "digests": digests,
        "image_id": _str_or_none(metadata.get("ImageID")),
        "os": os_name,
    }


def _is_reference(ref: str) -> bool:
    """A registry reference (not a path to an archive, not text with spaces)."""
    return bool(ref) and not any(c.isspace() for c in ref) and not ref.lower().endswith(_ARCHIVE_SUFFIXES)


def _split_tag(ref: str) -> tuple[str, str | None]:
    """`host:5000/app:1.2` → (`host:5000/app`, `1.2`); a colon before the last `/` is a port."""
    name, sep, tag = ref.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return ref, None


def _created_at(value: Any) -> tuple[str | None, int | None]:
    """CreatedAt as written and as integer nanoseconds since the epoch; (None, None) when unusable."""
    if not isinstance(value, str):
        return None, None
    m = _CREATED_AT.match(value.strip())
    if m is None:
        return None, None
    zone = "+00:00" if m.group("zone") == "Z" else m.group("zone")
    try:
        moment = dt.datetime.fromisoformat(m.group("base") + zone)
    except ValueError:
        return None, None
    fraction = (m.group("fraction") or "").ljust(9, "0")
    return value.strip(), int(moment.timestamp()) * 1_000_000_000 + int(fraction)


def _vulnerabilities(name: str, results: list[Any], text: str, problems: list[InputProblem]) -> list[dict[str, Any]]:
    """Every vulnerability of every result, with the result's target and class."""
    lines = _vulnerability_lines(text)
    flat: list[dict[str, Any]] = []
    position = 0
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            problems.append(InputProblem(name, None, f"Results[{index}] is not an object; check the report"))
            continue
        found = result.get("Vulnerabilities")
        if found is None:
            continue
        if not isinstance(found, list):
            problems.append(InputProblem(name, None, f"Results[{index}].Vulnerabilities is not an array"))
            continue
        for v in found:
            line = lines[position][1] if position < len(lines) else None
            if isinstance(v, dict) and isinstance(v.get("VulnerabilityID"), str):
                position += 1
                if line is not None and lines[position - 1][0] != v["VulnerabilityID"]:
                    line = None  # the text is not laid out as Trivy writes it: no line rather than a wrong one
                flat.append(_vulnerability(v, result, line))
            else:
                problems.append(
                    InputProblem(name, None, f"a vulnerability of Results[{index}] has no VulnerabilityID: {v!r:.80}")
                )
    return flat


def _vulnerability_lines(text: str) -> list[tuple[str, int]]:
    return [(m.group(1), text.count("\n", 0, m.start()) + 1) for m in _VULNERABILITY_ID.finditer(text)]


def _vulnerability(v: Mapping[str, Any], result: Mapping[str, Any], line: int | None) -> dict[str, Any]:
    severity = str(v.get("Severity") or "UNKNOWN").upper()
    return {
        "id": v["VulnerabilityID"],
        "package": _str_or_none(v.get("PkgName")),
        "installed": _str_or_none(v.get("InstalledVersion")),
        "fixed": _str_or_none(v.get("FixedVersion")),
        "status": _str_or_none(v.get("Status")),
        "severity": severity if severity in SEVERITIES else "UNKNOWN",
        "cvss": _cvss(v.get("CVSS")),
        "title": _str_or_none(v.get("Title")),
        "target": _str_or_none(result.get("Target")),
        "class": _str_or_none(result.get("Class")),
        "type": _str_or_none(result.get("Type")),
        "line": line,
    }


def _cvss(value: Any) -> float | int | None:
    """Highest CVSS v4/v3 base score over every source; v2 only when no source gives v3 or v4."""
    if not isinstance(value, dict):
        return None
    modern: list[float | int] = []
    legacy: list[float | int] = []
    for source in value.values():
        if not isinstance(source, dict):
            continue
        for key, score in source.items():
            if isinstance(score, (int, float)) and not isinstance(score, bool) and key.endswith("Score"):
                (legacy if key == "V2Score" else modern).append(score)
    scores = modern or legacy
    return max(scores) if scores else None


def _misconfigurations(results: list[Any]) -> dict[str, Any]:
    """Failed misconfiguration checks by severity, and the list of them."""
    failed: list[dict[str, Any]] = []
    successes = 0
    for result in results:
        if not isinstance(result, dict):
            continue
        summary = result.get("MisconfSummary")
        if isinstance(summary, dict) and isinstance(summary.get("Successes"), int):
            successes += summary["Successes"]
        for m in result.get("Misconfigurations") or []:
            if isinstance(m, dict) and m.get("Status", "FAIL") == "FAIL":
                severity = str(m.get("Severity") or "UNKNOWN").upper()
                failed.append(
                    {
                        "id": _str_or_none(m.get("ID")),
                        "avd_id": _str_or_none(m.get("AVDID")),
                        "title": _str_or_none(m.get("Title")),
                        "severity": severity if severity in SEVERITIES else "UNKNOWN",
                        "target": _str_or_none(result.get("Target")),
                    }
                )
    by_severity = {s: sum(1 for f in failed if f["severity"] == s) for s in SEVERITIES}
    return {"failures": len(failed), "successes": successes, "by_severity": by_severity, "failed": failed}
