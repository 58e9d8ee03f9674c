"""A finding names the line of the field it is about: the loader keeps where each document's
text is, and `line_at` resolves a JSON path (`details.path`) in it."""

from __future__ import annotations

import pytest

from rollguard.inputs.k8s import load_text
from rollguard.inputs.yamltext import line_at, parse_path
from rollguard.policy.bundle import fill_template

MANIFEST = """\
# a comment before the first document
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {"app.kubernetes.io/name": web}
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.27
      - name: side
        image: busybox
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: p}
  spec:
    containers:
    - name: c
      image: x:1
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("spec.template.spec.containers[1].image", 14),
        ("spec.template.spec.containers[1]", 13),
        ("spec.template.spec.containers[0].readinessProbe", 11),  # missing: its container's line
        ("spec.strategy", 7),  # missing: the nearest parent that exists
        ('metadata.labels["app.kubernetes.io/name"]', 6),
    ],
)
def test_paths_resolve_to_the_line_of_the_field(path: str, line: int) -> None:
    [deployment, _] = load_text("app.yaml", MANIFEST)[0]
    assert deployment.source is not None
    assert line_at(deployment.source, path) == line


def test_an_item_of_a_list_resolves_inside_the_list() -> None:
    [_, pod] = load_text("app.yaml", MANIFEST)[0]
    assert pod.source is not None and pod.line == 16
    assert line_at(pod.source, "spec.containers[0].image") == 25
    assert line_at(pod.source, "metadata") == 21


def test_a_path_that_is_not_there_falls_back() -> None:
    [deployment, _] = load_text("app.yaml", MANIFEST)[0]
    assert deployment.source is not None
    assert line_at(deployment.source, "status.replicas") is None
    assert line_at(deployment.source, "not a [path") is None


def test_lines_survive_a_broken_neighbour() -> None:
    # The document after a broken one is read on its own; its lines are still the file's.
    text = "kind: [\n---\n" + MANIFEST.split("---\n")[0]
    artifacts, problems = load_text("app.yaml", text)
    [deployment] = artifacts
    assert problems and deployment.source is not None
    assert line_at(deployment.source, "spec.template.spec.containers[1].image") == 16


def test_json_documents_resolve_too() -> None:
    text = '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},\n "spec": {"containers": [\n  {"name": "a", "image": "x"}]}}\n'
    [pod] = load_text("pod.json", text)[0]
    assert pod.source is not None
    assert line_at(pod.source, "spec.containers[0].image") == 3


def test_parse_path() -> None:
    assert parse_path("spec.containers[1].image") == ("spec", "containers", 1, "image")
    assert parse_path('metadata.annotations["a.b/c"].x') == ("metadata", "annotations", "a.b/c", "x")
    assert parse_path("") is None


def test_remediation_templates_take_the_finding_details() -> None:
    text = "Pin {{ image }} in container {{container}} to a digest; keep {x: 1} as written."
    assert fill_template(text, {"image": "fluent/fluent-bit", "container": "fb"}) == (
        "Pin fluent/fluent-bit in container fb to a digest; keep {x: 1} as written."
    )
    assert fill_template("use one of {{ allowed }}", {"allowed": ["a", "b"]}) == "use one of a, b"
    assert fill_template("fix {{ container }}", {}) == "fix <container>"
