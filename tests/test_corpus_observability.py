"""The observability policies on real manifests (../shared/corpus): what they find, worked out by hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from rollguard.cli import main
from rollguard.gate import Gate
from rollguard.inputs import load_change_set

NOW = "2026-12-01T12:00:00Z"
ROLLING_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig"}


def _observability(folder: Path) -> set[tuple[str, str, str, str]]:
    """(policy, resource, case, file:line) of every observability finding of `rollguard check folder`."""
    result = CliRunner().invoke(main, ["check", str(folder), "--now", NOW, "--format", "json"], catch_exceptions=False)
    decision = json.loads(result.stdout)

    return {
        (
            f["policy"],
            f"{f['resource']['kind']} {f['resource']['namespace']}/{f['resource']['name']}",
            f["details"]["case"],
            f"{Path(f['file']).name}:{f['line']}",
        )
        for f in decision["findings"]
        if f["policy"].startswith("observability.")
    }


def test_vllm_example_is_judged_with_the_rule_beside_it(corpus: Path) -> None:
    """kubernetes/examples' vLLM deployment: its hpa/ folder (a release of its own) ships a
    PrometheusRule with one recording rule named like a raw metric and no alert, beside a
    prometheus-adapter Deployment that serves on port 6443. The vLLM Deployment itself is one
    folder up, in a release without PrometheusRules, so it is not judged."""
    found = _observability(corpus / "k8s-manifests" / "kubernetes-examples" / "AI" / "vllm-deployment")
    assert found == {
        (
            "observability.rule_sanity",
            "PrometheusRule monitoring/dcgm-relabel-rules",
            "recording_rule_name",
            "prometheus-rule.yaml:26",
        ),
        (
            "observability.rollout_alerts",
            "Deployment monitoring/prometheus-adapter",
            "no_alerts",
            "prometheus-adapter.yaml:144",
        ),
    }


def test_kube_prometheus_without_its_rules_is_not_judged(corpus: Path) -> None:
    """The corpus holds kube-prometheus without its *-prometheusRule.yaml files: its alerts live
    outside the change, so no workload is reported for lacking them."""
    assert _observability(corpus / "k8s-manifests" / "kube-prometheus") == set()


def _pod_labels(doc: Mapping[str, Any]) -> dict[str, Any]:
    labels = (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _pod_spec(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = ((doc.get("spec") or {}).get("template") or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _containers(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every container that may run an image: regular, init and ephemeral."""
    pod = _pod_spec(doc)
    found = [c for field in ("containers", "initContainers", "ephemeralContainers") for c in pod.get(field) or []]
    return [c for c in found if isinstance(c, dict)]


def _regular(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The containers whose declared ports say the pod serves."""
    return [c for c in _pod_spec(doc).get("containers") or [] if isinstance(c, dict)]


def test_whole_corpus_as_one_change_reports_every_serving_workload(corpus: Path, gates: dict[str, Gate]) -> None:
    """Judged as a single change, the corpus holds one PrometheusRule and not a single alert: every
    rolled workload that runs an image and serves traffic (a container port, or a Service of its
    namespace selecting its pods) is reported, and nothing else. The expectation is computed here
    from the documents, independently of the policy."""
    change = load_change_set([str(corpus / "k8s-manifests")])
    documents = [a.document for a in change.artifacts if a.kind == "k8s"]

    def namespace(doc: Mapping[str, Any]) -> str:
        return str((doc.get("metadata") or {}).get("namespace") or "default")

    # Like the inventory: of two Services with one name, the later replaces the first.
    services = list(
        {
            (d.get("apiVersion"), namespace(d), (d.get("metadata") or {}).get("name")): d
            for d in documents
            if d.get("kind") == "Service"
        }.values()
    )

    def selected(doc: Mapping[str, Any]) -> bool:
        labels = _pod_labels(doc)
        return any(
            namespace(svc) == namespace(doc)
            and isinstance(selector := (svc.get("spec") or {}).get("selector"), dict)
            and selector
            and all(labels.get(k) == v for k, v in selector.items())
            for svc in services
        )

    expected = {
        (d["kind"], namespace(d), d["metadata"]["name"])
        for d in documents
        if d.get("kind") in ROLLING_KINDS
        and any(isinstance(c.get("image"), str) and c["image"] for c in _containers(d))
        and (any(isinstance(c.get("ports"), list) and c["ports"] for c in _regular(d)) or selected(d))
    }
    decision = gates["opa"].judge(change)
    findings = [f for f in decision.findings if f.policy.startswith("observability.")]
    reported = {
        (f.resource.kind, f.resource.namespace or "default", f.resource.name)
        for f in findings
        if f.policy.endswith("rollout_alerts")
    }
    assert {f.details["case"] for f in findings if f.policy.endswith("rollout_alerts")} == {"no_alerts"}
    assert reported == expected
    assert len(expected) > 50  # the comparison is not between two empty sets
    [sanity] = [f for f in findings if f.policy == "observability.rule_sanity"]
    assert sanity.details == {
        "record": "dcgm_fi_dev_gpu_util_relabelled",
        "group": "dcgm.rules",
        "case": "recording_rule_name",
        "path": "spec.groups[0].rules[0].record",
    }
