"""Workload manifests for the simulation tests, built from the fields each test varies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollguard.model import Artifact, ChangeSet, Resource
from rollguard.simulate import SimulationOptions, SimulationReport, WorkloadSimulation, simulate_change


def pod_template(*, startup: float = 10, grace: int = 30, cpu: str = "100m", memory: str = "128Mi") -> dict[str, Any]:
    """A pod template whose start-up is given by the annotation (so no image pull allowance is added)."""
    return {
        "metadata": {"labels": {"app": "web"}, "annotations": {"rollguard.io/startup-seconds": str(startup)}},
        "spec": {
            "terminationGracePeriodSeconds": grace,
            "containers": [
                {"name": "web", "image": "web:2", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
            ],
        },
    }


def workload(kind: str, spec: Mapping[str, Any], *, name: str = "web", api: str = "apps/v1") -> dict[str, Any]:
    """A workload object of `kind` with `spec`."""
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "shop"}, "spec": dict(spec)}


def deployment(
    replicas: int | None, max_surge: Any = "25%", max_unavailable: Any = "25%", **template: Any
) -> dict[str, Any]:
    """A RollingUpdate Deployment."""
    spec: dict[str, Any] = {
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
        },
        "template": pod_template(**template),
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return workload("Deployment", spec)


def change(*docs: Mapping[str, Any]) -> ChangeSet:
    """These objects as one change, each on its own line of one file."""
    return ChangeSet(
        artifacts=tuple(
            Artifact(
                kind="k8s",
                document=doc,
                file="change.yaml",
                line=1 + i,
                resource=Resource(
                    str(doc.get("apiVersion", "v1")),
                    str(doc["kind"]),
                    doc.get("metadata", {}).get("namespace"),
                    doc["metadata"]["name"],
                ),
            )
            for i, doc in enumerate(docs)
        )
    )


def simulate(*docs: Mapping[str, Any], options: SimulationOptions | None = None) -> SimulationReport:
    """Simulate these objects as one change."""
    return simulate_change(change(*docs), options=options)


def only(*docs: Mapping[str, Any], options: SimulationOptions | None = None) -> WorkloadSimulation:
    """The one workload simulated from these objects; fails on any problem."""
    report = simulate(*docs, options=options)
    assert report.problems == () and report.failures == (), report.problems + report.failures
    assert len(report.workloads) == 1
    return report.workloads[0]
