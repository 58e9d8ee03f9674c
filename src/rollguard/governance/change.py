"""The change as a whole: its workloads, and the ChangeRequest document governance policies judge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollguard.kube.images import ImageRef
from rollguard.kube.workloads import workload_labels, workload_of
from rollguard.model import Artifact, Finding, Resource, Severity

CHANGE_API_VERSION = "rollguard.io/v1"
CHANGE_KIND = "ChangeRequest"
APPROVAL_ANNOTATION = "rollguard.io/change-approval"
NAME_LABELS = ("app.kubernetes.io/name", "app")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _service(doc: Mapping[str, Any]) -> str:
    labels = workload_labels(doc)
    for key in NAME_LABELS:
        value = labels.get(key)
        if isinstance(value, str) and value:
            return value
    return str(_mapping(doc.get("metadata")).get("name"))


def _approval(artifacts: Sequence[Artifact], reference: str | None) -> dict[str, Any] | None:
    """The change's approval reference: `--approval` first, else the first annotated object's."""
    if reference:
        return {"reference": reference, "source": "command line", "file": None, "line": None}
    for a in sorted(artifacts, key=lambda a: (a.file, a.line)):
        value = _mapping(_mapping(a.document.get("metadata")).get("annotations")).get(APPROVAL_ANNOTATION)
        if isinstance(value, str) and value.strip():
            return {
                "reference": value.strip(),
                "source": f"annotation on {a.resource.display()}",
                "file": a.file,
                "line": a.line,
            }
    return None


def _migration(doc: Mapping[str, Any]) -> dict[str, Any]:
    statements = [s for s in doc.get("statements") or [] if isinstance(s, Mapping)]
    return {
        "name": doc.get("file"),
        "phase": doc.get("phase") or "expand",
        "operations": sorted({str(s.get("operation")) for s in statements if s.get("operation")}),
    }


def waived_critical(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Critical findings silenced by an applied waiver: `{policy, resource, waiver}`, sorted."""
    return sorted(
        (
            {"policy": f.policy, "resource": f.resource.display(), "waiver": f.waiver.id}
            for f in findings
            if f.waived and f.severity == Severity.CRITICAL and f.waiver is not None
        ),
        key=lambda w: (w["policy"], w["resource"]),
    )


def change_request(
    *,
    environment: str,
    artifacts: Sequence[Artifact],
    findings: Iterable[Finding],
    approval: str | None,
    file: str,
    line: int,
) -> Artifact:
    """The synthetic ChangeRequest artifact of a change to `environment`, placed at its definition."""
    k8s = [a for a in artifacts if a.kind == "k8s"]
    workloads = []
    for a in sorted(k8s, key=lambda a: (a.file, a.line)):
        w = workload_of(a.document)
        if w is not None:
            workloads.append({**w, "service": _service(a.document), "file": a.file, "line": a.line})
    document = {
        "apiVersion": CHANGE_API_VERSION,
        "kind": CHANGE_KIND,
        "metadata": {"name": environment},
        "environment": environment,
        "workloads": workloads,
        "services": sorted({w["service"] for w in workloads}),
        "images": [
            {
                "image": image,
                "digest": ImageRef.parse(image).sha256,
                "workload": f"{w['kind']} {w['namespace']}/{w['name']}",
                "file": w["file"],
                "line": w["line"],
            }
            for w in workloads
            for image in w["images"]
        ],
        "migrations": [_migration(a.document) for a in artifacts if a.document.get("kind") == "MigrationFile"],
        "approval": _approval(k8s, approval),
        "waived_critical": waived_critical(findings),
    }
    resource = Resource(api_version=CHANGE_API_VERSION, kind=CHANGE_KIND, namespace=None, name=environment)
    return Artifact(kind="change", document=document, file=file, line=line, resource=resource)
