"""A PASS means "judged and fine": every input, policy and setting is judged or refused, never dropped.

One test (or one parametrised family) per way the gate used to pass silently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.inputs import load_change_set
from rollguard.model import Severity
from rollguard.policy.bundle import load_bundle

from .conftest import FIXTURES, POLICIES

NO_PROBE = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"
GOOD = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"


def run(*args: str, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def _policy(root: Path, pid: str, *, severity: str = "medium", body: str | None = None, meta: str = "") -> Path:
    domain, name = pid.split(".")
    folder = root / "rollguard" / domain / name
    folder.mkdir(parents=True, exist_ok=True)
    rule = body or (
        'violation contains {"msg": msg, "details": {}} if {\n'
        '\tinput.review.object.kind == "ConfigMap"\n'
        f'\tmsg := "{pid} fired"\n'
        "}\n"
    )
    path = folder / f"{name}.rego"
    path.write_text(
        "# METADATA\n"
        f"# title: {pid}\n"
        "# description: A test policy.\n"
        "# scope: package\n"
        "# custom:\n"
        f"#   id: {pid}\n"
        f"#   severity: {severity}\n"
        "#   applies_to: [ConfigMap]\n"
        f"{meta}"
        f"package rollguard.{pid}\n\n{rule}"
    )
    return path


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  a: b\n"


# --- 1. every --fail-on level against a finding of every severity ------------------------------


@pytest.fixture(scope="module")
def one_policy_per_severity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("severities")
    for s in Severity:
        _policy(root, f"test.{s.label}", severity=s.label)
    return root


@pytest.mark.parametrize("fail_on", [s.label for s in Severity])
def test_every_fail_on_level_against_every_severity(
    fail_on: str, one_policy_per_severity: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(CONFIGMAP)
    table = {}
    for finding in Severity:
        config = tmp_path / "rollguard.yaml"
        config.write_text(f"policies:\n  include: [test.{finding.label}]\n")
        result = run(
            "check", "--engine", "regorus", "--policies", str(one_policy_per_severity),
            "--config", str(config), "--fail-on", fail_on, str(manifest),
        )  # fmt: skip
        assert f"test.{finding.label} fired" in result.output
        table[finding.label] = result.exit_code
    threshold = Severity.parse(fail_on)
    assert table == {s.label: 1 if s >= threshold else 0 for s in Severity}


@pytest.mark.parametrize("where", ["top level", "environment"])
def test_fail_on_info_in_the_config_is_honoured(where: str, one_policy_per_severity: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(CONFIGMAP)
    config = tmp_path / "rollguard.yaml"
    setting = "fail_on: info\n" if where == "top level" else "environments:\n  prod:\n    fail_on: info\n"
    config.write_text(f"policies:\n  include: [test.info]\n{setting}")
    args = ["check", "--engine", "regorus", "--policies", str(one_policy_per_severity), "--config", str(config)]
    args += ["--env", "prod"] if where == "environment" else []
    result = run(*args, "--format", "json", str(manifest))
    assert json.loads(result.output)["summary"]["fail_on"] == "info"
    assert result.exit_code == 1


# --- 2. nothing to judge ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [("empty.yaml", ""), ("comments.yaml", "# rendered by helm\n# nothing here\n---\n"), ("blank.json", "\n\n")],
)
def test_a_file_with_nothing_to_judge_is_exit_2(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = run("check", str(path))
    assert result.exit_code == 2
    assert f"{path.as_posix()}: nothing to judge: the file is empty or holds only comments" in result.output
    assert run("check", "--allow-empty", str(path)).exit_code == 0


def test_empty_stdin_is_exit_2() -> None:
    result = run("check", "-", input="")
    assert result.exit_code == 2 and "<stdin>: nothing to judge: stdin was empty" in result.output
    assert "rendering failed" in result.output
    assert run("check", "--allow-empty", "-", input="").exit_code == 0


def test_an_empty_file_beside_real_input_is_still_named(tmp_path: Path) -> None:
    empty = tmp_path / "rendered.yaml"
    empty.write_text("")
    result = run("check", str(empty), str(GOOD))
    assert result.exit_code == 2 and f"{empty.as_posix()}: nothing to judge" in result.output


@pytest.mark.parametrize("content", [{"notes.txt": "x"}, {"a.yaml": "", "b.yml": "# only a comment\n"}, {}])
def test_a_folder_with_nothing_to_judge_is_exit_2(content: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "k8s"
    folder.mkdir()
    for name, text in content.items():
        (folder / name).write_text(text)
    result = run("check", str(folder))
    assert result.exit_code == 2 and f"{folder.as_posix()}: nothing to judge" in result.output
    assert run("check", "--allow-empty", str(folder)).exit_code == 0


def test_a_stdin_that_is_not_utf8_names_the_line() -> None:
    result = run("check", "-", input=b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \xff}\n")
    assert result.exit_code == 2 and "<stdin>:3: not UTF-8 text (byte 0xff at offset 48)" in result.output


# --- 3. no policies, or policies that could never fire -----------------------------------------


def test_a_policy_folder_without_policies_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "notes.rego").write_text("package rollguard.lib.notes\n\nx := 1\n")
    result = run("check", "--policies", str(tmp_path), str(GOOD))
    assert result.exit_code == 3 and f"{tmp_path.as_posix()}: no policies found" in result.output


def test_policy_list_on_an_empty_set_is_exit_2(tmp_path: Path) -> None:
    result = run("policy", "list", "--policies", str(tmp_path))
    assert result.exit_code == 2 and "no policies in" in result.output and "ID" not in result.output


def test_a_package_outside_the_layout_is_exit_3(tmp_path: Path) -> None:
    _policy(tmp_path, "test.ok")
    (tmp_path / "main.rego").write_text('package main\n\ndeny contains msg if { msg := "x" }\n')
    result = run("check", "--policies", str(tmp_path), str(GOOD))
    assert result.exit_code == 3
    assert "main.rego:1: package main is neither a policy (`rollguard.<domain>.<name>`)" in result.output


def test_a_policy_without_violation_rule_is_exit_3(tmp_path: Path) -> None:
    path = _policy(tmp_path, "test.silent", body='deny contains msg if {\n\tmsg := "never read"\n}\n')
    result = run("check", "--policies", str(tmp_path), str(GOOD))
    assert result.exit_code == 3
    assert f"{path.relative_to(tmp_path).as_posix()}:9: policy test.silent defines no `violation` rule" in result.output


def test_a_reference_to_a_missing_library_rule_is_exit_3(tmp_path: Path) -> None:
    lib = tmp_path / "rollguard" / "lib" / "k8s"
    lib.mkdir(parents=True)
    (lib / "k8s.rego").write_text("package rollguard.lib.k8s\n\nkind := input.review.object.kind\n")
    body = (
        "import data.rollguard.lib.k8s\n\n"
        'violation contains {"msg": "x", "details": {}} if {\n'
        '\tk8s.kind == "ConfigMap"\n'
        "\tk8s.obj_replicas > 1 # `k8s.nothing` in a comment is no reference\n"
        "}\n"
    )
    path = _policy(tmp_path, "test.typo", body=body)
    result = run("check", "--policies", str(tmp_path), str(GOOD))
    assert result.exit_code == 3
    assert f"{path.relative_to(tmp_path).as_posix()}:15: k8s.obj_replicas is not defined in data.rollguard.lib.k8s" in (
        result.output
    )


def test_the_shipped_pack_references_only_existing_library_rules() -> None:
    bundle = load_bundle(POLICIES)  # raises on the first missing one
    assert len(bundle.policies) >= 66


# --- 4. unknown parameter keys, wrong types and unknown policies carry the config line ----------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "parameters:\n  k8s.min_ready_seconds:\n    min_secs: 0\n",
            "{config}:3: parameters.k8s.min_ready_seconds.min_secs: unknown parameter (it has: min_seconds)",
        ),
        (
            "parameters:\n  k8s.min_ready_seconds:\n    min_seconds: soon\n",
            "{config}:3: parameters.k8s.min_ready_seconds.min_seconds: 'soon' is not of type 'integer'",
        ),
        (
            "environments:\n  prod:\n    parameters:\n      k8s.min_ready_seconds:\n        min_second: 3\n",
            "{config}:5: parameters.k8s.min_ready_seconds.min_second: unknown parameter",
        ),
        (
            "parameters:\n  k8s.*:\n    min_secnds: 3\n",
            "{config}:3: parameters.k8s.*.min_secnds: unknown parameter (the 27 policies it matches have:",
        ),
        (
            "parameters:\n  k8s.secret_env:\n    anything: 1\n",
            "{config}:3: parameters.k8s.secret_env.anything: unknown parameter (it has no parameters)",
        ),
        (
            "waivers:\n  - id: W-1\n    policy: k8s.readiness_prob\n    reason: r\n    owner: o\n    expires: '2030-01-01'\n",
            "{config}:2: waiver W-1: 'k8s.readiness_prob' matches no policy",
        ),
        ("enforcement:\n  k8s.nope: warn\n", "{config}:2: enforcement: 'k8s.nope' matches no policy"),
        ("policies:\n  include: []\n", "{config}:2: policies.include/exclude select none of the"),
    ],
)
def test_config_mistakes_name_the_line(config: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "rollguard.yaml"
    path.write_text(config)
    result = run("check", "--config", str(path), "--env", "prod", str(GOOD)) if "prod" in config else None
    result = result or run("check", "--config", str(path), str(GOOD))
    assert result.exit_code == 2
    assert expected.format(config=path) in result.output


def test_a_glob_gives_each_policy_only_the_keys_it_declares(tmp_path: Path) -> None:
    path = tmp_path / "rollguard.yaml"
    path.write_text("parameters:\n  k8s.*:\n    min_seconds: 30\n")
    result = run("check", "--config", str(path), "--format", "json", str(GOOD))
    assert result.exit_code == 0, result.output  # min_ready_seconds is low: reported, not blocking
    found = [f for f in json.loads(result.output)["findings"] if f["policy"] == "k8s.min_ready_seconds"]
    assert found and found[0]["details"]["min_seconds"] == 30


def test_every_parameter_schema_refuses_unknown_keys() -> None:
    bundle = load_bundle(POLICIES)
    open_schemas = []
    for info in bundle.policies:
        stack = [("parameters", info.parameters_schema)]
        while stack:
            where, schema = stack.pop()
            if schema.get("type") == "object" and "properties" in schema:
                if schema.get("additionalProperties") is not False:
                    open_schemas.append(f"{info.id}: {where}")
                stack.extend((f"{where}.{k}", v) for k, v in schema["properties"].items() if isinstance(v, dict))
    assert open_schemas == []
    assert all(isinstance(i.declared_parameters, tuple) for i in bundle.policies)


# --- 5. duplicate mapping keys in every YAML rollguard reads ------------------------------------


def test_a_duplicate_key_in_a_manifest_is_an_input_error(tmp_path: Path) -> None:
    # A trailing second `kind:` would turn a Deployment without probes into a harmless Service.
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n"
    path = tmp_path / "deploy.yaml"
    path.write_text(CONFIGMAP + "---\n" + deployment + "kind: Service\n")
    change = load_change_set([str(path)])
    assert [a.resource.kind for a in change.artifacts] == ["ConfigMap"]
    (problem,) = change.problems
    assert problem.line == 15 and "in the document starting at line 9" in problem.message
    assert "duplicate key 'kind' (first at line 10)" in problem.message


def test_a_duplicate_key_in_rollguard_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "rollguard.yaml"
    path.write_text("fail_on: critical\npolicies:\n  exclude: []\nfail_on: info\n")
    result = run("check", "--config", str(path), str(GOOD))
    assert (
        result.exit_code == 2 and f"{path}:4: invalid YAML: duplicate key 'fail_on' (first at line 1)" in result.output
    )


def test_merge_keys_may_repeat_what_they_merge(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text(
        "base: &b {a: 1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  <<: {a: '1'}\n  a: '2'\n"
    )
    change = load_change_set([str(path)])
    assert [a.document.get("data") for a in change.artifacts] == [{"a": "2"}]


# --- 6. duplicate objects in one change ----------------------------------------------------------


def test_the_same_object_twice_names_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(CONFIGMAP)
    (tmp_path / "b.yaml").write_text("---\n" + CONFIGMAP.replace("a: b", "a: c"))
    result = run("check", "--format", "json", str(tmp_path))
    assert result.exit_code == 2
    (error,) = json.loads(result.output)["errors"]
    assert error["file"] == (tmp_path / "b.yaml").as_posix() and error["line"] == 2
    assert error["message"].startswith(
        f"ConfigMap shop/settings is defined twice in this change (also at {tmp_path.as_posix()}/a.yaml:1)"
    )


def test_same_name_in_another_namespace_or_group_is_not_a_duplicate(tmp_path: Path) -> None:
    other_ns = CONFIGMAP.replace("namespace: shop", "namespace: pay")
    (tmp_path / "a.yaml").write_text(CONFIGMAP + "---\n" + other_ns)
    change = load_change_set([str(tmp_path)])
    assert change.problems == () and len(change.artifacts) == 2


def test_a_duplicate_key_in_a_workflow_is_an_input_error(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    path = workflows / "deploy.yml"
    path.write_text(
        "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    environment: production\n"
        "    steps:\n      - run: kubectl apply -f k8s/\n    environment: dev\n"
    )
    result = run("check", "--format", "json", str(path))
    assert result.exit_code == 2
    (error,) = json.loads(result.output)["errors"]
    assert error["line"] == 8 and "duplicate key 'environment' (first at line 5)" in error["message"]


# --- beyond the numbered cases: an input no policy applies to is named, not counted as judged ----


def test_inputs_no_policy_applies_to_are_listed_as_not_judged() -> None:
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\n"
    result = run("check", "-", input=CONFIGMAP + "---\n" + widget)
    assert result.exit_code == 0
    assert (
        "Not judged: no selected policy applies to these kinds\n  ConfigMap (1): shop/settings\n  Widget (1): shop/w"
        in (result.output)
    )
    assert result.output.rstrip().endswith("; 2 not judged")
    report = json.loads(run("check", "--format", "json", "-", input=widget).output)
    assert report["summary"]["unjudged"] == 1
    assert report["unjudged"] == [{"apiVersion": "example.com/v1", "kind": "Widget", "namespace": "shop", "name": "w"}]


# --- 12. an API removed after the target release is a warning, one removed by it blocks --------


@pytest.mark.parametrize(("version", "severity", "exit_code"), [("1.29", "low", 0), ("1.32", "high", 1)])
def test_deprecated_api_against_the_target_release(version: str, severity: str, exit_code: int, tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text(f"parameters:\n  k8s.deprecated_api:\n    kubernetes_version: '{version}'\n")
    flowschema = FIXTURES / "k8s" / "deprecated_api" / "disallowed_flowschema_removal_scheduled.yaml"
    result = run("check", "--config", str(config), "--format", "json", str(flowschema))
    found = [f for f in json.loads(result.output)["findings"] if f["policy"] == "k8s.deprecated_api"]
    assert [(f["severity"], f["details"]["removed_in"]) for f in found] == [(severity, "1.32")]
    assert result.exit_code == exit_code
