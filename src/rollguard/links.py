"""Links between the artifacts of one change: which scan report covers which image of which workload."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollguard.kube.images import ImageRef
from rollguard.kube.workloads import images_of
from rollguard.model import Artifact, Link


def _covers(scan: Mapping[str, Any], reference: str) -> bool:
    """Whether the scanned image is the deployed one: same digest when pinned, else same name and tag."""
    ref = ImageRef.parse(reference)
    raw = scan.get("digests")
    digests: list[Any] = raw if isinstance(raw, list) else []
    if ref.digest is not None:
        return ref.digest in digests
    return bool(ref.name == scan.get("name") and ref.effective_tag == (scan.get("tag") or "latest"))


def artifact_links(artifacts: Iterable[Artifact]) -> tuple[Link, ...]:
    """A link from each scan report to every workload of the change that runs the scanned image."""
    items = list(artifacts)
    scans: list[tuple[Artifact, Mapping[str, Any]]] = []
    for a in items:
        image = a.document.get("image")
        if a.kind == "scan" and isinstance(image, dict):
            scans.append((a, image))
    if not scans:
        return ()
    links = []
    for workload in (a for a in items if a.kind == "k8s"):
        for reference in images_of([workload.document]):
            for scan, image in scans:
                if _covers(image, reference):
                    where = f"{workload.resource.display()} ({workload.file}:{workload.line})"
                    links.append(Link(source=scan.file, relation=f"scans {reference}", target=where))
    return tuple(sorted(set(links), key=lambda link: (link.source, link.target, link.relation)))
