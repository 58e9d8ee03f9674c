"""What a large check holds in memory: one window of documents in the engine at a time, field
lines only for documents with findings, repeated strings once; and the same decision as before."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rollguard.engine import Engine, create_engine
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.inputs.yamltext import _composed
from rollguard.model import ChangeSet, Decision
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config
from tests.conftest import FIXTURES, NOW

UNBOUNDED = 10**9

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{n}
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web-{n}}}
  template:
    metadata:
      labels: {{app: web-{n}}}
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:1.{n}
"""

MIGRATION = "ALTER TABLE orders ADD COLUMN note text;\n"


class RecordingEngine:
    """An engine that records the data it is given and the documents of every evaluation."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.data: list[Mapping[str, Any]] = []
        self.windows: list[tuple[int, int]] = []  # (reviews, artifacts) of each batch call

    def versions(self) -> dict[str, str]:
        return self.inner.versions()

    def load(self, modules: Mapping[str, str]) -> None:
        self.inner.load(modules)

    def set_data(self, data: Mapping[str, Any]) -> None:
        self.data.append(data)
        self.inner.set_data(data)

    def evaluate(self, path: str, input: Any) -> Any:
        documents = input.get("documents") if isinstance(input, dict) else None
        if isinstance(documents, dict):
            self.windows.append((len(documents["reviews"]), len(documents["artifacts"])))
        return self.inner.evaluate(path, input)


def _gate(bundle: PolicyBundle, engine: Engine, *, window: int) -> Gate:
    return Gate(bundle=bundle, engine=engine, settings=Config().resolve(None), now=NOW, window=window)


def _change(tmp_path: Path, deployments: int) -> ChangeSet:
    manifests = tmp_path / "app.yaml"
    manifests.write_text("---\n".join(DEPLOYMENT.format(n=n) for n in range(deployments)), encoding="utf-8")
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for n in range(2):
        (migrations / f"00{n}_note.up.sql").write_text(MIGRATION, encoding="utf-8")
    return load_change_set([str(manifests), str(migrations)])


def test_documents_reach_the_engine_one_window_at_a_time(bundle: PolicyBundle, tmp_path: Path) -> None:
    change = _change(tmp_path, 7)
    engine = RecordingEngine(create_engine("opa"))
    decision = _gate(bundle, engine, window=3).judge(change)
    # Objects and the other artifacts go in windows of at most three, each document once.
    assert engine.windows == [(3, 0), (3, 0), (1, 0), (0, 2)]
    # The data holds the inventory and the change set, never a second copy of the documents.
    assert len(engine.data) == 2  # the gate's start and this change's inventory: loaded once for every window
    for data in engine.data:
        assert data["rollguard"]["reviews"] == [] and data["rollguard"]["artifacts"] == []
    assert set(engine.data[-1]["inventory"]["namespace"]["shop"]["apps/v1"]["Deployment"]) == {
        f"web-{n}" for n in range(7)
    }
    # Every window was judged: each Deployment has its findings.
    judged = {f.resource.name for f in decision.findings if f.resource.kind == "Deployment"}
    assert judged == {f"web-{n}" for n in range(7)}


def _decision(bundle: PolicyBundle, engine: str, change: ChangeSet, *, window: int) -> Decision:
    return _gate(bundle, create_engine(engine), window=window).judge(change)


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_every_fixture_judged_in_windows_gives_the_decision_of_one_window(bundle: PolicyBundle, engine: str) -> None:
    change = load_change_set([str(FIXTURES)])
    assert len(change.artifacts) > 300
    whole = _decision(bundle, engine, change, window=UNBOUNDED).to_json()
    assert whole["findings"], "the fixtures hold disallowed examples: some findings are expected"
    for window in (1, 7):
        assert _decision(bundle, engine, change, window=window).to_json() == whole, f"window {window}"


def test_the_corpus_judged_in_windows_gives_the_decision_of_one_window(bundle: PolicyBundle, corpus: Path) -> None:
    change = load_change_set([str(corpus / "k8s-manifests")])
    whole = _decision(bundle, "opa", change, window=UNBOUNDED)
    windowed = _decision(bundle, "opa", change, window=64)
    assert len(whole.findings) > 1000
    assert [(f.file, f.line, f.policy, f.message) for f in windowed.findings] == [
        (f.file, f.line, f.policy, f.message) for f in whole.findings
    ]
    assert windowed.to_json() == whole.to_json()


def test_field_lines_are_found_only_for_documents_with_findings(bundle: PolicyBundle, tmp_path: Path) -> None:
    # One Deployment with findings among ConfigMaps without any.
    configmaps = [f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n}\ndata:\n  a: b\n" for n in range(20)]
    manifests = tmp_path / "app.yaml"
    manifests.write_text("---\n".join([*configmaps, DEPLOYMENT.format(n=1)]), encoding="utf-8")
    change = load_change_set([str(manifests)])
    _composed.cache_clear()
    decision = _gate(bundle, create_engine("opa"), window=UNBOUNDED).judge(change)
    at_fields = {f.resource.name for f in decision.findings if isinstance(f.details.get("path"), str)}
    assert at_fields == {"web-1"}
    # Only the Deployment's text was composed for its field lines, once for all its findings.
    assert _composed.cache_info().misses == 1
    # Past twenty ConfigMaps of six lines and a `---` each: the container (its line 15), `spec` (6).
    resources = next(f for f in decision.findings if f.policy == "k8s.resources")
    assert (resources.details["path"], resources.line) == (
        "spec.template.spec.containers[0].resources.requests.cpu",
        155,
    )
    ready = next(f for f in decision.findings if f.policy == "k8s.min_ready_seconds")
    assert (ready.details["path"], ready.line) == ("spec.minReadySeconds", 146)


def test_repeated_keys_and_values_are_one_string(tmp_path: Path) -> None:
    for n in range(2):
        (tmp_path / f"app{n}.yaml").write_text(DEPLOYMENT.format(n=n), encoding="utf-8")
    first, second = (a.document for a in load_change_set([str(tmp_path)]).artifacts)
    assert first == {**second, "metadata": first["metadata"], "spec": first["spec"]}
    key_first = next(k for k in first if k == "apiVersion")
    key_second = next(k for k in second if k == "apiVersion")
    assert key_first is key_second
    assert first["apiVersion"] is second["apiVersion"]
    assert first["metadata"]["namespace"] is second["metadata"]["namespace"]
    # Different values stay different strings.
    assert first["metadata"]["name"] == "web-0" and second["metadata"]["name"] == "web-1"
