"""What a simulated rollout gives: per workload its sizes, times, resources and timeline (docs/simulation.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollguard.model import InputProblem

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Resources:
    """CPU in cores and memory in bytes."""

    cpu: float = 0.0
    memory: int = 0

    def times(self, count: int) -> Resources:
        """These resources `count` times over."""
        return Resources(round(self.cpu * count, 6), self.memory * count)

    def to_json(self) -> dict[str, Any]:
        """`{cpu, memory}` of the JSON output."""
        return {"cpu": self.cpu, "memory": self.memory}


@dataclass(frozen=True)
class TimelineEvent:
    """What the controller (or a pod) did at `t` seconds, with the pod counts right after it.

    `total` counts the pods the controller counts (terminating ones left out), `terminating`
    the pods on their way out, which still hold node and quota capacity.
    """

    t: float
    event: str
    ready: int
    available: int
    total: int
    terminating: int
    by_version: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """An entry of a workload's `timeline`."""
        return {
            "t": self.t,
            "event": self.event,
            "ready": self.ready,
            "available": self.available,
            "total": self.total,
            "terminating": self.terminating,
            "pods": dict(self.by_version),
        }


@dataclass(frozen=True)
class PodTimes:
    """The seconds one pod takes: to Ready (image pull included), then minReadySeconds, and to go."""

    startup: float
    min_ready: float
    termination: float
    image_pull: float

    def to_json(self) -> dict[str, Any]:
        """The `pod_seconds` object of the JSON output."""
        return {
            "startup": self.startup,
            "min_ready": self.min_ready,
            "termination": self.termination,
            "image_pull": self.image_pull,
        }


@dataclass(frozen=True)
class Unbounded:
    """Why a rollout has no end the files can tell: a pause without duration, a manual promotion."""

    reason: str
    step: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The `unbounded` object of the JSON output."""
        return {"reason": self.reason, "step": self.step}


@dataclass(frozen=True)
class WorkloadSimulation:
    """The simulated rollout of one workload."""

    kind: str
    namespace: str
    name: str
    file: str
    line: int
    strategy: str
    replicas: int
    max_surge: int
    max_unavailable: int
    peak_pods: int
    peak_pods_with_terminating: int
    min_available: int
    rounds: int
    duration_seconds: float | None
    settled_seconds: float | None
    rollback_seconds: float | None
    pod_seconds: PodTimes
    pod_requests: Resources
    pod_limits: Resources
    peak_requests: Resources
    peak_limits: Resources
    unbounded: Unbounded | None = None
    nodes: int | None = None
    estimates: tuple[str, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()

    def display(self) -> str:
        """`Kind namespace/name`."""
        return f"{self.kind} {self.namespace}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        """An entry of the JSON output's `workloads` (docs/simulation.md)."""
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "strategy": self.strategy,
            "replicas": self.replicas,
            "nodes": self.nodes,
            "max_surge": self.max_surge,
            "max_unavailable": self.max_unavailable,
            "peak_pods": self.peak_pods,
            "peak_pods_with_terminating": self.peak_pods_with_terminating,
            "min_available": self.min_available,
            "rounds": self.rounds,
            "duration_seconds": self.duration_seconds,
            "settled_seconds": self.settled_seconds,
            "rollback_seconds": self.rollback_seconds,
            "unbounded": self.unbounded.to_json() if self.unbounded else None,
            "pod_seconds": self.pod_seconds.to_json(),
            "pod_requests": self.pod_requests.to_json(),
            "pod_limits": self.pod_limits.to_json(),
            "peak_requests": self.peak_requests.to_json(),
            "peak_limits": self.peak_limits.to_json(),
            "estimates": list(self.estimates),
            "timeline": [e.to_json() for e in self.timeline],
        }


@dataclass(frozen=True)
class Candidate:
    """One way to roll a workload out, simulated: `exposed_percent` is the share of users the new
    version serves before the first check can stop it."""

    name: str
    simulation: WorkloadSimulation
    exposed_percent: float

    def to_json(self) -> dict[str, Any]:
        """An entry of a comparison's `candidates`."""
        s = self.simulation
        return {
            "name": self.name,
            "exposed_percent": self.exposed_percent,
            "peak_pods": s.peak_pods,
            "peak_pods_with_terminating": s.peak_pods_with_terminating,
            "min_available": s.min_available,
            "peak_requests": s.peak_requests.to_json(),
            "peak_limits": s.peak_limits.to_json(),
            "duration_seconds": s.duration_seconds,
            "rollback_seconds": s.rollback_seconds,
        }


@dataclass(frozen=True)
class Comparison:
    """The strategies a workload could roll out with, and the one recommended (advice, never a finding)."""

    workload: str
    candidates: tuple[Candidate, ...]
    recommended: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """An entry of the JSON output's `comparisons`."""
        return {
            "workload": self.workload,
            "candidates": [c.to_json() for c in self.candidates],
            "recommended": self.recommended,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SimulationReport:
    """Every simulated workload of a change, the inputs that could not be simulated (`problems`),
    and the workloads the model itself could not play to the end (`failures`, a fault of the model)."""

    workloads: tuple[WorkloadSimulation, ...]
    problems: tuple[InputProblem, ...] = ()
    failures: tuple[InputProblem, ...] = ()
    comparisons: tuple[Comparison, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The whole JSON output of `rollguard simulate`."""
        return {
            "version": SCHEMA_VERSION,
            "workloads": [w.to_json() for w in self.workloads],
            "errors": [p.to_json() for p in self.problems],
            "failures": [p.to_json() for p in self.failures],
            "comparisons": [c.to_json() for c in self.comparisons],
        }
