"""A change's workloads simulated: replicas, strategy and pod times read from the files, then played."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rollguard.model import Artifact, ChangeSet, InputProblem
from rollguard.simulate.controllers import (
    Controller,
    DaemonSetRolling,
    DeploymentRecreate,
    DeploymentRolling,
    StatefulSetRolling,
    play,
)
from rollguard.simulate.fenceposts import FencepostError, deployment_max_unavailable, resolve_fenceposts, scaled_value
from rollguard.simulate.fleet import PodTiming, StuckError
from rollguard.simulate.pods import ContainerDefaults, PodInputError, SimulationOptions, pod_resources, pod_times
from rollguard.simulate.result import SimulationReport, Unbounded, WorkloadSimulation
from rollguard.simulate.rollouts import (
    DEFAULT_SCALE_DOWN_DELAY,
    BlueGreenRollout,
    CanaryRollout,
    RolloutInputError,
    analysis_template_seconds,
    canary_steps,
    parse_duration,
)

SIMULATED_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Rollout")
# Larger counts are refused: no real workload has them, and the cost of a simulation grows with them.
MAX_REPLICAS = 10_000
MAX_NODES = 10_000
DEFAULT_NODES = 3


class WorkloadInputError(ValueError):
    """A workload field the simulation cannot use; the message names it and what to write."""


# Errors of a workload's fields: the workload is reported as unusable input, the others go on.
INPUT_ERRORS = (WorkloadInputError, FencepostError, PodInputError, RolloutInputError)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any, what: str, *, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkloadInputError(f"{what}: {value!r} is not a whole number of at least 0")
    if value > most:
        raise WorkloadInputError(f"{what}: {value:,} is more than the {most:,} the simulation accepts")
    return value


@dataclass(frozen=True)
class ChangeFacts:
    """What other objects of the change tell about a workload."""

    hpa_min: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # (namespace, kind, name)
    analysis: Mapping[str, float | None] = field(default_factory=dict)  # template name → seconds
    deployments: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    # namespace → the Container defaults of its LimitRanges, filled into containers that lack them.
    limit_ranges: Mapping[str, ContainerDefaults] = field(default_factory=dict)


def _namespace(doc: Mapping[str, Any]) -> str:
    ns = _mapping(doc.get("metadata")).get("namespace")
    return ns if isinstance(ns, str) and ns else "default"


def limit_range_defaults(limit_ranges: Iterable[Mapping[str, Any]]) -> dict[str, ContainerDefaults]:
    """namespace → the Container defaults of its LimitRanges (a later one fills what earlier ones leave)."""
    found: dict[str, ContainerDefaults] = {}
    for doc in limit_ranges:
        ns, own = _namespace(doc), ContainerDefaults.of(doc)
        if not own:
            continue
        before = found.get(ns)
        found[ns] = (
            own
            if before is None
            else ContainerDefaults(
                {**own.limits, **before.limits}, {**own.requests, **before.requests}, f"{before.source}, {own.source}"
            )
        )
    return found


def change_facts(artifacts: tuple[Artifact, ...], problems: list[InputProblem]) -> ChangeFacts:
    """The HPAs, AnalysisTemplates, Deployments and LimitRanges of the change that workloads refer to."""
    hpa_min: dict[tuple[str, str, str], int] = {}
    analysis: dict[str, float | None] = {}
    deployments: dict[tuple[str, str], Mapping[str, Any]] = {}
    limit_ranges = limit_range_defaults(a.document for a in artifacts if a.resource.kind == "LimitRange")
    for a in artifacts:
        doc, kind = a.document, a.resource.kind
        if kind == "HorizontalPodAutoscaler":
            spec = _mapping(doc.get("spec"))
            target = _mapping(spec.get("scaleTargetRef"))
            low = spec.get("minReplicas", 1)
            if isinstance(low, int) and not isinstance(low, bool) and 0 < low <= MAX_REPLICAS:
                key = (_namespace(doc), str(target.get("kind")), str(target.get("name")))
                hpa_min[key] = low
        elif kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
            try:
                analysis[a.resource.name] = analysis_template_seconds(doc)
            except RolloutInputError as exc:
                problems.append(InputProblem(a.file, a.line, f"{a.resource.display()}: {exc}"))
        elif kind == "Deployment":
            deployments[(_namespace(doc), a.resource.name)] = doc
    return ChangeFacts(hpa_min, analysis, deployments, limit_ranges)


def simulate_change(
    change: ChangeSet,
    *,
    options: SimulationOptions | None = None,
    limit_ranges: tuple[Mapping[str, Any], ...] = (),
) -> SimulationReport:
    """Simulate the rollout of every Deployment, StatefulSet, DaemonSet and Rollout of `change`.

    A workload whose fields cannot be simulated becomes a problem naming its file, line and field;
    the others are still simulated. `limit_ranges` are LimitRanges from outside the change (the
    cluster's): their defaults apply where the change has no LimitRange of its own in a namespace.
    """
    options = options or SimulationOptions()
    problems = list(change.problems)
    k8s = tuple(a for a in change.artifacts if a.kind == "k8s")
    facts = change_facts(k8s, problems)
    if limit_ranges:
        outside = limit_range_defaults(limit_ranges)
        facts = replace(facts, limit_ranges={**outside, **facts.limit_ranges})
    found: list[WorkloadSimulation] = []
    failures: list[InputProblem] = []
    for a in k8s:
        if a.resource.kind not in SIMULATED_KINDS:
            continue
        try:
            found.append(simulate_workload(a, options=options, facts=facts))
        except INPUT_ERRORS as exc:
            problems.append(InputProblem(a.file, a.line, f"{a.resource.display()}: {exc}"))
        except StuckError as exc:
            failures.append(InputProblem(a.file, a.line, f"{a.resource.display()}: simulation failed: {exc}"))
    found.sort(key=lambda w: (w.namespace, w.kind, w.name))
    return SimulationReport(workloads=tuple(found), problems=tuple(problems), failures=tuple(failures))


def simulate_workload(
    artifact: Artifact, *, options: SimulationOptions, facts: ChangeFacts | None = None
) -> WorkloadSimulation:
    """The simulated rollout of one workload object."""
    facts = facts or ChangeFacts()
    doc = artifact.document
    kind, name, namespace = artifact.resource.kind, artifact.resource.name, _namespace(doc)
    spec = _mapping(doc.get("spec"))
    estimates: list[str] = []
    if kind == "Rollout" and "workloadRef" in spec:
        doc = with_referenced_template(doc, namespace, facts)
        spec = _mapping(doc.get("spec"))
    nodes: int | None = None
    if kind == "DaemonSet":
        if options.nodes is None:
            estimates.append(f"{DEFAULT_NODES} nodes assumed (pass --nodes)")
        nodes = _count(options.nodes if options.nodes is not None else DEFAULT_NODES, "--nodes", most=MAX_NODES)
        replicas = nodes
    else:
        replicas = _replicas(spec, (namespace, kind, name), facts, estimates)
    times, timing_notes = pod_times(doc, kind=kind, namespace=namespace, name=name, options=options)
    estimates.extend(timing_notes)
    requests, limits, resource_notes = pod_resources(doc, facts.limit_ranges.get(namespace))
    estimates.extend(resource_notes)
    cold = PodTiming(times.startup, times.min_ready, times.termination)
    cached = PodTiming(times.startup - times.image_pull, times.min_ready, times.termination)
    strategy, surge, unavailable, make = _builder(kind, spec, replicas, facts, estimates)
    version, most, timeline = _new_version(kind, spec), options.max_instants, options.timeline
    outcome = play(make((cold, cold), False), new_version=version, max_instants=most, timeline=timeline)
    # Rolling back runs the previous version, whose image the nodes already hold.
    back = play(make((cached, cold), True), new_version=version, max_instants=most, timeline=timeline)
    unbounded = outcome.unbounded or _manual(kind, spec)
    fleet = outcome.fleet
    return WorkloadSimulation(
        kind=kind,
        namespace=namespace,
        name=name,
        file=artifact.file,
        line=artifact.line,
        strategy=strategy,
        replicas=replicas,
        max_surge=surge,
        max_unavailable=unavailable,
        peak_pods=fleet.peak_counted,
        peak_pods_with_terminating=fleet.peak_present,
        min_available=fleet.min_available if fleet.min_available is not None else 0,
        rounds=outcome.rounds,
        duration_seconds=None if unbounded else _seconds(outcome.complete_at),
        settled_seconds=None if unbounded else _seconds(outcome.settled_at),
        rollback_seconds=None if back.unbounded or _manual(kind, spec) else _seconds(back.complete_at),
        pod_seconds=times,
        pod_requests=requests,
        pod_limits=limits,
        peak_requests=requests.times(fleet.peak_present),
        peak_limits=limits.times(fleet.peak_present),
        unbounded=unbounded,
        nodes=nodes,
        estimates=tuple(estimates),
        timeline=tuple(fleet.timeline),
    )


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _new_version(kind: str, spec: Mapping[str, Any]) -> str:
    if kind != "Rollout":
        return "new"
    return "preview" if "blueGreen" in _mapping(spec.get("strategy")) else "canary"


def _manual(kind: str, spec: Mapping[str, Any]) -> Unbounded | None:
    """Why a workload's rollout waits for a person before it starts: a paused Deployment, OnDelete."""
    if kind in ("Deployment", "Rollout") and spec.get("paused") is True:
        return Unbounded("spec.paused is true: the rollout starts only when it is resumed")
    if kind in ("StatefulSet", "DaemonSet") and _mapping(spec.get("updateStrategy")).get("type") == "OnDelete":
        return Unbounded("updateStrategy OnDelete: pods change only when someone deletes them (played as all at once)")
    return None


def _replicas(spec: Mapping[str, Any], key: tuple[str, str, str], facts: ChangeFacts, estimates: list[str]) -> int:
    hpa = facts.hpa_min.get(key)
    if "replicas" in spec and spec["replicas"] is not None:
        replicas = _count(spec["replicas"], "spec.replicas", most=MAX_REPLICAS)
        if hpa is not None:
            estimates.append(f"replicas {replicas} from spec.replicas; the HPA may have scaled it (minReplicas {hpa})")
        return replicas
    if hpa is not None:
        estimates.append(f"replicas {hpa}: the HPA's minReplicas (spec.replicas is not set)")
        return hpa
    return 1


def with_referenced_template(doc: Mapping[str, Any], namespace: str, facts: ChangeFacts) -> Mapping[str, Any]:
    """A Rollout with `workloadRef`, given the pod template of the Deployment it names."""
    spec = _mapping(doc.get("spec"))
    ref = _mapping(spec.get("workloadRef"))
    target = facts.deployments.get((namespace, str(ref.get("name"))))
    if target is None:
        raise WorkloadInputError(
            f"spec.workloadRef names Deployment {ref.get('name')!r}, which is not in the change; pass its manifest too"
        )
    template = _mapping(target.get("spec")).get("template")
    return {**doc, "spec": {**spec, "template": template}}


Make = Callable[[tuple[PodTiming, PodTiming], bool], Controller]


def _builder(
    kind: str, spec: Mapping[str, Any], replicas: int, facts: ChangeFacts, estimates: list[str]
) -> tuple[str, int, int, Make]:
    """(strategy, max surge, max unavailable, make) where `make(timing, rollback)` builds the controller."""
    match kind:
        case "Deployment":
            return _deployment(spec, replicas)
        case "StatefulSet":
            return _stateful_set(spec, replicas, estimates)
        case "DaemonSet":
            return _daemon_set(spec, replicas)
        case _:
            return _rollout(spec, replicas, facts, estimates)


def _deployment(spec: Mapping[str, Any], replicas: int) -> tuple[str, int, int, Make]:
    strategy = _mapping(spec.get("strategy"))
    if strategy.get("type") == "Recreate":
        return "Recreate", 0, replicas, lambda timing, _back: DeploymentRecreate(replicas=replicas, timing=timing)
    rolling = _mapping(strategy.get("rollingUpdate"))
    raw_surge, raw_unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")
    try:
        surge, _ = resolve_fenceposts(raw_surge, raw_unavailable, replicas)
        unavailable = deployment_max_unavailable(raw_surge, raw_unavailable, replicas)
    except FencepostError as exc:
        raise WorkloadInputError(f"spec.strategy.rollingUpdate: {exc}") from None

    def make(timing: tuple[PodTiming, PodTiming], _back: bool) -> Controller:
        return DeploymentRolling(replicas=replicas, max_surge=surge, max_unavailable=unavailable, timing=timing)

    return "RollingUpdate", surge, unavailable, make


def _stateful_set(spec: Mapping[str, Any], replicas: int, estimates: list[str]) -> tuple[str, int, int, Make]:
    update = _mapping(spec.get("updateStrategy"))
    rolling = _mapping(update.get("rollingUpdate"))
    partition = min(
        _count(rolling.get("partition", 0), "spec.updateStrategy.rollingUpdate.partition", most=2**31), replicas
    )
    if "maxUnavailable" in rolling:
        estimates.append(
            "rollingUpdate.maxUnavailable is honoured only where the MaxUnavailableStatefulSet feature is on"
        )
    try:
        unavailable = max(1, scaled_value(rolling.get("maxUnavailable", 1), replicas, round_up=True))
    except FencepostError as exc:
        raise WorkloadInputError(f"spec.updateStrategy.rollingUpdate.maxUnavailable: {exc}") from None
    name = "OnDelete" if update.get("type") == "OnDelete" else "RollingUpdate"

    def make(timing: tuple[PodTiming, PodTiming], _back: bool) -> Controller:
        return StatefulSetRolling(replicas=replicas, partition=partition, max_unavailable=unavailable, timing=timing)

    return name, 0, unavailable, make


def _daemon_set(spec: Mapping[str, Any], nodes: int) -> tuple[str, int, int, Make]:
    update = _mapping(spec.get("updateStrategy"))
    rolling = _mapping(update.get("rollingUpdate"))
    try:
        surge = scaled_value(rolling.get("maxSurge", 0), nodes, round_up=True)
        unavailable = scaled_value(rolling.get("maxUnavailable", 1), nodes, round_up=True)
    except FencepostError as exc:
        raise WorkloadInputError(f"spec.updateStrategy.rollingUpdate: {exc}") from None
    if surge == 0 and unavailable == 0 and nodes > 0:
        raise WorkloadInputError(
            "spec.updateStrategy.rollingUpdate: maxSurge and maxUnavailable are both 0, which the API server "
            "refuses; set one of them"
        )
    name = "OnDelete" if update.get("type") == "OnDelete" else "RollingUpdate"

    def make(timing: tuple[PodTiming, PodTiming], _back: bool) -> Controller:
        return DaemonSetRolling(nodes=nodes, max_surge=surge, max_unavailable=unavailable, timing=timing)

    return name, surge, unavailable, make


def _rollout(
    spec: Mapping[str, Any], replicas: int, facts: ChangeFacts, estimates: list[str]
) -> tuple[str, int, int, Make]:
    strategy = _mapping(spec.get("strategy"))
    fast_back = "rollbackWindow" in spec
    if "blueGreen" in strategy:
        blue = _mapping(strategy["blueGreen"])
        preview = blue.get("previewReplicaCount", replicas)
        preview = _count(preview, "spec.strategy.blueGreen.previewReplicaCount", most=MAX_REPLICAS)
        auto = blue.get("autoPromotionEnabled", True) is not False
        auto_seconds = (
            float(_count(blue["autoPromotionSeconds"], "spec.strategy.blueGreen.autoPromotionSeconds", most=2**31))
            if "autoPromotionSeconds" in blue
            else None
        )
        delay = (
            float(_count(blue["scaleDownDelaySeconds"], "spec.strategy.blueGreen.scaleDownDelaySeconds", most=2**31))
            if "scaleDownDelaySeconds" in blue
            else DEFAULT_SCALE_DOWN_DELAY
        )
        pre = _promotion_analysis(blue.get("prePromotionAnalysis"), "prePromotionAnalysis", facts, estimates)
        post = _promotion_analysis(blue.get("postPromotionAnalysis"), "postPromotionAnalysis", facts, estimates)

        def make_blue(timing: tuple[PodTiming, PodTiming], back: bool) -> Controller:
            return BlueGreenRollout(
                replicas=replicas,
                preview_replicas=replicas if back else preview,
                auto_promotion=auto or back,
                auto_promotion_seconds=None if back else auto_seconds,
                pre_promotion_seconds=0.0 if back else pre,
                post_promotion_seconds=0.0 if back else post,
                scale_down_delay=delay,
                timing=timing,
            )

        return "blueGreen", preview, 0, make_blue
    canary = _mapping(strategy.get("canary"))
    raw_surge, raw_unavailable = canary.get("maxSurge", "25%"), canary.get("maxUnavailable", "25%")
    try:
        surge, unavailable = resolve_fenceposts(raw_surge, raw_unavailable, replicas)
    except FencepostError as exc:
        raise WorkloadInputError(f"spec.strategy.canary: {exc}") from None
    unavailable = min(unavailable, replicas)
    steps, notes = canary_steps(canary.get("steps"), replicas=replicas, templates=facts.analysis)
    estimates.extend(notes)
    if steps and not canary.get("trafficRouting"):
        estimates.append("canary replica counts follow the Deployment controller's surge and unavailable rules")
    delay = (
        parse_duration(canary["scaleDownDelaySeconds"], "spec.strategy.canary.scaleDownDelaySeconds")
        if "scaleDownDelaySeconds" in canary
        else DEFAULT_SCALE_DOWN_DELAY
    )

    def make_canary(timing: tuple[PodTiming, PodTiming], back: bool) -> Controller:
        return CanaryRollout(
            replicas=replicas,
            max_surge=surge,
            max_unavailable=unavailable,
            steps=[] if back and fast_back else steps,
            traffic_routing=bool(canary.get("trafficRouting")),
            scale_down_delay=delay,
            timing=timing,
        )

    return "canary", surge, unavailable, make_canary


def _promotion_analysis(raw: Any, field_name: str, facts: ChangeFacts, estimates: list[str]) -> float | None:
    if not isinstance(raw, Mapping):
        return 0.0
    names = [t.get("templateName") for t in raw.get("templates") or [] if isinstance(t, Mapping)]
    known = [facts.analysis[n] for n in names if isinstance(n, str) and n in facts.analysis]
    if len(known) < len(names):
        estimates.append(f"spec.strategy.blueGreen.{field_name}: templates not in the change; counted as 0 s")
    if any(k is None for k in known):
        return None
    return max((k for k in known if k is not None), default=0.0)


def policy_simulation(
    artifacts: Iterable[Artifact],
    *,
    options: SimulationOptions,
    limit_ranges: tuple[Mapping[str, Any], ...] = (),
) -> list[Mapping[str, Any]]:
    """The simulated rollout of every workload among `artifacts`, as policies read it
    (`data.rollguard.changeset.simulation`, and the reviewed workload's as `input.simulation`).

    The JSON of `rollguard simulate` without the timeline, which no policy reads and which grows
    with the replicas; one entry per namespace, kind and name. A workload that cannot be simulated
    (a field the model cannot read, a rollout that never ends, more steps than `options` allow)
    has an entry of its namespace, kind, name and `not_simulated`: why. The policies that need the
    simulation report it as not judged where they would have judged it, never as a pass.
    `limit_ranges` are LimitRanges from outside the change (the cluster's) for the others.
    """
    k8s = tuple(a for a in artifacts if a.kind == "k8s")
    report = simulate_change(
        ChangeSet(artifacts=k8s), options=replace(options, timeline=False), limit_ranges=limit_ranges
    )
    found: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for w in report.workloads:
        # The same object twice is an input problem of its own; the later one replaces the first,
        # as in the inventory.
        found[(w.namespace, w.kind, w.name)] = {k: v for k, v in w.to_json().items() if k != "timeline"}
    reasons = {(p.file, p.line): p.message for p in (*report.problems, *report.failures)}
    for a in k8s:
        key = (_namespace(a.document), a.resource.kind, a.resource.name)
        if a.resource.kind in SIMULATED_KINDS and key not in found:
            reason = reasons.get((a.file, a.line), "it could not be simulated")
            found[key] = {
                "namespace": key[0],
                "kind": key[1],
                "name": key[2],
                "not_simulated": reason.removeprefix(f"{a.resource.display()}: "),
            }
    return list(found.values())


def policy_input(
    artifacts: Iterable[Artifact],
    *,
    options: SimulationOptions,
    limit_ranges: tuple[Mapping[str, Any], ...] = (),
) -> list[Mapping[str, Any]]:
    """The simulated workloads of `policy_simulation`, those that could not be simulated left out."""
    entries = policy_simulation(artifacts, options=options, limit_ranges=limit_ranges)
    return [e for e in entries if "not_simulated" not in e]
