"""The rollout simulation as policy input: computed only when a compiled policy needs it, the same
on the command line (`data.rollguard.changeset.simulation`, `input.simulation`) and in the webhook."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollguard.contract import review_for
from rollguard.engine import create_engine
from rollguard.errors import PolicyError
from rollguard.gate import Gate
from rollguard.gatekeeper import gatekeeper_policies, simulation_policies
from rollguard.inputs import load_change_set
from rollguard.policy.bundle import PolicyBundle, load_bundle
from rollguard.policy.config import Config, load_config
from rollguard.policy.entry import entry_module

from .conftest import FIXTURES, NOW

FEASIBLE = FIXTURES / "k8s" / "progress_feasible"
QUOTA = FIXTURES / "k8s" / "quota_headroom"
SIMULATION_POLICIES = {
    "k8s.progress_feasible",
    "k8s.quota_headroom",
    "governance.rollout_slo",
    "governance.rollout_fits_window",
    "governance.team_quota",
}


def gate_for(
    bundle: PolicyBundle, tmp_path: Path, include: list[str], engine: str = "regorus", extra: str = "", **kw: object
) -> Gate:
    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\npolicies:\n  include: [" + ", ".join(include) + "]\n" + extra)
    return Gate(bundle=bundle, engine=create_engine(engine), settings=load_config(config).resolve(None), now=NOW, **kw)


def test_the_pack_declares_which_policies_need_the_simulation(bundle: PolicyBundle) -> None:
    assert {p.id for p in bundle.policies if p.needs_simulation} == SIMULATION_POLICIES
    settings = Config().resolve(None)
    # The Gatekeeper tree names those it leaves out for the simulation; governance is never in it.
    assert {p.id for p in simulation_policies(bundle, settings)} == {"k8s.progress_feasible", "k8s.quota_headroom"}
    assert not {p.id for p in gatekeeper_policies(bundle, settings)} & SIMULATION_POLICIES


def test_needs_must_name_something_rollguard_provides(tmp_path: Path) -> None:
    policy = tmp_path / "rollguard" / "k8s" / "odd" / "odd.rego"
    policy.parent.mkdir(parents=True)
    policy.write_text(
        "# METADATA\n# title: Odd\n# description: Odd.\n# scope: package\n# custom:\n#   id: k8s.odd\n#   severity: low\n"
        "#   applies_to: [Deployment]\n#   needs: [weather]\npackage rollguard.k8s.odd\n\n"
        'violation contains {"msg": "x", "details": {}} if false\n'
    )
    with pytest.raises(PolicyError, match="custom.needs must list some of: simulation"):
        load_bundle(tmp_path)


def test_no_simulation_without_a_policy_that_needs_it(bundle: PolicyBundle, tmp_path: Path) -> None:
    change = load_change_set([(FEASIBLE / "disallowed_round_longer_than_deadline.yaml").as_posix()])
    without = gate_for(bundle, tmp_path, ["k8s.progress_deadline"])
    assert without.simulation is None
    assert "simulation" not in without.changeset_for(change.artifacts)
    assert "review_input" not in entry_module(without.compiled)
    # A change without the kinds such a policy judges does not compile it, so nothing is simulated.
    pruned = gate_for(bundle, tmp_path, ["k8s.*"], kinds=frozenset({"Service"}))
    assert pruned.simulation is None


def test_the_simulation_is_in_the_change_set_and_each_workloads_input(bundle: PolicyBundle, tmp_path: Path) -> None:
    # rollguard.yaml's `simulation:` is the simulation's configuration, as for `rollguard simulate`.
    startup = "simulation:\n  startup_seconds:\n    shop/checkout: 700\n"
    change = load_change_set([(QUOTA / "allowed_room_for_surge.yaml").as_posix()])
    gate = gate_for(bundle, tmp_path, ["k8s.progress_feasible"], extra=startup)
    assert gate.simulation is not None and gate.simulation.startup_seconds == {"shop/checkout": 700}
    changeset = gate.changeset_for(change.artifacts)
    [simulated] = changeset["simulation"]
    assert (simulated["kind"], simulated["namespace"], simulated["name"]) == ("Deployment", "shop", "checkout")
    assert "timeline" not in simulated and simulated["pod_seconds"]["startup"] == 700
    [finding] = gate.judge(change).findings
    assert finding.policy == "k8s.progress_feasible" and finding.details["round_seconds"] == 710


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_the_webhook_path_simulates_the_object_under_review(bundle: PolicyBundle, tmp_path: Path, engine: str) -> None:
    change = load_change_set([(FEASIBLE / "disallowed_round_longer_than_deadline.yaml").as_posix()])
    gate = gate_for(bundle, tmp_path, ["k8s.progress_feasible"], engine=engine, domains=frozenset({"k8s"}))
    [deployment] = [a for a in change.artifacts if a.resource.kind == "Deployment"]
    cli = gate.judge(change).findings
    webhook = gate.judge_review(deployment, review_for(deployment)).findings
    assert [(f.policy, f.message, dict(f.details)) for f in webhook] == [
        (f.policy, f.message, dict(f.details)) for f in cli
    ]
    assert [f.details["round_seconds"] for f in webhook] == [300]


def test_the_webhook_fills_in_the_limit_range_defaults_of_the_inventory(bundle: PolicyBundle, tmp_path: Path) -> None:
    change = load_change_set([(QUOTA / "disallowed_limit_range_default_limits.yaml").as_posix()])
    [deployment] = [a for a in change.artifacts if a.resource.kind == "Deployment"]
    kept = {"ResourceQuota", "LimitRange"}
    from rollguard.contract import build_inventory

    for with_limit_range in (True, False):
        inventory = build_inventory(
            a.document
            for a in change.artifacts
            if a.resource.kind in kept and (with_limit_range or a.resource.kind != "LimitRange")
        )
        gate = gate_for(bundle, tmp_path, ["k8s.quota_headroom"], domains=frozenset({"k8s"}), inventory=inventory)
        found = [
            (f.details["resource"], f.details["need"])
            for f in gate.judge_review(deployment, review_for(deployment)).findings
        ]
        # Without the LimitRange the containers have no CPU limit at all (and the quota would refuse them).
        assert found == ([("limits.cpu", "6 CPU")] if with_limit_range else [])


def _with_replicas(deployment_yaml: str, replicas: int) -> str:
    """The fixture's Deployment with `replicas` pods replaced one at a time (maxSurge 1, maxUnavailable 0)."""
    import yaml

    docs = [d for d in yaml.safe_load_all(deployment_yaml) if d]
    for d in docs:
        if d["kind"] == "Deployment":
            d["spec"]["replicas"] = replicas
            d["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    return yaml.safe_dump_all(docs)


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_a_rollout_longer_than_the_admission_budget_is_not_judged_fine(
    bundle: PolicyBundle, tmp_path: Path, engine: str
) -> None:
    # 600 pods one at a time: about 1,800 controller steps, over a budget of 1,000 in the webhook.
    source = tmp_path / "big.yaml"
    source.write_text(_with_replicas((FEASIBLE / "disallowed_round_longer_than_deadline.yaml").read_text(), 600))
    change = load_change_set([source.as_posix()])
    [deployment] = [a for a in change.artifacts if a.resource.kind == "Deployment"]
    webhook = gate_for(
        bundle, tmp_path, ["k8s.progress_feasible"], engine=engine, domains=frozenset({"k8s"}), simulation_steps=1000
    )
    [finding] = webhook.judge_review(deployment, review_for(deployment)).findings
    assert finding.policy == "k8s.progress_feasible"
    assert finding.message == (
        "not judged: the rollout could not be simulated: simulation failed: the rollout has more than 1,000 steps"
        " to simulate (raise admission.simulation_steps, or judge it with rollguard check)"
    )
    assert finding.details["case"] == "not_simulated"
    # The next request is judged on its own: nothing of this one is left behind in the gate.
    small = load_change_set([(FEASIBLE / "disallowed_round_longer_than_deadline.yaml").as_posix()])
    [other] = [a for a in small.artifacts if a.resource.kind == "Deployment"]
    [again] = webhook.judge_review(other, review_for(other)).findings
    assert again.details["round_seconds"] == 300
    # The command line has no such budget: it plays the whole rollout and judges it.
    [judged] = gate_for(bundle, tmp_path, ["k8s.progress_feasible"], engine=engine).judge(change).findings
    assert judged.details["round_seconds"] == 300 and "not_simulated" not in judged.details


def test_a_workload_the_simulation_cannot_read_is_reported_not_passed(bundle: PolicyBundle, tmp_path: Path) -> None:
    import yaml

    docs = [d for d in yaml.safe_load_all((QUOTA / "allowed_room_for_surge.yaml").read_text()) if d]
    for d in docs:
        if d["kind"] == "Deployment":
            d["metadata"].setdefault("annotations", {})["rollguard.io/startup-seconds"] = "soon"
    source = tmp_path / "odd.yaml"
    source.write_text(yaml.safe_dump_all(docs))
    change = load_change_set([source.as_posix()])
    gate = gate_for(bundle, tmp_path, ["k8s.progress_feasible", "k8s.quota_headroom"])
    found = sorted((f.policy, f.message) for f in gate.judge(change).findings)
    assert [p for p, _ in found] == ["k8s.progress_feasible", "k8s.quota_headroom"]
    for _, message in found:
        assert "the rollout could not be simulated: " in message and "rollguard.io/startup-seconds" in message
    # The same gate judging the fixture as it is finds nothing: no reason is left behind.
    assert gate.judge(load_change_set([(QUOTA / "allowed_room_for_surge.yaml").as_posix()])).findings == ()


def test_slo_layers_come_lowest_precedence_first(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text(
        "version: 1\n"
        "slo:\n  max_rollout_minutes: 60\n  services:\n    'shop/*': {min_capacity_percent: 80}\n"
        "environments:\n  prod:\n    slo:\n      max_rollback_minutes: 5\n"
        "      services:\n        checkout: {max_rollout_minutes: 20}\n  dev: {}\n"
    )
    loaded = load_config(config)
    assert [dict(layer) for layer in loaded.resolve("prod").slo] == [
        {"match": None, "objectives": {"max_rollout_minutes": 60}, "where": "slo"},
        {"match": "shop/*", "objectives": {"min_capacity_percent": 80}, "where": "slo.services.shop/*"},
        {"match": None, "objectives": {"max_rollback_minutes": 5}, "where": "environments.prod.slo"},
        {
            "match": "checkout",
            "objectives": {"max_rollout_minutes": 20},
            "where": "environments.prod.slo.services.checkout",
        },
    ]
    assert [layer["where"] for layer in loaded.resolve("dev").slo] == ["slo", "slo.services.shop/*"]


def test_a_mistyped_objective_is_refused_with_its_line(tmp_path: Path) -> None:
    from rollguard.errors import ConfigError

    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\nslo:\n  services:\n    checkout:\n      max_rollout_minute: 20\n")
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert raised.value.line == 5 and "max_rollout_minute" in str(raised.value)


USAGE = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ResourceQuota
    metadata: {name: compute, namespace: shop}
    spec:
      hard: {requests.cpu: "2", requests.memory: 2Gi, limits.cpu: "6", pods: "10"}
  - apiVersion: v1
    kind: LimitRange
    metadata: {name: container-defaults, namespace: shop}
    spec:
      limits:
        - type: Container
          default: {cpu: "1"}
          defaultRequest: {cpu: 100m}
  - apiVersion: v1
    kind: Pod
    metadata: {name: cart-7d9f-abcde, namespace: shop, labels: {app: cart}}
    spec:
      containers:
        - name: cart
          image: registry.example.com/shop/cart:1.0.0
          resources: {requests: {cpu: 300m, memory: 128Mi}, limits: {cpu: 300m}}
    status: {phase: Running}
"""


def _json_check(*args: str) -> tuple[int, dict]:
    import json

    from click.testing import CliRunner

    from rollguard.cli import main

    result = CliRunner().invoke(main, ["check", "--format", "json", *args], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_namespace_usage_brings_the_clusters_quota_limits_and_running_pods(tmp_path: Path) -> None:
    import yaml

    docs = [d for d in yaml.safe_load_all((QUOTA / "allowed_room_for_surge.yaml").read_text()) if d]
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump_all([d for d in docs if d["kind"] not in {"ResourceQuota", "LimitRange"}]))
    usage = tmp_path / "usage.yaml"
    usage.write_text(USAGE)
    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\npolicies:\n  include: [k8s.quota_headroom]\n")
    code, report = _json_check(str(change), "--config", str(config), "--namespace-usage", str(usage))
    # The LimitRange's default limit of 1 CPU makes the peak 6 CPU of limits, and the running cart
    # pod holds 0.3 more: over the quota's 6. Requests (0.3 + 1.5 of 2) still fit.
    [finding] = report["findings"]
    assert code == 1 and finding["policy"] == "k8s.quota_headroom"
    assert (finding["details"]["resource"], finding["details"]["running"], finding["details"]["need"]) == (
        "limits.cpu",
        "0.3 CPU",
        "6.3 CPU",
    )
    # The usage file is context: its objects are not judged and not counted as resources of the change.
    assert {f["resource"]["kind"] for f in report["findings"]} == {"Deployment"}
    code, report = _json_check(str(change), "--config", str(config))
    assert code == 0 and report["findings"] == []


def test_namespace_usage_refuses_objects_it_does_not_read(tmp_path: Path) -> None:
    usage = tmp_path / "usage.yaml"
    usage.write_text(USAGE + "---\napiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n")
    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\npolicies:\n  include: [k8s.quota_headroom]\n")
    code, report = _json_check(
        str(QUOTA / "allowed_room_for_surge.yaml"), "--namespace-usage", str(usage), "--config", str(config)
    )
    # Unusable input (exit 2), with the file, line and what the option reads; the change is still judged.
    assert code == 2 and [f["details"]["resource"] for f in report["findings"]] == ["limits.cpu"]
    [problem] = report["errors"]
    # The Service's first line: after the List's lines and the `---`.
    assert (problem["file"], problem["line"]) == (str(usage), USAGE.count("\n") + 2)
    assert problem["message"].startswith("Service shop/cart: --namespace-usage reads only Pods, ResourceQuotas")
