"""Live rollouts: the Deployments and Argo Rollouts of a cluster, their conditions and ReplicaSets,
and how far each is through the duration rollguard's simulation gives it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rollguard.audit.cluster import Cluster
from rollguard.kube.workloads import container_images
from rollguard.model import Artifact, Resource
from rollguard.simulate.change import INPUT_ERRORS, simulate_workload
from rollguard.simulate.fleet import StuckError
from rollguard.simulate.pods import SimulationOptions

ROLLOUT_KINDS = ("Deployment", "Rollout")
# The annotation each controller keeps the revision of a ReplicaSet in.
REVISION = {"Deployment": "deployment.kubernetes.io/revision", "Rollout": "rollout.argoproj.io/revision"}
PAGE_SIZE = 500
State = Literal["complete", "progressing", "paused", "stalled", "degraded"]


@dataclass(frozen=True)
class Condition:
    """A status condition as the controller reports it."""

    type: str
    status: str
    reason: str | None
    message: str | None
    last_update: str | None


@dataclass(frozen=True)
class ReplicaSetView:
    """One ReplicaSet of a rollout: its revision, its pods and what they run."""

    name: str
    revision: int | None
    replicas: int
    ready: int
    available: int
    images: tuple[str, ...]
    created: str | None


@dataclass(frozen=True)
class LiveRollout:
    """A Deployment or Rollout as the cluster has it now, and its progress against the simulation."""

    kind: str
    namespace: str
    name: str
    state: State
    desired: int
    updated: int
    ready: int
    available: int
    conditions: tuple[Condition, ...]
    replica_sets: tuple[ReplicaSetView, ...]  # newest revision first
    started: str | None  # when the newest ReplicaSet was created: the start of the current rollout
    elapsed_seconds: float | None
    simulated_seconds: float | None  # None when the simulation has no bound or could not run
    simulation_note: str | None

    @property
    def progress(self) -> float | None:
        """Elapsed time over the simulated duration (1.0 once complete); None when either is unknown."""
        if self.state == "complete":
            return 1.0
        if self.elapsed_seconds is None or not self.simulated_seconds:
            return None
        return self.elapsed_seconds / self.simulated_seconds

    @property
    def overdue(self) -> bool:
        """Whether an unfinished rollout has run longer than the simulation said it would take."""
        return self.state != "complete" and self.progress is not None and self.progress > 1.0


def read_rollouts(
    cluster: Cluster, *, namespace: str | None, now: dt.datetime, options: SimulationOptions | None = None
) -> tuple[LiveRollout, ...]:
    """Every Deployment and Rollout (in `namespace`, else all), with their ReplicaSets, sorted by namespace and name."""
    options = options or SimulationOptions(timeline=False)
    replica_sets = [
        rs
        for resource in cluster.resources_for("ReplicaSet")
        for rs in cluster.list_objects(resource, namespace=namespace, page_size=PAGE_SIZE)
    ]
    found = []
    for kind in ROLLOUT_KINDS:
        for resource in cluster.resources_for(kind):
            for doc in cluster.list_objects(resource, namespace=namespace, page_size=PAGE_SIZE):
                found.append(live_rollout(doc, kind=kind, replica_sets=replica_sets, now=now, options=options))
    return tuple(sorted(found, key=lambda r: (r.namespace, r.name, r.kind)))


def live_rollout(
    doc: Mapping[str, Any],
    *,
    kind: str,
    replica_sets: Iterable[Mapping[str, Any]],
    now: dt.datetime,
    options: SimulationOptions,
) -> LiveRollout:
    """The view of one Deployment or Rollout object from the API server."""
    meta = _mapping(doc.get("metadata"))
    spec = _mapping(doc.get("spec"))
    status = _mapping(doc.get("status"))
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    uid = meta.get("uid")
    owned = [
        _replica_set(rs, kind)
        for rs in replica_sets
        if any(
            isinstance(ref, Mapping) and ref.get("kind") == kind and (ref.get("uid") == uid or ref.get("name") == name)
            for ref in _mapping(rs.get("metadata")).get("ownerReferences") or ()
        )
        and _mapping(rs.get("metadata")).get("namespace") == namespace
    ]
    owned.sort(key=lambda rs: (rs.revision or 0, rs.name), reverse=True)
    conditions = tuple(_condition(c) for c in status.get("conditions") or () if isinstance(c, Mapping))
    desired = _int(spec.get("replicas"), default=1)
    started = owned[0].created if owned else None
    simulated, note = _simulated(doc, kind=kind, name=name, namespace=namespace, options=options)
    return LiveRollout(
        kind=kind,
        namespace=namespace,
        name=name,
        state=_state(kind, spec, status, meta, conditions, desired),
        desired=desired,
        updated=_int(status.get("updatedReplicas")),
        ready=_int(status.get("readyReplicas")),
        available=_int(status.get("availableReplicas")),
        conditions=conditions,
        replica_sets=tuple(owned),
        started=started,
        elapsed_seconds=_elapsed(started, now),
        simulated_seconds=simulated,
        simulation_note=note,
    )


def _state(
    kind: str,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    meta: Mapping[str, Any],
    conditions: Sequence[Condition],
    desired: int,
) -> State:
    progressing = next((c for c in conditions if c.type == "Progressing"), None)
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return "stalled"
    if kind == "Rollout":
        # Argo Rollouts sums its view up in status.phase.
        match status.get("phase"):
            case "Healthy":
                return "complete"
            case "Paused":
                return "paused"
            case "Degraded":
                return "degraded"
            case "Progressing":
                return "progressing"
    if spec.get("paused") is True:
        return "paused"
    observed = _int(status.get("observedGeneration"))
    current = observed >= _int(meta.get("generation"), default=1)
    replicas = _int(status.get("replicas"))
    updated, available = _int(status.get("updatedReplicas")), _int(status.get("availableReplicas"))
    # What `kubectl rollout status` waits for: every replica updated and available, no old pods left.
    if current and updated >= desired and available >= desired and replicas <= updated:
        return "complete"
    return "progressing"


def _simulated(
    doc: Mapping[str, Any], *, kind: str, name: str, namespace: str, options: SimulationOptions
) -> tuple[float | None, str | None]:
    """The simulated duration of rolling out `doc` as it is specified now, or why there is none."""
    resource = Resource(str(doc.get("apiVersion", "")), kind, namespace, name)
    artifact = Artifact(kind="k8s", document=doc, file=f"cluster:{kind}/{namespace}/{name}", line=0, resource=resource)
    try:
        simulation = simulate_workload(artifact, options=options)
    except (*INPUT_ERRORS, StuckError) as exc:
        return None, f"not simulated: {exc}"
    if simulation.duration_seconds is None:
        reason = simulation.unbounded.reason if simulation.unbounded is not None else "no bound"
        return None, f"no simulated end: {reason}"
    return simulation.duration_seconds, None


def _replica_set(rs: Mapping[str, Any], kind: str) -> ReplicaSetView:
    meta, status = _mapping(rs.get("metadata")), _mapping(rs.get("status"))
    revision = _mapping(meta.get("annotations")).get(REVISION[kind])
    return ReplicaSetView(
        name=str(meta.get("name", "")),
        revision=int(revision) if isinstance(revision, str) and revision.isdigit() else None,
        replicas=_int(status.get("replicas")),
        ready=_int(status.get("readyReplicas")),
        available=_int(status.get("availableReplicas")),
        images=tuple(container_images(rs)),
        created=meta.get("creationTimestamp") if isinstance(meta.get("creationTimestamp"), str) else None,
    )


def _condition(raw: Mapping[str, Any]) -> Condition:
    def text(key: str) -> str | None:
        value = raw.get(key)
        return value if isinstance(value, str) else None

    return Condition(
        type=str(raw.get("type", "")),
        status=str(raw.get("status", "")),
        reason=text("reason"),
        message=text("message"),
        last_update=text("lastUpdateTime") or text("lastTransitionTime"),
    )


def _elapsed(started: str | None, now: dt.datetime) -> float | None:
    if started is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (now - moment).total_seconds())


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any, *, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
