"""The change as a whole: its workloads, and the ChangeRequest document governance policies judge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollguard.model import Artifact, Finding, Resource, Severity

CHANGE_API_VERSION = "rollguard.io/v1"
CHANGE_KIND = "ChangeRequest"
APPROVAL_ANNOTATION = "rollguard.io/change-approval"
VERSION_LABEL = "app.kubernetes.io/version"
NAME_LABELS = ("app.kubernetes.io/name", "app")

# Kinds that run pods of a version: what a change "rolls out".
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig", "Job", "CronJob"})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pod_template(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template of a workload (a CronJob's through its job template); empty when none."""
    spec = _mapping(doc.get("spec"))
    if doc.get("kind") == "CronJob":
        spec = _mapping(_mapping(spec.get("jobTemplate")).get("spec"))
    return _mapping(spec.get("template"))


def workload_images(doc: Mapping[str, Any]) -> list[str]:
    """The images of a workload's containers (init containers first), without repeats, in order."""
    pod = _mapping(pod_template(doc).get("spec"))
    images: list[str] = []
    for key in ("initContainers", "containers"):
        containers = pod.get(key)
        for c in containers if isinstance(containers, list) else []:
            image = _mapping(c).get("image")
            if isinstance(image, str) and image and image not in images:
                images.append(image)
    return images


def image_tag(image: str) -> str | None:
    """`2.4.1` for `registry:5000/shop/web:2.4.1@sha256:...`; None without a tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]  # a ":" before the last "/" is a registry port
    return (last.split(":", 1)[1] or None) if ":" in last else None


def image_digest(image: str) -> str | None:
    """`sha256:...` of an image pinned by digest, else None."""
    _, at, digest = image.partition("@")
    return digest if at and digest.startswith("sha256:") else None


def _labels(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Pod-template labels overridden by the object's own."""
    return {
        **_mapping(_mapping(pod_template(doc).get("metadata")).get("labels")),
        **_mapping(_mapping(doc.get("metadata")).get("labels")),
    }


def workload_of(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """`{kind, namespace, name, version, images}` of a workload object; None for other kinds.

    The version is the `app.kubernetes.io/version` label, else the tag of the first container image.
    """
    kind = doc.get("kind")
    meta = _mapping(doc.get("metadata"))
    name = meta.get("name")
    if kind not in WORKLOAD_KINDS or not isinstance(name, str) or not name:
        return None
    namespace = meta.get("namespace")
    images = workload_images(doc)
    pod = _mapping(pod_template(doc).get("spec"))
    main = [c.get("image") for c in pod.get("containers") or [] if isinstance(c, Mapping)]
    label = _labels(doc).get(VERSION_LABEL)
    first = next((i for i in main if isinstance(i, str) and i), None)
    version = (
        str(label) if isinstance(label, str | int | float) and str(label) else (image_tag(first) if first else None)
    )
    return {
        "kind": kind,
        "namespace": namespace if isinstance(namespace, str) and namespace else "default",
        "name": name,
        "version": version,
        "images": images,
    }


def workloads_of(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The workloads among `documents`, sorted by kind, namespace and name."""
    found = [w for w in (workload_of(d) for d in documents) if w is not None]
    return sorted(found, key=lambda w: (w["kind"], w["namespace"], w["name"]))


def _service(doc: Mapping[str, Any]) -> str:
    labels = _labels(doc)
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
                "digest": image_digest(image),
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
