"""The command line end to end: exit codes, formats, outputs and policy subcommands."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.docs import render_docs

from .conftest import FIXTURES, ROOT, assert_current

BASELINE = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
NO_PROBE = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_check_exit_codes(engine: str, tmp_path: Path) -> None:
    assert run("check", "--engine", engine, str(BASELINE)).exit_code == 0
    assert run("check", "--engine", engine, str(NO_PROBE)).exit_code == 1
    assert run("check", "--engine", engine, "--fail-on", "critical", str(NO_PROBE)).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    result = run("check", "--engine", engine, str(bad), str(NO_PROBE))
    assert result.exit_code == 2
    assert f"{bad.as_posix()}:" in result.output


def test_json_output_to_file_and_text_to_stdout(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run("check", "--format", "text", "--format", "json", "--output", "-", "--output", str(out), str(NO_PROBE))
    assert result.exit_code == 1
    report = json.loads(out.read_text())
    assert report["verdict"] == "fail" and report["version"] == 1
    assert [f["policy"] for f in report["findings"]] == ["k8s.readiness_probe"]
    assert report["findings"][0]["resource"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "checkout",
    }
    assert 'container "checkout" has no readinessProbe' in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("FAIL")


def test_stdin_input() -> None:
    result = run("check", "--format", "json", "-", input=NO_PROBE.read_text())
    assert result.exit_code == 1
    assert json.loads(result.output)["findings"][0]["file"] == "<stdin>"


def test_unknown_format_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["check", "--format", "yaml", str(BASELINE)])
    assert result.exit_code == 2 and "yaml" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nfail_on: sometimes\n", "{config}:2: fail_on:"),
        (
            "version: 1\nenforcement:\n  k8s.readines_probe: warn\n",
            "{config}:3: enforcement: 'k8s.readines_probe' matches no policy",
        ),
    ],
)
def test_bad_config_exits_2_naming_the_file(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text(text)
    result = CliRunner().invoke(main, ["check", "--config", str(config), str(BASELINE)])
    assert result.exit_code == 2
    assert expected.format(config=config) in result.output


def test_broken_policy_dir_exits_3(tmp_path: Path) -> None:
    folder = tmp_path / "rollguard" / "k8s" / "x"
    folder.mkdir(parents=True)
    (folder / "x.rego").write_text("package rollguard.k8s.x\n")
    result = CliRunner().invoke(main, ["check", "--policies", str(tmp_path), str(BASELINE)])
    assert result.exit_code == 3 and "rollguard/k8s/x/x.rego:1" in result.output


def test_version_names_engine() -> None:
    assert "engine: opa (opa 1.20.2" in run("version").output
    assert "engine: regorus (regorus" in run("version", "--engine", "regorus").output


def test_version_option_prints_the_installed_version() -> None:
    from importlib import metadata

    result = run("--version")
    assert result.exit_code == 0 and result.output == f"rollguard {metadata.version('rollguard')}\n"


def test_policy_list_json_matches_catalogue() -> None:
    listed = json.loads(run("policy", "list", "--format", "json").output)
    ids = [p["id"] for p in listed]
    assert "k8s.readiness_probe" in ids and len(ids) == len(set(ids))
    probe = next(p for p in listed if p["id"] == "k8s.readiness_probe")
    assert probe["severity"] == "high" and "SOC2:CC8.1" in probe["controls"]
    table = run("policy", "list").output.splitlines()
    assert table[0].split() == ["ID", "SEVERITY", "TITLE"] and len(table) == len(ids) + 1


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_policy_test_reports_each_test(engine: str) -> None:
    result = run("policy", "test", "--engine", engine, "--run", "readiness_probe", "--verbose")
    assert result.exit_code == 0
    assert "PASS  rollguard.k8s.readiness_probe_test.test_container_without_probe_is_reported" in result.output
    assert result.output.startswith(f"engine {engine}\n")
    assert re.search(r"^PASS: (\d+)/\1$", result.output, re.MULTILINE), result.output


def test_policy_test_fails_on_a_failing_test(tmp_path: Path) -> None:
    folder = tmp_path / "rollguard" / "k8s" / "x"
    folder.mkdir(parents=True)
    (folder / "x_test.rego").write_text("package rollguard.k8s.x_test\n\ntest_ok if true\n\ntest_broken if 1 == 2\n")
    result = run("policy", "test", "--policies", str(tmp_path))
    assert result.exit_code == 1
    assert "FAIL  rollguard.k8s.x_test.test_broken  rollguard/k8s/x/x_test.rego:5: undefined" in result.output
    assert result.output.splitlines()[-2:] == ["PASS: 1/2", "FAIL: 1/2"]


def test_policy_doc_writes_a_page_per_policy(tmp_path: Path) -> None:
    result = run("policy", "doc", "--out", str(tmp_path))
    assert result.exit_code == 0
    page = (tmp_path / "k8s.readiness_probe.md").read_text()
    assert page.count("## Why") == 1 and "## How to fix" in page and "`exempt_images`" in page
    assert "Avoid:" in page and "SOC2:CC8.1" in page
    assert "[`k8s.readiness_probe`](k8s.readiness_probe.md)" in (tmp_path / "README.md").read_text()


def test_committed_policy_docs_are_current(bundle: PolicyBundle) -> None:
    assert_current(render_docs(bundle), ROOT / "docs" / "policies", "rollguard policy doc --out docs/policies")


@pytest.mark.skipif(not (shutil.which("kubectl") or shutil.which("kustomize")), reason="needs kubectl or kustomize")
def test_kustomize_renders_an_overlay(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "deployment.yaml").write_text(NO_PROBE.read_text().split("\n---\n")[0])
    (base / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\nnamespace: shop-prod\n")
    result = run("check", "--format", "json", "--kustomize", str(base))
    report = json.loads(result.output)
    assert result.exit_code == 1
    (finding,) = [f for f in report["findings"] if f["policy"] == "k8s.readiness_probe"]
    assert finding["resource"]["namespace"] == "shop-prod"
    assert finding["file"] == f"{base} (kustomize)"


def test_kustomize_failure_is_an_input_error(tmp_path: Path) -> None:
    if not (shutil.which("kubectl") or shutil.which("kustomize")):
        pytest.skip("needs kubectl or kustomize")
    result = CliRunner().invoke(main, ["check", "--kustomize", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "kustomize failed" in result.output


@pytest.mark.skipif(not (shutil.which("kubectl") or shutil.which("kustomize")), reason="needs kubectl or kustomize")
def test_kustomize_reads_a_directory_named_like_an_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without `--`, kubectl would read `-odd` as `-o dd` and render the current directory instead.
    monkeypatch.chdir(tmp_path)
    overlay = tmp_path / "-odd"
    overlay.mkdir()
    (overlay / "deployment.yaml").write_text(NO_PROBE.read_text().split("\n---\n")[0])
    (overlay / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\nnamespace: odd\n")
    result = run("check", "--format", "json", "--kustomize=-odd")
    assert result.exit_code == 1, result.output
    assert {f["resource"]["namespace"] for f in json.loads(result.output)["findings"]} == {"odd"}


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_policy_test_names_a_test_that_errors_and_runs_the_rest(tmp_path: Path, engine: str) -> None:
    folder = tmp_path / "rollguard" / "k8s" / "x"
    folder.mkdir(parents=True)
    (folder / "x_test.rego").write_text(
        'package rollguard.k8s.x_test\n\ntest_ok if true\n\ntest_boom if to_number("twelve") == 12\n'
    )
    result = run("policy", "test", "--policies", str(tmp_path), "--engine", engine, "--verbose")
    assert result.exit_code == 3
    assert "PASS  rollguard.k8s.x_test.test_ok" in result.output
    assert "ERROR rollguard.k8s.x_test.test_boom  rollguard/k8s/x/x_test.rego:5" in result.output
    assert result.output.splitlines()[-2:] == ["PASS: 1/2", "ERROR: 1/2"]
