"""Waves that fit the quota: the workloads one dependency wave of `rollguard plan order` may roll
together without a namespace's ResourceQuota refusing their surge pods, and how long each wave takes.

Per namespace with quotas, the room a wave has is what the quota leaves once the running pods
(outside the change) and every workload of the change at rest are counted; a workload rolled in
the wave needs its simulated peak less its pods at rest. Workloads are packed first-fit, the most
demanding first, into as few waves as fit; one that does not fit even alone gets a wave of its own
(k8s.quota_headroom reports it). Namespaces are independent, so their waves run side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollguard.kube.selectors import LabelSelector, SelectorError
from rollguard.model import Artifact, ChangeSet
from rollguard.simulate.change import simulate_change
from rollguard.simulate.pods import PodInputError, SimulationOptions, parse_quantity, pod_resources
from rollguard.simulate.result import Resources, WorkloadSimulation

# Quota keys and what they measure, as k8s.quota_headroom reads them.
MEASURES = {
    "requests.cpu": "requests.cpu",
    "cpu": "requests.cpu",
    "requests.memory": "requests.memory",
    "memory": "requests.memory",
    "limits.cpu": "limits.cpu",
    "limits.memory": "limits.memory",
    "pods": "pods",
    "count/pods": "pods",
}
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Room:
    """What one quota key leaves for surges in a namespace: `quota` name, `key`, the room."""

    quota: str
    key: str
    measure: str
    room: float


@dataclass(frozen=True)
class Wave:
    """Workloads (their ids) rolled together, and why the dependency wave was split, if it was."""

    ids: tuple[str, ...]
    split: str | None = None
    alone: tuple[str, ...] = ()  # ids that do not fit the quota even on their own


def workload_key(a: Artifact) -> tuple[str, str, str]:
    """(namespace, kind, name) of a workload, as the simulation names it."""
    meta = a.document.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return (ns if isinstance(ns, str) and ns else "default", a.resource.kind, a.resource.name)


def simulate_workloads(
    workloads: Sequence[Artifact], change: ChangeSet, options: SimulationOptions, outside: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str, str], WorkloadSimulation]:
    """The simulated rollout of each workload that can be simulated, by (namespace, kind, name)."""
    limit_ranges = tuple(o for o in outside if o.get("kind") == "LimitRange")
    k8s = ChangeSet(artifacts=tuple(a for a in change.artifacts if a.kind == "k8s"))
    report = simulate_change(k8s, options=options, limit_ranges=limit_ranges)
    return {(w.namespace, w.kind, w.name): w for w in report.workloads}


def _usage(resources: tuple[Resources, Resources], measure: str, pods: float) -> float:
    requests, limits = resources
    return {
        "requests.cpu": requests.cpu,
        "requests.memory": float(requests.memory),
        "limits.cpu": limits.cpu,
        "limits.memory": float(limits.memory),
        "pods": 1.0,
    }[measure] * pods


def _rest(w: WorkloadSimulation, measure: str) -> float:
    return _usage((w.pod_requests, w.pod_limits), measure, w.replicas)


def _peak(w: WorkloadSimulation, measure: str) -> float:
    return _usage((w.pod_requests, w.pod_limits), measure, w.peak_pods_with_terminating)


def _pod_usage(pod: Mapping[str, Any], measure: str) -> float:
    """What a running pod counts; one whose quantities cannot be read counts as a pod only (the
    cluster admitted it, so this does not happen with a listing of the cluster)."""
    try:
        requests, limits, _ = pod_resources(pod)
    except PodInputError:
        return 1.0 if measure == "pods" else 0.0
    return _usage((requests, limits), measure, 1)


def surge_need(w: WorkloadSimulation, measure: str) -> float:
    """What the workload needs at the peak of its rollout beyond its pods at rest."""
    return _peak(w, measure) - _rest(w, measure)


def _number(value: Any) -> float | None:
    try:
        return float(parse_quantity(value, "quota"))
    except PodInputError:
        return None


def namespace_rooms(
    change: ChangeSet,
    outside: Sequence[Mapping[str, Any]],
    sims: Mapping[tuple[str, str, str], WorkloadSimulation],
) -> dict[str, list[Room]]:
    """Per namespace, the room of each quota key once the running pods and the change at rest count."""
    objects = [*outside, *(a.document for a in change.artifacts if a.kind == "k8s")]
    rooms: dict[str, list[Room]] = {}
    selectors: dict[str, list[LabelSelector]] = {}
    for a in change.artifacts:
        key = workload_key(a) if a.kind == "k8s" else None
        if key is None or key not in sims:
            continue
        spec = a.document.get("spec")
        try:
            selectors.setdefault(key[0], []).append(
                LabelSelector.parse(
                    (spec or {}).get("selector") if isinstance(spec, Mapping) else None, path="spec.selector"
                )
            )
        except SelectorError:
            continue
    for q in objects:
        if q.get("kind") != "ResourceQuota":
            continue
        meta, spec = q.get("metadata") or {}, q.get("spec") or {}
        if (
            not isinstance(meta, Mapping)
            or not isinstance(spec, Mapping)
            or spec.get("scopes")
            or spec.get("scopeSelector")
        ):
            continue
        ns = meta.get("namespace") or "default"
        running = [
            p
            for p in objects
            if p.get("kind") == "Pod"
            and ((p.get("metadata") or {}).get("namespace") or "default") == ns
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not any(s.matches((p.get("metadata") or {}).get("labels")) for s in selectors.get(ns, ()))
        ]
        rolled = [w for (wns, _, _), w in sims.items() if wns == ns]
        for key, raw in (spec.get("hard") or {}).items():
            measure, hard = MEASURES.get(key), _number(raw)
            if measure is None or hard is None:
                continue
            used = sum(_pod_usage(p, measure) for p in running)
            at_rest = sum(_rest(w, measure) for w in rolled)
            rooms.setdefault(ns, []).append(Room(str(meta.get("name")), key, measure, hard - used - at_rest))
    return rooms


def split_wave(
    ids: Sequence[str],
    keys: Mapping[str, tuple[str, str, str]],
    sims: Mapping[tuple[str, str, str], WorkloadSimulation],
    rooms: Mapping[str, Sequence[Room]],
) -> list[Wave]:
    """One dependency wave as the fewest waves whose surges fit every quota of their namespaces."""

    def extra(wid: str, room: Room) -> float:
        return surge_need(sims[keys[wid]], room.measure)

    def quotas_of(wid: str) -> Sequence[Room]:
        key = keys.get(wid)
        return rooms.get(key[0], ()) if key is not None and key in sims else ()

    def demand(wid: str) -> float:
        return max((extra(wid, r) / r.room if r.room > 0 else float("inf") for r in quotas_of(wid)), default=0.0)

    bins: dict[str, list[tuple[list[str], dict[tuple[str, str], float]]]] = {}
    free: list[str] = []
    alone: set[str] = set()
    for wid in sorted(ids, key=lambda i: (-demand(i), i)):
        own = quotas_of(wid)
        if not own:
            free.append(wid)
            continue
        namespace = keys[wid][0]
        need = {(r.quota, r.key): extra(wid, r) for r in own}
        for members, load in bins.setdefault(namespace, []):
            if all(load[(r.quota, r.key)] + need[(r.quota, r.key)] <= r.room + _TOLERANCE for r in own):
                members.append(wid)
                for k, v in need.items():
                    load[k] += v
                break
        else:
            if not all(need[(r.quota, r.key)] <= r.room + _TOLERANCE for r in own):
                alone.add(wid)
            bins[namespace].append(([wid], dict(need)))
    count = max((len(b) for b in bins.values()), default=0)
    if count <= 1:
        return [Wave(tuple(sorted(ids)), alone=tuple(sorted(alone)))]
    # The quotas the whole wave's surges would overrun: why it was split.
    tight = sorted(
        f"ResourceQuota {ns}/{r.quota} {r.key}"
        for ns, ns_bins in bins.items()
        if len(ns_bins) > 1
        for r in rooms[ns]
        if sum(load[(r.quota, r.key)] for _, load in ns_bins) > r.room + _TOLERANCE
    )
    why = f"split: the surges of the whole wave do not fit {', '.join(tight)}"
    waves = []
    for i in range(count):
        members = [wid for ns_bins in bins.values() if i < len(ns_bins) for wid in ns_bins[i][0]]
        if i == 0:
            members += free
        waves.append(Wave(tuple(sorted(members)), split=why, alone=tuple(sorted(m for m in members if m in alone))))
    return waves
