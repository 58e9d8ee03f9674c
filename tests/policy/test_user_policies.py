"""A team's own policies beside the bundled pack: `--policy DIR`, `policies.paths`, `--no-builtin`.

Each test runs the real command line on the demo change with a policy directory written here,
and asserts what the team's policy reported and that the pack still judged beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.errors import PolicyError
from rollguard.policy.bundle import PolicySources
from rollguard.webhook.server import ServeOptions

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo" / "storefront.yaml"

# A policy with full METADATA that uses the pack's Kubernetes library.
TEAM_LABEL = """\
# METADATA
# title: Workloads name their owning team
# description: >-
#   Every workload carries a team label so the on-call rota can be found. High because an
#   unowned rollout that goes wrong has nobody to page.
# scope: package
# custom:
#   id: acme.team_label
#   severity: high
#   controls: [ACME-7]
#   remediation: Add the label team to metadata.labels of {{ kind }}/{{ name }}.
#   applies_to: [Deployment, StatefulSet]
package rollguard.acme.team_label

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": {"kind": k8s.kind, "name": k8s.name, "path": "metadata.labels"}} if {
\tnot k8s.obj.metadata.labels.team
\tmsg := sprintf("%s %s has no team label", [k8s.kind, k8s.name])
}
"""

# The least a policy author has to write: no METADATA at all.
BARE = """\
package rollguard.acme.no_default_namespace

violation contains {"msg": msg, "details": {}} if {
\tinput.review.object.metadata.namespace == "default"
\tmsg := sprintf("%s %s is in the default namespace", [input.review.kind.kind, input.review.object.metadata.name])
}
"""

BARE_TEST = """\
package rollguard.acme.no_default_namespace_test

import data.rollguard.acme.no_default_namespace

test_default_namespace_denied if {
\tresult := no_default_namespace.violation with input as {"review": {
\t\t"kind": {"kind": "Service"},
\t\t"object": {"metadata": {"name": "web", "namespace": "default"}},
\t}}
\t{r.msg | some r in result} == {"Service web is in the default namespace"}
}
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def findings(stdout: str) -> list[dict[str, Any]]:
    return list(json.loads(stdout)["findings"])


def test_own_policy_runs_beside_the_pack(tmp_path: Path) -> None:
    own = write(tmp_path / "acme", {"team_label.rego": TEAM_LABEL})
    code, out, err = run("check", "--policy", str(own), "--format", "json", "--release-by", "none", str(DEMO))
    assert code == 1, err
    got = findings(out)
    team = [f for f in got if f["policy"] == "acme.team_label"]
    assert [(f["resource"]["kind"], f["resource"]["name"], f["message"]) for f in team] == [
        ("Deployment", "storefront", "Deployment storefront has no team label")
    ]
    assert team[0]["severity"] == "high"
    assert team[0]["remediation"] == "Add the label team to metadata.labels of Deployment/storefront."
    assert team[0]["line"] is not None  # the field line of metadata.labels in the demo file
    # The pack judged too: its findings are the ones a check without --policy gives.
    code_alone, out_alone, _ = run("check", "--format", "json", "--release-by", "none", str(DEMO))
    pack = sorted((f["policy"], f["resource"]["name"]) for f in findings(out_alone))
    assert sorted((f["policy"], f["resource"]["name"]) for f in got if f["policy"] != "acme.team_label") == pack


def test_metadata_defaults_for_a_bare_policy(tmp_path: Path) -> None:
    own = write(tmp_path / "acme", {"no_default_namespace.rego": BARE})
    bundle = PolicySources(extra=(own,)).load()
    info = bundle.by_id()["acme.no_default_namespace"]
    assert (info.severity.label, info.applies_to, info.title) == ("medium", ("*",), "acme.no_default_namespace")
    assert info.file == f"{own.as_posix()}/no_default_namespace.rego"
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
        "spec: {selector: {app: web}, ports: [{port: 80}]}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {a: b}\n",
        encoding="utf-8",
    )
    code, out, err = run("check", "--policy", str(own), "--no-builtin", "--format", "json", str(manifest))
    # Medium findings do not block at the default threshold (high).
    assert code == 0, err
    got = sorted((f["policy"], f["severity"], f["message"]) for f in findings(out))
    assert got == [
        ("acme.no_default_namespace", "medium", "ConfigMap settings is in the default namespace"),
        ("acme.no_default_namespace", "medium", "Service web is in the default namespace"),
    ]


def test_no_builtin_leaves_the_pack_out(tmp_path: Path) -> None:
    own = write(tmp_path / "acme", {"team_label.rego": TEAM_LABEL})
    code, out, err = run("check", "--policy", str(own), "--no-builtin", "--format", "json", str(DEMO))
    assert code == 1, err
    assert {f["policy"] for f in findings(out)} == {"acme.team_label"}
    assert json.loads(out)["summary"]["policies"] == 1


def test_no_builtin_without_own_policies_is_refused() -> None:
    code, _, err = run("check", "--no-builtin", str(DEMO))
    assert code == 3
    assert "--no-builtin leaves no policies: add your own with --policy DIR" in err


def test_config_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    write(tmp_path / "repo" / "policies" / "acme", {"team_label.rego": TEAM_LABEL})
    config = tmp_path / "repo" / "rollguard.yaml"
    config.write_text("policies:\n  paths: [policies/acme]\n", encoding="utf-8")
    code, out, err = run("check", "--config", str(config), "--format", "json", str(DEMO))
    assert code == 1, err
    assert "acme.team_label" in {f["policy"] for f in findings(out)}


def test_config_builtin_false(tmp_path: Path) -> None:
    write(tmp_path / "acme", {"team_label.rego": TEAM_LABEL})
    config = tmp_path / "rollguard.yaml"
    config.write_text("policies:\n  paths: [acme]\n  builtin: false\n", encoding="utf-8")
    code, out, err = run("check", "--config", str(config), "--format", "json", str(DEMO))
    assert code == 1, err
    assert {f["policy"] for f in findings(out)} == {"acme.team_label"}


def test_an_id_of_the_pack_cannot_be_taken(tmp_path: Path) -> None:
    clash = TEAM_LABEL.replace("acme.team_label", "k8s.image_pinning").replace(
        "package rollguard.acme.team_label", "package rollguard.k8s.image_pinning"
    )
    own = write(tmp_path / "acme", {"pinning.rego": clash})
    code, _, err = run("check", "--policy", str(own), str(DEMO))
    assert code == 3
    assert "policy id 'k8s.image_pinning' is also declared in" in err
    assert f"{own.as_posix()}/pinning.rego" in err


def test_a_misspelt_library_rule_is_refused(tmp_path: Path) -> None:
    typo = TEAM_LABEL.replace("k8s.kind, k8s.name]", "k8s.knd, k8s.name]")
    own = write(tmp_path / "acme", {"team_label.rego": typo})
    with pytest.raises(PolicyError, match=r"k8s.knd is not defined in data.rollguard.lib.k8s") as raised:
        PolicySources(extra=(own,)).load()
    assert raised.value.file == f"{own.as_posix()}/team_label.rego"


def test_missing_directory_is_named(tmp_path: Path) -> None:
    code, _, err = run("check", "--policy", str(tmp_path / "nowhere"), str(DEMO))
    assert code == 2
    assert "Invalid value for '--policy'" in err and "nowhere" in err and "does not exist" in err


def test_policy_list_test_and_doc_include_own_policies(tmp_path: Path) -> None:
    own = write(
        tmp_path / "acme",
        {"no_default_namespace.rego": BARE, "no_default_namespace_test.rego": BARE_TEST, "team_label.rego": TEAM_LABEL},
    )
    code, out, err = run("policy", "list", "--policy", str(own), "--format", "json")
    assert code == 0, err
    ids = [p["id"] for p in json.loads(out)]
    assert "acme.team_label" in ids and "acme.no_default_namespace" in ids and "k8s.image_pinning" in ids

    code, out, err = run("policy", "test", "--policy", str(own), "--no-builtin", "--engine", "opa")
    assert code == 0, err + out
    assert out.splitlines()[-1] == "PASS: 1/1"

    code, out, err = run("policy", "doc", "--policy", str(own), "--no-builtin", "--out", str(tmp_path / "docs"))
    assert code == 0, err
    page = (tmp_path / "docs" / "acme.team_label.md").read_text(encoding="utf-8")
    assert "Workloads name their owning team" in page
    assert f"**Source:** `{own.as_posix()}/team_label.rego`" in page


def test_gatekeeper_build_makes_a_template_for_an_own_policy(tmp_path: Path) -> None:
    own = write(tmp_path / "acme", {"team_label.rego": TEAM_LABEL, "no_default_namespace.rego": BARE})
    out_dir = tmp_path / "gk"
    code, out, err = run("gatekeeper", "build", "--policy", str(own), "--no-builtin", "--out", str(out_dir))
    assert code == 0, err
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.yaml"))
    templates = [p for p in written if "template" in p]
    assert any("team" in p for p in templates), written
    assert any("default" in p and "namespace" in p for p in templates), written


def test_serve_options_carry_own_policies_to_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = write(tmp_path / "acme", {"team_label.rego": TEAM_LABEL})
    options = ServeOptions(
        policy_dir=str(ROOT / "policies"),
        config_path=None,
        environment=None,
        engine="opa",
        cert="c",
        key="k",
        extra_policy_dirs=(str(own),),
    )
    monkeypatch.setenv("ROLLGUARD_SERVE_OPTIONS", options.to_env())
    again = ServeOptions.from_env()
    assert again.policy_sources() == options.policy_sources()
    bundle = again.policy_sources().load()
    assert "acme.team_label" in bundle.by_id() and "k8s.image_pinning" in bundle.by_id()
    assert own in again.policy_sources().dirs
