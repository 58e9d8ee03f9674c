"""Third-party Gatekeeper templates and constraints (`--gatekeeper DIR`), judged as Gatekeeper judges.

The first half replays every case of every `suite.yaml` of gatekeeper-library (all templates
Rego v0) the way `gator verify` does, on regorus (v0 natively) and on OPA (the v1 upgrade).
The second half pins match semantics, enforcement actions, load errors and the v0 → v1 upgrade
on small templates written here.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollguard.engine.regorus import RegorusEngine
from rollguard.engine.upgrade import replace_removed_builtins, separate_bodies, separate_statements, upgrade_v0
from rollguard.errors import PolicyError
from rollguard.gatekeeper.constraint_match import Match, MatchError, wildcard_matches
from rollguard.gatekeeper.constraints import (
    ConstraintSet,
    enforcement_of,
    inventory_of,
    load_constraints,
    read_constraint,
)
from rollguard.inputs.k8s import load_text
from rollguard.model import Artifact, Severity

from .conftest import CORPUS, ENGINES

LIBRARY = Path("policies") / "gatekeeper-library" / "library"

# Cases where regorus (Rego v0, natively) answers otherwise than Gatekeeper; OPA, running the
# v1 upgrade of the same template, gives Gatekeeper's answer for each. Case id → (why, what
# regorus does instead: "error" is a finding with `error` set, "extra" a violation the suite
# does not expect; and a regex over the message of that finding).
REGORUS_DIFFERENCES = {
    "general/horizontalpodautoscaler/horizontal-pod-autoscaler/example-disallowed-hpa-replicas": (
        "the template's sprintf has six %v and five arguments: Go's fmt prints %!v(MISSING), "
        "regorus refuses to format, so the constraint is reported as not evaluated",
        "error",
        r"^constraint could not be evaluated: rego: no argument specified for format verb 5 \(.*template\.yaml:67\)$",
    ),
    "pod-security-policy/users/users-and-groups-together/example-allowed": (
        "`not accept_value(rule, value, params.ranges)` with params.ranges undefined: OPA leaves "
        "the `not` undefined (no violation), regorus holds it true",
        "extra",
        r"^Container nginx is attempting to run as disallowed group 1000\. ",
    ),
}


def _objects(path: Path) -> list[Artifact]:
    artifacts, problems = load_text(path.as_posix(), path.read_text(encoding="utf-8"))
    assert not problems, [p.display() for p in problems]
    return artifacts


def suite_cases() -> list[Any]:
    """(suite file, test index, case index) of every case, with a readable id."""
    root = CORPUS / LIBRARY
    if not root.is_dir():
        # Without the corpus the `corpus` fixture skips the test; with it every case is listed.
        return [pytest.param(None, 0, 0, id="gatekeeper-library")]
    params = []
    for suite_file in sorted(root.rglob("suite.yaml")):
        suite = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
        where = suite_file.parent.relative_to(root).as_posix()
        for t, test in enumerate(suite["tests"]):
            for c, case in enumerate(test.get("cases") or []):
                params.append(pytest.param(suite_file, t, c, id=f"{where}/{test['name']}/{case['name']}"))
    return params


@pytest.fixture(scope="module")
def library(corpus: Path) -> ConstraintSet:
    """Every template of the library, loaded once; the compiled engines are shared by all cases."""
    return load_constraints([corpus / LIBRARY])


@pytest.fixture(scope="module")
def suite_sets() -> dict[tuple[Path, int], ConstraintSet]:
    """One constraint per suite test (the library reuses constraint names across samples)."""
    return {}


def _violations_wanted(value: Any) -> str | int:
    # gator reads `violations` as yes, no or a count; PyYAML reads yes/no as booleans.
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "yes" if value is None else value


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("suite_file", "test_index", "case_index"), suite_cases())
def test_library_suite_case(
    suite_file: Path | None,
    test_index: int,
    case_index: int,
    engine: str,
    corpus: Path,
    library: ConstraintSet,
    suite_sets: dict[tuple[Path, int], ConstraintSet],
) -> None:
    assert suite_file is not None, f"{corpus / LIBRARY} holds no suite.yaml"
    folder = suite_file.parent
    test = yaml.safe_load(suite_file.read_text(encoding="utf-8"))["tests"][test_index]
    case = test["cases"][case_index]
    key = (suite_file, test_index)
    if key not in suite_sets:
        (document,) = _objects(folder / test["constraint"])
        suite_sets[key] = library.only([read_constraint(document, library.templates)])
    judged = suite_sets[key]
    (constraint,) = judged.constraints
    assert judged.templates[constraint.kind].file == (folder / test["template"]).as_posix()

    objects = _objects(folder / case["object"])
    assert len(objects) == 1, "gator requires exactly one object per case"
    inventory = inventory_of([a for path in case.get("inventory") or [] for a in _objects(folder / path)])
    findings = judged.judge(objects, inventory, engine=engine)
    assert {f.policy for f in findings} <= {constraint.policy_id}

    case_id = f"{folder.relative_to(corpus / LIBRARY).as_posix()}/{test['name']}/{case['name']}"
    difference = REGORUS_DIFFERENCES.get(case_id) if engine == "regorus" else None
    if difference is not None:
        _why, what, pattern = difference
        odd = [f for f in findings if re.search(pattern, f.message)]
        assert odd, f"regorus no longer differs here ({_why}); remove the case from REGORUS_DIFFERENCES: {findings}"
        assert all(f.error == (what == "error") for f in odd)
        return

    errors = [f.message for f in findings if f.error]
    assert not errors, errors
    shown = "\n".join(f.message for f in findings) or "(no violations)"
    for assertion in case["assertions"]:
        wanted = _violations_wanted(assertion.get("violations"))
        message = assertion.get("message")
        matching = [f for f in findings if message is None or re.search(message, f.message)]
        where = f"{assertion} on {engine}; violations:\n{shown}"
        if wanted == "yes":
            assert matching, where
        elif wanted == "no":
            assert not matching, where
        else:
            assert len(matching) == int(wanted), where


def test_every_library_template_and_sample_constraint_loads(corpus: Path, library: ConstraintSet) -> None:
    templates = sorted((corpus / LIBRARY).rglob("template.yaml"))
    assert sorted(t.file for t in library.templates.values()) == [p.as_posix() for p in templates]
    assert all(t.modules[0].version == "v0" for t in library.templates.values())
    # Samples reuse a constraint name within a kind; loaded together, each repeat is reported
    # (kubectl would replace the first), and every other constraint still loads.
    duplicate = re.compile(r"^a second K8s\w+ named [\w-]+ \(the first is at \S+constraint\.yaml:1\); ")
    assert library.problems and all(duplicate.match(p.message) for p in library.problems), library.problems
    for path in sorted((corpus / LIBRARY).rglob("samples/*/constraint*.yaml")):
        (document,) = _objects(path)
        constraint = read_constraint(document, library.templates)
        assert constraint.policy_id == f"gatekeeper.{document.document['kind']}.{constraint.name}"


def test_library_findings_carry_id_title_severity_and_place(corpus: Path, library: ConstraintSet) -> None:
    folder = corpus / LIBRARY / "general" / "requiredlabels" / "samples" / "all-must-have-owner"
    (document,) = _objects(folder / "constraint.yaml")
    judged = library.only([read_constraint(document, library.templates)])
    (namespace,) = _objects(folder / "example_disallowed.yaml")
    for engine in ENGINES:
        (finding,) = judged.judge([namespace], engine=engine)
        assert finding.policy == "gatekeeper.K8sRequiredLabels.all-must-have-owner"
        assert finding.title == "Required Labels"
        assert finding.severity is Severity.HIGH
        assert finding.enforcement == "deny"
        assert finding.message == "All namespaces must have an `owner` label that points to your company username"
        assert finding.details == {"missing_labels": ["owner"]}
        assert finding.resource == namespace.resource
        assert (finding.file, finding.line) == (namespace.file, 1)
        assert not finding.error


# --- small templates written here ----------------------------------------------------------------

LABELS_TEMPLATE = """\
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sneedsowner
  annotations:
    metadata.gatekeeper.sh/title: Needs Owner
spec:
  crd:
    spec:
      names:
        kind: K8sNeedsOwner
      validation:
        openAPIV3Schema:
          type: object
          properties:
            label:
              type: string
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sneedsowner

        violation[{"msg": msg, "details": {"label": label}}] {
          label := object.get(input.parameters, "label", "owner")
          not input.review.object.metadata.labels[label]
          msg := sprintf("%v %v has no %v label", [input.review.kind.kind, input.review.object.metadata.name, label])
        }
"""


def _constraint(name: str, spec: dict[str, Any], kind: str = "K8sNeedsOwner") -> str:
    doc = {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    return yaml.safe_dump(doc, sort_keys=False)


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _line_of(text: str, fragment: str) -> int:
    """The 1-based line of the one line of `text` that holds `fragment`."""
    (line,) = [i for i, row in enumerate(text.splitlines(), start=1) if fragment in row]
    return line


def _pod(name: str, namespace: str | None = "shop", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []}}


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


@pytest.mark.parametrize("engine", ENGINES)
def test_match_selects_by_kind_namespace_labels_and_namespace_labels(tmp_path: Path, engine: str) -> None:
    constraints = {
        "pods-in-shop": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "namespaces": ["shop*"]}},
        "not-system": {"match": {"excludedNamespaces": ["kube-*", "*-system"]}},
        "tier-web": {
            "match": {"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}}
        },
        "prod-namespaces": {"match": {"namespaceSelector": {"matchLabels": {"env": "prod"}}}},
        "apps-only": {"match": {"kinds": [{"apiGroups": ["apps"], "kinds": ["*"]}]}},
    }
    files = {"template.yaml": LABELS_TEMPLATE}
    files.update({f"{name}.yaml": _constraint(name, spec) for name, spec in constraints.items()})
    loaded = load_constraints([_write(tmp_path, files)])
    assert not loaded.problems
    objects = [
        _pod("web", "shop", {"tier": "web"}),
        _pod("db", "shop-eu", {"tier": "db"}),
        _pod("dns", "kube-system"),
        _pod("agent", "gatekeeper-system", {"tier": "web"}),
        _namespace("shop", {"env": "prod"}),
        _namespace("shop-eu", {"env": "dev"}),
        _namespace("kube-system", {}),
        _namespace("gatekeeper-system", {"env": "prod"}),
    ]
    found = {(f.policy.rsplit(".", 1)[1], f.resource.display()) for f in loaded.judge(objects, engine=engine)}
    assert found == {
        ("pods-in-shop", "Pod shop/web"),
        ("pods-in-shop", "Pod shop-eu/db"),
        ("not-system", "Pod shop/web"),
        ("not-system", "Pod shop-eu/db"),
        ("not-system", "Namespace shop"),
        ("not-system", "Namespace shop-eu"),
        ("tier-web", "Pod shop/web"),
        ("tier-web", "Pod gatekeeper-system/agent"),
        # A Namespace is matched on its own labels; a namespaced object on its Namespace's.
        ("prod-namespaces", "Pod shop/web"),
        ("prod-namespaces", "Pod gatekeeper-system/agent"),
        ("prod-namespaces", "Namespace shop"),
        ("prod-namespaces", "Namespace gatekeeper-system"),
    }


def test_label_selector_expressions_and_globs() -> None:
    selector = Match.parse(
        {
            "labelSelector": {
                "matchLabels": {"app": "shop"},
                "matchExpressions": [
                    {"key": "tier", "operator": "NotIn", "values": ["db"]},
                    {"key": "owner", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            }
        }
    )

    def selects(labels: dict[str, str]) -> bool:
        return selector.matches(_pod("p", labels=labels), None)

    assert selects({"app": "shop", "owner": "ann"})  # NotIn holds for an absent label
    assert selects({"app": "shop", "owner": "ann", "tier": "web"})
    assert not selects({"app": "shop", "owner": "ann", "tier": "db"})
    assert not selects({"app": "shop"})
    assert not selects({"app": "shop", "owner": "ann", "legacy": "yes"})
    assert not selects({"app": "cart", "owner": "ann"})
    assert wildcard_matches("kube-*", "kube-public") and not wildcard_matches("kube-*", "my-kube")
    assert wildcard_matches("*-system", "gatekeeper-system") and not wildcard_matches("*-system", "system-x")
    assert wildcard_matches("*shop*", "eu-shop-1") and not wildcard_matches("shop", "shop-1")


def test_scope_and_name_match_like_gatekeeper() -> None:
    cluster, namespaced = Match.parse({"scope": "Cluster"}), Match.parse({"scope": "Namespaced"})
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert cluster.matches(node, None) and not namespaced.matches(node, None)
    assert cluster.matches(_namespace("shop", {}), None) and not namespaced.matches(_namespace("shop", {}), None)
    assert namespaced.matches(_pod("p"), None) and not cluster.matches(_pod("p"), None)
    named = Match.parse({"name": "web-*"})
    assert named.matches(_pod("web-1"), None) and not named.matches(_pod("db-1"), None)
    generated = _pod("")
    generated["metadata"]["generateName"] = "web-"
    assert named.matches(generated, None)
    assert not Match.parse({"source": "Generated"}).matches(_pod("p"), None)


def test_namespace_selector_without_the_namespace_is_an_error_finding(tmp_path: Path) -> None:
    files = {
        "template.yaml": LABELS_TEMPLATE,
        "c.yaml": _constraint("prod", {"match": {"namespaceSelector": {"matchLabels": {"env": "prod"}}}}),
    }
    loaded = load_constraints([_write(tmp_path, files)])
    (finding,) = loaded.judge([_pod("web", "shop")], engine="regorus")
    assert finding.error and finding.enforcement == "deny"
    assert finding.message.startswith(
        "constraint could not be evaluated: namespaceSelector needs the labels of Namespace 'shop', "
    )
    # From an inventory (the live cluster or the rest of the change) the labels are known.
    inventory = inventory_of([_namespace("shop", {"env": "dev"})])
    assert loaded.judge([_pod("web", "shop")], inventory, engine="regorus") == []


def test_malformed_match_is_a_policy_error_with_file_and_line(tmp_path: Path) -> None:
    bad = _constraint(
        "bad", {"match": {"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Equals"}]}}}
    )
    typo = _constraint("typo", {"match": {"excludedNamespace": ["kube-system"]}})
    good = _constraint("good", {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}})
    folder = _write(tmp_path, {"template.yaml": LABELS_TEMPLATE, "bad.yaml": bad, "typo.yaml": typo, "good.yaml": good})
    loaded = load_constraints([folder])
    messages = sorted((Path(p.file or "").name, p.line, p.message) for p in loaded.problems)
    assert messages == [
        (
            "bad.yaml",
            _line_of(bad, "operator: Equals"),
            "spec.match.labelSelector.matchExpressions[0].operator: 'Equals' is not one of "
            "In, NotIn, Exists, DoesNotExist",
        ),
        (
            "typo.yaml",
            _line_of(typo, "excludedNamespace:"),
            "spec.match.excludedNamespace: is not a match field (one of kinds, scope, namespaces, "
            "excludedNamespaces, labelSelector, namespaceSelector, name, source)",
        ),
    ]
    assert [c.name for c in loaded.constraints] == ["good"]
    with pytest.raises(MatchError, match=r"values: must not be empty with operator In"):
        Match.parse({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}})


def test_enforcement_actions_map_to_rollguard_enforcement() -> None:
    assert enforcement_of({}) == ("deny", "")
    assert enforcement_of({"enforcementAction": "warn"}) == ("warn", "")
    assert enforcement_of({"enforcementAction": "dryrun"}) == ("dryrun", "")
    action, note = enforcement_of({"enforcementAction": "block"})
    assert action == "deny"
    assert note == (
        "spec.enforcementAction 'block' is not deny, warn, dryrun or scoped; rollguard judges it as deny: "
        "fix the constraint"
    )

    def scoped(*entries: tuple[str, list[str]]) -> dict[str, Any]:
        return {
            "enforcementAction": "scoped",
            "scopedEnforcementActions": [
                {"action": a, "enforcementPoints": [{"name": p} for p in points]} for a, points in entries
            ],
        }

    assert enforcement_of(scoped(("warn", ["gator.gatekeeper.sh"]), ("deny", ["validation.gatekeeper.sh"]))) == (
        "warn",
        "",
    )
    assert enforcement_of(scoped(("dryrun", ["*"]), ("deny", ["gator.gatekeeper.sh"]))) == ("deny", "")
    # Scoped to the webhook and audit only: gator, and so CI, does not run it.
    assert enforcement_of(scoped(("deny", ["validation.gatekeeper.sh", "audit.gatekeeper.sh"]))) == (None, "")


def test_enforcement_reaches_findings_and_unscoped_constraints_do_not_run(tmp_path: Path) -> None:
    files = {
        "template.yaml": LABELS_TEMPLATE,
        "warn.yaml": _constraint("warned", {"enforcementAction": "warn"}),
        "odd.yaml": _constraint("odd", {"enforcementAction": "Deny"}),
        "webhook.yaml": _constraint(
            "webhook-only",
            {
                "enforcementAction": "scoped",
                "scopedEnforcementActions": [
                    {"action": "deny", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]}
                ],
            },
        ),
    }
    loaded = load_constraints([_write(tmp_path, files)])
    findings = {f.policy: f for f in loaded.judge([_pod("web")], engine="regorus")}
    assert sorted(findings) == ["gatekeeper.K8sNeedsOwner.odd", "gatekeeper.K8sNeedsOwner.warned"]
    assert findings["gatekeeper.K8sNeedsOwner.warned"].enforcement == "warn"
    assert findings["gatekeeper.K8sNeedsOwner.warned"].remediation == ""
    odd = findings["gatekeeper.K8sNeedsOwner.odd"]
    assert odd.enforcement == "deny"
    assert odd.remediation.startswith("spec.enforcementAction 'Deny' is not deny, warn, dryrun or scoped")
    assert odd.message == "Pod web has no owner label"
    assert odd.details == {"label": "owner"}


def test_missing_and_broken_templates_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    broken = LABELS_TEMPLATE.replace("k8sneedsowner", "k8sbroken").replace("K8sNeedsOwner", "K8sBroken")
    broken = broken.replace("          not input.review", "          not input.review.[")
    folder = _write(
        tmp_path,
        {
            "template.yaml": LABELS_TEMPLATE,
            "broken.yaml": broken,
            "orphan.yaml": _constraint("orphan", {}, kind="K8sNobodyDefines"),
            "of-broken.yaml": _constraint("of-broken", {}, kind="K8sBroken"),
            "fine.yaml": _constraint("fine", {"parameters": {"label": "team"}}),
            "typed.yaml": _constraint("typed", {"parameters": {"label": 7}}),
        },
    )
    loaded = load_constraints([folder])
    problems = {Path(p.file or "").name: p for p in loaded.problems}
    assert sorted(problems) == ["broken.yaml", "of-broken.yaml", "orphan.yaml", "typed.yaml"]
    rego_line = _line_of(broken, "not input.review.[")
    assert problems["broken.yaml"].line == rego_line
    assert problems["broken.yaml"].message.startswith("rego: parse Rego v0: ")
    assert problems["orphan.yaml"].message == (
        "kind: no ConstraintTemplate defines kind K8sNobodyDefines; add its template to the --gatekeeper directories"
    )
    assert problems["of-broken.yaml"].message == (
        f"kind: the ConstraintTemplate of kind K8sBroken ({folder.as_posix()}/broken.yaml:{rego_line}) "
        "could not be loaded"
    )
    assert problems["typed.yaml"].line == _line_of(_constraint("typed", {"parameters": {"label": 7}}), "label: 7")
    assert problems["typed.yaml"].message == (
        "spec.parameters.label: does not fit the template's schema: 7 is not of type 'string'"
    )
    assert [c.name for c in loaded.constraints] == ["fine"]
    (finding,) = loaded.judge([_pod("web")], engine="regorus")
    assert finding.message == "Pod web has no team label"


def test_gatekeeper_rules_for_templates_are_enforced_and_rollguards_own_are_not(tmp_path: Path) -> None:
    def template(kind: str, rego: str, libs: list[str] | None = None) -> str:
        target: dict[str, Any] = {"target": "admission.k8s.gatekeeper.sh", "rego": rego}
        if libs:
            target["libs"] = libs
        doc = {
            "apiVersion": "templates.gatekeeper.sh/v1beta1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": kind.lower()},
            "spec": {"crd": {"spec": {"names": {"kind": kind}}}, "targets": [target]},
        }
        return yaml.safe_dump(doc, sort_keys=False)

    folder = _write(
        tmp_path,
        {
            # Reads input outside review and parameters: rollguard's generator refuses that, Gatekeeper does not.
            "ok.yaml": template("K8sOk", 'package ok\nviolation[{"msg": m}] { m := input.extra }\n'),
            "external.yaml": template(
                "K8sExternal",
                'package ext\nviolation[{"msg": "x"}] { r := external_data({"provider": "p", "keys": []}) }\n',
            ),
            "other-data.yaml": template("K8sOtherData", 'package od\nviolation[{"msg": m}] { m := data.secrets.x }\n'),
            "bad-lib.yaml": template(
                "K8sBadLib", 'package bl\nviolation[{"msg": "x"}] { data.lib.h.f }\n', ["package helpers\nf { true }\n"]
            ),
            "no-violation.yaml": template("K8sNoViolation", "package nv\ndeny[msg] { msg := 1 }\n"),
            "cel-only.yaml": template("K8sCelOnly", "").replace(
                "rego: ''", "code:\n    - engine: K8sNativeValidation\n      source: {validations: []}"
            ),
        },
    )
    loaded = load_constraints([folder])
    problems = {Path(p.file or "").name: (p.line, p.message) for p in loaded.problems}
    assert sorted(loaded.templates) == ["K8sOk"]
    assert problems["external.yaml"][1].startswith("rego: calls external_data (a Gatekeeper external data provider)")
    assert problems["other-data.yaml"][1] == (
        "rego: refers to data.secrets; Gatekeeper lets a template read only data.inventory and data.lib"
    )
    assert (
        problems["bad-lib.yaml"][1] == "libs[0]: library package helpers is not under lib., which Gatekeeper requires"
    )
    assert problems["cel-only.yaml"][1] == (
        "spec.targets[0]: the template has no Rego code (its K8sNativeValidation code is not supported)"
    )
    assert problems["no-violation.yaml"][1] == (
        "spec.targets[0].rego: the Rego defines no `violation` rule, which Gatekeeper requires"
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_v1_template_with_libs_and_referential_inventory(tmp_path: Path, engine: str) -> None:
    template = textwrap.dedent(
        """\
        apiVersion: templates.gatekeeper.sh/v1
        kind: ConstraintTemplate
        metadata:
          name: k8suniquehost
        spec:
          crd:
            spec:
              names:
                kind: K8sUniqueHost
          targets:
            - target: admission.k8s.gatekeeper.sh
              code:
                - engine: Rego
                  source:
                    version: v1
                    rego: |
                      package k8suniquehost

                      import data.lib.hosts.of

                      violation contains {"msg": msg} if {
                        some host in of(input.review.object)
                        some ns, name
                        other := data.inventory.namespace[ns]["networking.k8s.io/v1"].Ingress[name]
                        name != input.review.object.metadata.name
                        host in of(other)
                        msg := sprintf("host %v is also served by %v/%v", [host, ns, name])
                      }
                    libs:
                      - |
                        package lib.hosts

                        of(ingress) := {rule.host | some rule in ingress.spec.rules}
        """
    )
    folder = _write(tmp_path, {"template.yaml": template, "c.yaml": _constraint("unique", {}, kind="K8sUniqueHost")})
    loaded = load_constraints([folder])
    assert not loaded.problems
    assert [m.version for m in loaded.templates["K8sUniqueHost"].modules] == ["v1", "v1"]

    def ingress(name: str, host: str) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"rules": [{"host": host}]},
        }

    # The change is its own inventory, as in `gator test`.
    messages = sorted(
        f.message for f in loaded.judge([ingress("a", "x.example"), ingress("b", "x.example")], engine=engine)
    )
    assert messages == ["host x.example is also served by shop/a", "host x.example is also served by shop/b"]
    assert loaded.judge([ingress("a", "x.example"), ingress("b", "y.example")], engine=engine) == []


def test_findings_name_the_file_and_line_of_artifacts(tmp_path: Path) -> None:
    loaded = load_constraints([_write(tmp_path, {"template.yaml": LABELS_TEMPLATE, "c.yaml": _constraint("c", {})})])
    text = yaml.safe_dump(_namespace("shop", {"owner": "ann"})) + "---\n" + yaml.safe_dump(_pod("web"))
    artifacts, _ = load_text("manifests/app.yaml", text)
    (finding,) = loaded.judge(artifacts, engine="opa")
    assert (finding.file, finding.line) == ("manifests/app.yaml", text.splitlines().index("---") + 2)
    assert finding.resource.display() == "Pod shop/web"


# --- the v0 → v1 upgrade ---------------------------------------------------------------------------

V0_MODULE = """\
package example

import data.lib.helpers

default allowed = false

# Partial set heads become `contains`; every body gets `if`.
violation[{"msg": msg}] {
  name := input.review.object.metadata.name
  re_match("^tmp-", name)
  msg := sprintf("temporary name %v", [name])
} {
  every := input.parameters.every
  every > 3
  msg := "too many"
}

limit(x) = 2 { x == "small" } else = 10 { x == "large" }

allowed_kind("Pod")

names[n] { n := input.review.object.metadata.labels[_] }
"""

V1_MODULE = """\
package example

import data.lib.helpers

default allowed = false

# Partial set heads become `contains`; every body gets `if`.
violation contains {"msg": msg} if {
  name := input.review.object.metadata.name
  regex.match("^tmp-", name)
  msg := sprintf("temporary name %v", [name])
} violation contains {"msg": msg} if {
  every_v0 := input.parameters.every
  every_v0 > 3
  msg := "too many"
}

limit(x) = 2 if { x == "small" } else = 10 if { x == "large" }

allowed_kind("Pod") := true

names contains n if { n := input.review.object.metadata.labels[_] }
"""


def test_upgrade_writes_a_v0_module_as_v1_keeping_lines() -> None:
    upgraded = upgrade_v0(V0_MODULE, file="example.rego")
    assert upgraded == V1_MODULE
    assert upgraded.count("\n") == V0_MODULE.count("\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_upgraded_module_means_what_the_v0_module_means(engine: str) -> None:
    """regorus runs the v0 text natively; OPA (v1 only) the upgrade: same answers."""
    from rollguard.engine import create_engine

    reference = RegorusEngine(rego_v0=True)
    v0 = replace_removed_builtins(separate_bodies(V0_MODULE, file="example.rego"), file="example.rego")
    assert "regex.match(" in v0 and "re_match" not in v0
    reference.load({"example.rego": v0})
    runner = create_engine(engine)
    runner.load({"example.rego": V1_MODULE})
    review = {"object": {"metadata": {"name": "tmp-1", "labels": {"a": "x", "b": "y"}}}}
    answers = []
    for parameters in ({"every": 5}, {"every": 1}):
        policy_input = {"review": review, "parameters": parameters}
        expected = reference.evaluate("example", policy_input)
        assert runner.evaluate("example", policy_input) == expected
        assert reference.evaluate('example.limit("large")', policy_input) == 10
        assert runner.evaluate('example.limit("large")', policy_input) == 10
        answers.append(expected)
    assert sorted(m["msg"] for m in answers[0]["violation"]) == ["temporary name tmp-1", "too many"]
    assert answers[1] == {"allowed": False, "names": ["x", "y"], "violation": [{"msg": "temporary name tmp-1"}]}


def test_upgrade_refuses_builtins_rego_v1_removed() -> None:
    with pytest.raises(PolicyError) as caught:
        upgrade_v0('package x\n\nviolation[{"msg": "m"}] {\n  any([true])\n}\n', file="x.rego")
    assert (caught.value.file, caught.value.line) == ("x.rego", 4)
    assert caught.value.message.startswith("calls any(), a built-in Rego v1 removed; it cannot be upgraded")


def test_regorus_readings_that_differ_from_opa_are_rewritten() -> None:
    # regorus takes a second body of a partial set as `else` (and refuses it); OPA as another rule.
    assert separate_bodies("package x\ns[1] { true } {\n  true\n}\n", file="x.rego") == (
        "package x\ns[1] { true } s[1] {\n  true\n}\n"
    )
    # regorus reads a line opening with `(` as the arguments of a call on the line before.
    assert (
        separate_statements("package x\np if {\n  input.n\n  (input.a - input.b) > 1\n}\n", file="x.rego", version="v1")
        == "package x\np if {\n  input.n;\n  (input.a - input.b) > 1\n}\n"
    )


def test_regorus_engine_rego_v0_option_keeps_v1_the_default() -> None:
    v0 = 'package x\nviolation[{"msg": "m"}] { input.bad }\n'
    engine = RegorusEngine(rego_v0=True)
    engine.load({"x.rego": v0})
    assert engine.evaluate("x.violation", {"bad": True}) == [{"msg": "m"}]
    with pytest.raises(PolicyError) as caught:
        RegorusEngine().load({"x.rego": v0})
    assert (caught.value.file, caught.value.line) == ("x.rego", 2)
