"""Releases: the documents of one run that ship together, judged as their own change.

A run over a repository often holds several applications. Cross-object policies (a Service
for a Deployment, a PDB, an HPA, one image everywhere) must compare the objects of one
application, not every object of `default`: the Kubernetes objects of a run are grouped into
releases first, and each release is judged with its own inventory and change set. Artifacts
that are not Kubernetes objects (migrations, pipelines, scans, plans) belong to the change as a
whole: every release sees them, and they are judged once, against the whole change.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollguard.errors import ConfigError
from rollguard.inputs import duplicate_objects
from rollguard.inputs.render import CHART_FILE, KUSTOMIZATION_FILES, rendered_folder
from rollguard.model import Artifact, ChangeSet, Release

RELEASE_LABELS = ("app.kubernetes.io/part-of", "app.kubernetes.io/instance")
# Files that mark the root of a Kustomize base or overlay, or of a Helm chart.
RELEASE_ROOT_FILES = (*KUSTOMIZATION_FILES, CHART_FILE)
RELEASE_BY_HELP = (
    "How documents are grouped into releases, each judged as its own change: auto (the "
    "app.kubernetes.io/part-of or /instance label, else the Kustomize or Helm chart directory, else "
    "the file's directory), directory, label:KEY, or none (the whole run is one change)."
)


def check_release_by(value: str) -> str:
    """`value` when it names a grouping; a ConfigError saying which ones exist when not."""
    if value in ("auto", "directory", "none") or (value.startswith("label:") and value.removeprefix("label:")):
        return value
    raise ConfigError(f"--release-by {value!r}: use auto, directory, label:KEY or none")


def group_releases(artifacts: Iterable[Artifact], by: str) -> tuple[Release, ...]:
    """The releases of the Kubernetes objects among `artifacts`, by `by` (see RELEASE_BY_HELP).

    With `none`, or when every object lands in one group, there is one release holding them all.
    """
    objects = [a for a in artifacts if a.kind == "k8s"]
    if by == "none" or not objects:
        return (Release("the whole change", tuple(objects)),) if objects else ()
    keys = {id(a): _key(a, by) for a in objects}
    if by == "auto":
        _adopt_unlabelled(objects, keys)
    groups: dict[str, list[Artifact]] = {}
    for a in objects:
        groups.setdefault(keys[id(a)], []).append(a)
    if len(groups) == 1:
        [(name, members)] = groups.items()
        return (Release(name, tuple(members)),)
    return tuple(Release(name, tuple(members)) for name, members in sorted(groups.items()))


def _key(artifact: Artifact, by: str) -> str:
    if by.startswith("label:"):
        label = by.removeprefix("label:")
        value = _labels(artifact).get(label)
        return f"label {label}={value}" if isinstance(value, str) and value else f"directory {_directory(artifact)}"
    if by == "auto":
        labels = _labels(artifact)
        for label in RELEASE_LABELS:
            value = labels.get(label)
            if isinstance(value, str) and value:
                return f"label {label.rsplit('/', 1)[-1]}={value}"
        return f"directory {_release_root(_directory(artifact))}"
    return f"directory {_directory(artifact)}"


def _adopt_unlabelled(objects: Sequence[Artifact], keys: dict[int, str]) -> None:
    """An object without release labels joins the labelled release of its directory when all the
    labelled objects there belong to one (a Namespace or Service a chart did not label)."""
    by_directory: dict[str, set[str]] = {}
    for a in objects:
        if keys[id(a)].startswith("label "):
            by_directory.setdefault(_release_root(_directory(a)), set()).add(keys[id(a)])
    for a in objects:
        if not keys[id(a)].startswith("label "):
            labelled = by_directory.get(_release_root(_directory(a)), set())
            if len(labelled) == 1:
                keys[id(a)] = next(iter(labelled))


def _labels(artifact: Artifact) -> Mapping[str, Any]:
    meta = artifact.document.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def _directory(artifact: Artifact) -> str:
    # A rendered kustomization or chart is named after its own folder, not the one holding it.
    return rendered_folder(artifact.file) or os.path.dirname(artifact.file) or "."


@functools.lru_cache(maxsize=1024)
def _release_root(directory: str) -> str:
    """The nearest directory at or above `directory` holding a kustomization or Chart.yaml;
    `directory` itself when there is none (or it is not on disk, as for standard input)."""
    current = os.path.abspath(directory)
    while True:
        if any(os.path.isfile(os.path.join(current, name)) for name in RELEASE_ROOT_FILES):
            return os.path.relpath(current) if not os.path.isabs(directory) else current
        parent = os.path.dirname(current)
        if parent == current:
            return directory
        current = parent


def duplicates_per_release(change: ChangeSet, releases: Sequence[Release]) -> ChangeSet:
    """`change` with objects defined twice reported within a release only.

    Two releases of one repository may define the same object (an overlay per cluster, a
    copy in a release folder): they are never applied together, so only a second definition
    inside one release is an error.
    """
    if len(releases) < 2:
        return change
    whole = set(duplicate_objects(change.artifacts))
    kept = [p for p in change.problems if p not in whole]
    kept += [p for release in releases for p in duplicate_objects(release.artifacts)]
    return ChangeSet(artifacts=change.artifacts, problems=tuple(kept))
