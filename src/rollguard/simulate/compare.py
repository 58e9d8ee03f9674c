"""Choosing a strategy: each Deployment and Rollout simulated as rolling (as configured and
1/0), blue-green and a 10/25/50/100 canary, and one recommended with the reason (advice only)."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollguard.model import Artifact, ChangeSet, Resource
from rollguard.simulate.change import (
    INPUT_ERRORS,
    ChangeFacts,
    change_facts,
    limit_range_defaults,
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


@dataclass(frozen=True)
class Limits:
    """What a recommended strategy must fit besides the surge budget: the room the namespace's
    quotas leave for one workload's surge (quota and key → room in its measure), and the rollout
    objectives of rollguard.yaml `slo:` for the environment (`slo_layers`)."""

    rooms: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # namespace → waves.Room
    slo: Sequence[Mapping[str, Any]] = ()


def _glob(pattern: str) -> re.Pattern[str]:
    """A workload pattern of `slo.services`: `*` and `?` do not cross `/`, as in the policy."""
    parts = ("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts))


def objectives_for(slo: Sequence[Mapping[str, Any]], namespace: str, kind: str, name: str) -> dict[str, Any]:
    """Each rollout objective from the last layer that matches the workload and sets it, with the
    config key it came from: what governance.rollout_slo judges."""
    found: dict[str, Any] = {}
    names = (f"{namespace}/{name}", f"{kind}/{name}", name)
    for layer in slo:
        match = layer.get("match")
        if match is not None and not any(_glob(str(match)).fullmatch(n) for n in names):
            continue
        for key, value in (layer.get("objectives") or {}).items():
            found[key] = (value, layer.get("where", "slo"))
    return found


def _misses(c: Candidate, objectives: Mapping[str, Any]) -> str | None:
    """The first rollout objective the candidate misses, said briefly; None when it meets them all."""
    s = c.simulation
    if "max_rollout_minutes" in objectives:
        limit, where = objectives["max_rollout_minutes"]
        if s.duration_seconds is None or s.duration_seconds > limit * 60:
            return f"the {limit:g} min rollout of {where}"
    if "max_rollback_minutes" in objectives:
        limit, where = objectives["max_rollback_minutes"]
        if s.rollback_seconds is None or s.rollback_seconds > limit * 60:
            return f"the {limit:g} min rollback of {where}"
    if "min_capacity_percent" in objectives and s.replicas:
        limit, where = objectives["min_capacity_percent"]
        if 100 * s.min_available / s.replicas < limit:
            return f"the {limit:g}% capacity of {where}"
    return None


def _over_quota(c: Candidate, rooms: Sequence[Any]) -> str | None:
    """The first quota the candidate's surge does not fit; None when it fits them all."""
    from rollguard.simulate.waves import surge_need

    for room in rooms:
        if surge_need(c.simulation, room.measure) > room.room + 1e-6:
            return f"ResourceQuota {c.simulation.namespace}/{room.quota} {room.key}"
    return None


def compare_workload(
    artifact: Artifact,
    *,
    options: SimulationOptions,
    facts: ChangeFacts,
    surge_budget: int,
    limits: Limits | None = None,
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
    limits = limits or Limits()
    first = candidates[0].simulation
    rooms = limits.rooms.get(first.namespace, ())
    objectives = objectives_for(limits.slo, first.namespace, artifact.resource.kind, artifact.resource.name)
    recommended, reason = _recommend(
        candidates,
        surge_budget,
        constraints=[
            ("quota", lambda c: _over_quota(c, rooms)),
            ("objectives", lambda c: _misses(c, objectives)),
        ],
    )
    return Comparison(artifact.resource.display(), tuple(candidates), recommended, reason)


def _recommend(
    candidates: list[Candidate],
    surge_budget: int,
    *,
    constraints: Sequence[tuple[str, Callable[[Candidate], str | None]]] = (),
) -> tuple[str, str]:
    """The candidate that keeps every pod serving and exposes the fewest users before a check, within
    the surge budget, the namespace's quota and the rollout objectives; ties go to the shorter
    rollout. A constraint no candidate meets is said, and the others still choose."""
    replicas = candidates[0].simulation.replicas
    allowed = replicas + math.ceil(replicas * surge_budget / 100)
    bounded = [c for c in candidates if c.simulation.duration_seconds is not None] or candidates
    unmet: list[str] = []
    for _, check in constraints:
        meeting = [c for c in bounded if check(c) is None]
        if meeting:
            dropped = [f"{c.name} misses {check(c)}" for c in bounded if c not in meeting]
            unmet.extend(dropped)
            bounded = meeting
        else:
            unmet.append(f"no candidate fits {check(bounded[0])}")
    within = [c for c in bounded if c.simulation.peak_pods_with_terminating <= allowed]
    pool = [c for c in within if c.simulation.min_available >= replicas] or within
    also = "".join(f"; {u}" for u in unmet)
    if not pool:
        best = min(bounded, key=lambda c: (c.simulation.peak_pods_with_terminating, c.exposed_percent))
        return best.name, (
            f"No candidate stays within the surge budget of {surge_budget}% ({allowed} pods); "
            f"{best.name} needs the fewest pods at the peak ({best.simulation.peak_pods_with_terminating}){also}."
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
        f"pods (surge budget {surge_budget}%: {allowed}){over}{also}."
    )


def _minutes(seconds: float | None) -> str:
    return "an unbounded time" if seconds is None else f"{seconds / 60:.1f} min"


def compare_change(
    change: ChangeSet,
    *,
    options: SimulationOptions,
    surge_budget: int = DEFAULT_SURGE_BUDGET,
    limits: Limits | None = None,
    limit_ranges: tuple[Mapping[str, Any], ...] = (),
) -> tuple[Comparison, ...]:
    """A comparison per Deployment and Rollout of `change` that can be simulated; `limit_ranges` are
    the cluster's, for namespaces without one in the change."""
    k8s = tuple(a for a in change.artifacts if a.kind == "k8s")
    facts = change_facts(k8s, [])
    if limit_ranges:
        facts = dataclasses.replace(facts, limit_ranges={**limit_range_defaults(limit_ranges), **facts.limit_ranges})
    found = []
    for a in k8s:
        if a.resource.kind in COMPARED_KINDS:
            try:
                found.append(
                    compare_workload(a, options=options, facts=facts, surge_budget=surge_budget, limits=limits)
                )
            except (*INPUT_ERRORS, StuckError):
                continue  # the simulation of the workload as configured reports why
    return tuple(found)
