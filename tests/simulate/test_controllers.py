"""Rollouts played step by step: the Kubernetes documentation's examples, Recreate, StatefulSet
partitions, DaemonSets with and without surge, and Argo Rollouts' canary steps and blue-green."""

from __future__ import annotations

from typing import Any

import pytest

from rollguard.simulate import SimulationOptions, Unbounded, WorkloadSimulation

from .manifests import deployment, only, pod_template, simulate, workload


def states(w: WorkloadSimulation, event: str) -> list[tuple[float, dict[str, int]]]:
    return [(e.t, dict(e.by_version)) for e in w.timeline if e.event == event]


def test_the_documentation_example_ten_replicas_25_percent() -> None:
    # kubernetes.io, Deployments: 10 replicas, maxSurge 25% (3) and maxUnavailable 25% (2): at most
    # 13 pods, at least 8 available. Pods are Ready 10 s after creation.
    w = only(deployment(10, "25%", "25%", startup=10))
    assert (w.replicas, w.max_surge, w.max_unavailable) == (10, 3, 2)
    assert (w.peak_pods, w.min_available) == (13, 8)
    # t=0: 3 new pods, 2 old go, 2 more new; t=10: the 5 new are available, 5 old go, 5 new start;
    # t=20: the last 3 old go.
    assert states(w, "scale new ReplicaSet up to 3") == [(0.0, {"new": 3, "old": 10})]
    assert states(w, "scale old ReplicaSet down to 8") == [(0.0, {"new": 3, "old": 8})]
    assert states(w, "scale new ReplicaSet up to 5") == [(0.0, {"new": 5, "old": 8})]
    assert states(w, "scale old ReplicaSet down to 3") == [(10.0, {"new": 5, "old": 3})]
    assert states(w, "scale new ReplicaSet up to 10") == [(10.0, {"new": 10, "old": 3})]
    assert states(w, "scale old ReplicaSet down to 0") == [(20.0, {"new": 10, "old": 0})]
    assert (w.rounds, w.duration_seconds) == (2, 20.0)
    # Old pods take 30 s (the grace period) to go: at t=10 the 2 deleted at t=0 and the 5 deleted
    # now are terminating beside the 13 counted.
    assert w.peak_pods_with_terminating == 20
    assert w.settled_seconds == 50.0  # the last old pods go 30 s (the grace period) after t=20


def test_the_documentation_example_three_replicas() -> None:
    # kubernetes.io: with 3 replicas and the defaults, at least 3 available and at most 4 in total.
    w = only(deployment(3, "25%", "25%", startup=10))
    assert (w.max_surge, w.max_unavailable, w.peak_pods, w.min_available) == (1, 0, 4, 3)
    assert (w.rounds, w.duration_seconds) == (3, 30.0)


def test_zero_and_zero_after_rounding_becomes_one_unavailable() -> None:
    w = only(deployment(3, "0%", "20%", startup=10))
    assert (w.max_surge, w.max_unavailable, w.peak_pods, w.min_available) == (0, 1, 3, 2)
    assert (w.rounds, w.duration_seconds) == (3, 30.0)


def test_min_ready_seconds_delays_availability_not_readiness() -> None:
    doc = deployment(2, 1, 0, startup=10)
    doc["spec"]["minReadySeconds"] = 5
    w = only(doc)
    assert [e.t for e in w.timeline if e.event == "1 new pod Ready"] == [10.0, 25.0]
    assert [e.t for e in w.timeline if e.event == "1 new pod available"] == [15.0, 30.0]
    assert w.duration_seconds == 30.0


def test_rollback_runs_without_the_image_pull() -> None:
    doc = deployment(4, 1, 0)
    doc["spec"]["template"]["metadata"]["annotations"] = {}
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"periodSeconds": 5, "initialDelaySeconds": 5}
    w = only(doc, options=SimulationOptions(image_pull_seconds=20))
    assert w.pod_seconds.startup == 30.0  # 5 + 5 × 1 from the probe, plus the 20 s pull allowance
    assert (w.duration_seconds, w.rollback_seconds) == (120.0, 40.0)
    assert any("pull the image" in e for e in w.estimates)


def test_recreate_waits_for_every_old_pod_to_go() -> None:
    doc = deployment(4, startup=10, grace=20)
    doc["spec"]["strategy"] = {"type": "Recreate"}
    w = only(doc)
    assert (w.strategy, w.max_surge, w.max_unavailable, w.min_available, w.peak_pods) == ("Recreate", 0, 4, 0, 4)
    assert states(w, "scale new ReplicaSet up to 4") == [(20.0, {"new": 4, "old": 0})]
    assert w.duration_seconds == 30.0


def test_replicas_come_from_the_hpa_when_unset() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 6, "maxReplicas": 12},
    }
    w = only(deployment(None, startup=10), hpa)
    assert w.replicas == 6
    assert any("HPA's minReplicas" in e for e in w.estimates)
    assert only(deployment(None, startup=10)).replicas == 1


def test_peak_resources_count_the_terminating_pods() -> None:
    w = only(deployment(2, 1, 0, startup=10, cpu="250m", memory="1Gi"))
    assert w.pod_requests.cpu == 0.25 and w.pod_requests.memory == 2**30
    # At t=10 the first old pod terminates beside the 2 new pods and the last old one.
    assert w.peak_pods_with_terminating == 4
    assert (w.peak_requests.cpu, w.peak_requests.memory) == (1.0, 4 * 2**30)


def stateful_set(replicas: int, partition: int = 0, **rolling: Any) -> dict[str, Any]:
    return workload(
        "StatefulSet",
        {
            "replicas": replicas,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition, **rolling}},
            "template": pod_template(startup=10, grace=5),
        },
    )


def test_stateful_set_replaces_from_the_highest_ordinal_down_to_the_partition() -> None:
    w = only(stateful_set(5, partition=3))
    deleted = [e.event for e in w.timeline if e.event.startswith("delete")]
    assert deleted == ["delete the old pod of ordinal 4", "delete the old pod of ordinal 3"]
    # Each pod: 5 s to go, then its successor 10 s to Ready; one at a time.
    assert (w.rounds, w.duration_seconds, w.peak_pods, w.min_available) == (2, 30.0, 5, 4)


def test_stateful_set_max_unavailable_replaces_several_at_once() -> None:
    w = only(stateful_set(4, maxUnavailable=2))
    assert (w.max_unavailable, w.rounds, w.duration_seconds, w.min_available) == (2, 2, 30.0, 2)
    assert any("MaxUnavailableStatefulSet" in e for e in w.estimates)


def daemon_set(**rolling: Any) -> dict[str, Any]:
    spec = {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling}, "template": pod_template(startup=10)}
    return workload("DaemonSet", spec)


def test_daemon_set_with_surge_starts_the_new_pod_beside_the_old_one() -> None:
    w = only(daemon_set(maxSurge=1, maxUnavailable=0), options=SimulationOptions(nodes=4))
    assert (w.nodes, w.max_surge, w.max_unavailable) == (4, 1, 0)
    assert (w.peak_pods, w.min_available, w.rounds, w.duration_seconds) == (5, 4, 4, 40.0)


def test_daemon_set_without_surge_replaces_node_by_node() -> None:
    w = only(daemon_set(maxUnavailable="50%"), options=SimulationOptions(nodes=4))
    assert (w.max_surge, w.max_unavailable, w.peak_pods, w.min_available) == (0, 2, 4, 2)
    assert (w.rounds, w.duration_seconds) == (2, 80.0)  # twice: 30 s to go, 10 s to start


def test_daemon_set_nodes_are_an_estimate_unless_given() -> None:
    w = only(daemon_set())
    assert w.nodes == 3 and any("--nodes" in e for e in w.estimates)


def rollout(strategy: dict[str, Any], replicas: int = 5) -> dict[str, Any]:
    spec = {"replicas": replicas, "strategy": strategy, "template": pod_template(startup=10)}
    return workload("Rollout", spec, api="argoproj.io/v1alpha1")


def test_canary_steps_follow_set_weight_and_timed_pauses() -> None:
    steps = [{"setWeight": 20}, {"pause": {"duration": "30s"}}, {"setWeight": 50}, {"pause": {"duration": 60}}]
    w = only(rollout({"canary": {"steps": steps}}))
    assert (w.max_surge, w.max_unavailable) == (2, 1)
    assert states(w, "step 3: setWeight 50") == [(40.0, {"canary": 1, "stable": 4})]
    assert states(w, "all steps done: promote the canary to every pod") == [(110.0, {"canary": 3, "stable": 2})]
    # setWeight 50 makes 2 canary pods beside 4 stable: 7, replicas + maxSurge.
    assert (w.rounds, w.duration_seconds, w.peak_pods, w.min_available) == (3, 120.0, 7, 4)


def test_a_pause_without_duration_makes_the_duration_unbounded() -> None:
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]
    w = only(rollout({"canary": {"steps": steps}}))
    assert w.duration_seconds is None
    assert w.unbounded is not None and w.unbounded.step == 2
    assert "pause without duration" in w.unbounded.reason
    assert w.to_json()["duration_seconds"] is None and w.to_json()["unbounded"]["step"] == 2


def test_analysis_steps_last_as_their_template_says() -> None:
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "slo", "namespace": "shop"},
        "spec": {"metrics": [{"name": "errors", "interval": "1m", "count": 5, "initialDelay": "30s"}]},
    }
    steps = [{"setWeight": 100}, {"analysis": {"templates": [{"templateName": "slo"}]}}]
    w = only(rollout({"canary": {"steps": steps}}, replicas=2), template)
    # setWeight 100 with maxSurge 1 and maxUnavailable 0: two rounds of 10 s; then the analysis,
    # 30 s + 4 × 60 s; nothing is left to promote.
    assert w.duration_seconds == 290.0


def test_experiment_pods_add_to_the_peak() -> None:
    experiment = {"duration": "1m", "templates": [{"name": "a", "specRef": "canary", "replicas": 2}]}
    w = only(rollout({"canary": {"steps": [{"setWeight": 20}, {"experiment": experiment}]}}, replicas=4))
    assert w.peak_pods == 6  # 1 canary and 3 stable pods after the first step, and 2 experiment pods


def test_blue_green_keeps_the_old_pods_until_the_scale_down_delay() -> None:
    w = only(rollout({"blueGreen": {"activeService": "a", "previewService": "p"}}, replicas=3))
    assert (w.strategy, w.peak_pods, w.min_available) == ("blueGreen", 6, 3)
    assert w.duration_seconds == 40.0  # 10 s to start the preview pods, 30 s scaleDownDelaySeconds


def test_blue_green_without_auto_promotion_is_unbounded() -> None:
    w = only(rollout({"blueGreen": {"activeService": "a", "autoPromotionEnabled": False}}, replicas=3))
    assert w.duration_seconds is None and w.unbounded is not None
    assert "autoPromotionEnabled is false" in w.unbounded.reason


def test_unusable_fields_are_problems_naming_the_field() -> None:
    report = simulate(deployment(3, "5", "25%"), deployment(10**9))
    messages = [p.message for p in report.problems]
    assert any("spec.strategy.rollingUpdate" in m and "whole percentage" in m for m in messages)
    assert any("spec.replicas: 1,000,000,000 is more than the 10,000" in m for m in messages)
    assert report.workloads == ()


def test_a_controller_that_waits_for_nothing_is_stuck_not_endless() -> None:
    from rollguard.simulate.controllers import play
    from rollguard.simulate.fleet import Fleet, StuckError

    class Waiting:
        complete_at: float | None = None
        unbounded: Unbounded | None = None

        def start(self, fleet: Fleet) -> None:
            fleet.seed("old", 2)

        def reconcile(self, fleet: Fleet) -> bool:
            return False

    with pytest.raises(StuckError, match="cannot finish"):
        play(Waiting())
