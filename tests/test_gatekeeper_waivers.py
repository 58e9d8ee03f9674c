"""rollguard.yaml waivers in the Gatekeeper tree: namespace exclusions Gatekeeper honours like the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.contract import build_inventory, review_for
from rollguard.gatekeeper import build_tree, evaluate_template, gatekeeper_policies
from rollguard.gatekeeper.constraint_match import Match
from rollguard.gatekeeper.waivers import WAIVERS_ANNOTATION, constraint_waivers
from rollguard.generated import GeneratedTree
from rollguard.inputs import load_change_set
from rollguard.policy.bundle import load_bundle
from rollguard.policy.config import Config, Waiver, load_config

from .conftest import ENGINES, FIXTURES, NOW, POLICIES, make_gate

BUNDLE = load_bundle(POLICIES)
NO_PROBE = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"
CONFIG = """\
waivers:
  - id: WVR-1
    policy: k8s.readiness_probe
    match: {namespace: legacy}
    reason: The legacy namespace is drained by March.
    owner: team-legacy
    expires: 2099-12-31
  - id: WVR-2
    policy: "k8s.*"
    match: {namespace: "batch-*"}
    reason: Batch namespaces run one-off jobs.
    owner: team-data
    expires: 2099-06-30
  - id: WVR-3
    policy: k8s.readiness_probe
    match: {kind: Deployment, namespace: shop, name: checkout}
    reason: Checkout gets its probe next sprint.
    owner: team-shop
    expires: 2099-01-31
  - id: WVR-4
    policy: k8s.spread
    match: {namespace: old}
    reason: Spreading is moot in a namespace being deleted.
    owner: team-old
    expires: 2026-01-31
  - id: WVR-5
    policy: k8s.readiness_probe
    match: {namespace: canary}
    reason: Canaries take no traffic in prod.
    owner: team-shop
    expires: 2099-01-31
    environments: [prod]
environments:
  prod: {risk: high}
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "rollguard.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def built(config_file: Path) -> GeneratedTree:
    return build_tree(BUNDLE, load_config(config_file).resolve(None), now=NOW)


def constraint_of(files: GeneratedTree, policy: str) -> dict[str, Any]:
    folder = policy.split(".", 1)[1]
    document = yaml.safe_load(files[f"{folder}/samples/{folder.replace('_', '-')}/constraint.yaml"])
    assert isinstance(document, dict)
    return document


def test_namespace_waivers_become_excluded_namespaces_with_id_and_expiry(built: GeneratedTree) -> None:
    probe = constraint_of(built, "k8s.readiness_probe")
    assert probe["spec"]["match"]["excludedNamespaces"] == ["batch-*", "legacy"]
    assert json.loads(probe["metadata"]["annotations"][WAIVERS_ANNOTATION]) == [
        {"id": "WVR-1", "expires": "2099-12-31", "namespaces": ["legacy"]},
        {"id": "WVR-2", "expires": "2099-06-30", "namespaces": ["batch-*"]},
    ]
    # The kinds stay as they were: the exclusion narrows namespaces only.
    assert probe["spec"]["match"]["kinds"] == [
        {"apiGroups": ["*"], "kinds": sorted(BUNDLE.by_id()["k8s.readiness_probe"].applies_to)}
    ]
    # `k8s.*` reaches every policy; the expired WVR-4 reaches none.
    spread = constraint_of(built, "k8s.spread")
    assert spread["spec"]["match"]["excludedNamespaces"] == ["batch-*"]
    assert [w["id"] for w in json.loads(spread["metadata"]["annotations"][WAIVERS_ANNOTATION])] == ["WVR-2"]
    assert "old" not in yaml.safe_dump(spread["spec"]["match"])


def test_waivers_for_other_environments_stay_out_and_the_environments_own_go_in(config_file: Path) -> None:
    prod = build_tree(BUNDLE, load_config(config_file).resolve("prod"), now=NOW)
    assert constraint_of(prod, "k8s.readiness_probe")["spec"]["match"]["excludedNamespaces"] == [
        "batch-*",
        "canary",
        "legacy",
    ]


def test_expired_waivers_are_not_applied(config_file: Path) -> None:
    later = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    files = build_tree(BUNDLE, load_config(config_file).resolve(None), now=later)
    probe = constraint_of(files, "k8s.readiness_probe")
    assert "excludedNamespaces" not in probe["spec"]["match"]
    assert WAIVERS_ANNOTATION not in probe["metadata"]["annotations"]


def test_a_config_without_waivers_changes_no_constraint() -> None:
    files = build_tree(BUNDLE, Config().resolve(None), now=NOW)
    probe = constraint_of(files, "k8s.readiness_probe")
    assert set(probe["spec"]["match"]) == {"kinds"}
    assert set(probe["metadata"]["annotations"]) == {"rollguard.io/policy-id"}


def test_the_waivers_gatekeeper_cannot_express_are_reported(config_file: Path) -> None:
    settings = load_config(config_file).resolve(None)
    left = constraint_waivers(gatekeeper_policies(BUNDLE, settings), settings, now=NOW).left_out
    assert [item.display() for item in left] == [
        "waiver WVR-3 (k8s.readiness_probe) is not in the Gatekeeper tree: it waives objects named 'checkout'; "
        "Gatekeeper's match.name selects the only objects a constraint judges and cannot exempt one, and the "
        "templates have no parameter for exempt objects",
        "waiver WVR-4 (k8s.spread) is not in the Gatekeeper tree: it expired on 2026-01-31, so it no longer applies",
    ]


def waiver(**match: str) -> Waiver:
    return Waiver(
        id="W",
        policy=match.pop("policy", "k8s.readiness_probe"),
        reason="r",
        owner="o",
        expires=dt.date(2099, 1, 1),
        **match,
    )


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (
            waiver(kind="Deployment", namespace="legacy"),
            "it waives Deployment only, and excluding its namespaces would exempt Pod, StatefulSet, DaemonSet, "
            "ReplicaSet, ReplicationController, Rollout, DeploymentConfig too",
        ),
        (waiver(namespace="*"), "it waives the policy in every namespace; leave the policy out of the build"),
        (waiver(namespace="team-*-prod"), "its namespace pattern 'team-*-prod' is not one excludedNamespaces can hold"),
        (waiver(namespace="shop-[ab]"), "its namespace pattern 'shop-[ab]' is not one excludedNamespaces can hold"),
        (waiver(namespace="legacy", name="web-*"), "it waives objects named 'web-*'"),
    ],
)
def test_each_inexpressible_waiver_names_its_reason(given: Waiver, reason: str) -> None:
    settings = Config(waivers=(given,)).resolve(None)
    carried = constraint_waivers(gatekeeper_policies(BUNDLE, settings), settings, now=NOW)
    assert carried.exclusions == {}
    (left,) = carried.left_out
    assert left.policies == ("k8s.readiness_probe",) and reason in left.reason


def test_cluster_scoped_objects_in_namespace_default_are_noted() -> None:
    settings = Config(waivers=(waiver(policy="k8s.rbac", namespace="default"),)).resolve(None)
    carried = constraint_waivers(gatekeeper_policies(BUNDLE, settings), settings, now=NOW)
    assert carried.excluded_namespaces("k8s.rbac") == ["default"]
    (left,) = carried.left_out
    assert left.reason.startswith("cluster-scoped ClusterRole, ClusterRoleBinding objects, which rollguard counts")


def test_build_prints_what_it_leaves_out(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "gk"
    result = CliRunner().invoke(
        main,
        ["gatekeeper", "build", "--out", str(out), "--config", str(config_file), "--now", "2026-11-26T12:00:00Z"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("rollguard: waiver WVR-3 (k8s.readiness_probe) is not in the Gatekeeper tree: ")
    assert (
        lines[1]
        == "rollguard: waiver WVR-4 (k8s.spread) is not in the Gatekeeper tree: it expired on 2026-01-31, so it no longer applies"
    )
    # The policies that read the rollout simulation, which Gatekeeper cannot play.
    assert lines[2:4] == [
        f"rollguard: {pid} is not in the Gatekeeper tree: it reads the rollout simulation, "
        "which only rollguard check and rollguard serve compute"
        for pid in ("k8s.progress_feasible", "k8s.quota_headroom")
    ]
    assert lines[4].startswith("wrote ")
    constraint = yaml.safe_load((out / "readiness_probe/samples/readiness-probe/constraint.yaml").read_text())
    assert constraint["spec"]["match"]["excludedNamespaces"] == ["batch-*", "legacy"]
    bad = CliRunner().invoke(main, ["gatekeeper", "build", "--out", str(out), "--now", "tomorrow"])
    assert bad.exit_code == 2 and "--now 'tomorrow' is not an ISO 8601 time" in bad.output


@pytest.mark.parametrize("engine", ENGINES)
def test_gatekeeper_no_longer_flags_an_excluded_namespace_and_agrees_with_the_cli(
    config_file: Path, built: GeneratedTree, tmp_path: Path, engine: str
) -> None:
    """The deployable constraint and its template, run as Gatekeeper runs them, against `rollguard
    check` with the same config: a waived namespace is neither flagged nor counted, any other is.

    In `shop` the two differ, as the build reports: WVR-3 waives the Deployment `checkout` by name,
    which Gatekeeper cannot express, so it still flags it there.
    """
    settings = load_config(config_file).resolve(None)
    gate = make_gate(BUNDLE, engine, settings)
    template = yaml.safe_load(built["readiness_probe/template.yaml"])
    constraint = constraint_of(built, "k8s.readiness_probe")
    match = Match.parse(constraint["spec"]["match"])
    flagged: dict[str, bool] = {}
    counted: dict[str, bool] = {}
    for namespace in ("legacy", "batch-nightly", "batch", "prod-eu", "legacy-2", "shop"):
        path = tmp_path / f"{namespace}.yaml"
        path.write_text(NO_PROBE.read_text().replace("namespace: shop", f"namespace: {namespace}"))
        change = load_change_set([str(path)])
        deployment = next(a for a in change.artifacts if a.document["kind"] == "Deployment")
        others = [a.document for a in change.artifacts if a is not deployment and a.document["kind"] == "Service"]
        review = review_for(deployment)
        violations = (
            evaluate_template(
                template, review, constraint["spec"]["parameters"], build_inventory(others, index=False), engine=engine
            )
            if match.matches_any((review["object"], review["oldObject"]), None)
            else []
        )
        findings = [f for f in gate.judge(change).findings if f.policy == "k8s.readiness_probe"]
        assert len(findings) == 1, namespace
        counted[namespace] = not findings[0].waived
        flagged[namespace] = bool(violations)
        if violations:
            assert violations == [{"msg": findings[0].message, "details": dict(findings[0].details)}]
    expected = {"legacy": False, "batch-nightly": False, "batch": True, "prod-eu": True, "legacy-2": True}
    assert flagged == {**expected, "shop": True}
    assert counted == {**expected, "shop": False}


def test_suite_cases_in_an_excluded_namespace_expect_no_violation(tmp_path: Path) -> None:
    """gator honours match, so a waived fixture document must expect what Gatekeeper does: nothing."""
    config = tmp_path / "rollguard.yaml"
    config.write_text(
        "policies:\n  include: [k8s.readiness_probe]\n"
        "waivers:\n  - {id: WVR-9, policy: k8s.readiness_probe, match: {namespace: shop}, reason: r, owner: o, "
        "expires: 2099-01-01}\n"
    )
    waived = build_tree(BUNDLE, load_config(config).resolve(None), fixtures=FIXTURES, now=NOW)
    plain = build_tree(BUNDLE, Config(include=("k8s.readiness_probe",)).resolve(None), fixtures=FIXTURES, now=NOW)

    def case(files: GeneratedTree, name: str) -> dict[str, Any]:
        suite = yaml.safe_load(files["readiness_probe/suite.yaml"])
        found: dict[str, Any] = next(c for t in suite["tests"] for c in t["cases"] if c["name"] == name)
        return found

    assert case(plain, "disallowed-no-probe")["assertions"][0] == {"violations": 1}
    assert case(waived, "disallowed-no-probe")["assertions"] == [{"violations": "no"}]
