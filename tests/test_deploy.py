"""rollguard's own deployment (deploy/) passes rollguard, and agrees with the webhook it runs."""

from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.policy.bundle import PolicyBundle
from rollguard.webhook.manifest import (
    KIND_RESOURCES,
    PLACEHOLDER_IMAGE,
    WEBHOOK_PORT,
    flat_policy_name,
    policy_folder,
)

from .conftest import ROOT, assert_current

DEPLOY = ROOT / "deploy"


@pytest.fixture(autouse=True)
def _no_config_nearby(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `rollguard check` looks for rollguard.yaml upward from the working directory; run where there is none.
    monkeypatch.chdir(tmp_path)


def check(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "--format", "json", *args])
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    """deploy/'s Kubernetes objects by (kind, name)."""
    found = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name in ("kustomization.yaml", "rollguard.yaml"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _assert_passes(result: Result, report: dict[str, Any]) -> None:
    assert result.exit_code == 0, result.output
    assert report["verdict"] == "pass"
    assert report["findings"] == [] and report["errors"] == []
    assert report["summary"]["resources"] >= 10


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_rollguard_passes_its_own_gate(engine: str) -> None:
    _assert_passes(*check(str(DEPLOY), "--engine", engine, "--fail-on", "info"))


def test_rollguard_passes_its_own_gate_in_prod() -> None:
    result, report = check(str(DEPLOY), "--config", str(DEPLOY / "rollguard.yaml"), "--env", "prod")
    _assert_passes(result, report)
    assert report["environment"] == "prod"


def test_the_rendered_kustomization_passes_too() -> None:
    if not (shutil.which("kubectl") or shutil.which("kustomize")):
        pytest.skip("neither kubectl nor kustomize is on PATH to render deploy/")
    result, report = check("--kustomize", str(DEPLOY))
    _assert_passes(result, report)


@pytest.mark.parametrize(
    ("remove", "policy"),
    [("pdb.yaml", "k8s.pdb_coverage"), ("networkpolicy.yaml", "k8s.network_policy")],
)
def test_the_gate_really_judges_deploy(tmp_path: Path, remove: str, policy: str) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    (copy / remove).unlink()
    # Out of the kustomization too: a folder with one is judged as kustomize renders it.
    kustomization = copy / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(f"  - {remove}\n", ""))
    result, report = check(str(copy), "--fail-on", "low")
    assert result.exit_code == 1
    assert policy in {f["policy"] for f in report["findings"]}


def test_policy_folder_is_current(bundle: PolicyBundle) -> None:
    folder = policy_folder(bundle)
    assert_current(folder, DEPLOY / "policies", "rollguard webhook policies --out deploy/policies")
    assert {flat_policy_name(rel) for rel in bundle.runtime_modules()} <= set(folder)


def test_deployment_matches_the_release_and_the_webhook() -> None:
    objects = _objects()
    deployment = objects[("Deployment", "rollguard")]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    version = metadata.version("rollguard")
    # The placeholder `webhook manifest --image` replaces: the release's tag, pinned by a zero digest.
    assert container["image"] == f"{PLACEHOLDER_IMAGE}:{version}@sha256:{'0' * 64}"
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == version

    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"][1:])
    assert container["args"][0] == "serve"
    assert int(args["port"]) == WEBHOOK_PORT == container["ports"][0]["containerPort"]
    service = objects[("Service", "rollguard")]
    assert service["spec"]["ports"][0]["port"] == WEBHOOK_PORT
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "https", "scheme": "HTTPS"}

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "rollguard-tls"
    assert args["cert"] == f"{mounts['tls']}/tls.crt" and args["key"] == f"{mounts['tls']}/tls.key"
    assert volumes["policies"]["configMap"]["name"] == "rollguard-policies" and args["policies"] == mounts["policies"]
    assert volumes["config"]["configMap"]["name"] == "rollguard-config"
    assert args["config"] == f"{mounts['config']}/rollguard.yaml"
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in container["env"]


def test_cluster_role_reads_exactly_what_serve_syncs() -> None:
    objects = _objects()
    [container] = objects[("Deployment", "rollguard")]["spec"]["template"]["spec"]["containers"]
    [sync] = [a.removeprefix("--sync=") for a in container["args"] if a.startswith("--sync=")]
    resources = {**KIND_RESOURCES, "Namespace": ("", "namespaces")}
    wanted = {resources[kind] for kind in sync.split(",")}
    rules = objects[("ClusterRole", "rollguard-webhook")]["rules"]
    granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == wanted
    assert all(sorted(rule["verbs"]) == ["get", "list", "watch"] for rule in rules)
    binding = objects[("ClusterRoleBinding", "rollguard-webhook")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rollguard", "namespace": "rollguard"}]
    assert objects[("Deployment", "rollguard")]["spec"]["template"]["spec"]["serviceAccountName"] == "rollguard"


def test_the_flat_policy_folder_has_the_source_tree_digest(bundle: PolicyBundle) -> None:
    """The webhook (flat ConfigMap folder) and CI (source tree) record the same bundle digest."""
    from rollguard.policy.bundle import load_bundle

    flat = load_bundle(DEPLOY / "policies")
    assert flat.digest == bundle.digest
    assert {p.id for p in flat.policies} == {p.id for p in bundle.policies}
