"""Signal over noise on production-grade manifests: every blocking finding on kube-prometheus and
microservices-demo is either a real risk (each named below, with why) or a by-design choice
waived in the project's rollguard.yaml with its reason, as a team adopting rollguard would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollguard.cli import main

NOW = "2026-12-01T12:00:00Z"

KUBE_PROMETHEUS_CONFIG = """\
version: 1
fail_on: high
waivers:
  - id: KP-1
    policy: k8s.security_context
    match: {kind: DaemonSet, namespace: monitoring, name: node-exporter}
    reason: >-
      node-exporter reports the node's own network and process statistics; hostNetwork and
      hostPID are what it measures, not a convenience.
    owner: team-observability
    expires: 2027-06-30
  - id: KP-2
    policy: k8s.rbac
    match: {kind: ClusterRole, name: resource-metrics-server-resources}
    reason: >-
      The wildcard is scoped to the metrics.k8s.io group that prometheus-adapter itself serves;
      it grants nothing outside the adapter's own API.
    owner: team-observability
    expires: 2027-06-30
  - id: KP-3
    policy: k8s.readiness_probe
    match: {kind: Deployment, namespace: monitoring, name: blackbox-exporter}
    reason: >-
      Only Prometheus scrapes these ports; a scrape missed while a pod starts is retried at the
      next interval and loses no data a user sees.
    owner: team-observability
    expires: 2027-06-30
  - id: KP-4
    policy: k8s.readiness_probe
    match: {kind: Deployment, namespace: monitoring, name: kube-state-metrics}
    reason: Its kube-rbac-proxy ports are scraped by Prometheus only (see KP-3).
    owner: team-observability
    expires: 2027-06-30
  - id: KP-5
    policy: k8s.readiness_probe
    match: {kind: DaemonSet, namespace: monitoring, name: node-exporter}
    reason: Its kube-rbac-proxy port is scraped by Prometheus only (see KP-3).
    owner: team-observability
    expires: 2027-06-30
  - id: KP-6
    policy: k8s.readiness_probe
    match: {kind: Deployment, namespace: monitoring, name: prometheus-operator}
    reason: >-
      The operator's ports serve its metrics to Prometheus only; it reconciles from the API
      server, not from requests.
    owner: team-observability
    expires: 2027-06-30
"""

MICROSERVICES_DEMO_CONFIG = """\
version: 1
fail_on: high
waivers:
"""
_SKAFFOLD_IMAGES = [
    "adservice",
    "cartservice",
    "checkoutservice",
    "currencyservice",
    "emailservice",
    "frontend",
    "loadgenerator",
    "paymentservice",
    "productcatalogservice",
    "recommendationservice",
    "shippingservice",
]
MICROSERVICES_DEMO_CONFIG += "".join(
    f"""\
  - id: MD-{i}
    policy: k8s.image_pinning
    match: {{kind: Deployment, name: {name}}}
    reason: >-
      kubernetes-manifests/ is skaffold's source: skaffold replaces the bare image name with the
      image it built, by digest, at deploy time (release/ holds the pinned manifests).
    owner: team-shop
    expires: 2027-06-30
"""
    for i, name in enumerate(_SKAFFOLD_IMAGES, start=1)
)

# The blocking findings that remain, each a real risk: (policy, resource, location) → why.
REAL_RISKS: dict[str, dict[tuple[str, str, str], str]] = {
    "kube-prometheus": {
        ("k8s.rbac", "ClusterRole prometheus-operator", "prometheusOperator-clusterRole.yaml:37"): (
            "every verb on monitoring.coreos.com: the operator owns these, but `*` also grants "
            "deletecollection on every namespace's monitoring objects"
        ),
        ("k8s.rbac", "ClusterRole prometheus-operator", "prometheusOperator-clusterRole.yaml:43"): (
            "every verb on StatefulSets in every namespace: a compromised operator can replace any "
            "StatefulSet's pods, not only Prometheus'"
        ),
        ("k8s.rbac", "ClusterRole prometheus-operator", "prometheusOperator-clusterRole.yaml:50"): (
            "every verb on Secrets and ConfigMaps cluster-wide: the operator can read every credential of the cluster"
        ),
        ("k8s.rolling_update", "Deployment monitoring/prometheus-adapter", "prometheusAdapter-deployment.yaml:21"): (
            "two replicas with maxUnavailable 1: the resource-metrics API behind kubectl top and "
            "every HPA runs on one pod during each rollout"
        ),
    },
    "microservices-demo": {
        (
            "k8s.readiness_probe",
            "Deployment opentelemetrycollector",
            "otel-collector.yaml:61",
        ): (
            "every service sends its telemetry through the collector's Service; without a readiness "
            "probe a new pod gets spans before its receivers listen, and they are dropped"
        ),
    },
}
CONFIGS = {"kube-prometheus": KUBE_PROMETHEUS_CONFIG, "microservices-demo": MICROSERVICES_DEMO_CONFIG}


@pytest.mark.parametrize("project", sorted(CONFIGS))
def test_blocking_findings_are_real_risks_or_waived_by_design(corpus: Path, tmp_path: Path, project: str) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text(CONFIGS[project])
    folder = corpus / "k8s-manifests" / project
    result = CliRunner().invoke(
        main,
        ["check", str(folder), "--config", str(config), "--now", NOW, "--release-by", "auto", "--format", "json"],
        catch_exceptions=False,
    )
    decision = json.loads(result.stdout)
    assert decision["errors"] == []
    blocking = {
        (f["policy"], _display(f["resource"]), f"{Path(f['file']).name}:{f['line']}")
        for f in decision["findings"]
        if f["severity"] in ("high", "critical") and f["enforcement"] == "deny" and f["waiver"] is None
    }
    assert blocking == set(REAL_RISKS[project])
    assert result.exit_code == 1, "real risks still fail the check"
    # Every waiver is used: none hides nothing, and none was written for a finding that is gone.
    used = {f["waiver"]["id"] for f in decision["findings"] if f["waiver"]}
    assert used == {line.split(": ", 1)[1] for line in CONFIGS[project].splitlines() if "- id: " in line}


def _display(resource: dict[str, str | None]) -> str:
    where = f"{resource['namespace']}/{resource['name']}" if resource.get("namespace") else resource["name"]
    return f"{resource['kind']} {where}"
