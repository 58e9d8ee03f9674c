"""Conftest policies judged unchanged: Conftest's own examples give exactly what `conftest test` reports.

The expected results are read from the example policies themselves (and agree with the outputs
Conftest's documentation shows). Every example runs on both in-process engines.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rollguard.errors import InputError, PolicyError
from rollguard.inputs import load_change_set
from rollguard.model import Finding, InputProblem, Severity
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import load_config
from rollguard.policy.conftest import (
    EXCEPTION_WAIVER,
    is_conftest_module,
    load_conftest,
    parse_module,
)
from rollguard.policy.conftest_documents import format_of, load_data_files, read_documents

from ..conftest import ENGINES, make_gate

RECOMMENDED_LABELS = (
    "hello-kubernetes must include Kubernetes recommended labels: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/#labels"
)


@pytest.fixture
def examples(corpus: Path) -> Path:
    return corpus / "policies" / "conftest-examples" / "examples"


def modules_of(folder: Path, root: Path) -> dict[str, str]:
    """Every .rego file under `folder`, keyed by its path relative to `root` (as a policy directory is read)."""
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.rego"))}


def inputs(root: Path, *names: str) -> list[tuple[str, str]]:
    return [(name, (root / name).read_text(encoding="utf-8")) for name in names]


def summary(findings: Sequence[Finding]) -> list[tuple[Any, ...]]:
    """What `conftest test` tells apart: rule, failure or warning, file, document, message, and exception."""
    return [
        (
            f.policy,
            f.enforcement,
            f.file,
            f.line,
            f.resource.display(),
            f.message,
            f.waiver.id if f.waiver else None,
        )
        for f in findings
    ]


def judge(modules: dict[str, str], files: list[tuple[str, str]], engine: str, **options: Any) -> list[Finding]:
    combine = options.pop("combine", False)
    return load_conftest(modules, engine=engine, **options).judge(files, combine=combine)


# --- Conftest's examples ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_kubernetes_deployment_fails_four_rules(examples: Path, engine: str) -> None:
    findings = judge(
        modules_of(examples / "kubernetes" / "policy", examples), inputs(examples, "kubernetes/deployment.yaml"), engine
    )
    where = ("kubernetes/deployment.yaml", 1, "Deployment hello-kubernetes")
    assert summary(findings) == [
        ("conftest.main.deny", "deny", *where, "Containers must not run as root in Deployment hello-kubernetes", None),
        (
            "conftest.main.deny",
            "deny",
            *where,
            "Deployment hello-kubernetes must provide app/release labels for pod selectors",
            None,
        ),
        ("conftest.main.deny", "deny", *where, RECOMMENDED_LABELS, None),
        (
            "conftest.main.violation",
            "deny",
            *where,
            "Found deployment hello-kubernetes but deployments are not allowed",
            None,
        ),
    ]
    # Failures are high (they fail `conftest test`; rollguard fails on high by default); the
    # violation's object message keeps its other keys as details, as Conftest keeps them as metadata.
    assert {f.severity for f in findings} == {Severity.HIGH}
    assert [dict(f.details) for f in findings] == [{}, {}, {}, {"details": {}}]
    assert [f.title for f in findings][-1] == "Conftest main.violation"
    assert findings[0].resource.api_version == "apps/v1"
    assert not any(f.error or f.waived for f in findings)


@pytest.mark.parametrize("engine", ENGINES)
def test_kubernetes_service_only_warns(examples: Path, engine: str) -> None:
    findings = judge(
        modules_of(examples / "kubernetes" / "policy", examples), inputs(examples, "kubernetes/service.yaml"), engine
    )
    assert summary(findings) == [
        (
            "conftest.main.warn",
            "warn",
            "kubernetes/service.yaml",
            1,
            "Service hello-kubernetes",
            "Found service hello-kubernetes but services are not allowed",
            None,
        )
    ]
    assert findings[0].severity is Severity.MEDIUM
    assert not findings[0].blocks(Severity.LOW)  # a warning never fails the run, as in Conftest


@pytest.mark.parametrize("engine", ENGINES)
def test_kubernetes_multi_document_file_is_judged_per_document(examples: Path, engine: str) -> None:
    findings = judge(
        modules_of(examples / "kubernetes" / "policy", examples),
        inputs(examples, "kubernetes/deployment+service.yaml"),
        engine,
    )
    assert [(f.policy, f.line, f.resource.display()) for f in findings] == [
        ("conftest.main.deny", 1, "Deployment hello-kubernetes"),
        ("conftest.main.deny", 1, "Deployment hello-kubernetes"),
        ("conftest.main.deny", 1, "Deployment hello-kubernetes"),
        ("conftest.main.violation", 1, "Deployment hello-kubernetes"),
        ("conftest.main.warn", 21, "Service hello-kubernetes"),
    ]
    assert findings[2].message == RECOMMENDED_LABELS  # the deployment of this file has no labels at all
    assert findings[-1].message == "Found service hello-kubernetes but services are not allowed"


@pytest.mark.parametrize("engine", ENGINES)
def test_kubernetes_combine_finds_the_deployment_without_a_service(examples: Path, engine: str) -> None:
    folder = examples / "kubernetes" / "combine"
    policies = load_conftest(modules_of(folder, examples), engine=engine)  # combine_test.rego is left out
    message = "Deployment 'goodbye-kubernetes' has no matching service"
    for files, count in (
        (["kubernetes/combine/combine.yaml"], "1 file"),
        (["kubernetes/combine/deployment.yaml", "kubernetes/combine/service.yaml"], "2 files"),
    ):
        findings = policies.judge(inputs(examples, *files), combine=True)
        assert summary(findings) == [
            ("conftest.main.violation", "deny", None, None, f"Combined {count}", message, None)
        ]
    # Without --combine each document alone is no list of {path, contents}: nothing to report.
    assert policies.judge(inputs(examples, "kubernetes/combine/combine.yaml")) == []


def test_combine_reports_users_missing_from_github_on_opa(examples: Path) -> None:
    policies = load_conftest(modules_of(examples / "combine" / "policy", examples), engine="opa")
    expected = (
        'Existing users ["jan.doe@example.com", "john.doe@example.com"] | '
        'Configured users ["jane.doe@example.com", "john.doe@example.com"] | '
        'Missing users ["jane.doe@example.com"]'
    )
    for files in (
        ["combine/team.yaml", "combine/user1.yaml", "combine/user2.yaml"],
        ["combine/team.yaml", "combine/users.yaml"],
    ):
        findings = policies.judge(inputs(examples, *files), combine=True)
        assert summary(findings) == [
            ("conftest.main.deny", "deny", None, None, f"Combined {len(files)} files", expected, None)
        ]
    assert policies.judge(inputs(examples, "combine/team.yaml", "combine/users.yaml")) == []


def test_combine_on_regorus_is_an_error_finding_naming_the_rule_and_file(examples: Path) -> None:
    # regorus refuses the example's comprehension (`name` is compared before `name :=`), which OPA
    # accepts: the rule is reported as not evaluated, never as a pass.
    policies = load_conftest(modules_of(examples / "combine" / "policy", examples), engine="regorus")
    findings = policies.judge(inputs(examples, "combine/team.yaml", "combine/users.yaml"), combine=True)
    assert [(f.policy, f.error, f.enforcement) for f in findings] == [("conftest.main.deny", True, "deny")]
    assert findings[0].message == (
        "rule main.deny (combine/policy/duplicate.rego) could not be evaluated: "
        "combine/policy/duplicate.rego:7: var `name` used before definition below."
    )
    assert findings[0].blocks(Severity.CRITICAL)


@pytest.mark.parametrize("engine", ENGINES)
def test_configfile_namespace_comes_from_conftest_toml(examples: Path, engine: str) -> None:
    tomllib = pytest.importorskip("tomllib")
    folder = examples / "configfile"
    config = tomllib.loads((folder / "conftest.toml").read_text(encoding="utf-8"))
    modules = modules_of(folder / config["policy"], examples)
    findings = judge(modules, inputs(examples, "configfile/deployment.yaml"), engine, namespaces=[config["namespace"]])
    assert summary(findings) == [
        (
            "conftest.conftest.deny",
            "deny",
            "configfile/deployment.yaml",
            1,
            "Deployment hello-kubernetes",
            "Containers must not run as root",
            None,
        )
    ]
    # Conftest passes when the namespace asked for has no rules; rollguard says which namespaces have some.
    with pytest.raises(PolicyError) as caught:
        load_conftest(modules, engine=engine)
    assert caught.value.message == (
        "namespace main has no deny, violation or warn rules (namespaces with rules: conftest); "
        "pass --namespace with one of those, or --all-namespaces"
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_data_files_are_loaded_under_data(examples: Path, engine: str) -> None:
    data = load_data_files([examples / "data" / "exclusions"])
    assert data == {"services": {"ports": [22, 21]}}
    modules = modules_of(examples / "data" / "policy", examples)
    findings = judge(modules, inputs(examples, "data/service.yaml"), engine, data=data)
    assert summary(findings) == [
        (
            "conftest.main.deny",
            "deny",
            "data/service.yaml",
            1,
            "Service hello-kubernetes",
            "Cannot expose port 22 on LoadBalancer. Denied ports: [22, 21]",
            None,
        )
    ]
    assert judge(modules, inputs(examples, "data/service.yaml"), engine) == []  # no denied ports without the data


@pytest.mark.parametrize("engine", ENGINES)
def test_exceptions_exempt_one_deployment_visibly(examples: Path, engine: str) -> None:
    policies = load_conftest(modules_of(examples / "exceptions" / "policy", examples), engine=engine)
    findings = policies.judge(inputs(examples, "exceptions/deployments.yaml"))
    assert summary(findings) == [
        (
            "conftest.main.deny_run_as_root",
            "deny",
            "exceptions/deployments.yaml",
            1,
            "Deployment cannot-run-as-root",
            "Containers must not run as root in Deployment cannot-run-as-root",
            None,
        ),
        (
            "conftest.main.deny_run_as_root",
            "deny",
            "exceptions/deployments.yaml",
            15,
            "Deployment can-run-as-root",
            "Containers must not run as root in Deployment can-run-as-root",
            EXCEPTION_WAIVER,
        ),
    ]
    failure, exception = findings
    assert failure.blocks(Severity.HIGH) and not exception.blocks(Severity.INFO)  # 1 failure, 1 exception
    assert exception.waiver is not None
    assert exception.waiver.to_json() == {
        "id": "conftest-exception",
        "status": "applied",
        "reason": 'an exception rule of package main lists "run_as_root" for this input; '
        "Conftest reports it as an exception, not a failure",
        "owner": "exceptions/policy/exception.rego",
        "ticket": None,
        "expires": "",
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_kustomize_output_from_stdin(examples: Path, engine: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run(
        [kubectl, "kustomize", "--", str(examples / "kustomize")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    findings = judge(modules_of(examples / "kustomize" / "policy", examples), [("<stdin>", rendered)], engine)
    # commonLabels gives the Deployment its app selector, so only the root rule fails.
    assert [(f.policy, f.enforcement, f.resource.display(), f.message) for f in findings] == [
        ("conftest.main.warn", "warn", "Service the-service", "Services are not allowed"),
        ("conftest.main.deny", "deny", "Deployment the-deployment", "Containers must not run as root"),
    ]
    lines = rendered.splitlines()
    assert [lines[f.line - 1] for f in findings if f.line] == ["apiVersion: v1", "apiVersion: apps/v1"]


def test_both_engines_agree_on_every_example_but_combine(examples: Path) -> None:
    cases = [
        (
            "kubernetes/policy",
            ["kubernetes/deployment.yaml", "kubernetes/service.yaml", "kubernetes/deployment+service.yaml"],
        ),
        ("exceptions/policy", ["exceptions/deployments.yaml"]),
        ("kustomize/policy", ["kustomize/deployment.yaml", "kustomize/service.yaml", "kustomize/configMap.yaml"]),
    ]
    for folder, files in cases:
        results = [
            judge(modules_of(examples / folder, examples), inputs(examples, *files), engine) for engine in ENGINES
        ]
        assert results[0] == results[1], folder
        assert results[0], folder


def as_v0(source: str) -> str:
    """An example module written back in Rego v0, as most published Conftest policies still are."""
    source = re.sub(r"^import rego\.v1\n", "", source, flags=re.MULTILINE)
    source = re.sub(r"^(\w+) contains (\w+) if \{", r"\1[\2] {", source, flags=re.MULTILINE)
    return re.sub(r"^(\w+(?:\(\w*\))?(?: := .+)?) if \{", r"\1 {", source, flags=re.MULTILINE)


V0_CASES = [
    (
        "kubernetes/policy",
        ["kubernetes/deployment.yaml", "kubernetes/service.yaml", "kubernetes/deployment+service.yaml"],
        {},
    ),
    (
        "kubernetes/combine",
        ["kubernetes/combine/deployment.yaml", "kubernetes/combine/service.yaml"],
        {"combine": True},
    ),
    ("configfile/test", ["configfile/deployment.yaml"], {"namespaces": ["conftest"]}),
    ("exceptions/policy", ["exceptions/deployments.yaml"], {}),
    ("kustomize/policy", ["kustomize/deployment.yaml", "kustomize/service.yaml", "kustomize/configMap.yaml"], {}),
    ("data/policy", ["data/service.yaml"], {"data": "data/exclusions"}),
]


@pytest.mark.parametrize(("folder", "files", "options"), V0_CASES, ids=[c[0] for c in V0_CASES])
def test_examples_written_in_rego_v0_give_the_same_results_in_both_forms(
    examples: Path, folder: str, files: list[str], options: dict[str, Any]
) -> None:
    """Each example rewritten in Rego v0 gives the v1 results twice over: as v0 on regorus, and
    upgraded to v1 (on regorus's syntax tree) on OPA, which parses v1 only."""
    options = dict(options)
    if "data" in options:
        options["data"] = load_data_files([examples / options["data"]])
    combine = options.pop("combine", False)
    v1 = modules_of(examples / folder, examples)
    v0 = {path: as_v0(source) for path, source in v1.items()}
    assert all(parse_module(path, source).rego_version == "v0" for path, source in v0.items() if "rego.v1" in v1[path])
    reference = load_conftest(v1, engine="opa", **options).judge(inputs(examples, *files), combine=combine)
    for engine in ("regorus", "opa"):
        policies = load_conftest(v0, engine=engine, **options)
        assert policies.engine_name == engine
        assert summary(policies.judge(inputs(examples, *files), combine=combine)) == summary(reference), engine
    assert reference


# --- own fixtures ----------------------------------------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
"""

V0_POLICY = """\
package main

import data.lib

deny[msg] {
  lib.is_deployment
  input.spec.replicas < 2
  msg := sprintf("%s runs %d replica; run at least 2", [input.metadata.name, input.spec.replicas])
}

warn_latest[msg] {
  lib.is_deployment
  not input.spec.strategy
  msg := "no rollout strategy"
}

exception[rules] {
  input.metadata.namespace == "sandbox"
  rules := ["latest"]
}
"""

V1_LIBRARY = """\
package lib

import rego.v1

is_deployment if input.kind == "Deployment"
"""


def test_v0_policy_runs_beside_a_v1_library_on_both_engines() -> None:
    modules = {"policy/deploy.rego": V0_POLICY, "policy/lib.rego": V1_LIBRARY}
    assert parse_module("policy/deploy.rego", V0_POLICY).rego_version == "v0"
    assert parse_module("policy/lib.rego", V1_LIBRARY).rego_version == "v1"
    for asked in ENGINES:
        policies = load_conftest(modules, engine=asked)
        # On OPA (which parses v1 only) the v0 module runs upgraded; regorus parses it as written.
        assert policies.engine_name == asked
        assert [r.policy_id for r in policies.rules] == ["conftest.main.deny", "conftest.main.warn_latest"]
        sandbox = DEPLOYMENT.replace("namespace: shop", "namespace: sandbox")
        findings = policies.judge([("k8s/web.yaml", DEPLOYMENT), ("k8s/sandbox.yaml", sandbox)])
        assert summary(findings) == [
            (
                "conftest.main.deny",
                "deny",
                "k8s/web.yaml",
                1,
                "Deployment shop/web",
                "web runs 1 replica; run at least 2",
                None,
            ),
            (
                "conftest.main.warn_latest",
                "warn",
                "k8s/web.yaml",
                1,
                "Deployment shop/web",
                "no rollout strategy",
                None,
            ),
            (
                "conftest.main.deny",
                "deny",
                "k8s/sandbox.yaml",
                1,
                "Deployment sandbox/web",
                "web runs 1 replica; run at least 2",
                None,
            ),
            (
                "conftest.main.warn_latest",
                "warn",
                "k8s/sandbox.yaml",
                1,
                "Deployment sandbox/web",
                "no rollout strategy",
                EXCEPTION_WAIVER,
            ),
        ]


@pytest.mark.parametrize("engine", ENGINES)
def test_object_messages_keep_their_other_keys_as_details(engine: str) -> None:
    policy = """\
package main
import rego.v1

deny contains {"msg": "replicas too low", "details": {"replicas": input.spec.replicas}, "severity": "x"} if {
  input.spec.replicas < 2
}

violation_located contains {"msg": "located", "_loc": {"file": "k8s/other.yaml", "line": 6}} if true
"""
    findings = judge({"p.rego": policy}, [("k8s/web.yaml", DEPLOYMENT)], engine)
    assert [(f.policy, f.message, dict(f.details), f.file, f.line) for f in findings] == [
        ("conftest.main.deny", "replicas too low", {"details": {"replicas": 1}, "severity": "x"}, "k8s/web.yaml", 1),
        ("conftest.main.violation_located", "located", {}, "k8s/other.yaml", 6),  # `_loc` places the finding
    ]
    assert {f.severity for f in findings} == {Severity.HIGH}  # a `severity` key does not change rollguard's


@pytest.mark.parametrize("engine", ENGINES)
def test_namespace_selection(engine: str) -> None:
    modules = {
        "main.rego": 'package main\nimport rego.v1\ndeny contains "main says no" if true\n',
        "team.rego": 'package team.k8s\nimport rego.v1\nwarn_style contains "team warns" if true\n',
        "lib.rego": "package lib\nimport rego.v1\nhelper if true\n",
        "own.rego": 'package rollguard.k8s.own\nimport rego.v1\ndeny contains "rollguard is judged by the gate" if true\n',
    }
    files = [("a.yaml", DEPLOYMENT)]
    assert [f.policy for f in judge(modules, files, engine)] == ["conftest.main.deny"]
    assert [f.policy for f in judge(modules, files, engine, namespaces=["team.k8s"])] == [
        "conftest.team.k8s.warn_style"
    ]
    everything = judge(modules, files, engine, namespaces=None)
    assert [(f.policy, f.message) for f in everything] == [
        ("conftest.main.deny", "main says no"),
        ("conftest.team.k8s.warn_style", "team warns"),
    ]
    with pytest.raises(
        PolicyError,
        match=r"namespace lib has no deny, violation or warn rules \(namespaces with rules: main, team\.k8s\)",
    ):
        load_conftest(modules, namespaces=["lib"], engine=engine)


def test_is_conftest_module() -> None:
    assert is_conftest_module('package main\nimport rego.v1\ndeny contains "x" if true\n', ["main"])
    assert is_conftest_module('package main\nviolation_x[msg] { msg := "v0" }\n', None)
    assert is_conftest_module('package team\nimport rego.v1\nwarn_y contains "x" if true\n', None)
    assert not is_conftest_module('package team\nimport rego.v1\nwarn_y contains "x" if true\n', ["main"])
    assert not is_conftest_module("package lib\nimport rego.v1\nis_deployment if true\n", None)  # a library
    assert not is_conftest_module('package rollguard.k8s.x\nimport rego.v1\ndeny contains "x" if true\n', None)
    assert not is_conftest_module("package main\ndeny[msg] {\n", None)  # does not parse
    assert not is_conftest_module('package main\nimport rego.v1\ndenying contains "x" if true\n', None)


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (
            'package main\nimport rego.v1\n\ndeny contains msg if {\n  msg := "unclosed"\n\n',
            7,
            "parse policy: expecting `}` while parsing query (read as Rego v1 and as v0; neither parses)",
        ),
        (
            "package main\n\ndeny[msg] {\n  msg := \n}\n",
            3,  # regorus's v0 parser names the body that does not close, not the `:=` without a value
            "parse policy: expecting } (read as Rego v1 and as v0; neither parses)",
        ),
    ],
)
def test_a_module_that_does_not_parse_names_its_file_and_line(source: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_conftest({"policy/broken.rego": source})
    assert (caught.value.file, caught.value.line, caught.value.message) == ("policy/broken.rego", line, message)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (
            'deny if { input.kind == "Deployment" }',
            'rule `deny if { ... }` is a boolean, and Conftest reads messages only from a set or array, so it could never report; write `deny contains msg if { ... msg := "..." }`',
        ),
        (
            'warn[msg] if { msg := "x" }',
            "rule `warn[...] if` defines an object, not a set of messages (Rego v1 reads it so, and Conftest refuses it); write `warn contains msg if { ... }`",
        ),
    ],
)
def test_a_rule_that_could_never_report_is_refused(head: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_conftest({"policy/p.rego": f"package main\nimport rego.v1\n\n{head}\n"})
    assert (caught.value.file, caught.value.line, caught.value.message) == ("policy/p.rego", 4, message)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_evaluation_error_is_an_error_finding(engine: str) -> None:
    policy = """\
package main
import rego.v1

deny contains msg if {
  to_number(input.metadata.name) > 1
  msg := "never"
}

deny_shape contains 42 if true
violation_bare := "not a set" if true
warn contains "still judged" if true
"""
    findings = judge({"policy/p.rego": policy}, [("k8s/web.yaml", DEPLOYMENT)], engine)
    assert [(f.policy, f.error, f.file, f.line) for f in findings] == [
        ("conftest.main.deny", True, "k8s/web.yaml", 1),
        ("conftest.main.deny_shape", True, "k8s/web.yaml", 1),
        ("conftest.main.violation_bare", True, "k8s/web.yaml", 1),
        ("conftest.main.warn", False, "k8s/web.yaml", 1),
    ]
    builtin, shape, bare, _ = (f.message for f in findings)
    assert builtin.startswith("rule main.deny (policy/p.rego) could not be evaluated: policy/p.rego:5: ")
    assert shape == (
        "rule main.deny_shape (policy/p.rego) could not be evaluated: it gave 42, neither a string nor an object; "
        'give a string or {"msg": ...}'
    )
    assert (
        bare
        == 'rule main.violation_bare (policy/p.rego) could not be evaluated: it evaluated to "not a set", not a set or array of messages'
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_an_exception_of_the_empty_name_exempts_the_bare_rules(engine: str) -> None:
    policy = """\
package main
import rego.v1

deny contains "bare" if true
deny_named contains "named" if true
exception contains [""] if input.metadata.name == "web"
"""
    findings = judge({"p.rego": policy}, [("a.yaml", DEPLOYMENT)], engine)
    assert [(f.policy, f.waived) for f in findings] == [
        ("conftest.main.deny", True),
        ("conftest.main.deny_named", False),
    ]


def test_test_modules_are_left_out() -> None:
    modules = {
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains "x" if input.kind == "Deployment"\n',
        # Conftest's own builtin, which neither engine has: loading this module would fail.
        "policy/p_test.rego": 'package main\nimport rego.v1\ntest_x if { parse_config("yaml", "a: 1") }\n',
    }
    assert [f.message for f in load_conftest(modules).judge([("a.yaml", DEPLOYMENT)])] == ["x"]


# --- documents as Conftest reads them --------------------------------------------------------


def test_multi_document_yaml_is_one_input_per_document() -> None:
    text = "# leading comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n---\nplain: 1\n---\n"
    docs = read_documents("k8s/many.yaml", text)
    assert [(d.value, d.line, d.index, d.resource().display()) for d in docs] == [
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}, 2, 1, "Service a"),
        ({"plain": 1}, 8, 3, "Document #3"),  # the empty document between is no input
    ]


def test_a_lone_top_level_list_is_one_input_per_item() -> None:
    yaml_docs = read_documents("list.yaml", "- name: a\n- name: b\n  extra: 2\n")
    assert [(d.value, d.line) for d in yaml_docs] == [({"name": "a"}, 1), ({"name": "b", "extra": 2}, 2)]
    json_docs = read_documents("list.json", '[\n  {"a": 1},\n\n  {"b": 2}\n]\n')
    assert [(d.value, d.line, d.index) for d in json_docs] == [({"a": 1}, 2, 1), ({"b": 2}, 4, 2)]
    # In a multi-document file a list stays one document, as Conftest splits only once.
    nested = read_documents("two.yaml", "- 1\n- 2\n---\nx: 1\n")
    assert [d.value for d in nested] == [[1, 2], {"x": 1}]


def test_dates_stay_text_and_keys_become_strings() -> None:
    (doc,) = read_documents("d.yaml", "released: 2024-01-31\n1: one\n")
    assert doc.value == {"released": "2024-01-31", "1": "one"}


def test_unusable_files_are_problems_and_the_rest_is_judged() -> None:
    policies = load_conftest(
        {"p.rego": 'package main\nimport rego.v1\ndeny contains "seen" if input.kind\n'}, engine="regorus"
    )
    files = [("bad.yaml", "kind: A\nkind: B\n"), ("main.tf", 'resource "x" "y" {}\n'), ("ok.json", '{"kind": "X"}')]
    problems: list[InputProblem] = []
    findings = policies.judge(files, problems=problems)
    assert [(f.file, f.message) for f in findings] == [("ok.json", "seen")]
    assert [(p.file, p.line) for p in problems] == [("bad.yaml", 2), ("main.tf", None)]
    assert problems[0].message.startswith("invalid YAML: duplicate key 'kind' (first at line 1)")
    assert problems[1].message == (
        "Conftest policies are judged on YAML and JSON here; a .tf file is not read "
        "(rollguard has no parser for Conftest's other formats)"
    )
    with pytest.raises(InputError) as caught:
        policies.judge(files[:1])
    assert (caught.value.file, caught.value.line) == ("bad.yaml", 2)


@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}\n \"',&*!|>?#%@`1.")), max_size=60))
@example("a: &x [*x]\n")
@example("a: 1\na: 2\n")
@example("!!binary YQ==\n")
def test_any_text_is_documents_or_an_input_error(text: str) -> None:
    for name in ("any.yaml", "any.json"):
        try:
            docs = read_documents(name, text)
        except InputError as exc:
            assert exc.file == name and exc.message
            continue
        for doc in docs:
            assert json.loads(json.dumps(doc.value)) == doc.value and doc.line >= 1 and doc.index >= 1


def test_formats_read_here() -> None:
    assert [
        format_of(n) for n in ("a.yaml", "a.YML", "a.json", "<stdin>", "k8s (kustomize)", "x.tf", "Dockerfile.dev")
    ] == [
        "yaml",
        "yaml",
        "json",
        "yaml",
        "yaml",
        None,
        None,
    ]


def test_data_files_merge_and_conflict(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ports.yaml").write_text("services:\n  ports: [22]\n", encoding="utf-8")
    (tmp_path / "b.json").write_text('{"services": {"owner": "ops"}, "teams": ["a"]}', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
    assert load_data_files([tmp_path]) == {"services": {"ports": [22], "owner": "ops"}, "teams": ["a"]}
    (tmp_path / "c.yaml").write_text("services:\n  ports: [80]\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_data_files([tmp_path])
    assert caught.value.message.startswith("data.services.ports is given different values here and in ")
    assert caught.value.message.endswith("a/ports.yaml; keep it in one data file")
    (tmp_path / "c.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"a data file must hold a mapping \(its keys become data.<key>\), not a list"):
        load_data_files([tmp_path / "c.yaml"])


def test_settings_may_name_conftest_rules(tmp_path: Path, bundle: PolicyBundle) -> None:
    # Waivers and enforcement may name Conftest rules although no bundled policy has such an id.
    path = tmp_path / "rollguard.yaml"
    path.write_text(
        "version: 1\n"
        "enforcement:\n  conftest.main.deny_run_as_root: warn\n"
        "waivers:\n  - id: W-1\n    policy: conftest.main.deny\n    match: {kind: Deployment}\n"
        "    reason: migrating\n    owner: team-web\n    expires: 2030-01-31\n",
        encoding="utf-8",
    )
    settings = load_config(path).resolve(None)
    settings.check(bundle)
    assert settings.enforcement_for("conftest.main.deny_run_as_root") == "warn"


def test_the_gate_adds_conftest_findings_under_rollguard_yaml(
    examples: Path, bundle: PolicyBundle, tmp_path: Path
) -> None:
    manifest = (examples / "exceptions" / "deployments.yaml").as_posix()
    change = load_change_set([manifest])
    found = load_conftest(modules_of(examples / "exceptions" / "policy", examples)).judge(
        [(manifest, Path(manifest).read_text(encoding="utf-8"))]
    )
    # The findings are about the very objects rollguard's own reader made of the file.
    assert [f.is_about(a) for f, a in zip(found, change.artifacts, strict=True)] == [True, True]
    path = tmp_path / "rollguard.yaml"
    for enforcement, exit_code in (("deny", 1), ("warn", 0)):
        path.write_text(
            f"version: 1\nenforcement:\n  conftest.main.deny_run_as_root: {enforcement}\n", encoding="utf-8"
        )
        gate = make_gate(bundle, "regorus", load_config(path).resolve(None))
        decision = gate.add_findings(gate.decide(change, []), change, found)
        ours = [f for f in decision.findings if f.policy.startswith("conftest.")]
        assert [(f.resource.name, f.enforcement, f.waiver.id if f.waiver else None) for f in ours] == [
            ("cannot-run-as-root", enforcement, None),
            ("can-run-as-root", enforcement, EXCEPTION_WAIVER),
        ]
        assert decision.exit_code() == exit_code


def test_rules_say_what_is_judged() -> None:
    policies = load_conftest({"p.rego": 'package main\nimport rego.v1\nwarn contains "w" if true\n'}, engine="regorus")
    assert [(r.policy_id, r.title, r.fails, r.exception_name, r.files) for r in policies.rules] == [
        ("conftest.main.warn", "Conftest main.warn", False, "", ("p.rego",))
    ]
