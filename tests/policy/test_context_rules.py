"""Policies that judge a workload in its context, on the real manifests they were written against.

Each case is a file of the shared corpus (../shared/corpus/k8s-manifests, sources in its
SOURCES.md) judged by the real gate on both engines; the tests skip when the corpus is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.model import Decision, Finding, Severity
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config

from ..conftest import make_gate

MANIFESTS = "k8s-manifests"
ISTIO_RATINGS = "istio/samples/bookinfo/platform/kube/bookinfo-ratings.yaml"
AD_SERVICE = "microservices-demo/kubernetes-manifests/adservice.yaml"
EMAIL_SERVICE = "microservices-demo/kubernetes-manifests/emailservice.yaml"
LOAD_GENERATOR = "microservices-demo/kubernetes-manifests/loadgenerator.yaml"
CANARY_ROLLOUT = "argo-rollouts/examples/rollout-canary.yaml"
KUBE_STATE_METRICS = (
    "kube-prometheus/manifests/kubeStateMetrics-deployment.yaml",
    "kube-prometheus/manifests/kubeStateMetrics-service.yaml",
)
VLLM = (
    "kubernetes-examples/AI/vllm-deployment/vllm-deployment.yaml",
    "kubernetes-examples/AI/vllm-deployment/vllm-service.yaml",
)
MINIO = (
    "kubernetes-examples/_archived/storage/minio/minio-standalone-deployment.yaml",
    "kubernetes-examples/_archived/storage/minio/minio-standalone-pvc.yaml",
)


def judge(gate: Gate, corpus: Path, *files: str) -> Decision:
    """The decision on one change made of corpus `files`."""
    change = load_change_set([str(corpus / MANIFESTS / f) for f in files])
    assert not change.problems, [p.display() for p in change.problems]
    decision = gate.judge(change)
    assert not decision.errors, [f.message for f in decision.errors]
    return decision


def of(decision: Decision, policy: str) -> list[Finding]:
    return [f for f in decision.findings if f.policy == policy]


def with_parameters(gate: Gate, bundle: PolicyBundle, policy: str, parameters: dict[str, Any]) -> Gate:
    """A gate on the same engine with `parameters` for `policy`."""
    return make_gate(bundle, gate.engine.name, Config(parameters={policy: parameters}).resolve(None))


def documents(corpus: Path, file: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((corpus / MANIFESTS / file).read_text(encoding="utf-8")) if d]


# k8s.progress_deadline


def test_an_unset_progress_deadline_gets_the_default_of_600_and_passes(gate: Gate, corpus: Path) -> None:
    deployment, rollout = documents(corpus, AD_SERVICE)[0], documents(corpus, CANARY_ROLLOUT)[0]
    assert "progressDeadlineSeconds" not in deployment["spec"] and "progressDeadlineSeconds" not in rollout["spec"]
    assert of(judge(gate, corpus, AD_SERVICE, CANARY_ROLLOUT), "k8s.progress_deadline") == []


def test_an_unset_progress_deadline_above_a_lower_maximum_names_the_default(
    gate: Gate, bundle: PolicyBundle, corpus: Path
) -> None:
    strict = with_parameters(gate, bundle, "k8s.progress_deadline", {"max_seconds": 300})
    [finding] = of(judge(strict, corpus, AD_SERVICE), "k8s.progress_deadline")
    assert finding.message == (
        "progressDeadlineSeconds is not set, so the Deployment API default of 600 applies, above the maximum "
        "of 300: a stuck rollout is reported as failed only that late"
    )
    assert dict(finding.details) == {
        "progress_deadline_seconds": None,
        "default_seconds": 600,
        "default_from": "Deployment API",
        "max_seconds": 300,
        "case": "default_above_maximum",
        "path": "spec.progressDeadlineSeconds",
    }
    assert finding.remediation.startswith("Set spec.progressDeadlineSeconds to at most 300,")


def test_an_unset_progress_deadline_on_extensions_v1beta1_is_no_deadline(gate: Gate, corpus: Path) -> None:
    [finding] = of(
        judge(gate, corpus, "kube-score/score/testdata/deployment-extensions-v1beta1.yaml"), "k8s.progress_deadline"
    )
    assert "extensions/v1beta1 defaults it to no deadline at all" in finding.message
    assert finding.details["api_version"] == "extensions/v1beta1"


# k8s.version_label


def test_istio_version_labels_pass(gate: Gate, bundle: PolicyBundle, corpus: Path) -> None:
    [deployment] = [d for d in documents(corpus, ISTIO_RATINGS) if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "ratings", "version": "v1"}
    assert of(judge(gate, corpus, ISTIO_RATINGS), "k8s.version_label") == []

    # It is Istio's `version` that passes: with only the recommended label accepted, it is reported.
    strict = with_parameters(gate, bundle, "k8s.version_label", {"labels": ["app.kubernetes.io/version"]})
    [finding] = of(judge(strict, corpus, ISTIO_RATINGS), "k8s.version_label")
    assert finding.message == 'pod template has no "app.kubernetes.io/version" label'


def test_a_deployment_without_a_version_label_is_reported(gate: Gate, corpus: Path) -> None:
    [finding] = of(judge(gate, corpus, AD_SERVICE), "k8s.version_label")
    assert finding.severity == Severity.LOW
    assert finding.message == (
        'pod template has none of the version labels "app.kubernetes.io/version", "version", '
        '"tags.datadoghq.com/version"'
    )


def test_bare_pods_are_not_judged_for_a_version_label(gate: Gate, corpus: Path) -> None:
    decision = judge(gate, corpus, "kube-score/score/testdata/pod-probes-both.yaml")
    assert {f.resource.kind for f in decision.findings} >= {"Pod"}  # the Pod is judged by others
    assert of(decision, "k8s.version_label") == []


# k8s.readiness_probe and k8s.graceful_shutdown


def test_containers_that_serve_nothing_need_no_readiness_probe(gate: Gate, bundle: PolicyBundle, corpus: Path) -> None:
    # kube-state-metrics listens on localhost behind kube-rbac-proxy, which the Service targets;
    # the load generator declares no port and no Service selects it.
    files = (*KUBE_STATE_METRICS, LOAD_GENERATOR)
    reported = {f.details["container"] for f in of(judge(gate, corpus, *files), "k8s.readiness_probe")}
    assert not reported & {"kube-state-metrics", "main"}

    everything = with_parameters(gate, bundle, "k8s.readiness_probe", {"serving": "all"})
    reported = {f.details["container"] for f in of(judge(everything, corpus, *files), "k8s.readiness_probe")}
    assert {"kube-state-metrics", "main"} <= reported


def test_a_container_a_service_targets_by_an_undeclared_port_is_serving(gate: Gate, corpus: Path) -> None:
    # vLLM listens on --port=8080 without declaring it; vllm-service targets 8080.
    decision = judge(gate, corpus, *VLLM)
    [readiness] = of(decision, "k8s.readiness_probe")
    assert readiness.message == 'container "inference-server" has no readinessProbe'
    [shutdown] = of(decision, "k8s.graceful_shutdown")
    assert shutdown.message == (
        'container "inference-server" has no preStop hook but its pod is an endpoint of Service "vllm-service": '
        "it gets SIGTERM while still receiving traffic"
    )
    assert dict(shutdown.details) == {
        "container": "inference-server",
        "services": ["vllm-service"],
        "drain_seconds": 15,
        "case": "no_prestop",
        "path": "spec.template.spec.containers[0].lifecycle.preStop",
    }
    assert shutdown.remediation.startswith("Give container inference-server a preStop hook")

    # Without the Service nothing routes to it, and it declares no port.
    alone = judge(gate, corpus, VLLM[0])
    assert of(alone, "k8s.readiness_probe") == [] and of(alone, "k8s.graceful_shutdown") == []


# k8s.probe_sanity


def test_default_liveness_timing_gives_enough_grace(gate: Gate, corpus: Path) -> None:
    # kube-score's all-ok Pod: liveness with Kubernetes' defaults (0 + 3 x 10 s) on port 8080,
    # which the container does not declare: only the informational note remains.
    findings = of(judge(gate, corpus, "kube-score/score/testdata/all-ok.yaml"), "k8s.probe_sanity")
    assert {(f.details["probe"], f.details["case"], f.severity) for f in findings} == {
        ("livenessProbe", "undeclared_port_number", Severity.INFO),
        ("readinessProbe", "undeclared_port_number", Severity.INFO),
    }
    assert all(
        f.message.endswith("the probe works, but the ports list does not say the container listens there")
        for f in findings
    )


def test_a_liveness_probe_with_little_grace_is_reported(gate: Gate, corpus: Path) -> None:
    findings = of(judge(gate, corpus, EMAIL_SERVICE), "k8s.probe_sanity")
    [grace] = [f for f in findings if "grace_seconds" in f.details]
    assert grace.severity == Severity.MEDIUM
    assert dict(grace.details) == {
        "container": "server",
        "initial_delay_seconds": 0,
        "failure_threshold": 3,
        "period_seconds": 5,
        "grace_seconds": 15,
        "min_liveness_grace": 30,
        "case": "short_liveness_grace",
        "path": "spec.template.spec.containers[0].livenessProbe",
    }
    assert "(now 0 + 3 x 5 = 15s) reaches 30s" in grace.remediation


# k8s.rolling_update


def test_recreate_for_one_replica_with_a_claim_and_a_host_port_is_low(gate: Gate, corpus: Path) -> None:
    [finding] = of(judge(gate, corpus, *MINIO), "k8s.rolling_update")
    assert finding.severity == Severity.LOW
    assert finding.message == (
        'strategy type Recreate with a single replica that holds PersistentVolumeClaim "minio-pv-claim" and '
        "hostPort 9000: a new pod could not attach a ReadWriteOnce volume or bind a host port the old one holds, "
        "so Recreate is the strategy that works; each rollout is still a short outage"
    )
    assert dict(finding.details) == {
        "strategy": "Recreate",
        "case": "recreate_required",
        "replicas": 1,
        "claims": ["minio-pv-claim"],
        "host_ports": [9000],
        "path": "spec.strategy.type",
    }
    assert finding.remediation.startswith("Nothing has to change")


def test_recreate_without_anything_two_pods_cannot_share_stays_high(gate: Gate, corpus: Path) -> None:
    decision = judge(gate, corpus, "kube-score/score/testdata/service-target-deployment-not-rolling.yaml")
    [finding] = of(decision, "k8s.rolling_update")
    assert finding.severity == Severity.HIGH
    assert dict(finding.details) == {"strategy": "Recreate", "case": "recreate", "path": "spec.strategy.type"}
    assert finding.remediation.startswith("Change spec.strategy.type from Recreate to RollingUpdate")
