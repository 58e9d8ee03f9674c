"""The ChangeRequest the gate builds for a change to an environment, and the second pass that judges it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rollguard.engine import create_engine
from rollguard.gate import Gate
from rollguard.governance.change import change_request
from rollguard.inputs import load_change_set
from rollguard.kube.workloads import workload_of, workloads_of
from rollguard.model import Finding, Resource, Severity
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import load_config

from ..conftest import FIXTURES, NOW

CONTRACT = FIXTURES / "governance" / "change_approval" / "disallowed_contract_release"


def deployment(**labels: str) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "storefront"}},
                "spec": {
                    "initContainers": [{"name": "init", "image": "reg/init:1"}],
                    "containers": [
                        {"name": "web", "image": "reg/shop/web:2.4.1@sha256:abc"},
                        {"name": "x", "image": "reg/x"},
                    ],
                },
            }
        },
    }


def test_workload_version_label_else_first_image_tag() -> None:
    assert workload_of(deployment()) == {
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
        "version": "2.4.1",
        "images": ["reg/init:1", "reg/shop/web:2.4.1@sha256:abc", "reg/x"],
    }
    assert workload_of(deployment(**{"app.kubernetes.io/version": "2.5"}))["version"] == "2.5"  # type: ignore[index]
    assert workload_of({"kind": "Service", "metadata": {"name": "web"}}) is None
    assert workload_of({"kind": "Deployment", "metadata": {}}) is None
    cron = {
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ops"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "reg/job"}]}}}}},
    }
    assert workloads_of([cron, deployment()])[0] == {
        "kind": "CronJob",
        "namespace": "ops",
        "name": "nightly",
        "version": None,
        "images": ["reg/job"],
    }


def test_change_request_facts() -> None:
    change = load_change_set([str(FIXTURES / "governance" / "change_approval" / "allowed_annotated")])
    resource = Resource("apps/v1", "Deployment", "shop", "web")
    waived = Finding(
        policy="k8s.rbac",
        title="t",
        severity=Severity.CRITICAL,
        message="m",
        resource=resource,
        file="a.yaml",
        line=1,
    )
    request = change_request(
        environment="prod", artifacts=change.artifacts, findings=[waived], approval=None, file="rollguard.yaml", line=4
    )
    doc = request.document
    assert (request.kind, request.file, request.line, request.resource.display()) == (
        "change",
        "rollguard.yaml",
        4,
        "ChangeRequest prod",
    )
    assert doc["workloads"] == [] and doc["services"] == [] and doc["images"] == []
    folder = FIXTURES / "governance" / "change_approval" / "allowed_annotated"
    assert doc["migrations"] == [
        {"name": str(folder / "V9__drop_nickname.sql"), "phase": "contract", "operations": ["drop_column", "set"]},
        {
            "name": str(folder / "V10__drop_legacy_sessions.sql"),
            "phase": "contract",
            "operations": ["drop_table", "set"],
        },
    ]
    approval = doc["approval"]
    assert approval["reference"] == "CHG-1240" and approval["source"] == "annotation on ConfigMap shop/release-2-6"
    assert doc["waived_critical"] == []  # not waived: does not count
    with_cli = change_request(
        environment="prod", artifacts=change.artifacts, findings=[], approval="CHG-9", file="rollguard.yaml", line=4
    )
    assert with_cli.document["approval"] == {"reference": "CHG-9", "source": "command line", "file": None, "line": None}


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_waived_critical_findings_raise_the_score(bundle: PolicyBundle, engine: str, tmp_path: Path) -> None:
    """The second pass sees the first pass's waivers: a waived critical finding adds its weight."""
    config_path = tmp_path / "rollguard.yaml"
    config_path.write_text(
        (CONTRACT / "rollguard.yaml").read_text()
        + """waivers:
  - id: WVR-7
    policy: k8s.rbac
    reason: The operator needs it until 3.0.
    owner: team-platform
    expires: 2027-01-31
""",
        encoding="utf-8",
    )
    settings = load_config(config_path).resolve("staging")  # medium: 2 + 8 = 10 without the waiver
    gate = Gate(bundle=bundle, engine=create_engine(engine), settings=settings, now=NOW)
    change = load_change_set([str(CONTRACT)])
    critical = Finding(
        policy="k8s.rbac",
        title="RBAC",
        severity=Severity.CRITICAL,
        message="rule grants *",
        resource=Resource("rbac.authorization.k8s.io/v1", "ClusterRole", None, "operator"),
        file="rbac.yaml",
        line=3,
    )
    decision = gate.decide(change, [critical])
    [finding] = [f for f in decision.findings if f.policy == "governance.change_approval"]
    assert finding.details["waived_critical"] == 1
    assert finding.details["parts"] == {
        "risk": 2,
        "workloads": 0,
        "services": 0,
        "destructive_migrations": 8,
        "waived_critical": 3,
    }
    assert finding.details["score"] == 13
    assert finding.file == str(config_path) and finding.line == 4  # `staging:`
    assert decision.change_request is not None and decision.resources == len(change.artifacts) + 1
    approved = Gate(bundle=bundle, engine=create_engine(engine), settings=replace(settings, approval="CHG-2"), now=NOW)
    decision = approved.decide(change, [critical])
    assert decision.approval == "CHG-2"
    assert not [f for f in decision.findings if f.policy.startswith("governance.")]
