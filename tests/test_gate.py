"""The gate: documents in one call, builtin errors, compile errors, enforcement, waivers and exit codes."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from rollguard.contract import build_inventory
from rollguard.errors import ConfigError, PolicyError
from rollguard.inputs import load_change_set
from rollguard.model import EXIT_ERROR, EXIT_FINDINGS, EXIT_INPUT, EXIT_PASS, Severity
from rollguard.policy.bundle import load_bundle
from rollguard.policy.config import Config, Waiver

from .conftest import ENGINES, FIXTURES, NOW, make_gate

BASELINE = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
NO_PROBE = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"

STRICT_POLICY = textwrap.dedent(
    """\
    # METADATA
    # title: Replicas annotation is a number
    # description: Reads an annotation with to_number, unguarded, to provoke a builtin error.
    # scope: package
    # custom:
    #   id: k8s.strict_probe
    #   severity: medium
    #   applies_to: [ConfigMap]
    package rollguard.k8s.strict_probe

    violation contains {"msg": "too many", "details": {"n": n}} if {
    \tn := to_number(input.review.object.data.count)
    \tn > 3
    }
    """
)


def _write_policy(root: Path, source: str, name: str = "strict_probe") -> Path:
    folder = root / "rollguard" / "k8s" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.rego").write_text(source)
    return root


def _configmaps(tmp_path: Path, counts: list[str]) -> Path:
    docs = [
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm{i}, namespace: ns}}\ndata: {{count: {c!r}}}\n"
        for i, c in enumerate(counts)
    ]
    path = tmp_path / "cms.yaml"
    path.write_text("---\n".join(docs))
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_builtin_error_becomes_error_finding_for_that_resource_only(tmp_path: Path, engine: str) -> None:
    policies = _write_policy(tmp_path / "policies", STRICT_POLICY)
    gate = make_gate(load_bundle(policies), engine)
    decision = gate.judge(load_change_set([str(_configmaps(tmp_path, ["5", "not-a-number", "1"]))]))
    by_name = {f.resource.name: f for f in decision.findings}
    assert set(by_name) == {"cm0", "cm1"}
    assert by_name["cm0"].message == "too many" and not by_name["cm0"].error
    assert by_name["cm1"].error and "to_number" in by_name["cm1"].message
    assert by_name["cm1"].line == 6  # the second document starts after line 5's `---`
    assert decision.exit_code() == EXIT_ERROR
    assert decision.verdict == "fail"


@pytest.mark.parametrize(
    ("engine", "broken", "line"),
    [
        ("opa", "n > undefined_function(3)", 13),  # OPA type-checks the whole bundle on first evaluation
        # regorus resolves functions lazily, so it is given a syntax error; both parsers notice the
        # missing `)` at the closing brace on the next line.
        ("regorus", "n > (3", 14),
        ("opa", "n > (3", 14),
    ],
)
def test_compile_error_names_rego_file_and_line(tmp_path: Path, engine: str, broken: str, line: int) -> None:
    policies = _write_policy(tmp_path / "policies", STRICT_POLICY.replace("n > 3", broken))
    with pytest.raises(PolicyError) as info:
        make_gate(load_bundle(policies), engine)
    assert info.value.file == "rollguard/k8s/strict_probe/strict_probe.rego"
    assert info.value.line == line
    assert str(info.value).startswith(f"rollguard/k8s/strict_probe/strict_probe.rego:{line}: compile policy:")


def test_function_regorus_resolves_late_is_still_a_policy_error(tmp_path: Path) -> None:
    broken = STRICT_POLICY.replace("n > 3", "n > undefined_function(3)")
    gate = make_gate(load_bundle(_write_policy(tmp_path / "policies", broken)), "regorus")
    with pytest.raises(PolicyError) as info:
        gate.judge(load_change_set([str(_configmaps(tmp_path, ["5"]))]))
    assert (info.value.file, info.value.line) == ("rollguard/k8s/strict_probe/strict_probe.rego", 13)
    assert "undefined_function" in info.value.message


@pytest.mark.parametrize("engine", ENGINES)
def test_findings_stay_with_their_documents(tmp_path: Path, engine: str) -> None:
    policies = _write_policy(tmp_path / "policies", STRICT_POLICY)
    gate = make_gate(load_bundle(policies), engine)
    decision = gate.judge(load_change_set([str(_configmaps(tmp_path, ["9", "1", "7", "8", "0"]))]))
    assert [f.resource.name for f in decision.findings] == ["cm0", "cm2", "cm3"]
    assert [f.details["n"] for f in decision.findings] == [9, 7, 8]


def test_pass_and_fail_exit_codes(gates) -> None:
    for gate in gates.values():
        ok = gate.judge(load_change_set([str(BASELINE)]))
        assert (ok.verdict, ok.exit_code(), ok.findings) == ("pass", EXIT_PASS, ())
        bad = gate.judge(load_change_set([str(NO_PROBE)]))
        assert bad.exit_code() == EXIT_FINDINGS
        assert bad.exit_code(fail_on=Severity.CRITICAL) == EXIT_PASS


def test_input_problem_gives_exit_2_and_the_rest_is_judged(gates, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n")
    decision = gates["opa"].judge(load_change_set([str(broken), str(NO_PROBE)]))
    assert decision.exit_code() == EXIT_INPUT
    assert [f.policy for f in decision.findings] == ["k8s.readiness_probe"]
    assert decision.problems[0].file == broken.as_posix()
    assert decision.problems[0].line is not None


def _settings(**kwargs):
    return Config(**kwargs).resolve(None)


def test_enforcement_warn_does_not_block(bundle) -> None:
    gate = make_gate(bundle, "opa", _settings(enforcement={"k8s.readiness_probe": "warn"}))
    decision = gate.judge(load_change_set([str(NO_PROBE)]))
    assert [f.enforcement for f in decision.findings] == ["warn"]
    assert decision.exit_code() == EXIT_PASS


def test_waiver_applies_until_it_expires(bundle) -> None:
    waiver = Waiver(
        id="W-1",
        policy="k8s.readiness_probe",
        reason="probe lands next sprint",
        owner="team-shop",
        expires=dt.date(2026, 12, 31),
        kind="Deployment",
        name="checkout",
    )
    gate = make_gate(bundle, "regorus", _settings(waivers=(waiver,)))
    decision = gate.judge(load_change_set([str(NO_PROBE)]))
    (finding,) = decision.findings
    assert finding.waiver is not None and finding.waiver.status == "applied" and finding.waived
    assert decision.exit_code() == EXIT_PASS and decision.expired_waivers == ()

    gate.now = NOW.replace(year=2027)
    decision = gate.judge(load_change_set([str(NO_PROBE)]))
    (finding,) = decision.findings
    assert finding.waiver is not None and finding.waiver.status == "expired" and not finding.waived
    assert decision.exit_code() == EXIT_FINDINGS
    assert [w.id for w in decision.expired_waivers] == ["W-1"]


def test_waiver_does_not_match_other_resources(bundle) -> None:
    waiver = Waiver(
        id="W-2", policy="k8s.readiness_probe", reason="r", owner="o", expires=dt.date(2030, 1, 1), name="other"
    )
    gate = make_gate(bundle, "opa", _settings(waivers=(waiver,)))
    (finding,) = gate.judge(load_change_set([str(NO_PROBE)])).findings
    assert finding.waiver is None


def test_annotation_must_name_a_defined_waiver(bundle, tmp_path: Path) -> None:
    text = NO_PROBE.read_text().replace(
        "  labels:\n    app.kubernetes.io/name: checkout\nspec:",
        "  labels:\n    app.kubernetes.io/name: checkout\n  annotations:\n"
        "    rollguard.io/waive.k8s.readiness_probe: W-404\nspec:",
        1,
    )
    path = tmp_path / "annotated.yaml"
    path.write_text(text)
    decision = make_gate(bundle, "opa").judge(load_change_set([str(path)]))
    assert "W-404" in decision.problems[0].message
    assert decision.exit_code() == EXIT_INPUT

    waiver = Waiver(id="W-404", policy="k8s.readiness_probe", reason="r", owner="o", expires=dt.date(2030, 1, 1))
    waiver = Waiver(**{**waiver.__dict__, "kind": "NoSuchKind"})  # only the annotation can select the resource
    decision = make_gate(bundle, "opa", _settings(waivers=(waiver,))).judge(load_change_set([str(path)]))
    assert decision.problems == ()
    assert decision.findings[0].waived


def test_annotation_waives_a_finding_named_at_its_field(bundle, tmp_path: Path) -> None:
    path = tmp_path / "latest.yaml"
    path.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  annotations:\n"
        "    rollguard.io/waive.k8s.image_pinning: W-5\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - name: web\n        image: registry.example.com/web:latest\n"
    )
    waiver = Waiver(id="W-5", policy="k8s.image_pinning", reason="r", owner="o", expires=dt.date(2030, 1, 1))
    waiver = Waiver(**{**waiver.__dict__, "kind": "NoSuchKind"})  # only the annotation can select the resource
    decision = make_gate(bundle, "opa", _settings(waivers=(waiver,))).judge(load_change_set([str(path)]))
    [finding] = [f for f in decision.findings if f.policy == "k8s.image_pinning"]
    assert finding.line == 13  # the image, not the document's first line
    assert finding.waived


def test_config_naming_unknown_policy_is_rejected(bundle) -> None:
    with pytest.raises(ConfigError, match="k8s.no_such_policy"):
        make_gate(bundle, "opa", _settings(parameters={"k8s.no_such_policy": {}}))


def test_parameters_are_checked_against_the_policy_schema(bundle) -> None:
    with pytest.raises(ConfigError, match="exempt_images"):
        make_gate(bundle, "opa", _settings(parameters={"k8s.readiness_probe": {"exempt_images": "istio/"}}))


def test_inventory_uses_gatekeeper_layout() -> None:
    docs = [
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "a", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
    ]
    inv = build_inventory(docs)
    assert inv["namespace"]["x"]["policy/v1"]["PodDisruptionBudget"]["a"] is docs[0]
    assert inv["namespace"]["default"]["v1"]["Service"]["s"] is docs[1]
    assert inv["cluster"]["v1"]["Namespace"]["x"] is docs[2]


def test_inventory_indexes_selectors_by_one_string_pair() -> None:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"b": "2", "a": "1"}},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "odd"}, "spec": {"selector": {"a": 1}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "none"}, "spec": {}},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": "x"},
            "spec": {"podSelector": {}},
        },
    ]
    index = build_inventory(docs)["rollguard_selectors"]
    assert index["default"]["Service"] == {
        "by_label": {"a": {"1": [["v1", "web"]]}},
        "unindexed": [["v1", "odd"], ["v1", "none"]],
    }
    assert index["x"]["NetworkPolicy"] == {"by_label": {}, "unindexed": [["networking.k8s.io/v1", "deny"]]}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_selection_of_no_policy_is_refused(bundle, engine: str) -> None:
    # Judging with no policy would pass everything: the settings are refused instead.
    with pytest.raises(ConfigError, match="policies.include/exclude select none of the"):
        make_gate(bundle, engine, _settings(include=("k8s.nothing_matches_this",)))


def test_scan_reports_are_linked_to_the_workloads_that_run_their_image(gates) -> None:
    """A report covers a workload when the digest matches (pinned images) or name and tag do."""
    folder = FIXTURES / "image" / "scan_coverage"
    change = load_change_set([str(folder / "allowed_digest_match.json"), str(folder / "allowed_digest_match.yaml")])
    decision = gates["opa"].judge(change)
    [link] = decision.links
    assert link.source == (folder / "allowed_digest_match.json").as_posix()
    assert link.relation.startswith("scans registry.example.com/shop/checkout:2.4.1@sha256:3b4f0c1d")
    assert link.target == f"Deployment shop/checkout ({(folder / 'allowed_digest_match.yaml').as_posix()}:2)"
    other = load_change_set(
        [str(folder / "disallowed_other_digest.json"), str(folder / "disallowed_other_digest.yaml")]
    )
    assert gates["opa"].judge(other).links == ()
