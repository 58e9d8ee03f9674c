"""Structural limits: every real object is within the defaults; each excess is named with its limit and path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rollguard.webhook.limits import StructuralLimits, render_path

from ..conftest import FIXTURES, ROOT


def request_for(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": "u",
        "kind": {"group": "apps", "version": "v1", "kind": obj.get("kind", "Deployment")},
        "operation": "UPDATE",
        "object": obj,
        "oldObject": obj,  # an UPDATE carries the object twice
        "userInfo": {"username": "alice", "groups": ["developers"]},
    }


def manifests() -> list[Path]:
    paths = sorted(FIXTURES.rglob("*.yaml")) + sorted((ROOT / "deploy").glob("*.yaml"))
    return [p for p in paths if p.name != "kustomization.yaml"]


def test_the_defaults_admit_every_object_of_the_fixtures_and_deploy() -> None:
    limits = StructuralLimits()
    seen = 0
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "kind" in doc:
                assert limits.exceeded(request_for(doc)) is None, path
                seen += 1
    assert seen > 100


def pod(containers: int, *, init: int = 0, ephemeral: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": "x"} for i in range(containers)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": "x"} for i in range(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": "x"} for i in range(ephemeral)]
    return spec


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ({"kind": "Deployment", "spec": {"template": {"spec": pod(5)}}}, "request.object.spec.template.spec"),
        ({"kind": "Pod", "spec": pod(3, init=1, ephemeral=1)}, "request.object.spec"),
        (
            {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(2, init=3)}}}}},
            "request.object.spec.jobTemplate.spec.template.spec",
        ),
    ],
    ids=["deployment", "pod-with-init-and-ephemeral", "cronjob"],
)
def test_containers_of_any_pod_spec_are_counted_together(obj: dict[str, Any], path: str) -> None:
    limits = StructuralLimits(max_containers=4)
    message = limits.exceeded({"uid": "u", "object": obj})
    assert message == f"admission.limits.max_containers (4) exceeded: {path} has 5 containers"
    assert StructuralLimits(max_containers=5).exceeded({"uid": "u", "object": obj}) is None


def nested(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels - 1):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.mark.parametrize(
    ("limits", "request_", "message"),
    [
        (
            StructuralLimits(max_nodes=1000),
            {"object": {"data": list(range(2000))}},
            "admission.limits.max_nodes (1000) exceeded: the request has more values",
        ),
        (
            StructuralLimits(max_depth=5),
            {"object": {"metadata": {"labels": nested(4)}}},
            "admission.limits.max_depth (5) exceeded: request.object.metadata.labels.a.a is nested 6 levels deep",
        ),
        (
            StructuralLimits(max_string_length=12),
            {"object": {"metadata": {"annotations": {"note": "x" * 13}}}},
            "admission.limits.max_string_length (12) exceeded: request.object.metadata.annotations.note "
            "is a string of 13 characters",
        ),
        (
            StructuralLimits(max_string_length=12),
            {"object": {"data": {"k" * 13: "v"}}},
            "admission.limits.max_string_length (12) exceeded: request.object.data has a key of 13 characters",
        ),
        (
            StructuralLimits(max_object_keys=3),
            {"object": {"spec": {"template": {"metadata": {"labels": {str(i): "v" for i in range(4)}}}}}},
            "admission.limits.max_object_keys (3) exceeded: request.object.spec.template.metadata.labels has 4 keys",
        ),
        (
            StructuralLimits(max_string_length=12),
            {"object": {"spec": {"containers": [{"name": "c", "args": ["ok", "x" * 13]}]}}},
            "admission.limits.max_string_length (12) exceeded: request.object.spec.containers[0].args[1] "
            "is a string of 13 characters",
        ),
    ],
    ids=["nodes", "depth", "string", "key", "keys", "path-through-lists"],
)
def test_each_limit_is_named_with_where_it_was_exceeded(
    limits: StructuralLimits, request_: dict[str, Any], message: str
) -> None:
    assert limits.exceeded(request_) == message


def test_the_walk_stops_at_the_node_limit_however_large_the_request() -> None:
    huge = {"object": {"items": [[{"a": [1, 2, 3]}] * 1000] * 1000}}  # a million containers behind shared refs
    assert StructuralLimits(max_nodes=50).exceeded(huge) == (
        "admission.limits.max_nodes (50) exceeded: the request has more values"
    )


def test_a_deep_object_is_walked_without_recursion() -> None:
    deep = nested(5000)
    assert StructuralLimits(max_depth=10_000, max_nodes=10_000).exceeded({"object": deep}) is None
    message = StructuralLimits().exceeded({"object": deep})
    assert message is not None and message.startswith("admission.limits.max_depth (100) exceeded: request.object.a.a")
    assert message.endswith("is nested 101 levels deep") and "…" in message  # the long path is shortened


def test_limits_come_from_admission_limits_and_keep_their_defaults_otherwise() -> None:
    limits = StructuralLimits.from_config({"max_containers": 10, "max_depth": 20})
    assert limits == StructuralLimits(max_containers=10, max_depth=20)
    assert StructuralLimits.from_config(None) == StructuralLimits()


def test_paths_quote_keys_that_are_not_identifiers() -> None:
    path = ((((("request", None), "object"), "metadata"), "annotations"), "rollguard.io/waive.k8s.x")
    assert render_path(path) == "request.object.metadata.annotations['rollguard.io/waive.k8s.x']"
