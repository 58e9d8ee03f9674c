"""The generated Gatekeeper tree: fresh, accepted by Gatekeeper, and deciding exactly like the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.contract import build_inventory, review_for
from rollguard.errors import PolicyError
from rollguard.gate import Gate
from rollguard.gatekeeper import (
    BUILD_COMMAND,
    HEADER,
    TemplateEvaluator,
    build_tree,
    constraint_kind,
    constraint_template,
    evaluate_template,
    inventory_kinds,
    openapi_schema,
    structural_problems,
    template_code,
)
from rollguard.gatekeeper.documents import go_regex_literal
from rollguard.gatekeeper.rego import package_of
from rollguard.gatekeeper.tree import fixture_parameters
from rollguard.generated import GeneratedTree
from rollguard.inputs import load_change_set
from rollguard.policy.bundle import PolicyBundle, PolicyInfo, load_bundle
from rollguard.policy.config import Config, load_config

from .conftest import FIXTURES, POLICIES, ROOT, assert_current, make_gate

BUNDLE = load_bundle(POLICIES)
# The policies Gatekeeper runs: those reading the rollout simulation are left out of its tree.
K8S = [p for p in BUNDLE.policies if p.domain == "k8s" and not p.needs_simulation]
COMMITTED = ROOT / "gatekeeper"
# RFC 1123 subdomain (object names) and label (what Gatekeeper also accepts for constraint names).
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.fixture(scope="module")
def built() -> GeneratedTree:
    return build_tree(BUNDLE, Config().resolve(None), fixtures=FIXTURES)


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return {info.id: constraint_template(BUNDLE, info) for info in K8S}


def documents(files: Mapping[str, str], suffix: str) -> dict[str, Any]:
    return {path: yaml.safe_load(text) for path, text in files.items() if path.endswith(suffix)}


# --- 1. the committed tree is what a build gives ---------------------------------------------------


def test_committed_tree_is_fresh(built: GeneratedTree) -> None:
    assert_current(built, COMMITTED, BUILD_COMMAND)


def test_every_generated_file_carries_the_header(built: GeneratedTree) -> None:
    assert all(text.startswith(HEADER) for text in built.values())


# --- 2. the templates decide like the CLI, on real OPA -----------------------------------------------


def fixture_cases() -> list[Any]:
    return [
        pytest.param(info, path, id=f"{info.name}/{path.name}")
        for info in K8S
        for path in sorted((FIXTURES / info.domain / info.name).glob("*.yaml"))
    ]


class Gatekeeper:
    """Template evaluators on OPA and CLI gates per parameter set, shared by the parity tests."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self.bundle = bundle
        self._evaluators: dict[str, TemplateEvaluator] = {}
        self._gates: dict[str, Gate] = {}

    def evaluator(self, info: PolicyInfo) -> TemplateEvaluator:
        if info.id not in self._evaluators:
            self._evaluators[info.id] = TemplateEvaluator(constraint_template(self.bundle, info), engine="opa")
        return self._evaluators[info.id]

    def gate(self, info: PolicyInfo, parameters: Mapping[str, Any]) -> Gate:
        key = json.dumps([info.id, parameters], sort_keys=True)
        if key not in self._gates:
            settings = Config(include=(info.id,), parameters={info.id: dict(parameters)}).resolve(None)
            self._gates[key] = make_gate(self.bundle, "opa", settings)
        return self._gates[key]


@pytest.fixture(scope="module")
def gatekeeper() -> Gatekeeper:
    return Gatekeeper(BUNDLE)


@pytest.mark.parametrize(("info", "fixture"), fixture_cases())
def test_template_decides_like_the_cli(info: PolicyInfo, fixture: Path, gatekeeper: Gatekeeper) -> None:
    """Each document the policy judges, run through its template as Gatekeeper runs it, draws the
    violations (message and details) `rollguard check` reports for it.

    Gatekeeper's inventory holds only synced kinds, and never rollguard's selector index: the other
    objects of the fixture go in only if their kind is one the template declares it reads.
    """
    parameters = {**info.default_parameters(), **(fixture_parameters(fixture) or {})}
    change = load_change_set([fixture.as_posix()])
    assert not change.problems, [p.display() for p in change.problems]
    decision = gatekeeper.gate(info, parameters).judge(change)
    assert not decision.errors, [f.message for f in decision.errors]
    read = set(inventory_kinds(info))
    judged = [a for a in change.artifacts if a.document["kind"] in info.applies_to]
    if not judged:
        # The constraint does not match the fixture's kinds (e.g. DaemonSets for tolerations), so
        # Gatekeeper never asks the template; the CLI must not flag it either.
        assert info.id not in {f.policy for f in decision.findings}
        return
    found = 0
    for artifact in judged:
        others = [o.document for o in change.artifacts if o is not artifact and o.document["kind"] in read]
        inventory = build_inventory(others, index=False)
        got = gatekeeper.evaluator(info).violations(review_for(artifact), parameters, inventory)
        want = sorted(
            (
                {"msg": f.message, "details": dict(f.details)}
                for f in decision.findings
                if f.policy == info.id and f.is_about(artifact)
            ),
            key=lambda v: json.dumps(v, sort_keys=True),
        )
        assert got == want, f"{artifact.resource.display()} in {fixture.name}"
        found += len(got)
    if fixture.name.startswith("disallowed_") and info.id in {f.policy for f in decision.findings}:
        assert found, f"{fixture.name}: the CLI finds a violation, the template none"


def test_evaluate_template_is_gatekeepers_view(templates: dict[str, dict[str, Any]]) -> None:
    """The reusable one-off form: parameters and inventory come from the constraint and the sync, not data."""
    change = load_change_set([(FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml").as_posix()])
    deployment = change.artifacts[0]
    template = templates["k8s.readiness_probe"]
    empty = {"namespace": {}, "cluster": {}}
    assert evaluate_template(template, review_for(deployment), {"probes": []}, empty) == []
    violations = evaluate_template(template, review_for(deployment), {}, empty)
    assert violations == [
        {
            "msg": 'container "checkout" has no readinessProbe',
            "details": {
                "container": "checkout",
                "probe": "readinessProbe",
                "case": "missing_probe",
                "path": "spec.template.spec.containers[0].readinessProbe",
            },
        }
    ]


def test_gatekeeper_inventory_without_the_selector_index_gives_the_same_pdb_findings(
    templates: dict[str, dict[str, Any]],
) -> None:
    """`data.inventory.rollguard_selectors` is rollguard's own; the library must fall back without it."""
    path = FIXTURES / "k8s" / "pdb_coverage" / "disallowed_max_unavailable_zero.yaml"
    change = load_change_set([path.as_posix()])
    deployment = next(a for a in change.artifacts if a.document["kind"] == "Deployment")
    others = [a.document for a in change.artifacts if a is not deployment]
    evaluator = TemplateEvaluator(templates["k8s.pdb_coverage"])
    with_index = evaluator.violations(review_for(deployment), {}, build_inventory(others))
    without = evaluator.violations(review_for(deployment), {}, build_inventory(others, index=False))
    assert with_index == without and len(without) == 1


# --- 3. what Gatekeeper and Kubernetes accept ---------------------------------------------------------


def test_template_shape(templates: dict[str, dict[str, Any]]) -> None:
    for pid, t in templates.items():
        info = BUNDLE.by_id()[pid]
        assert t["apiVersion"] == "templates.gatekeeper.sh/v1"
        names = t["spec"]["crd"]["spec"]["names"]
        assert t["metadata"]["name"] == names["kind"].lower() == constraint_kind(info).lower(), pid
        assert DNS_SUBDOMAIN.match(t["metadata"]["name"]) and len(t["metadata"]["name"]) <= 63, pid
        annotations = t["metadata"]["annotations"]
        assert annotations["rollguard.io/policy-id"] == pid
        assert annotations["rollguard.io/severity"] == info.severity.label
        assert annotations["rollguard.io/controls"] == ", ".join(info.controls)
        assert annotations["metadata.gatekeeper.sh/title"] == info.title
        assert annotations["description"] == info.description
        assert re.fullmatch(r"sha256-[0-9a-f]{16}", annotations["metadata.gatekeeper.sh/version"])
        (target,) = t["spec"]["targets"]
        assert target["target"] == "admission.k8s.gatekeeper.sh"
        assert "rego" not in target, "the legacy targets[].rego field is Rego v0 only"
        (code,) = target["code"]
        assert code["engine"] == "Rego" and code["source"]["version"] == "v1"


def test_rego_keeps_input_parameters_and_moves_libraries_under_lib(templates: dict[str, dict[str, Any]]) -> None:
    rego, libs = template_code(templates["k8s.readiness_probe"])
    assert "input.parameters.probes" in rego, "the template must read the constraint's parameters"
    assert "data.rollguard.parameters" not in rego
    assert "import data.lib.rollguard.k8s" in rego
    assert [package_of(lib, file="lib") for lib in libs] == ["lib.rollguard.k8s"]
    for pid, t in templates.items():
        rego, libs = template_code(t)
        for source in (rego, *libs):
            assert not re.search(r"^\s*(package|import)\s+(data\.)?rollguard\.lib", source, re.MULTILINE), pid
            assert "\t" not in source, f"{pid}: tabs force the Rego into a quoted YAML string"


def test_libraries_are_exactly_the_transitive_imports(templates: dict[str, dict[str, Any]]) -> None:
    packages = {pid: [package_of(lib, file="lib") for lib in template_code(t)[1]] for pid, t in templates.items()}
    # image_pinning imports lib.image, which imports lib.k8s; readiness_probe only lib.k8s.
    assert packages["k8s.image_pinning"] == ["lib.rollguard.image", "lib.rollguard.k8s"]
    assert packages["k8s.readiness_probe"] == ["lib.rollguard.k8s"]
    for pid, libs in packages.items():
        assert len(libs) == len(set(libs)), pid


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_every_template_compiles(engine: str, templates: dict[str, dict[str, Any]]) -> None:
    for pid, t in templates.items():
        try:
            TemplateEvaluator(t, engine=engine).compile()
        except PolicyError as exc:
            pytest.fail(f"{pid} does not compile on {engine}: {exc}")


def test_parameter_schemas_are_structural(templates: dict[str, dict[str, Any]]) -> None:
    for pid, t in templates.items():
        schema = t["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]
        assert structural_problems(schema) == [], pid


def test_nullable_and_other_json_schema_forms_are_converted() -> None:
    schema = openapi_schema(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max": {"type": ["integer", "null"], "minimum": 1, "default": None},
                "port": {"type": ["integer", "string"]},
                "mode": {"type": "string", "const": "strict"},
                "above": {"type": "number", "exclusiveMinimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "additionalProperties": True},
            },
        },
        where="test",
    )
    assert structural_problems(schema) == []
    props = schema["properties"]
    assert "$schema" not in schema and "additionalProperties" not in schema
    assert props["max"] == {"type": "integer", "nullable": True, "minimum": 1}
    assert props["port"] == {"x-kubernetes-int-or-string": True}
    assert props["mode"] == {"type": "string", "enum": ["strict"]}
    assert props["above"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert props["tags"]["x-kubernetes-list-type"] == "set" and "uniqueItems" not in props["tags"]
    assert props["labels"]["additionalProperties"] == {"type": "string"}
    assert props["free"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}}, "oneOf"),
        ({"type": "object", "properties": {"x": {"$ref": "#/$defs/x"}}}, r"\$ref"),
        ({"type": "object", "properties": {"x": {"type": "array", "items": [{"type": "string"}]}}}, "tuple"),
        ({"type": "object", "properties": {"x": {"description": "no type"}}}, "declares no type"),
        ({"type": "object", "properties": {"x": {"type": ["string", "boolean"]}}}, "exactly one type"),
        ({"type": "array", "items": {"type": "string"}}, "type object"),
    ],
)
def test_unconvertible_schemas_are_refused(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        openapi_schema(schema, where="test")


def test_structural_check_catches_what_gatekeeper_refuses() -> None:
    assert "parameters: no single type" in structural_problems({"properties": {}})
    assert "parameters: exclusiveMinimum must be a boolean in OpenAPI v3" in structural_problems(
        {"type": "number", "exclusiveMinimum": 0}
    )
    assert "parameters.x: additionalProperties: false" in structural_problems(
        {"type": "object", "properties": {"x": {"type": "object", "additionalProperties": False}}}
    )
    assert "parameters: keyword '$schema' is not allowed" in structural_problems({"type": "object", "$schema": "x"})
    assert "parameters.x: array without items" in structural_problems(
        {"type": "object", "properties": {"x": {"type": "array"}}}
    )


def test_policies_that_need_the_simulation_are_left_out(built: GeneratedTree) -> None:
    left_out = [p for p in BUNDLE.policies if p.domain == "k8s" and p.needs_simulation]
    assert {p.id for p in left_out} == {"k8s.progress_feasible", "k8s.quota_headroom"}
    assert not [path for path in built if path.split("/")[0] in {p.name for p in left_out}]


def test_sync_config_lists_every_kind_the_policies_read(built: GeneratedTree) -> None:
    config = yaml.safe_load(built["sync.yaml"])
    assert config["apiVersion"] == "config.gatekeeper.sh/v1alpha1" and config["kind"] == "Config"
    assert config["metadata"] == {"name": "config", "namespace": "gatekeeper-system"}
    synced = {e["kind"]: (e["group"], e["version"]) for e in config["spec"]["sync"]["syncOnly"]}
    declared = {kind for info in K8S for kind in inventory_kinds(info)}
    assert set(synced) == declared
    # The kinds the cross-object policies look up (METADATA `inventory`, checked against their Rego).
    assert {"Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "Deployment"} <= set(synced)
    assert synced["PodDisruptionBudget"] == ("policy", "v1")
    assert synced["HorizontalPodAutoscaler"] == ("autoscaling", "v2")
    for path, t in documents(built, "template.yaml").items():
        annotation = t["metadata"]["annotations"].get("metadata.gatekeeper.sh/requires-sync-data")
        needed = {clause["kinds"][0] for req in json.loads(annotation or "[]") for clause in req}
        assert needed <= set(synced), path


def test_undeclared_inventory_read_is_refused(tmp_path: Path) -> None:
    bundle = copy_policies(tmp_path)
    path = bundle.root / "rollguard/k8s/replicas_minimum/replicas_minimum.rego"
    text, n = re.subn(r"(?m)^#   inventory: .*$", "#   inventory: {}", path.read_text())
    assert n == 1
    path.write_text(text)
    info = load_bundle(bundle.root).by_id()["k8s.replicas_minimum"]
    with pytest.raises(
        PolicyError,
        match="reads HorizontalPodAutoscaler from data.inventory but METADATA custom.inventory does not list it",
    ):
        constraint_template(load_bundle(bundle.root), info)


def copy_policies(tmp_path: Path) -> PolicyBundle:
    shutil.copytree(POLICIES, tmp_path / "policies")
    return load_bundle(tmp_path / "policies")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x := data.rollguard.context.now_ns", "refers to data.rollguard.context.now_ns"),
        ('x := data["rollguard"]', r"refers to data\[\.\.\.\]"),
        ("x := input.artifact", "input.artifact"),
    ],
)
def test_policies_reading_other_data_are_refused(tmp_path: Path, line: str, message: str) -> None:
    bundle = copy_policies(tmp_path)
    path = bundle.root / "rollguard/k8s/version_label/version_label.rego"
    path.write_text(path.read_text() + f"\n{line}\n")
    bundle = load_bundle(bundle.root)
    with pytest.raises(PolicyError, match=message) as caught:
        constraint_template(bundle, bundle.by_id()["k8s.version_label"])
    assert caught.value.file == "rollguard/k8s/version_label/version_label.rego" and caught.value.line


def test_data_in_comments_and_strings_is_not_a_reference(tmp_path: Path) -> None:
    bundle = copy_policies(tmp_path)
    path = bundle.root / "rollguard/k8s/version_label/version_label.rego"
    path.write_text(path.read_text() + '\n# data.rollguard.context\nnote := "data.rollguard.x"\n')
    bundle = load_bundle(bundle.root)
    rego, _ = template_code(constraint_template(bundle, bundle.by_id()["k8s.version_label"]))
    assert 'note := "data.rollguard.x"' in rego


def test_constraint_names_are_dns_labels(built: GeneratedTree) -> None:
    constraints = documents(built, "constraint.yaml")
    assert constraints
    for path, c in constraints.items():
        assert DNS_LABEL.match(c["metadata"]["name"]) and len(c["metadata"]["name"]) <= 63, path
        assert c["apiVersion"] == "constraints.gatekeeper.sh/v1beta1"


def test_default_constraints_carry_metadata_defaults_and_deny(built: GeneratedTree) -> None:
    for info in K8S:
        c = yaml.safe_load(built[f"{info.name}/samples/{info.name.replace('_', '-')}/constraint.yaml"])
        assert c["kind"] == constraint_kind(info)
        assert c["spec"]["parameters"] == info.default_parameters()
        assert c["spec"]["enforcementAction"] == info.custom.get("enforcement", "deny")
        assert c["spec"]["match"]["kinds"] == [{"apiGroups": ["*"], "kinds": sorted(info.applies_to)}]


def test_config_drives_selection_parameters_and_enforcement(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text(
        """
policies:
  exclude: [k8s.session_affinity]
parameters:
  k8s.readiness_probe: {probes: [readinessProbe, livenessProbe]}
enforcement:
  k8s.readiness_probe: warn
  k8s.spread: dryrun
environments:
  prod:
    parameters:
      k8s.min_ready_seconds: {min_seconds: 30}
    enforcement:
      k8s.spread: deny
"""
    )
    files = build_tree(BUNDLE, load_config(config).resolve("prod"))
    probe = yaml.safe_load(files["readiness_probe/samples/readiness-probe/constraint.yaml"])
    assert probe["spec"]["enforcementAction"] == "warn"
    assert probe["spec"]["parameters"]["probes"] == ["readinessProbe", "livenessProbe"]
    assert probe["spec"]["parameters"]["probe_types"] == ["httpGet", "tcpSocket", "exec", "grpc"]
    ready = yaml.safe_load(files["min_ready_seconds/samples/min-ready-seconds/constraint.yaml"])
    assert ready["spec"]["parameters"] == {"min_seconds": 30}
    spread = yaml.safe_load(files["spread/samples/spread/constraint.yaml"])
    assert spread["spec"]["enforcementAction"] == "deny"
    assert not any(p.startswith("session_affinity/") for p in files)
    resources = yaml.safe_load(files["kustomization.yaml"])["resources"]
    assert "session_affinity/template.yaml" not in resources
    assert "readiness_probe/samples/readiness-probe/constraint.yaml" in resources
    assert all(r in files for r in resources)


def test_suite_expectations_follow_the_config(tmp_path: Path) -> None:
    """A stricter config changes what the sample cases expect: they are the CLI's decisions."""
    config = tmp_path / "rollguard.yaml"
    config.write_text("parameters:\n  k8s.readiness_probe: {probes: [readinessProbe, startupProbe]}\n")
    files = build_tree(BUNDLE, load_config(config).resolve(None), fixtures=FIXTURES)
    cases = {c["name"]: c for t in yaml.safe_load(files["readiness_probe/suite.yaml"])["tests"] for c in t["cases"]}
    assert cases["allowed-deployment"]["assertions"][0] == {"violations": 1}
    assert cases["allowed-deployment"]["assertions"][1]["message"] == 'container "checkout" has no startupProbe'


def test_suites_follow_gators_format(built: GeneratedTree) -> None:
    suites = documents(built, "suite.yaml")
    assert {p.split("/")[0] for p in suites} == {i.name for i in K8S}
    for path, s in suites.items():
        folder = path.rsplit("/", 1)[0]
        assert s["kind"] == "Suite" and s["apiVersion"] == "test.gatekeeper.sh/v1alpha1"
        for test in s["tests"]:
            assert f"{folder}/{test['template']}" in built and f"{folder}/{test['constraint']}" in built
            assert test["cases"], f"{path}: {test['name']} has no cases"
            for case in test["cases"]:
                for ref in [case["object"], *case.get("inventory", [])]:
                    assert f"{folder}/{ref}" in built, f"{path}: {case['name']} names missing {ref}"
                first = case["assertions"][0]
                # gator reads `violations` as an int or the strings yes/no, never a YAML boolean.
                assert first["violations"] == "no" or isinstance(first["violations"], int), case


def test_suite_cases_cover_every_fixture_and_expect_violations_from_disallowed_ones(built: GeneratedTree) -> None:
    for info in K8S:
        suite = yaml.safe_load(built[f"{info.name}/suite.yaml"])
        cases = [c for t in suite["tests"] for c in t["cases"]]
        for fixture in sorted((FIXTURES / "k8s" / info.name).glob("*.yaml")):
            stem = fixture.stem.replace("_", "-")
            mine = [c for c in cases if c["name"] == stem or c["name"].startswith(stem + "-")]
            judged = any(a.document["kind"] in info.applies_to for a in load_change_set([str(fixture)]).artifacts)
            assert bool(mine) == judged, f"{info.id}: {len(mine)} cases for {fixture.name}"
            if fixture.name.startswith("disallowed_"):
                assert any(c["assertions"][0]["violations"] != "no" for c in mine), fixture.name


def test_fixture_parameters_get_their_own_sample(built: GeneratedTree) -> None:
    c = yaml.safe_load(built["image_registry/samples/image-registry-allowed-registries/constraint.yaml"])
    assert c["spec"]["parameters"] == {"allowed_registries": ["registry.example.com/"]}
    deployable = yaml.safe_load(built["image_registry/samples/image-registry/constraint.yaml"])
    assert deployable["spec"]["parameters"] == {"allowed_registries": []}
    kustomization = yaml.safe_load(built["kustomization.yaml"])["resources"]
    assert "image_registry/samples/image-registry-allowed-registries/constraint.yaml" not in kustomization


def test_messages_become_literal_go_regexes() -> None:
    assert go_regex_literal('container "a" (b) [c] costs $1.5+') == r'container "a" \(b\) \[c\] costs \$1\.5\+'
    assert go_regex_literal("a b#c-d") == "a b#c-d", "RE2 refuses escaped spaces, # and -"


def test_cli_builds_the_tree(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text("enforcement:\n  'k8s.*': dryrun\n")
    out = tmp_path / "gk"
    (tmp_path / "no-fixtures").mkdir()
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "old.yaml").write_text(HEADER + "old: true\n")
    result = CliRunner().invoke(
        main,
        [
            "gatekeeper",
            "build",
            "--out",
            str(out),
            "--config",
            str(config),
            "--fixtures",
            str(tmp_path / "no-fixtures"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert not (out / "stale").exists()
    c = yaml.safe_load((out / "spread/samples/spread/constraint.yaml").read_text())
    assert c["spec"]["enforcementAction"] == "dryrun"
    bad = CliRunner().invoke(main, ["gatekeeper", "build", "--out", str(out), "--env", "prod"])
    assert bad.exit_code == 2 and "unknown environment" in bad.output


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomization_renders_with_kubectl() -> None:
    proc = subprocess.run(["kubectl", "kustomize", str(COMMITTED)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(proc.stdout)]
    assert kinds.count("ConstraintTemplate") == len(K8S)
    assert kinds.count("Config") == 1
    assert {constraint_kind(i) for i in K8S} <= set(kinds)
