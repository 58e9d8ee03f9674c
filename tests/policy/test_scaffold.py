"""`rollguard policy new`: a scaffold that passes its own tests and the pack's rules as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from rollguard.cli import main
from rollguard.errors import ConfigError
from rollguard.gatekeeper import constraint_template
from rollguard.inputs import load_change_set
from rollguard.policy.bundle import load_bundle
from rollguard.policy.scaffold import new_policy

from ..conftest import ENGINES, POLICIES, make_gate

LABEL = "app.kubernetes.io/part-of"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def pack_with_new_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the pack with `k8s.owner_label` scaffolded into it, fixtures beside it."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(POLICIES, root / "policies")
    result = run("policy", "new", "k8s.owner_label", "--dir", str(root / "policies"))
    assert result.exit_code == 0, result.output
    return root


def test_new_writes_the_packs_four_files(pack_with_new_policy: Path) -> None:
    root = pack_with_new_policy
    folder = root / "policies" / "rollguard" / "k8s" / "owner_label"
    assert sorted(p.name for p in folder.iterdir()) == ["owner_label.rego", "owner_label_test.rego"]
    fixtures = root / "fixtures" / "k8s" / "owner_label"
    assert sorted(p.name for p in fixtures.iterdir()) == ["allowed_labelled.yaml", "disallowed_missing_label.yaml"]
    source = (folder / "owner_label.rego").read_text()
    assert source.startswith("# METADATA\n# title: Owner label\n")
    assert "\npackage rollguard.k8s.owner_label\n\nimport data.rollguard.lib.k8s\n" in source


@pytest.mark.parametrize("engine", ENGINES)
def test_its_tests_pass_in_the_pack(pack_with_new_policy: Path, engine: str) -> None:
    policies = pack_with_new_policy / "policies"
    result = run(
        "policy",
        "test",
        "--policies",
        str(policies),
        "--engine",
        engine,
        "--run",
        "rollguard.k8s.owner_label_test.",
        "-v",
    )
    assert result.exit_code == 0, result.output
    assert "PASS  rollguard.k8s.owner_label_test.test_object_with_the_label_passes" in result.output
    assert "PASS  rollguard.k8s.owner_label_test.test_object_without_the_label_is_reported" in result.output
    assert result.output.splitlines()[-1] == "PASS: 2/2"


def test_it_keeps_the_packs_metadata_rules(pack_with_new_policy: Path) -> None:
    bundle = load_bundle(pack_with_new_policy / "policies")
    info = bundle.by_id()["k8s.owner_label"]
    assert info.severity.label == "medium" and info.controls == ("SOC2:CC8.1",)
    assert info.applies_to == ("Deployment", "StatefulSet", "DaemonSet")
    # tests/test_precision_doc.py: the description argues its severity.
    assert re.search(r"\bmedium\b", info.description, re.IGNORECASE)
    # tests/policy/test_rego.py: a valid schema whose defaults pass it, each with a description.
    jsonschema.Draft202012Validator.check_schema(info.parameters_schema)
    assert not list(jsonschema.Draft202012Validator(info.parameters_schema).iter_errors(info.default_parameters()))
    assert info.default_parameters() == {"labels": [LABEL]}
    assert all("description" in p for p in info.parameters_schema["properties"].values())
    assert info.remediation_for({"label": LABEL}) == f"Add the label {LABEL} to the object's metadata.labels."
    # The Gatekeeper build accepts it: schema, Rego and libraries.
    template = constraint_template(bundle, info)
    assert template["spec"]["crd"]["spec"]["names"]["kind"] == "RollguardOwnerLabel"


@pytest.mark.parametrize("engine", ENGINES)
def test_its_fixtures_are_judged_like_the_packs(pack_with_new_policy: Path, engine: str) -> None:
    """tests/test_fixtures.py: every policy of the pack judges each fixture; only this one reports the disallowed."""
    root = pack_with_new_policy
    gate = make_gate(load_bundle(root / "policies"), engine)
    fixtures = root / "fixtures" / "k8s" / "owner_label"
    allowed = gate.judge(load_change_set([str(fixtures / "allowed_labelled.yaml")]))
    assert allowed.findings == () and not allowed.errors
    path = fixtures / "disallowed_missing_label.yaml"
    disallowed = gate.judge(load_change_set([str(path)]))
    assert [(f.policy, f.message) for f in disallowed.findings] == [
        ("k8s.owner_label", f'Deployment shop/checkout has no label "{LABEL}"')
    ]
    finding = disallowed.findings[0]
    labels_line = path.read_text().splitlines().index("  labels:") + 1
    assert (finding.file, finding.line) == (str(path), labels_line)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_scaffold_in_a_directory_of_its_own_runs_beside_the_pack(tmp_path: Path, engine: str) -> None:
    result = run("policy", "new", "k8s.team_label", "--dir", str(tmp_path / "mine"))
    assert result.exit_code == 0, result.output
    assert f"next: run its tests: rollguard policy test --policy {tmp_path.as_posix()}/mine" in result.output
    tested = run(
        "policy",
        "test",
        "--policy",
        str(tmp_path / "mine"),
        "--engine",
        engine,
        "--run",
        "rollguard.k8s.team_label_test.",
    )
    assert tested.exit_code == 0, tested.output
    assert tested.output == "PASS: 2/2\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cluster_scoped_kind_gets_its_own_object(tmp_path: Path, engine: str) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES / "rollguard" / "lib", policies / "rollguard" / "lib")
    result = run("policy", "new", "k8s.role_label", "--dir", str(policies), "--kind", "ClusterRole")
    assert result.exit_code == 0, result.output
    tests = (policies / "rollguard" / "k8s" / "role_label" / "role_label_test.rego").read_text()
    assert '"msg": `ClusterRole default/web has no label' in tests
    allowed = (tmp_path / "fixtures" / "k8s" / "role_label" / "allowed_labelled.yaml").read_text()
    assert "kind: ClusterRole\n" in allowed and "namespace:" not in allowed
    tested = run("policy", "test", "--policies", str(policies), "--engine", engine, "--run", "role_label")
    assert tested.exit_code == 0, tested.output
    assert tested.output == "PASS: 2/2\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_artifact_policy_reads_input_artifact_and_asks_for_fixtures(tmp_path: Path, engine: str) -> None:
    policies = tmp_path / "policies"
    result = run("policy", "new", "migration.no_drafts", "--dir", str(policies))
    assert result.exit_code == 0, result.output
    assert (
        f"next: add {tmp_path.as_posix()}/fixtures/migration/no_drafts/allowed_<case> and disallowed_<case>, "
        "each a .sql file" in result.output
    )
    assert not (tmp_path / "fixtures").exists()
    source = (policies / "rollguard" / "migration" / "no_drafts" / "no_drafts.rego").read_text()
    assert "#   applies_to: [MigrationFile]\n" in source and "input.artifact.file" in source
    tested = run("policy", "test", "--policies", str(policies), "--engine", engine)
    assert tested.exit_code == 0, tested.output
    assert tested.output == "PASS: 2/2\n"


@pytest.mark.parametrize(
    ("policy_id", "message"),
    [
        ("k8s", "policy id 'k8s' must be <domain>.<name> in snake_case"),
        ("K8s.owner", "policy id 'K8s.owner' must be <domain>.<name> in snake_case"),
        ("k8s.owner-label", "policy id 'k8s.owner-label' must be <domain>.<name> in snake_case"),
        ("k8s.a.b", "policy id 'k8s.a.b' must be <domain>.<name> in snake_case"),
        ("k8s.testing", "policy name 'testing' is a Rego keyword or a name the generated tests use"),
        ("acme.owner", "domain 'acme' is none of rollguard's (changeset, governance, image, k8s, migration"),
    ],
)
def test_an_invalid_id_is_refused_with_exit_2(tmp_path: Path, policy_id: str, message: str) -> None:
    result = CliRunner().invoke(main, ["policy", "new", policy_id, "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "p").exists()


def test_kinds_are_checked(tmp_path: Path) -> None:
    mixed = CliRunner().invoke(main, ["policy", "new", "k8s.x", "--kind", "Deployment", "--kind", "MigrationFile"])
    assert mixed.exit_code == 2 and "--kind mixes Kubernetes kinds with MigrationFile" in mixed.output
    bad = CliRunner().invoke(main, ["policy", "new", "k8s.x", "--kind", "deployment"])
    assert bad.exit_code == 2 and "--kind 'deployment' is not a kind name" in bad.output
    assert new_policy("acme.owner", kinds=["Service", "Service"]).kinds == ("Service",)


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    assert run("policy", "new", "k8s.owner_label", "--dir", str(policies)).exit_code == 0
    module = policies / "rollguard" / "k8s" / "owner_label" / "owner_label.rego"
    module.write_text("edited by hand\n")
    again = CliRunner().invoke(main, ["policy", "new", "k8s.owner_label", "--dir", str(policies)])
    assert again.exit_code == 2
    assert f"policy k8s.owner_label: {module.as_posix()}, " in again.output
    assert "already exist; pass --force to overwrite" in again.output
    assert module.read_text() == "edited by hand\n"
    forced = run("policy", "new", "k8s.owner_label", "--dir", str(policies), "--force")
    assert forced.exit_code == 0 and module.read_text().startswith("# METADATA\n")


@given(st.text(max_size=30))
def test_any_id_is_a_policy_or_a_config_error(text: str) -> None:
    try:
        policy = new_policy(text)
    except ConfigError:
        return
    assert policy.id == text and f"rollguard.{text}" == policy.package
