"""`rollguard drift`: the JSON Patches between manifests and the live objects, and its exit codes.

The end-to-end tests use the small HTTP server of test_cluster, which stands in for the API server.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from rollguard.audit.drift import LAST_APPLIED, diff
from rollguard.cli import main

from ..conftest import FIXTURES
from .test_cluster import FakeApiServer, live, manifests

STOREFRONT = FIXTURES / "demo" / "storefront.yaml"


def deployment() -> dict[str, Any]:
    """The demo's Deployment manifest."""
    return next(d for d in manifests(STOREFRONT) if d["kind"] == "Deployment")


def as_served(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` as the API server stores it: defaults filled in, bookkeeping and status added."""
    out = live(doc)
    meta = out["metadata"]
    meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "3"
    meta["annotations"][LAST_APPLIED] = json.dumps(doc)
    spec = out.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec")
    if isinstance(pod, dict):
        pod.update(dnsPolicy="ClusterFirst", restartPolicy="Always", schedulerName="default-scheduler")
        for container in pod["containers"]:
            container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
            for port in container.get("ports", []):
                port.setdefault("protocol", "TCP")
    if out["kind"] == "Service":
        spec.update(clusterIP="10.96.14.7", type="ClusterIP", sessionAffinity="None")
        for port in spec["ports"]:
            port.setdefault("protocol", "TCP")
    return out


# --- the diff ---------------------------------------------------------------------------------


def test_defaults_and_server_fields_are_not_drift() -> None:
    desired = deployment()
    served = as_served(desired)
    served["status"] = {"replicas": 2, "readyReplicas": 1}
    assert served["metadata"]["managedFields"] and served["metadata"]["uid"]
    assert diff(desired, served) == []


def test_changed_image_and_replicas_are_drift() -> None:
    desired = deployment()
    served = as_served(desired)
    served["spec"]["replicas"] = 5
    served["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/storefront:3.1.9"
    patch = diff(desired, served)
    assert sorted(patch, key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": "registry.example.com/shop/storefront:3.2.0",
        },
    ]


def test_ignore_pointers_with_wildcards() -> None:
    desired = deployment()
    served = as_served(desired)
    served["spec"]["replicas"] = 7  # an autoscaler owns it
    served["spec"]["template"]["spec"]["containers"][1]["image"] = "fluent/fluent-bit:3.0"
    assert diff(desired, served, ignore=["/spec/replicas", "/spec/template/spec/containers/*/image"]) == []
    assert len(diff(desired, served, ignore=["/spec/replicas"])) == 1


def test_quantities_compare_by_value() -> None:
    desired = deployment()
    resources = desired["spec"]["template"]["spec"]["containers"][0]["resources"]
    resources["requests"]["cpu"] = 0.5
    resources["limits"]["memory"] = "0.5Gi"
    served = as_served(desired)
    live_resources = served["spec"]["template"]["spec"]["containers"][0]["resources"]
    live_resources["requests"]["cpu"] = "500m"
    live_resources["limits"]["memory"] = "512Mi"
    assert diff(desired, served) == []
    live_resources["requests"]["cpu"] = "600m"
    assert diff(desired, served) == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": 0.5}
    ]


def test_keys_dropped_since_the_last_apply_are_removed_others_kept() -> None:
    desired = deployment()
    applied = copy.deepcopy(desired)
    applied["metadata"]["labels"]["tier"] = "web"
    env = [{"name": "LOG_LEVEL", "value": "debug"}]
    applied["spec"]["template"]["spec"]["containers"][0]["env"] = env
    served = as_served(applied)
    served["metadata"]["annotations"][LAST_APPLIED] = json.dumps(applied)
    # Someone else's additions: a label and an env var the manifests never declared.
    served["metadata"]["labels"]["team"] = "storefront"
    desired["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "TZ", "value": "UTC"}]
    served["spec"]["template"]["spec"]["containers"][0]["env"] = [*env, {"name": "TZ", "value": "UTC"}]
    served["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "INJECTED", "value": "1"})
    patch = sorted(diff(desired, served), key=lambda op: op["path"])
    assert patch == [
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "remove", "path": "/spec/template/spec/containers/0/env/0"},
    ]


def test_plain_lists_belong_to_the_manifest_whole() -> None:
    desired = deployment()
    desired["spec"]["template"]["spec"]["containers"][0]["args"] = ["--port=8080"]
    served = as_served(desired)
    served["spec"]["template"]["spec"]["containers"][0]["args"] = ["--port=8080", "--debug"]
    assert diff(desired, served) == [{"op": "remove", "path": "/spec/template/spec/containers/0/args/1"}]


def test_declared_fields_missing_live_are_added() -> None:
    desired = deployment()
    served = as_served(desired)
    del served["spec"]["minReadySeconds"]
    desired["metadata"]["annotations"] = {"owner": "team-storefront"}
    patch = sorted(diff(desired, served), key=lambda op: op["path"])
    assert patch == [
        {"op": "add", "path": "/metadata/annotations/owner", "value": "team-storefront"},
        {"op": "add", "path": "/spec/minReadySeconds", "value": 10},
    ]


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    """The storefront as deployed, then edited by hand: the image and the replicas; no budget."""
    objects = []
    for doc in manifests(STOREFRONT):
        served = as_served(doc)
        if doc["kind"] == "Deployment":
            served["spec"]["replicas"] = 5
            served["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/storefront:3.1.9"
        if doc["kind"] != "PodDisruptionBudget":
            objects.append(served)
    with FakeApiServer(objects) as api:
        yield api


def drift(api: FakeApiServer, tmp_path: Path, *args: str) -> Result:
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig", namespace="shop")
    return CliRunner().invoke(main, ["drift", "--kubeconfig", str(kubeconfig), *args], catch_exceptions=False)


def test_drift_prints_one_patch_per_object_and_exits_1(server: FakeApiServer, tmp_path: Path) -> None:
    result = drift(server, tmp_path, str(STOREFRONT))
    assert result.exit_code == 1, result.output
    blocks = result.stdout.strip().split("\n\n")
    assert blocks[0].splitlines()[0] == f"Deployment shop/storefront  ({STOREFRONT.as_posix()}:2)"
    patch = json.loads("\n".join(blocks[0].splitlines()[1:]))
    assert {op["path"] for op in patch} == {"/spec/replicas", "/spec/template/spec/containers/0/image"}
    assert blocks[1].startswith("PodDisruptionBudget shop/storefront  (")
    assert "would be created" in blocks[1]
    assert blocks[-1].startswith("DRIFT: 2 of 5 objects differ from context fake at http://127.0.0.1:")
    assert blocks[-1].endswith("(1 missing)")


def test_drift_json(server: FakeApiServer, tmp_path: Path) -> None:
    result = drift(server, tmp_path, "--format", "json", str(STOREFRONT))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    statuses = {o["resource"]["kind"]: o["status"] for o in report["objects"]}
    assert statuses == {
        "Deployment": "drifted",
        "Service": "in-sync",
        "HorizontalPodAutoscaler": "in-sync",
        "PodDisruptionBudget": "missing",
        "NetworkPolicy": "in-sync",
    }
    assert report["summary"] == {"objects": 5, "drifted": 1, "missing": 1, "in_sync": 3}
    [missing] = [o for o in report["objects"] if o["status"] == "missing"]
    assert missing["patch"] is None and missing["resource"]["namespace"] == "shop"


def test_no_drift_exits_0_and_objects_without_namespace_use_the_context(server: FakeApiServer, tmp_path: Path) -> None:
    service = next(d for d in manifests(STOREFRONT) if d["kind"] == "Service")
    del service["metadata"]["namespace"]  # the kubeconfig context's namespace is shop
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(service), encoding="utf-8")
    result = drift(server, tmp_path, str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("NO DRIFT: 1 objects match context fake")
    assert ("/api/v1/namespaces/shop/services/storefront", {}) in server.requests


def test_config_ignore_pointers(server: FakeApiServer, tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text(
        "version: 1\ndrift:\n  ignore: [/spec/replicas, '/spec/template/spec/containers/*/image']\n", encoding="utf-8"
    )
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(yaml.safe_dump(deployment()), encoding="utf-8")
    result = drift(server, tmp_path, "--config", str(config), str(manifest))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: [\n", "rollguard: {path}:2: invalid YAML"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: cfg-\n",
            "rollguard: {path}:1: ConfigMap has no metadata.name",
        ),
        (
            "apiVersion: apps.openshift.io/v1\nkind: DeploymentConfig\nmetadata:\n  name: web\n",
            "rollguard: {path}:1: DeploymentConfig web: the cluster serves no DeploymentConfig in apps.openshift.io/v1",
        ),
    ],
)
def test_unusable_manifests_exit_2_naming_file_and_line(
    server: FakeApiServer, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = drift(server, tmp_path, str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(expected.format(path=path.as_posix())), result.stderr
