"""`rollguard webhook manifest` and `rollguard webhook policies`: what the API server and kustomize get."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.errors import ConfigError
from rollguard.model import ARTIFACT_KINDS
from rollguard.policy.bundle import PolicyBundle, load_bundle
from rollguard.policy.config import Config
from rollguard.webhook.certs import issue_certificates, write_certificates
from rollguard.webhook.manifest import (
    CLUSTER_DOMAINS,
    DEFAULT_EXEMPT_NAMESPACES,
    DEFAULT_TIMEOUT_SECONDS,
    KIND_RESOURCES,
    WEBHOOK_DEADLINE_SECONDS,
    admission_rules,
    exempt_namespaces,
    flat_policy_name,
)

from ..conftest import POLICIES

SERVICE, NAMESPACE = "rollguard", "rollguard"


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ca")
    write_certificates(issue_certificates(service=SERVICE, namespace=NAMESPACE), out, force=True)
    return out


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def manifests(ca_dir: Path, *extra: str) -> dict[str, dict[str, Any]]:
    """The printed documents by kind; fails the test when the command does."""
    result = invoke("webhook", "manifest", "--service", SERVICE, "--namespace", NAMESPACE, "--ca", str(ca_dir), *extra)
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    return {d["kind"]: d for d in docs}


def test_prints_both_configurations_with_every_field(ca_dir: Path) -> None:
    docs = manifests(ca_dir)
    assert sorted(docs) == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
    for kind, path in (("ValidatingWebhookConfiguration", "/validate"), ("MutatingWebhookConfiguration", "/mutate")):
        doc = docs[kind]
        assert doc["apiVersion"] == "admissionregistration.k8s.io/v1"
        assert doc["metadata"]["name"] == SERVICE
        [hook] = doc["webhooks"]
        assert hook["clientConfig"]["service"] == {"name": SERVICE, "namespace": NAMESPACE, "path": path, "port": 8443}
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == (ca_dir / "ca.crt").read_bytes()
        assert hook["failurePolicy"] == "Fail"
        assert hook["timeoutSeconds"] == 5
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["matchPolicy"] == "Equivalent"
        assert hook["objectSelector"] == {}
        assert hook["namespaceSelector"] == {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": ["kube-public", "kube-system", NAMESPACE],
                }
            ]
        }
        assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in hook["rules"])
    assert docs["MutatingWebhookConfiguration"]["webhooks"][0]["reinvocationPolicy"] == "Never"
    assert (
        docs["MutatingWebhookConfiguration"]["webhooks"][0]["rules"]
        == docs["ValidatingWebhookConfiguration"]["webhooks"][0]["rules"]
    )
    assert (
        docs["ValidatingWebhookConfiguration"]["webhooks"][0]["name"]
        != docs["MutatingWebhookConfiguration"]["webhooks"][0]["name"]
    )


def _check_fields(data: Any, type_name: str, where: str) -> None:
    """Every key of `data` is a field of the Kubernetes API type `type_name` (from the official client's models)."""
    if type_name.startswith("list["):
        for i, item in enumerate(data):
            _check_fields(item, type_name[5:-1], f"{where}[{i}]")
        return
    model = getattr(kubernetes.client, type_name, None)
    if model is None:  # str, int, dict(str, str), object
        return
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, value in data.items():
        assert key in by_json, f"{where}.{key} is not a field of {type_name}"
        _check_fields(value, model.openapi_types[by_json[key]], f"{where}.{key}")


def test_field_names_are_the_apis(ca_dir: Path) -> None:
    for kind, doc in manifests(ca_dir).items():
        _check_fields(doc, f"V1{kind}", kind)


def test_rules_cover_every_kind_the_policies_judge(ca_dir: Path, bundle: PolicyBundle) -> None:
    # The webhook runs the Kubernetes domain only (CLUSTER_DOMAINS): the others need the whole change.
    kinds = {k for p in bundle.policies if p.domain in CLUSTER_DOMAINS for k in p.applies_to} - ARTIFACT_KINDS
    assert not kinds - set(KIND_RESOURCES), "add the API group and resource of the new kind to KIND_RESOURCES"
    rules = manifests(ca_dir)["ValidatingWebhookConfiguration"]["webhooks"][0]["rules"]
    covered = {(group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
    assert covered == {KIND_RESOURCES[k] for k in kinds}
    assert all(rule["apiVersions"] == ["*"] and rule["scope"] == "*" for rule in rules)
    # The groups the policies are known to need, spelled out once so a mapping typo shows up here.
    by_group = {rule["apiGroups"][0]: set(rule["resources"]) for rule in rules}
    assert {"deployments", "statefulsets", "daemonsets", "replicasets"} <= by_group["apps"]
    assert {"jobs", "cronjobs"} <= by_group["batch"]
    assert {"pods", "services"} <= by_group[""]
    assert "poddisruptionbudgets" in by_group["policy"]
    assert "horizontalpodautoscalers" in by_group["autoscaling"]
    assert "networkpolicies" in by_group["networking.k8s.io"]
    assert by_group["rbac.authorization.k8s.io"] == {"roles", "rolebindings", "clusterroles", "clusterrolebindings"}


def test_options_and_a_config_that_switches_policies_off(ca_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    # k8s.deprecated_api judges the RBAC kinds too (their removed v1beta1 version).
    config.write_text("version: 1\npolicies:\n  exclude: [k8s.rbac, k8s.deprecated_api]\n")
    docs = manifests(ca_dir, "--failure-policy", "Ignore", "--timeout-seconds", "10", "--config", str(config))
    hook = docs["ValidatingWebhookConfiguration"]["webhooks"][0]
    assert hook["failurePolicy"] == "Ignore" and hook["timeoutSeconds"] == 10
    assert "rbac.authorization.k8s.io" not in {g for rule in hook["rules"] for g in rule["apiGroups"]}


@pytest.mark.parametrize("timeout", ["2", "31"])
def test_timeout_must_exceed_the_webhook_deadline_and_the_api_limit(ca_dir: Path, timeout: str) -> None:
    result = invoke(
        "webhook", "manifest", "--service", SERVICE, "--namespace", NAMESPACE, "--ca", str(ca_dir),
        "--timeout-seconds", timeout,
    )  # fmt: skip
    assert result.exit_code == 2 and "--timeout-seconds" in result.output


def test_ca_directory_must_hold_a_ca_certificate(ca_dir: Path, tmp_path: Path) -> None:
    base = ["webhook", "manifest", "--service", SERVICE, "--namespace", NAMESPACE, "--ca"]
    missing = invoke(*base, str(tmp_path))
    assert missing.exit_code == 2 and "ca.crt" in missing.output and "rollguard webhook certs" in missing.output
    shutil.copy(ca_dir / "tls.crt", tmp_path / "ca.crt")
    leaf = invoke(*base, str(tmp_path))
    assert leaf.exit_code == 2 and "is not a CA certificate" in leaf.output


def test_a_bundle_of_two_cas_is_accepted_for_rotation(ca_dir: Path, tmp_path: Path) -> None:
    new = tmp_path / "new"
    write_certificates(issue_certificates(service=SERVICE, namespace=NAMESPACE), new)
    both = tmp_path / "both"
    both.mkdir()
    (both / "ca.crt").write_bytes((ca_dir / "ca.crt").read_bytes() + (new / "ca.crt").read_bytes())
    hook = manifests(both)["ValidatingWebhookConfiguration"]["webhooks"][0]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == (both / "ca.crt").read_bytes()


def test_exempt_namespaces_from_config_keep_the_webhooks_own_and_leave_globs_to_the_webhook() -> None:
    config = Config(admission={"exempt_namespaces": ["ops", "kube-system", "sandbox-*"]})
    assert exempt_namespaces(config, own_namespace="rollguard") == ["kube-system", "ops", "rollguard"]
    assert exempt_namespaces(Config(), own_namespace="gate") == ["gate", "kube-public", "kube-system"]
    with pytest.raises(ConfigError, match="admission.exempt_namespaces"):
        exempt_namespaces(Config(admission={"exempt_namespaces": "ops"}), own_namespace="rollguard")


def test_defaults_agree_with_the_webhook_server() -> None:
    from rollguard.webhook import service

    assert DEFAULT_EXEMPT_NAMESPACES == service.DEFAULT_EXEMPT_NAMESPACES
    assert WEBHOOK_DEADLINE_SECONDS == service.DEFAULT_DEADLINE_SECONDS < DEFAULT_TIMEOUT_SECONDS


def test_exemptions_and_deadline_from_a_config_file(ca_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\nadmission:\n  exempt_namespaces: [ops]\n  deadline_seconds: 8\n")
    base = ["webhook", "manifest", "--service", SERVICE, "--namespace", NAMESPACE, "--ca", str(ca_dir)]
    too_short = invoke(*base, "--config", str(config))
    assert too_short.exit_code == 2 and "more than the webhook's 8 s deadline" in too_short.output
    result = invoke(*base, "--config", str(config), "--timeout-seconds", "10")
    assert result.exit_code == 0, result.output
    hook = next(yaml.safe_load_all(result.stdout))["webhooks"][0]
    assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == ["ops", NAMESPACE]
    assert hook["timeoutSeconds"] == 10


def test_kinds_without_a_known_resource_are_reported(ca_dir: Path, tmp_path: Path) -> None:
    rules, unknown = admission_rules(["Deployment", "Widget", "Gadget"])
    assert unknown == ["Gadget", "Widget"]
    assert rules == [
        {
            "apiGroups": ["apps"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["deployments"],
            "scope": "*",
        }
    ]
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    rego = policies / "rollguard" / "k8s" / "session_affinity" / "session_affinity.rego"
    rego.write_text(rego.read_text().replace("applies_to: [Service]", "applies_to: [Service, Widget]"))
    result = invoke(
        "webhook", "manifest", "--service", SERVICE, "--namespace", NAMESPACE, "--ca", str(ca_dir),
        "--policies", str(policies),
    )  # fmt: skip
    assert result.exit_code == 0
    assert "Widget" in result.stderr and "Widget" not in result.stdout


def test_policy_folder_is_flat_loadable_and_pruned(tmp_path: Path, bundle: PolicyBundle) -> None:
    out = tmp_path / "flat"
    out.mkdir()
    (out / "rollguard.k8s.retired.retired.rego").write_text("package rollguard.k8s.retired\n")
    result = invoke("webhook", "policies", "--policies", str(POLICIES), "--out", str(out))
    assert result.exit_code == 0, result.output
    regos = sorted(p.name for p in out.glob("*.rego"))
    assert regos == sorted(flat_policy_name(rel) for rel in bundle.runtime_modules())
    assert all("/" not in name and not name.endswith("_test.rego") for name in regos)
    assert not [p for p in out.iterdir() if p.is_dir()]
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kustomization["configMapGenerator"] == [{"name": "rollguard-policies", "files": regos}]
    flat = load_bundle(out)
    assert sorted(p.id for p in flat.policies) == sorted(p.id for p in bundle.policies)
    assert flat.runtime_modules().keys() == {flat_policy_name(rel) for rel in bundle.runtime_modules()}
