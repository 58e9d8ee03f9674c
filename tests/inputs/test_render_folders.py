"""Walked folders holding a kustomization or a Helm chart are rendered and judged as one input named after
the folder; their files are never judged raw, and a folder that cannot be rendered is an input error that
leaves the rest judged."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from rollguard.cli import main
from rollguard.inputs import ReadOptions, iter_input_files, load_change_set
from rollguard.inputs.render import rendered_folder, rendered_name, rendered_origin, tool_for
from tests.conftest import FIXTURES

# A clean Deployment with its Service, budget (minAvailable 2) and network policies, in namespace shop.
APP = "\n".join((FIXTURES / "k8s" / "pdb_coverage" / "allowed_min_available.yaml").read_text().splitlines()[1:])
# Not an object on its own: a strategic merge patch with no selector and no pod template.
ONE_REPLICA = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n  namespace: shop\nspec:\n  replicas: 1\n"
)
NO_PROBE = (FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml").read_text()
# A chart template: Go templating, not YAML.
TEMPLATE = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n{{- include "x" . }}\n'

needs_kubectl = pytest.mark.skipif(
    not (shutil.which("kubectl") or shutil.which("kustomize")), reason="renders with kubectl or kustomize"
)


def check(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "--format", "json", "--engine", "regorus", *args])
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def located(report: dict[str, Any]) -> set[tuple[str, str, str, int]]:
    """(policy, namespace/name, file, line) of every finding."""
    return {
        (f["policy"], f"{f['resource']['namespace']}/{f['resource']['name']}", f["file"], f["line"])
        for f in report["findings"]
    }


def overlay_layout(root: Path) -> None:
    """base/ (the app, namespace shop) and overlays/prod/ (namespace prod, one replica by a patch)."""
    (root / "base").mkdir(parents=True)
    (root / "base" / "app.yaml").write_text(APP, encoding="utf-8")
    (root / "base" / "kustomization.yaml").write_text("resources:\n  - app.yaml\n", encoding="utf-8")
    prod = root / "overlays" / "prod"
    prod.mkdir(parents=True)
    (prod / "kustomization.yaml").write_text(
        "resources:\n  - ../../base\nnamespace: prod\npatches:\n  - path: replicas.yaml\n", encoding="utf-8"
    )
    (prod / "replicas.yaml").write_text(ONE_REPLICA, encoding="utf-8")


# The rendered overlay: one replica against a budget that keeps two, reported on both objects.
OVERLAY_FINDINGS = {
    ("k8s.replicas_minimum", "prod/checkout", "overlays/prod (kustomize)", 24),
    ("k8s.pdb_coverage", "prod/checkout", "overlays/prod (kustomize)", 36),
    ("k8s.pdb_coverage", "prod/checkout", "overlays/prod (kustomize)", 95),
}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # relative names in reports, no rollguard.yaml from the surroundings
    return tmp_path


@needs_kubectl
def test_an_overlay_is_rendered_with_its_base_and_named_after_its_folder(here: Path) -> None:
    overlay_layout(here)
    result, report = check("overlays")
    assert result.exit_code == 1, result.output
    assert located(report) == OVERLAY_FINDINGS
    [replicas] = [f for f in report["findings"] if f["policy"] == "k8s.replicas_minimum"]
    assert replicas["message"] == "replicas is 1, below the minimum of 2"
    assert report["errors"] == [] and report["summary"]["resources"] == 5


@needs_kubectl
def test_each_outermost_kustomization_of_a_walk_is_its_own_release(here: Path) -> None:
    overlay_layout(here)
    result, report = check(".")
    assert result.exit_code == 1, result.output
    # The clean base is judged too (nothing to report); the patch file is never read as an object.
    assert located(report) == OVERLAY_FINDINGS
    assert [r["name"] for r in report["releases"]] == ["directory base", "directory overlays/prod"]
    assert {d["file"] for r in report["releases"] for d in r["documents"]} == {
        "base (kustomize)",
        "overlays/prod (kustomize)",
    }


@needs_kubectl
def test_a_nested_kustomization_is_rendered_once_by_the_outermost(here: Path) -> None:
    sub = here / "app" / "sub"
    sub.mkdir(parents=True)
    (sub / "app.yaml").write_text(APP, encoding="utf-8")
    (sub / "kustomization.yaml").write_text("resources:\n  - app.yaml\n", encoding="utf-8")
    (here / "app" / "kustomization.yaml").write_text(
        "resources:\n  - sub\nnamespace: staging\nreplicas:\n  - name: checkout\n    count: 1\n", encoding="utf-8"
    )
    assert list(iter_input_files(["app"], render=True)) == [("app (kustomize)", Path("app"))]
    result, report = check("app")
    # Rendered twice, every object would be defined twice; rendered once, the outer overlay's replicas count.
    assert report["errors"] == [], report["errors"]
    assert result.exit_code == 1
    assert {(f["policy"], f["file"]) for f in report["findings"]} == {
        ("k8s.replicas_minimum", "app (kustomize)"),
        ("k8s.pdb_coverage", "app (kustomize)"),
    }
    assert {f["resource"]["namespace"] for f in report["findings"]} == {"staging"}


@needs_kubectl
def test_a_kustomization_that_fails_is_an_input_error_and_the_rest_is_judged(here: Path) -> None:
    broken = here / "deploy" / "broken"
    broken.mkdir(parents=True)
    (broken / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n", encoding="utf-8")
    (here / "deploy" / "web.yaml").write_text(NO_PROBE, encoding="utf-8")
    result, report = check("deploy")
    assert result.exit_code == 2
    [error] = report["errors"]
    assert error["file"] == "deploy/broken" and error["line"] is None
    assert error["message"].startswith("kustomize failed: ") and "missing.yaml" in error["message"]
    assert "E1" not in error["message"] and "run.go" not in error["message"]  # kubectl's log header is gone
    assert {f["file"] for f in report["findings"]} == {"deploy/web.yaml"}
    assert "k8s.readiness_probe" in {f["policy"] for f in report["findings"]}


def test_without_kubectl_a_kustomization_names_its_folder_and_the_tools(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay_layout(here)
    (here / "web.yaml").write_text(NO_PROBE, encoding="utf-8")
    (here / "bin").mkdir()
    monkeypatch.setenv("PATH", str(here / "bin"))  # neither kubectl nor kustomize
    result, report = check("overlays", "web.yaml")
    assert result.exit_code == 2
    assert report["errors"] == [
        {
            "file": "overlays/prod",
            "line": None,
            "message": "this folder holds a kustomization; rendering it needs kubectl or kustomize on PATH; install "
            "one, or render it yourself (`kubectl kustomize DIR | rollguard check -`)",
        }
    ]
    assert {f["file"] for f in report["findings"]} == {"web.yaml"}

    flag = CliRunner().invoke(main, ["check", "--kustomize", "overlays/prod"])
    assert flag.exit_code == 2
    assert "rollguard: overlays/prod: --kustomize needs kubectl or kustomize on PATH" in flag.stderr


def test_without_helm_a_chart_is_an_input_error_and_the_rest_is_judged(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = here / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n", encoding="utf-8")
    (chart / "templates" / "deployment.yaml").write_text(TEMPLATE, encoding="utf-8")
    (here / "charts" / "plain.yaml").write_text(NO_PROBE, encoding="utf-8")
    (here / "bin").mkdir()
    monkeypatch.setenv("PATH", str(here / "bin"))
    result, report = check("charts")
    assert result.exit_code == 2
    # One problem naming the chart folder; its template is not read as a (broken) manifest.
    assert report["errors"] == [
        {
            "file": "charts/web",
            "line": None,
            "message": "this folder holds a Helm chart (Chart.yaml); rendering it needs helm on PATH: install helm, "
            "or render it yourself (`helm template NAME DIR | rollguard check -`); its files were not judged",
        }
    ]
    assert {f["file"] for f in report["findings"]} == {"charts/plain.yaml"}


def test_a_chart_is_rendered_with_helm_template(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # helm itself is not needed to test how it is called: a stand-in records its arguments and prints
    # what `helm template` would.
    chart = here / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n", encoding="utf-8")
    (chart / "templates" / "deployment.yaml").write_text(TEMPLATE, encoding="utf-8")
    rendered = here / "rendered.yaml"
    rendered.write_text("---\n# Source: web/templates/deployment.yaml\n" + NO_PROBE, encoding="utf-8")
    bin_dir = here / "bin"
    bin_dir.mkdir()
    helm = bin_dir / "helm"
    helm.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{here / "args"}"\ncat "{rendered}"\n', encoding="utf-8")
    helm.chmod(helm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    result, report = check("web")
    assert result.exit_code == 1, result.output
    assert (here / "args").read_text().splitlines() == ["template", "--", "web"]
    assert {f["file"] for f in report["findings"]} == {"web (helm)"}
    assert "k8s.readiness_probe" in {f["policy"] for f in report["findings"]}
    assert [r["name"] for r in report.get("releases", [])] == []  # one release: the chart folder


def test_raw_walks_still_list_every_file(here: Path) -> None:
    overlay_layout(here)
    raw = [name for name, _ in iter_input_files(["overlays"])]
    assert raw == ["overlays/prod/kustomization.yaml", "overlays/prod/replicas.yaml"]
    assert list(iter_input_files(["."], render=True)) == [
        ("base (kustomize)", Path("base")),
        ("overlays/prod (kustomize)", Path("overlays/prod")),
    ]


@needs_kubectl
def test_rendering_can_be_left_out(here: Path) -> None:
    overlay_layout(here)
    change = load_change_set(["overlays"], reading=ReadOptions(render=False))
    # Read raw, the patch is a Deployment of its own and the kustomization (no kind) is a problem.
    assert [a.file for a in change.artifacts] == ["overlays/prod/replicas.yaml"]
    assert [p.file for p in change.problems] == ["overlays/prod/kustomization.yaml"]
    rendered = load_change_set(["overlays"])
    assert [a.file for a in rendered.artifacts] == ["overlays/prod (kustomize)"] * 5 and rendered.problems == ()


def test_which_tool_renders_a_folder() -> None:
    assert tool_for({"kustomization.yml", "a.yaml"}) == "kustomize"
    assert tool_for({"Kustomization"}) == "kustomize"
    assert tool_for({"Chart.yaml", "values.yaml"}) == "helm"
    assert tool_for({"Chart.yaml", "kustomization.yaml"}) == "kustomize"  # it may inflate the chart itself
    assert tool_for({"chart.yaml", "deployment.yaml"}) is None


@given(folder=st.text(min_size=1), tool=st.sampled_from(["kustomize", "helm"]))
def test_a_rendered_name_names_its_folder(folder: str, tool: str) -> None:
    assert rendered_origin(rendered_name(folder, tool)) == (folder, tool)
    assert rendered_folder(rendered_name(folder, tool)) == folder


def test_plain_names_name_no_rendered_folder() -> None:
    assert rendered_folder("deploy/web.yaml") is None
    assert rendered_folder(" (kustomize)") is None
    assert rendered_folder("<stdin>") is None


# --------------------------------------------------------------------------- with --since


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=rollguard-test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
        + list(args),
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=30,
    )


@needs_kubectl
@pytest.mark.skipif(shutil.which("git") is None, reason="--since reads the change with git")
def test_since_judges_a_rendered_folder_when_it_or_a_base_changed(here: Path) -> None:
    overlay_layout(here)
    (here / "README.md").write_text("shop\n", encoding="utf-8")
    (here / "overlays" / "prod" / "NOTES.md").write_text("prod runs one replica\n", encoding="utf-8")
    git(here, "init", "-q")
    git(here, "add", ".")
    git(here, "commit", "-q", "-m", "shop")

    (here / "README.md").write_text("shop, deployed\n", encoding="utf-8")  # not an input: changes nothing
    _, unchanged = check(".", "--since", "HEAD")
    assert unchanged["findings"] == [] and unchanged["summary"]["since"]["judged_files"] == 0

    (here / "base" / "app.yaml").write_text(APP.replace("2.4.1", "2.4.2"), encoding="utf-8")
    result, report = check("overlays", "--since", "HEAD")  # the base is outside the walked folder
    assert result.exit_code == 1, result.output
    assert located(report) == OVERLAY_FINDINGS
    assert report["summary"]["since"] == {"ref": "HEAD", "judged_files": 1, "context_files": 0, "context_resources": 0}

    git(here, "commit", "-q", "-am", "2.4.2")
    (here / "overlays" / "prod" / "NOTES.md").unlink()  # a file deleted in the folder: it renders anew
    result, report = check(".", "--since", "HEAD")
    assert result.exit_code == 1, result.output
    assert located(report) == OVERLAY_FINDINGS
    assert report["summary"]["since"] == {"ref": "HEAD", "judged_files": 1, "context_files": 1, "context_resources": 5}
