"""Choosing a strategy: each Deployment and Rollout simulated as rolling (as configured and
1/0), blue-green and a 10/25/50/100 canary, and one recommended with the reason (advice only)."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from rollguard.model import Artifact, ChangeSet, Resource
from rollguard.simulate.change import (
    INPUT_ERRORS,
    ChangeFacts,
    change_facts,
    simulate_workload,
    with_referenced_template,
)
from rollguard.simulate.fleet import StuckError
from rollguard.simulate.pods import SimulationOptions
from rollguard.simulate.result import Candidate, Comparison, WorkloadSimulation

# How long a check (an analysis, a look at the dashboards) takes before a rollout goes on: assumed.
CHECK_SECONDS = 300
CANARY_WEIGHTS = (10, 25, 50, 100)
DEFAULT_SURGE_BUDGET = 50  # percent of the replicas a candidate may add at the peak
COMPARED_KINDS = ("Deployment", "Rollout")


def _rollout(doc: Mapping[str, Any], strategy: dict[str, Any]) -> dict[str, Any]:
    spec = {k: v for k, v in dict(doc.get("spec") or {}).items() if k not in ("strategy", "paused")}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": copy.deepcopy(dict(doc.get("metadata") or {})),
        "spec": {**spec, "strategy": strategy},
    }


def _rolling(doc: Mapping[str, Any], *, surge: Any, unavailable: Any) -> dict[str, Any]:
    spec = {k: v for k, v in dict(doc.get("spec") or {}).items() if k not in ("strategy", "workloadRef", "paused")}
    spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(doc.get("metadata") or {}), "spec": spec}


def _variants(doc: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    canary_steps: list[dict[str, Any]] = []
    for weight in CANARY_WEIGHTS:
        canary_steps.append({"setWeight": weight})
        if weight < 100:
            canary_steps.append({"pause": {"duration": CHECK_SECONDS}})
    return [
        ("as configured", {"apiVersion": "", **doc}),
        ("rolling 1/0", _rolling(doc, surge=1, unavailable=0)),
        (
            "blue-green",
            _rollout(doc, {"blueGreen": {"activeService": "active", "autoPromotionSeconds": CHECK_SECONDS}}),
        ),
        # maxUnavailable 0: a canary is chosen to protect users, so it keeps every pod serving.
        (
            "canary 10/25/50/100",
            _rollout(doc, {"canary": {"maxSurge": "25%", "maxUnavailable": 0, "steps": canary_steps}}),
        ),
    ]


def _exposed(w: WorkloadSimulation) -> float:
    """The share of users the new version serves before the first check (a pause, an analysis, a
    promotion that waits): all of them when nothing checks before every pod is new."""
    for e in w.timeline:
        if w.strategy == "canary" and e.event.startswith("step ") and ("pause" in e.event or "analysis" in e.event):
            return round(100 * e.by_version.get("canary", 0) / w.replicas, 1) if w.replicas else 0.0
        if w.strategy == "blueGreen" and any(word in e.event for word in _WAITING_PROMOTION):
            return 0.0  # the preview serves no users until the promotion
    return 100.0


_WAITING_PROMOTION = ("pre-promotion analysis", "autoPromotionSeconds", "autoPromotionEnabled is false")


def compare_workload(
    artifact: Artifact, *, options: SimulationOptions, facts: ChangeFacts, surge_budget: int
) -> Comparison:
    """The candidates of one workload and the recommended one."""
    candidates = []
    document = artifact.document
    if "workloadRef" in (document.get("spec") or {}):
        document = with_referenced_template(document, artifact.resource.namespace or "default", facts)
    for name, doc in _variants(document):
        identity = Resource(doc["apiVersion"], doc["kind"], artifact.resource.namespace, artifact.resource.name)
        variant = Artifact(artifact.kind, doc, artifact.file, artifact.line, identity)
        simulation = simulate_workload(variant, options=options, facts=facts)
        candidates.append(Candidate(name, simulation, _exposed(simulation)))
    recommended, reason = _recommend(candidates, surge_budget)
    return Comparison(artifact.resource.display(), tuple(candidates), recommended, reason)


def _recommend(candidates: list[Candidate], surge_budget: int) -> tuple[str, str]:
    """The candidate that keeps every pod serving and exposes the fewest users before a check, within
    the surge budget; ties go to the shorter rollout."""
    replicas = candidates[0].simulation.replicas
    allowed = replicas + math.ceil(replicas * surge_budget / 100)
    bounded = [c for c in candidates if c.simulation.duration_seconds is not None] or candidates
    within = [c for c in bounded if c.simulation.peak_pods_with_terminating <= allowed]
    pool = [c for c in within if c.simulation.min_available >= replicas] or within
    if not pool:
        best = min(bounded, key=lambda c: (c.simulation.peak_pods_with_terminating, c.exposed_percent))
        return best.name, (
            f"No candidate stays within the surge budget of {surge_budget}% ({allowed} pods); "
            f"{best.name} needs the fewest pods at the peak ({best.simulation.peak_pods_with_terminating})."
        )
    best = min(pool, key=lambda c: (c.exposed_percent, c.simulation.duration_seconds or 0.0))
    kept = "keeps every pod serving, " if best.simulation.min_available >= replicas else "drops capacity, but "
    left_out = [c for c in bounded if c not in within]
    over = (
        f"; {', '.join(c.name for c in left_out)} would need more than {allowed} pods at the peak" if left_out else ""
    )
    return best.name, (
        f"It {kept}exposes {best.exposed_percent:g}% of users before the first check and finishes in "
        f"{_minutes(best.simulation.duration_seconds)} with at most {best.simulation.peak_pods_with_terminating} "
        f"pods (surge budget {surge_budget}%: {allowed}){over}."
    )


def _minutes(seconds: float | None) -> str:
    return "an unbounded time" if seconds is None else f"{seconds / 60:.1f} min"


def compare_change(
    change: ChangeSet, *, options: SimulationOptions, surge_budget: int = DEFAULT_SURGE_BUDGET
) -> tuple[Comparison, ...]:
    """A comparison per Deployment and Rollout of `change` that can be simulated."""
    k8s = tuple(a for a in change.artifacts if a.kind == "k8s")
    facts = change_facts(k8s, [])
    found = []
    for a in k8s:
        if a.resource.kind in COMPARED_KINDS:
            try:
                found.append(compare_workload(a, options=options, facts=facts, surge_budget=surge_budget))
            except (*INPUT_ERRORS, StuckError):
                continue  # the simulation of the workload as configured reports why
    return tuple(found)
