"""The Gatekeeper-compatible input contract: `data.inventory`, `data.rollguard.changeset` and `input.review`.

DESIGN.md describes the contract; the CLI, the webhook, cluster audits and the generated
Gatekeeper templates all build policy input here, so a policy sees the same shapes everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollguard.kube.images import ImageRef
from rollguard.kube.kinds import CLUSTER_SCOPED_KINDS
from rollguard.kube.workloads import WORKLOAD_KINDS, images_of, pod_labels
from rollguard.model import Artifact

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "SELECTOR_FIELDS",
    "build_changeset",
    "build_inventory",
    "review_for",
]

# Kinds that have no namespace (kube.kinds); everything else lands in the namespaced inventory.


# Kinds whose label selectors the inventory indexes, and where their selector is.
SELECTOR_FIELDS = {
    "Service": ("spec", "selector"),
    "PodDisruptionBudget": ("spec", "selector", "matchLabels"),
    "NetworkPolicy": ("spec", "podSelector", "matchLabels"),
}


def build_inventory(documents: Iterable[Mapping[str, Any]], *, index: bool = True) -> dict[str, Any]:
    """Gatekeeper's `data.inventory` layout from the objects of a change.

    With `index`, `rollguard_selectors[ns][kind].by_label[key][value]` lists the objects
    (`[apiVersion, name]`) whose selector requires that one label; selectors without plain
    string pairs go to `unindexed`. Policies use it through `k8s.selector_candidates` to avoid matching every
    workload against every Service, PDB and NetworkPolicy of a namespace.
    """
    namespaced: dict[str, Any] = {}
    cluster: dict[str, Any] = {}
    selectors: dict[str, Any] = {}
    workloads: dict[str, Any] = {"images": {}, "names": {}}
    for doc in documents:
        meta = doc.get("metadata") or {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            continue
        api, kind = doc["apiVersion"], doc["kind"]
        if kind in CLUSTER_SCOPED_KINDS:
            cluster.setdefault(api, {}).setdefault(kind, {})[name] = doc
            continue
        raw_ns = meta.get("namespace")
        ns = raw_ns if isinstance(raw_ns, str) and raw_ns else "default"
        namespaced.setdefault(ns, {}).setdefault(api, {}).setdefault(kind, {})[name] = doc
        if index and kind in SELECTOR_FIELDS:
            entry = selectors.setdefault(ns, {}).setdefault(kind, {"by_label": {}, "unindexed": []})
            pair = _selector_pair(doc, SELECTOR_FIELDS[kind])
            if pair is None:
                entry["unindexed"].append([api, name])
            else:
                entry["by_label"].setdefault(pair[0], {}).setdefault(pair[1], []).append([api, name])
        if index and kind in WORKLOAD_KINDS:
            _index_workload(workloads, doc, [ns, api, kind, name])
    inventory: dict[str, Any] = {"namespace": namespaced, "cluster": cluster}
    if index:
        inventory["rollguard_selectors"] = selectors
        inventory["rollguard_workloads"] = workloads
    return inventory


# Kinds the change-set policies compare across every namespace of a change. Indexed by image
# name and by `app.kubernetes.io/name` (`rollguard_workloads.images[name]`, `.names[value]`:
# `[namespace, apiVersion, kind, name]` lists), so judging one workload does not walk all the
# others: without the index a change of a thousand workloads took twice as long to judge.
def _index_workload(workloads: dict[str, Any], doc: Mapping[str, Any], ref: list[str]) -> None:
    """Add one workload to the image and name index (a superset: policies still compare exactly)."""
    for image in images_of([doc]):
        _add_ref(workloads["images"], ImageRef.parse(image).short_name, ref)
    for labels in (_mapping(doc.get("metadata")).get("labels"), pod_labels(doc)):
        value = labels.get("app.kubernetes.io/name") if isinstance(labels, Mapping) else None
        if isinstance(value, str):
            _add_ref(workloads["names"], value, ref)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _add_ref(index: dict[str, Any], key: str, ref: list[str]) -> None:
    refs = index.setdefault(key, [])
    if not refs or refs[-1] != ref:  # one workload's entries come one after another
        refs.append(ref)


def build_changeset(
    artifacts: Iterable[Artifact], *, simulation: list[Mapping[str, Any]] | None = None
) -> dict[str, list[Mapping[str, Any]]]:
    """`data.rollguard.changeset`: the documents of every non-Kubernetes artifact, by artifact kind.

    Kubernetes objects are in `data.inventory` already; rules that look across a whole change
    (a destructive migration shipped with new pods) read both. `simulation` (when a policy needs
    it) is every workload's simulated rollout (`simulate.policy_input`).
    """
    changeset: dict[str, list[Mapping[str, Any]]] = {}
    for a in artifacts:
        if a.kind != "k8s":
            changeset.setdefault(a.kind, []).append(a.document)
    if simulation is not None:
        changeset["simulation"] = simulation
    return changeset


def _selector_pair(doc: Mapping[str, Any], path: tuple[str, ...]) -> tuple[str, str] | None:
    """The first (key, value) of a non-empty, all-string selector map; None otherwise."""
    node: Any = doc
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or not node:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in node.items()):
        return None
    key = min(node)
    return key, node[key]


def review_for(artifact: Artifact) -> dict[str, Any]:
    """The AdmissionReview-shaped `input.review` the CLI builds for a file (operation CREATE)."""
    doc = artifact.document
    api = doc["apiVersion"]
    group, _, version = api.rpartition("/")
    return {
        "object": doc,
        "oldObject": None,
        "operation": "CREATE",
        "kind": {"group": group, "version": version, "kind": doc["kind"]},
        "namespace": artifact.resource.namespace or ("" if doc["kind"] in CLUSTER_SCOPED_KINDS else "default"),
        "name": artifact.resource.name,
        "userInfo": {"username": "rollguard-cli", "groups": []},
        "dryRun": True,
    }
