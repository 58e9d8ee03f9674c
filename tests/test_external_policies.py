"""Conftest and Gatekeeper policies judged by `rollguard check` beside the pack.

The policies and samples are Conftest's own examples and gatekeeper-library, from the shared
corpus; the expected results are the ones their own suites and rules give.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rollguard.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo" / "storefront.yaml"


def run(*args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(main, list(args))
    out: dict[str, Any] = json.loads(result.stdout) if result.stdout.startswith("{") else {}
    return result.exit_code, out, result.stderr + (result.stdout if not out else "")


def by_policy(report: dict[str, Any], prefix: str) -> list[tuple[str, str, str, str]]:
    return sorted(
        (f["policy"], f["resource"]["name"], f["enforcement"], f["message"])
        for f in report["findings"]
        if f["policy"].startswith(prefix)
    )


@pytest.fixture()
def conftest_kubernetes(corpus: Path) -> Path:
    return corpus / "policies" / "conftest-examples" / "examples" / "kubernetes"


@pytest.fixture()
def gatekeeper_library(corpus: Path) -> Path:
    return corpus / "policies" / "gatekeeper-library" / "library" / "general"


def test_conftest_policies_beside_the_pack(conftest_kubernetes: Path) -> None:
    code, report, err = run(
        "check",
        "--policy",
        str(conftest_kubernetes / "policy"),
        "--format",
        "json",
        str(conftest_kubernetes / "deployment.yaml"),
    )
    assert code == 1, err
    conftest = by_policy(report, "conftest.")
    # deny.rego: the Deployment's pods may run as root and its selector lacks `release`.
    assert (
        "conftest.main.deny",
        "hello-kubernetes",
        "deny",
        "Containers must not run as root in Deployment hello-kubernetes",
    ) in conftest
    assert (
        "conftest.main.deny",
        "hello-kubernetes",
        "deny",
        "Deployment hello-kubernetes must provide app/release labels for pod selectors",
    ) in conftest
    # warn rules warn: they are findings that never block.
    assert all(e == "warn" for p, _, e, _ in conftest if p.startswith("conftest.main.warn"))
    # The pack judged the same Deployment.
    assert any(f["policy"].startswith("k8s.") for f in report["findings"])
    finding = next(f for f in report["findings"] if f["policy"] == "conftest.main.deny")
    assert finding["file"].endswith("deployment.yaml") and finding["line"] == 1


def test_conftest_alone_and_its_enforcement_from_config(conftest_kubernetes: Path, tmp_path: Path) -> None:
    args = ["--policy", str(conftest_kubernetes / "policy"), "--no-builtin", "--format", "json"]
    code, report, err = run("check", *args, str(conftest_kubernetes / "deployment.yaml"))
    assert code == 1, err
    assert {f["policy"].split(".")[0] for f in report["findings"]} == {"conftest"}
    config = tmp_path / "rollguard.yaml"
    config.write_text("enforcement:\n  conftest.main.deny: warn\n  conftest.main.violation: warn\n", encoding="utf-8")
    code, report, err = run("check", *args, "--config", str(config), str(conftest_kubernetes / "deployment.yaml"))
    assert code == 0, err
    assert {f["enforcement"] for f in report["findings"] if f["policy"].startswith("conftest.main.")} == {"warn"}
    # Conftest's rules judged the Deployment: it is not reported as unjudged, and they count as policies.
    assert report["summary"]["policies"] > 0
    assert report.get("unjudged", []) == [] and report["summary"]["unjudged"] == 0


def test_conftest_options_without_conftest_policies_are_refused() -> None:
    code, _, err = run("check", "--namespace", "kubernetes", str(DEMO))
    assert code == 3
    assert "--namespace, --all-namespaces, --data and --combine are for Conftest policies" in err


def test_a_namespace_without_rules_is_refused(conftest_kubernetes: Path) -> None:
    code, _, err = run(
        "check", "--policy", str(conftest_kubernetes / "policy"), "--namespace", "nothing_here", str(DEMO)
    )
    assert code == 3
    assert "nothing_here" in err


def test_gatekeeper_constraints_judge_the_change(gatekeeper_library: Path) -> None:
    labels = gatekeeper_library / "requiredlabels"
    sample = labels / "samples" / "all-must-have-owner"
    code, report, err = run(
        "check", "--gatekeeper", str(labels), "--format", "json", str(sample / "example_disallowed.yaml")
    )
    assert code == 1, err
    found = by_policy(report, "gatekeeper.")
    assert [(p, n, e) for p, n, e, _ in found] == [
        ("gatekeeper.K8sRequiredLabels.all-must-have-owner", "disallowed-namespace", "deny")
    ]
    assert "owner" in found[0][3]
    code, report, err = run(
        "check", "--gatekeeper", str(labels), "--format", "json", str(sample / "example_allowed.yaml")
    )
    assert by_policy(report, "gatekeeper.") == [], err


def test_gatekeeper_waiver_from_config(gatekeeper_library: Path, tmp_path: Path) -> None:
    labels = gatekeeper_library / "requiredlabels"
    sample = labels / "samples" / "all-must-have-owner" / "example_disallowed.yaml"
    config = tmp_path / "rollguard.yaml"
    config.write_text(
        "waivers:\n"
        "  - id: W-1\n"
        "    policy: gatekeeper.K8sRequiredLabels.all-must-have-owner\n"
        "    reason: the namespace is being retired\n"
        "    owner: platform@example.com\n"
        "    expires: 2099-01-01\n"
        "    match: {kind: Namespace, name: disallowed-namespace}\n",
        encoding="utf-8",
    )
    code, report, err = (
        run(
            "check",
            "--gatekeeper",
            str(labels),
            "--config",
            str(config),
            "--no-builtin",
            "--policy",
            str(tmp_path / "own"),
            "--format",
            "json",
            str(sample),
        )
        if False
        else run("check", "--gatekeeper", str(labels), "--config", str(config), "--format", "json", str(sample))
    )
    assert code == 0, err
    waived = [f for f in report["findings"] if f["policy"].startswith("gatekeeper.")]
    assert [w["waiver"]["id"] for w in waived] == ["W-1"]


def test_a_broken_template_is_an_error_and_the_rest_still_judges(gatekeeper_library: Path, tmp_path: Path) -> None:
    gk = tmp_path / "gk"
    shutil.copytree(gatekeeper_library / "requiredlabels", gk / "requiredlabels")
    broken = gk / "broken" / "template.yaml"
    broken.parent.mkdir()
    broken.write_text(
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {name: k8sbroken}\n"
        "spec:\n  crd: {spec: {names: {kind: K8sBroken}}}\n  targets:\n  - target: admission.k8s.gatekeeper.sh\n"
        '    rego: |\n      package k8sbroken\n      violation[{"msg": msg}] {\n        msg := \n      }\n',
        encoding="utf-8",
    )
    sample = gk / "requiredlabels" / "samples" / "all-must-have-owner" / "example_disallowed.yaml"
    code, report, err = run("check", "--gatekeeper", str(gk), "--format", "json", str(sample))
    assert code == 3, err
    errors = [f for f in report["findings"] if f["policy"] == "gatekeeper.load"]
    assert len(errors) == 1 and errors[0]["file"].endswith("broken/template.yaml")
    assert "could not be loaded" in errors[0]["message"]
    assert [f["policy"] for f in report["findings"] if f["policy"].startswith("gatekeeper.K8s")] == [
        "gatekeeper.K8sRequiredLabels.all-must-have-owner"
    ]


def test_gatekeeper_dir_without_constraints_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run("check", "--gatekeeper", str(tmp_path / "empty"), str(DEMO))
    assert code == 3
    assert "no Gatekeeper constraints found" in err


def test_config_names_gatekeeper_directories(gatekeeper_library: Path, tmp_path: Path) -> None:
    shutil.copytree(gatekeeper_library / "requiredlabels", tmp_path / "gatekeeper" / "requiredlabels")
    config = tmp_path / "rollguard.yaml"
    config.write_text("policies:\n  gatekeeper: [gatekeeper]\n", encoding="utf-8")
    sample = tmp_path / "gatekeeper" / "requiredlabels" / "samples" / "all-must-have-owner" / "example_disallowed.yaml"
    code, report, err = run("check", "--config", str(config), "--format", "json", str(sample))
    assert code == 1, err
    assert [p for p, *_ in by_policy(report, "gatekeeper.")] == ["gatekeeper.K8sRequiredLabels.all-must-have-owner"]
