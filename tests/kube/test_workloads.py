"""One walk over pod templates: every kind's containers and images, found the same way."""

from __future__ import annotations

from typing import Any

import pytest

from rollguard.kube.workloads import container_images, containers, images_of, pod_spec, pod_template

POD_SPEC = {
    "initContainers": [{"name": "init", "image": "init:1"}],
    "containers": [{"name": "app", "image": "app:1"}, "not a container", {"name": "side", "image": "app:1"}],
    "ephemeralContainers": [{"name": "debug", "image": "debug:3"}],
}


def _workload(kind: str) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}
    if kind == "Pod":
        return {"kind": "Pod", "metadata": {"name": "p"}, "spec": POD_SPEC}
    if kind == "CronJob":
        return {"kind": kind, "spec": {"jobTemplate": {"spec": {"template": template}}}}
    return {"kind": kind, "spec": {"template": template}}


@pytest.mark.parametrize("kind", ["Pod", "CronJob", "Deployment", "StatefulSet", "Job", "Rollout", "SomeOperatorKind"])
def test_every_kind_reaches_its_pod_spec(kind: str) -> None:
    doc = _workload(kind)
    assert pod_spec(doc) == POD_SPEC
    assert [c["name"] for c in containers(doc)] == ["init", "app", "side", "debug"]
    assert container_images(doc) == ["init:1", "app:1", "debug:3"]
    assert container_images(doc, ("containers",)) == ["app:1"]


@pytest.mark.parametrize(
    "doc",
    [
        {"kind": "Service", "spec": {"selector": {"app": "web"}}},
        {"kind": "Deployment", "spec": []},
        {"kind": "Deployment", "spec": {"template": "x"}},
        {"kind": "CronJob", "spec": {"jobTemplate": None}},
        {"kind": "Deployment", "spec": {"template": {"spec": {"containers": {"name": "not a list"}}}}},
    ],
)
def test_objects_without_a_usable_pod_template_have_no_containers(doc: dict[str, Any]) -> None:
    assert list(containers(doc)) == [] and container_images(doc) == []
    assert isinstance(pod_template(doc), dict)


def test_images_of_many_objects_keeps_first_appearance_order() -> None:
    docs = [_workload("Deployment"), {"kind": "Pod", "spec": {"containers": [{"image": "z:9"}, {"image": "app:1"}]}}]
    assert images_of(docs) == ["init:1", "app:1", "debug:3", "z:9"]
