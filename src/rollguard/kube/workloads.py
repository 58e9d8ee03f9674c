"""Workloads and their pods: the pod template of every kind, its containers and their images."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rollguard.kube.images import ImageRef

# Kinds whose pods are made from `spec.template` (a CronJob's from its job template's).
POD_TEMPLATE_KINDS = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "DeploymentConfig",
        "Rollout",
    }
)
# Kinds that run pods of a version: what a change "rolls out".
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig", "Job", "CronJob"})
# The container lists of a pod spec, in the order the kubelet starts them.
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pod_template(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template (`metadata` and `spec`) of a workload, a CronJob's through its job template.

    A Pod is its own template. Empty when the object has none; any kind with a `spec.template`
    counts, so custom resources built on pod templates are walked too.
    """
    kind = doc.get("kind")
    if kind == "Pod":
        return doc
    spec = _mapping(doc.get("spec"))
    if kind == "CronJob":
        spec = _mapping(_mapping(spec.get("jobTemplate")).get("spec"))
    return _mapping(spec.get("template"))


def pod_spec(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a workload or Pod; empty when none."""
    return _mapping(pod_template(doc).get("spec"))


def pod_labels(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The labels its pods are created with; empty when none."""
    return _mapping(_mapping(pod_template(doc).get("metadata")).get("labels"))


def containers(doc: Mapping[str, Any], fields: Iterable[str] = CONTAINER_FIELDS) -> Iterator[Mapping[str, Any]]:
    """The containers of the listed `fields` of its pod spec, in order; malformed entries are skipped."""
    spec = pod_spec(doc)
    for field in fields:
        listed = spec.get(field)
        for c in listed if isinstance(listed, list) else []:
            if isinstance(c, Mapping):
                yield c


def container_images(doc: Mapping[str, Any], fields: Iterable[str] = CONTAINER_FIELDS) -> list[str]:
    """The images of its containers (init containers first), without repeats, in order."""
    return images_of([doc], fields)


def images_of(documents: Iterable[Mapping[str, Any]], fields: Iterable[str] = CONTAINER_FIELDS) -> list[str]:
    """Every container image the objects run, without repeats, in the order they appear."""
    wanted = tuple(fields)
    found: dict[str, None] = {}
    for doc in documents:
        for c in containers(doc, wanted):
            image = c.get("image")
            if isinstance(image, str) and image:
                found.setdefault(image, None)
    return list(found)


VERSION_LABEL = "app.kubernetes.io/version"


def workload_labels(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Pod-template labels overridden by the object's own."""
    return {**pod_labels(doc), **_mapping(_mapping(doc.get("metadata")).get("labels"))}


def workload_of(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """`{kind, namespace, name, version, images}` of a workload object; None for other kinds.

    The version is the `app.kubernetes.io/version` label, else the tag of the first container
    image; the images are those of its init and regular containers.
    """
    kind = doc.get("kind")
    meta = _mapping(doc.get("metadata"))
    name = meta.get("name")
    if kind not in WORKLOAD_KINDS or not isinstance(name, str) or not name:
        return None
    namespace = meta.get("namespace")
    label = workload_labels(doc).get(VERSION_LABEL)
    first = next(iter(container_images(doc, ("containers",))), None)
    version = (
        str(label)
        if isinstance(label, str | int | float) and str(label)
        else (ImageRef.parse(first).tag if first else None)
    )
    return {
        "kind": kind,
        "namespace": namespace if isinstance(namespace, str) and namespace else "default",
        "name": name,
        "version": version,
        "images": container_images(doc, ("initContainers", "containers")),
    }


def workloads_of(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The workloads among `documents`, sorted by kind, namespace and name."""
    found = [w for w in (workload_of(d) for d in documents) if w is not None]
    return sorted(found, key=lambda w: (w["kind"], w["namespace"], w["name"]))
