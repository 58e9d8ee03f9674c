"""Drift: how the live objects differ from the manifests of a change, as RFC 6902 JSON Patches.

Only what a manifest declares is compared. The live object is projected onto the manifest's
keys first, so fields the API server defaults (and the manifest leaves out) are no drift.
Keys the manifest dropped since the last `kubectl apply` (read from the last-applied
annotation) stay in the projection, so the patch removes them as the next apply would. Lists
of named items (containers, env, volumes) are matched by name like a strategic merge; other
lists belong to the manifest whole. Server-managed fields and the config's `drift.ignore`
pointers are left out of both sides. Each patch turns the projected live object into the
manifest.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rollguard.errors import ClusterError, InputError
from rollguard.model import EXIT_FINDINGS, EXIT_PASS, ChangeSet, Resource

if TYPE_CHECKING:
    from rollguard.audit.cluster import Cluster

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Written by the API server, never by a manifest: never drift, whatever either side says.
SERVER_MANAGED = (
    "/status",
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/uid",
    "/metadata/creationTimestamp",
    "/metadata/generation",
    "/metadata/selfLink",
    "/metadata/annotations/" + LAST_APPLIED.replace("~", "~0").replace("/", "~1"),
)

# Maps of resource quantities, which the server rewrites in canonical form (cpu 0.5 → 500m).
_QUANTITY_MAPS = frozenset({"requests", "limits", "hard", "capacity", "allocatable"})

Status = Literal["in-sync", "drifted", "missing"]


@dataclass(frozen=True)
class ObjectDrift:
    """One manifest object against its live counterpart."""

    resource: Resource
    file: str
    line: int
    status: Status
    patch: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """One entry of the `--format json` document's `objects` list."""
        return {
            "resource": self.resource.to_json(),
            "file": self.file,
            "line": self.line,
            "status": self.status,
            "patch": [dict(op) for op in self.patch] if self.status != "missing" else None,
        }


@dataclass(frozen=True)
class DriftReport:
    """Every compared object of a change; computes the exit code."""

    cluster: str
    objects: tuple[ObjectDrift, ...]

    @property
    def drifted(self) -> tuple[ObjectDrift, ...]:
        """Objects whose live state differs from the manifest, or that do not exist."""
        return tuple(o for o in self.objects if o.status != "in-sync")

    def exit_code(self) -> int:
        """1 when any object drifted or is missing, else 0."""
        return EXIT_FINDINGS if self.drifted else EXIT_PASS

    def summary(self) -> dict[str, int]:
        """Counts by status."""
        counts = {"objects": len(self.objects), "drifted": 0, "missing": 0, "in_sync": 0}
        for o in self.objects:
            counts[o.status.replace("-", "_")] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The `rollguard drift --format json` document."""
        return {
            "version": 1,
            "cluster": self.cluster,
            "summary": self.summary(),
            "objects": [o.to_json() for o in self.objects],
        }

    def render(self, fmt: str) -> str:
        """The report as `json`, else as text: one block per drifted object, then a verdict line."""
        if fmt == "json":
            return json.dumps(self.to_json(), indent=2) + "\n"
        blocks = []
        for o in self.drifted:
            header = f"{o.resource.display()}  ({o.file}:{o.line})"
            if o.status == "missing":
                blocks.append(f"{header}\n  would be created: no such object in the cluster")
            else:
                ops = ",\n".join(f"  {json.dumps(op)}" for op in o.patch)
                blocks.append(f"{header}\n[\n{ops}\n]")
        s = self.summary()
        if self.drifted:
            verdict = f"DRIFT: {len(self.drifted)} of {s['objects']} objects differ from {self.cluster}"
            if s["missing"]:
                verdict += f" ({s['missing']} missing)"
        else:
            verdict = f"NO DRIFT: {s['objects']} objects match {self.cluster}"
        return "\n\n".join([*blocks, verdict]) + "\n"


def load_desired(paths: Sequence[str]) -> ChangeSet:
    """The manifests to compare; unusable input is an InputError naming its file and line."""
    from rollguard.inputs import load_change_set

    change = load_change_set(list(paths))
    if change.problems:
        first = change.problems[0]
        more = len(change.problems) - 1
        suffix = f" (and {more} more input error{'s' if more > 1 else ''})" if more else ""
        raise InputError(first.message + suffix, file=first.file, line=first.line)
    for a in change.artifacts:
        name = (a.document.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise InputError(
                f"{a.resource.kind} has no metadata.name; drift compares named objects only", file=a.file, line=a.line
            )
    if not change.artifacts:
        raise InputError("no Kubernetes objects to compare", file=", ".join(paths))
    return change


def detect_drift(cluster: Cluster, change: ChangeSet, *, ignore: Sequence[str] = ()) -> DriftReport:
    """GET the live object of every manifest in `change` and diff it; `ignore` adds JSON pointers."""
    objects = []
    for a in change.artifacts:
        doc = a.document
        resource = cluster.resource(doc["apiVersion"], doc["kind"])
        if resource is None:
            raise ClusterError(
                f"{a.resource.display()}: the cluster serves no {doc['kind']} in {doc['apiVersion']} ({cluster.name})",
                file=a.file,
                line=a.line,
            )
        # As kubectl: a namespaced object without a namespace goes to the context's namespace.
        namespace = (a.resource.namespace or cluster.namespace or "default") if resource.namespaced else None
        identity = Resource(a.resource.api_version, a.resource.kind, namespace, a.resource.name)
        live = cluster.get(resource, name=a.resource.name, namespace=namespace)
        if live is None:
            objects.append(ObjectDrift(identity, a.file, a.line, "missing"))
            continue
        desired = dict(doc)
        if namespace is not None:  # the namespace kubectl would apply it to
            desired["metadata"] = {**doc["metadata"], "namespace": namespace}
        patch = diff(desired, live, ignore=ignore)
        objects.append(ObjectDrift(identity, a.file, a.line, "drifted" if patch else "in-sync", tuple(patch)))
    return DriftReport(cluster=cluster.name, objects=tuple(objects))


def diff(desired: Mapping[str, Any], live: Mapping[str, Any], *, ignore: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The JSON Patch that turns `live`, projected onto what `desired` declares, into `desired`."""
    import jsonpatch

    applied = _last_applied(live)
    pointers = [_tokens(p) for p in (*SERVER_MANAGED, *ignore)]
    want = copy.deepcopy(dict(desired))
    have = copy.deepcopy(dict(live))
    for tokens in pointers:
        _remove(want, tokens)
        _remove(have, tokens)
        if applied is not None:
            _remove(applied, tokens)
    projected = _project(have, want, applied, key=None)
    return [dict(op) for op in jsonpatch.make_patch(projected, want).patch]


def _last_applied(live: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manifest of the last `kubectl apply`, from its annotation; None when absent or unreadable."""
    annotations = (live.get("metadata") or {}).get("annotations")
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return None
    try:
        applied = json.loads(text)
    except ValueError:
        return None
    return applied if isinstance(applied, dict) else None


def _project(live: Any, desired: Any, applied: Any, *, key: str | None) -> Any:
    """`live` (found under `key`) cut down to the keys `desired` declares, plus those dropped since the last apply."""
    if isinstance(desired, dict) and isinstance(live, dict):
        last = applied if isinstance(applied, dict) else {}
        out = {k: _project(live[k], v, last.get(k), key=k) for k, v in desired.items() if k in live}
        out.update({k: live[k] for k in last if k not in desired and k in live})
        if key in _QUANTITY_MAPS:
            for k, v in desired.items():
                if k in out and out[k] != v and _same_quantity(out[k], v):
                    out[k] = v  # the same amount, written the server's way
        return out
    if isinstance(desired, list) and isinstance(live, list):
        return _project_list(live, desired, applied)
    return live


def _project_list(live: list[Any], desired: list[Any], applied: Any) -> list[Any]:
    last = applied if isinstance(applied, list) else []
    if _named(desired) and _named(live):
        wanted = {item["name"]: item for item in desired}
        last_by_name = {item["name"]: item for item in last} if _named(last) else {}
        # Live order, so the patch's indexes are the live object's while nobody else added
        # items: an item someone else added is not the manifest's and is left out; one the
        # manifest dropped since the last apply is, and the next apply removes it.
        return [
            _project(item, wanted[item["name"]], last_by_name.get(item["name"]), key=None)
            if item["name"] in wanted
            else item
            for item in live
            if item["name"] in wanted or item["name"] in last_by_name
        ]
    out = [
        _project(have, want, last[i] if i < len(last) else None, key=None)
        for i, (have, want) in enumerate(zip(live, desired, strict=False))
    ]
    return out + live[len(desired) :]  # a plain list is the manifest's whole: extra items differ


def _named(items: list[Any]) -> bool:
    """Whether every item is a mapping with a distinct string `name` (a list to merge by name)."""
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return len(names) == len(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _same_quantity(a: Any, b: Any) -> bool:
    import importlib

    # The official client's parser, typed Any: the client is only partly annotated.
    parse_quantity: Any = importlib.import_module("kubernetes.utils.quantity").parse_quantity
    if not isinstance(a, (str, int, float)) or not isinstance(b, (str, int, float)):
        return False
    try:
        return bool(parse_quantity(a) == parse_quantity(b))
    except (ValueError, ArithmeticError):
        return False


def _tokens(pointer: str) -> list[str]:
    """The reference tokens of a JSON Pointer (RFC 6901)."""
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _remove(doc: Any, tokens: Sequence[str]) -> None:
    """Delete what a pointer names, in place; a `*` token matches every key or index."""
    if not tokens:
        return
    head, rest = tokens[0], tokens[1:]
    if isinstance(doc, dict):
        keys = list(doc) if head == "*" else [head] if head in doc else []
        for key in keys:
            if rest:
                _remove(doc[key], rest)
            else:
                del doc[key]
    elif isinstance(doc, list):
        indexes = (
            list(range(len(doc))) if head == "*" else [int(head)] if head.isdigit() and int(head) < len(doc) else []
        )
        for index in reversed(indexes):
            if rest:
                _remove(doc[index], rest)
            else:
                del doc[index]
