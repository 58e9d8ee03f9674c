"""What the gate compiles: once per process however many releases a change has, and only the
policies whose kinds the change holds; neither changes a single finding."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import rollguard.engine.opa as opa_engine
from rollguard.engine import create_engine
from rollguard.engine.regorus import RegorusEngine
from rollguard.gate import Gate, document_kind
from rollguard.inputs import load_change_set
from rollguard.model import ChangeSet, Decision, Finding, Release
from rollguard.parallel import Job, judge
from rollguard.policy.bundle import PolicyBundle, PolicySources
from rollguard.policy.config import Config, Settings, load_config
from rollguard.releases import group_releases

from .conftest import ENGINES, FIXTURES, NOW
from .test_fixtures import (
    _fixture_files,
    _fixture_folders,
    _holds_documents,
    companions,
    fixture_exceptions,
    fixture_parameters,
    governed_gate,
    policy_of,
)


def deployment(name: str, image: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}}}
        spec:
          replicas: 1
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              containers:
              - name: {name}
                image: {image}
        """
    )


def three_releases(root: Path) -> Path:
    """Three applications in their own directories running one image at three tags, and a migration."""
    for name, tag in (("billing", "1.34"), ("search", "1.35"), ("shop", "1.36")):
        (root / name).mkdir(parents=True)
        (root / name / "app.yaml").write_text(deployment(name, f"registry.example.com/busybox:{tag}"))
    (root / "db").mkdir()
    (root / "db" / "001_drop.sql").write_text("ALTER TABLE invoices DROP COLUMN total;\n")
    return root


def job(root: Path, engine: str, **options: Any) -> Job:
    return Job(
        policies=PolicySources(),
        settings=Config().resolve(None),
        engine=engine,
        now=NOW,
        paths=(str(root),),
        **options,
    )


def summary(findings: tuple[Finding, ...] | list[Finding]) -> list[tuple[str, str, int | None, str]]:
    return sorted((f.policy, f.file or "", f.line, f.message) for f in findings)


class CountingBridge(opa_engine._Bridge):  # type: ignore[misc]
    """The OPA bridge, counting the bridges made and the data loaded into them."""

    made = 0
    data_loads = 0

    def __init__(self) -> None:
        super().__init__()
        CountingBridge.made += 1

    def add_data(self, value: Any, path: str = "") -> None:
        CountingBridge.data_loads += 1
        super().add_data(value, path)


def test_opa_compiles_once_however_many_releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = three_releases(tmp_path)
    monkeypatch.setattr(opa_engine, "_Bridge", CountingBridge)
    monkeypatch.setattr(CountingBridge, "made", 0)
    monkeypatch.setattr(CountingBridge, "data_loads", 0)
    judgement = judge(job(root, "opa"), jobs=1)
    assert len(judgement.decision.releases) == 3
    engine = judgement.gate.engine
    assert isinstance(engine, opa_engine.OpaEngine)
    assert (CountingBridge.made, CountingBridge.data_loads, engine.compilations) == (1, 1, 1)
    # Each release is judged on its own: no tag is compared with another release's.
    assert [f for f in judgement.decision.findings if f.policy == "changeset.image_consistency"] == []
    [drop] = [f for f in judgement.decision.findings if f.policy == "migration.drop_column"]
    assert drop.file == str(root / "db" / "001_drop.sql") and "invoices" in drop.message


def judged_alone(gate: Gate, change: ChangeSet, release: Release) -> list[Finding]:
    """Raw findings on the objects of `release`, judged as a change of its own (one data load each)."""
    shared = [a for a in change.artifacts if a.kind != "k8s"]
    alone = ChangeSet(artifacts=(*release.artifacts, *shared))
    return list(gate.judge(alone, judged=release.artifacts).findings)


@pytest.mark.parametrize("engine", ENGINES)
def test_releases_in_one_load_judge_as_each_release_alone(engine: str, tmp_path: Path) -> None:
    root = three_releases(tmp_path)
    change = load_change_set([str(root)])
    releases = group_releases(change.artifacts, "auto")
    gate = Gate(bundle=PolicySources().load(), engine=create_engine(engine), settings=Config().resolve(None), now=NOW)
    together = gate.judge(change, releases=releases)
    alone = [f for r in releases for f in judged_alone(gate, change, r)]
    k8s = [f for f in together.findings if f.resource.kind == "Deployment"]
    assert k8s and summary(k8s) == summary(alone)


def test_releases_of_every_fixture_directory_judge_as_each_release_alone(bundle: PolicyBundle) -> None:
    """Every fixture directory is a release; the Kubernetes ones are judged together and alone."""
    change = load_change_set([str(FIXTURES / "k8s"), str(FIXTURES / "changeset")])
    releases = group_releases(change.artifacts, "directory")
    assert len(releases) > 20
    gate = Gate(bundle=bundle, engine=RegorusEngine(), settings=Config().resolve(None), now=NOW, warm=False)
    together = gate.judge(change, releases=releases)
    k8s = [f for f in together.findings if f.resource.kind not in ("MigrationFile", "ChangeRequest")]
    alone = [f for r in releases for f in judged_alone(gate, change, r)]
    assert len(k8s) > 50 and summary(k8s) == summary(alone)


class RecordingEngine(RegorusEngine):
    """regorus, remembering the module paths it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def load(self, modules: Mapping[str, str]) -> None:
        self.paths += modules
        super().load(modules)


def pruned_gate(bundle: PolicyBundle, kinds: set[str], settings: Settings | None = None) -> tuple[Gate, list[str]]:
    engine = RecordingEngine()
    gate = Gate(
        bundle=bundle,
        engine=engine,
        settings=settings or Config().resolve(None),
        now=NOW,
        kinds=frozenset(kinds),
    )
    return gate, engine.paths


def test_a_manifest_only_change_compiles_no_migration_pipeline_terraform_or_scan_policy(bundle: PolicyBundle) -> None:
    gate, paths = pruned_gate(bundle, {"Deployment", "Service"})
    domains = {p.domain for p in gate.compiled}
    assert "k8s" in domains and not domains & {"migration", "pipeline", "terraform", "scan"}
    assert not [p for p in paths if p.startswith(("rollguard/migration/", "rollguard/lib/migration/"))]
    assert not [p for p in paths if p.startswith(("rollguard/pipeline/", "rollguard/lib/pipeline/"))]
    assert "rollguard/lib/k8s/k8s.rego" in paths
    # Policies on other kinds are still selected: the decision counts them and dispatch knows them.
    assert len(gate.policies) == len(bundle.policies) and "migration.drop_column" in gate.policies_for("MigrationFile")
    assert all(p.applies_to for p in gate.compiled)
    assert "k8s.rolling_update" in {p.id for p in gate.compiled}


def test_a_change_with_a_migration_compiles_the_migration_policies(bundle: PolicyBundle) -> None:
    gate, paths = pruned_gate(bundle, {"Deployment", "MigrationFile"})
    ids = {p.id for p in gate.compiled}
    assert {"migration.drop_column", "changeset.contract_with_rollout", "k8s.rolling_update"} <= ids
    assert "rollguard/lib/migration/migration.rego" in paths
    assert not {p.domain for p in gate.compiled} & {"pipeline", "terraform"}


def test_an_environment_compiles_the_policies_on_the_change_request(bundle: PolicyBundle, tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\nenvironments:\n  prod:\n    risk: high\n")
    without, _ = pruned_gate(bundle, {"Deployment"})
    with_env, _ = pruned_gate(bundle, {"Deployment"}, load_config(config).resolve("prod"))
    on_request = {p.id for p in bundle.policies if "ChangeRequest" in p.applies_to}
    assert on_request and not on_request & {p.id for p in without.compiled}
    assert on_request <= {p.id for p in with_env.compiled}


def findings_of(decision: Decision) -> list[tuple[str, str, int | None, str, str]]:
    return sorted((f.policy, f.file or "", f.line, f.message, f.enforcement) for f in decision.findings)


@pytest.mark.parametrize("path", _fixture_files() + _fixture_folders(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pruned_gate_decides_as_the_whole_bundle_on_every_fixture(path: Path, bundle: PolicyBundle) -> None:
    parameters = fixture_parameters(path)
    exceptions = fixture_exceptions(path)
    if path.is_dir() and (path / "rollguard.yaml").is_file():
        governed = governed_gate(path, "regorus", bundle, parameters)
        settings, now = governed.settings, governed.now
    else:
        config = Config(parameters={policy_of(path): parameters or {}}, vulnerability_exceptions=exceptions)
        settings, now = config.resolve(None), NOW
    inputs = [path, *(p for p in companions(path) if _holds_documents(p))]
    change = load_change_set([str(p) for p in inputs])
    kinds = frozenset(document_kind(a) for a in change.artifacts)
    whole = Gate(bundle=bundle, engine=RegorusEngine(), settings=settings, now=now, warm=False)
    pruned = Gate(bundle=bundle, engine=RegorusEngine(), settings=settings, now=now, warm=False, kinds=kinds)
    assert len(pruned.compiled) < len(whole.compiled)
    expected, got = whole.judge(change), pruned.judge(change)
    assert findings_of(got) == findings_of(expected)
    assert (got.resources, got.policies, got.unjudged, got.change_request) == (
        expected.resources,
        expected.policies,
        expected.unjudged,
        expected.change_request,
    )
