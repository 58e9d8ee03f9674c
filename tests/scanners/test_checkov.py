"""Checkov beside the gate: its three JSON shapes, its failures, and the merge into one decision."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.inputs import load_change_set
from rollguard.model import Severity
from rollguard.scanners.checkov import (
    CheckovFailed,
    CheckovNotFound,
    find_checkov,
    parse_report,
    parse_resource,
    run_checkov,
)

from ..conftest import FIXTURES

MANIFEST = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"
REAL_CHECKOV = Path(__file__).resolve().parents[2] / ".bench" / "checkov" / "bin" / "checkov"


def failed_check(
    check_id: str, name: str, *, severity: str | None = None, guideline: str | None = None
) -> dict[str, Any]:
    """One entry of `results.failed_checks` as Checkov 3 writes it; `{FILE}` is the scanned file."""
    return {
        "check_id": check_id,
        "bc_check_id": None,
        "check_name": name,
        "check_result": {"result": "FAILED", "evaluated_keys": ["spec/template/spec/containers/[0]"]},
        "code_block": None,
        "file_path": "/disallowed_no_probe.yaml",
        "file_abs_path": "{FILE}",
        "repo_file_path": "/disallowed_no_probe.yaml",
        "file_line_range": [2, 68],
        "resource": "Deployment.shop.checkout",
        "evaluations": {},
        "check_class": "checkov.kubernetes.checks.resource.k8s.Example",
        "fixed_definition": None,
        "entity_tags": None,
        "caller_file_path": None,
        "caller_file_line_range": None,
        "resource_address": None,
        "severity": severity,
        "bc_category": None,
        "benchmarks": None,
        "description": None,
        "short_description": None,
        "vulnerability_details": None,
        "connected_node": None,
        "guideline": guideline,
        "details": [],
        "check_len": None,
        "definition_context_file_path": None,
    }


def summary(passed: int, failed: int, resources: int) -> dict[str, Any]:
    return {
        "passed": passed,
        "failed": failed,
        "skipped": 0,
        "parsing_errors": 0,
        "resource_count": resources,
        "checkov_version": "3.3.30",
    }


GUIDELINE = "https://docs.prismacloud.io/en/enterprise-edition/policy-reference/kubernetes-policies/kubernetes-policy-index/bc-k8s-13"

# `checkov -f deploy.yaml --framework kubernetes -o json`: one object. Severity and guideline
# are only filled when Checkov is connected to its platform; the offline run leaves them null.
ONE_FRAMEWORK = {
    "check_type": "kubernetes",
    "results": {
        "failed_checks": [
            failed_check("CKV_K8S_9", "Readiness Probe Should be Configured"),
            failed_check(
                "CKV_K8S_14", "Image Tag should be fixed - not latest or blank", severity="HIGH", guideline=GUIDELINE
            ),
        ]
    },
    "summary": summary(84, 2, 6),
}

# Several frameworks (`--framework kubernetes dockerfile`): a list, one object per framework.
SEVERAL_FRAMEWORKS = [
    {
        "check_type": "dockerfile",
        "results": {
            "failed_checks": [
                {
                    **failed_check(
                        "CKV_DOCKER_2", "Ensure that HEALTHCHECK instructions have been added to container images"
                    ),
                    "file_path": "/Dockerfile",
                    "file_abs_path": "/src/app/Dockerfile",
                    "file_line_range": [1, 2],
                    "resource": "/Dockerfile.",
                }
            ]
        },
        "summary": summary(19, 1, 1),
    },
    ONE_FRAMEWORK,
]

# Nothing Checkov can scan: a bare summary, no `results`.
NOTHING_TO_SCAN = summary(0, 0, 0)

FAKE = """\
#!{python}
import json, os, sys, time
with open(os.environ["FAKE_CHECKOV_ARGV"], "w") as out:
    json.dump({{"argv": sys.argv[1:], "skip_mapping": os.environ.get("BC_SKIP_MAPPING")}}, out)
time.sleep(float(os.environ.get("FAKE_CHECKOV_SLEEP", "0")))
sys.stderr.write(os.environ.get("FAKE_CHECKOV_STDERR", ""))
files = sys.argv[sys.argv.index("--file") + 1 : sys.argv.index("--output")]
with open(os.environ["FAKE_CHECKOV_REPORT"]) as report:
    sys.stdout.write(report.read().replace("{{FILE}}", os.path.abspath(files[0])))
sys.exit(int(os.environ.get("FAKE_CHECKOV_EXIT", "1")))
"""


@pytest.fixture
def fake_checkov(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `checkov` on PATH that records its arguments and prints the report set with `report()`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "checkov"
    script.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_CHECKOV_ARGV", str(tmp_path / "argv.json"))
    monkeypatch.setenv("FAKE_CHECKOV_REPORT", str(tmp_path / "report.json"))
    report(tmp_path, NOTHING_TO_SCAN)
    return tmp_path


def report(where: Path, document: object, *, raw: str | None = None) -> None:
    (where / "report.json").write_text(raw if raw is not None else json.dumps(document), encoding="utf-8")


def test_one_framework_report_becomes_findings(fake_checkov: Path) -> None:
    report(fake_checkov, ONE_FRAMEWORK)
    display = MANIFEST.as_posix()
    change = load_change_set([display])
    findings = run_checkov([display], artifacts=change.artifacts)
    by_id = {f.policy: f for f in findings}
    assert sorted(by_id) == ["checkov.CKV_K8S_14", "checkov.CKV_K8S_9"]
    pinned = by_id["checkov.CKV_K8S_14"]
    assert pinned.title == pinned.message == "Image Tag should be fixed - not latest or blank"
    assert pinned.severity is Severity.HIGH and pinned.remediation == GUIDELINE
    # The path rollguard shows, the document's line, and the resource of the change's own document.
    assert (pinned.file, pinned.line) == (display, 2)
    assert pinned.resource == change.artifacts[0].resource
    assert pinned.resource.api_version == "apps/v1"
    assert by_id["checkov.CKV_K8S_9"].severity is Severity.MEDIUM  # no severity offline
    assert by_id["checkov.CKV_K8S_9"].remediation == ""

    call = json.loads((fake_checkov / "argv.json").read_text())
    assert call["skip_mapping"] == "TRUE"
    argv = call["argv"]
    assert argv[argv.index("--file") + 1 : argv.index("--output")] == [display]
    for flag in ("--quiet", "--compact", "--skip-download"):
        assert flag in argv
    assert argv[argv.index("--output") + 1] == "json"
    assert argv[argv.index("--framework") + 1 :] == ["kubernetes"]


def test_files_named_like_options_reach_checkov_as_files(
    fake_checkov: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checkov has no positional arguments (its parser rejects `--`): its files are `--file` values,
    # passed absolute so that none can be read as one of its options.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "--help.yaml").write_text(MANIFEST.read_text(encoding="utf-8"), encoding="utf-8")
    (work / "-o.yaml").write_text(MANIFEST.read_text(encoding="utf-8"), encoding="utf-8")
    report(fake_checkov, ONE_FRAMEWORK)
    findings = run_checkov(["--help.yaml", "-o.yaml"])
    argv = json.loads((fake_checkov / "argv.json").read_text())["argv"]
    assert argv[argv.index("--file") + 1 : argv.index("--output")] == [str(work / "--help.yaml"), str(work / "-o.yaml")]
    assert "--" not in argv
    assert {f.file for f in findings} == {"--help.yaml"}  # shown under the name it was given


def test_a_list_of_framework_reports_is_merged(fake_checkov: Path) -> None:
    report(fake_checkov, SEVERAL_FRAMEWORKS)
    findings = run_checkov([str(MANIFEST)])
    assert sorted(f.policy for f in findings) == ["checkov.CKV_DOCKER_2", "checkov.CKV_K8S_14", "checkov.CKV_K8S_9"]
    docker = next(f for f in findings if f.policy == "checkov.CKV_DOCKER_2")
    # A file Checkov found outside rollguard's inputs keeps Checkov's own path.
    assert (docker.file, docker.line) == ("/src/app/Dockerfile", 1)


def test_a_bare_summary_means_no_findings(fake_checkov: Path) -> None:
    report(fake_checkov, NOTHING_TO_SCAN)
    assert run_checkov([str(MANIFEST)]) == []
    assert parse_report(json.dumps(NOTHING_TO_SCAN)) == []


def test_no_scannable_files_skip_checkov(fake_checkov: Path) -> None:
    sql = FIXTURES / "migration" / "drop_column"
    assert run_checkov([str(sql)]) == []
    assert not (fake_checkov / "argv.json").exists()


@pytest.mark.parametrize(
    ("env", "raw", "expected"),
    [
        (
            {"FAKE_CHECKOV_EXIT": "2", "FAKE_CHECKOV_STDERR": "boom\nTemplate file not found: x.yaml\n"},
            "",
            "exit code 2 without a report: Template file not found: x.yaml",
        ),
        ({}, "Traceback (most recent call last):", "not JSON"),
        ({}, '{"check_type": "kubernetes", "results": {"failed_checks": "oops"}}', "is not a list"),
        ({}, "[1, 2]", "expected objects, got int"),
        ({}, '{"unexpected": true}', "neither `results` nor a summary"),
    ],
)
def test_unusable_runs_are_clear_errors(
    fake_checkov: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], raw: str, expected: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    report(fake_checkov, None, raw=raw)
    with pytest.raises(CheckovFailed, match="checkov") as caught:
        run_checkov([str(MANIFEST)])
    assert expected in caught.value.message


def test_a_hanging_checkov_times_out(fake_checkov: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CHECKOV_SLEEP", "5")
    with pytest.raises(CheckovFailed, match=r"no report within 0\.5 s"):
        run_checkov([str(MANIFEST)], timeout=0.5)


def test_missing_checkov_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CheckovNotFound, match=r"pip install 'rollguard\[checkov\]'"):
        find_checkov()
    with pytest.raises(CheckovNotFound, match="--checkov /no/such/checkov"):
        find_checkov("/no/such/checkov")
    result = CliRunner().invoke(main, ["check", str(MANIFEST), "--with-checkov"])
    assert result.exit_code == 2
    assert "rollguard[checkov]" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Deployment.shop.web", ("Deployment", "shop", "web")),
        ("Deployment.shop.web.v2", ("Deployment", "shop", "web.v2")),
        ("ClusterRole.admin", ("ClusterRole", None, "admin")),
        ("", ("", None, "")),
        (None, ("", None, "")),
    ],
)
def test_parse_resource(text: str | None, expected: tuple[str, str | None, str]) -> None:
    assert parse_resource(text) == expected


def _cli(args: list[str], **kwargs: Any) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "--format", "json", "--with-checkov", *args], **kwargs)
    return result.exit_code, json.loads(result.output)


def test_cli_folds_checkov_into_one_decision_with_waivers_and_enforcement(fake_checkov: Path) -> None:
    report(fake_checkov, ONE_FRAMEWORK)
    config = fake_checkov / "rollguard.yaml"
    config.write_text(
        """\
version: 1
enforcement:
  checkov.CKV_K8S_9: warn
waivers:
  - id: W-7
    policy: checkov.CKV_K8S_14
    match: {kind: Deployment, namespace: shop, name: checkout}
    reason: The tag is pinned by the release pipeline's image policy.
    owner: team-checkout
    expires: 2099-12-31
""",
        encoding="utf-8",
    )
    code, out = _cli([str(MANIFEST), "--config", str(config)])
    by_id = {f["policy"]: f for f in out["findings"]}
    assert {"k8s.readiness_probe", "checkov.CKV_K8S_9", "checkov.CKV_K8S_14"} <= set(by_id)
    assert by_id["checkov.CKV_K8S_14"]["waiver"]["id"] == "W-7"
    assert by_id["checkov.CKV_K8S_14"]["waiver"]["status"] == "applied"
    assert by_id["checkov.CKV_K8S_9"]["enforcement"] == "warn"
    assert by_id["checkov.CKV_K8S_9"]["file"] == by_id["k8s.readiness_probe"]["file"] == MANIFEST.as_posix()
    assert out["summary"]["waived"] == 1
    assert code == 1  # k8s.readiness_probe (high) blocks; the checkov findings alone would not
    files = [(f["file"], f["line"], f["policy"]) for f in out["findings"]]
    assert files == sorted(files)


def test_cli_exit_code_follows_checkov_findings(fake_checkov: Path) -> None:
    report(fake_checkov, ONE_FRAMEWORK)
    baseline = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
    code, out = _cli([str(baseline), "--fail-on", "high"])
    assert [f["policy"] for f in out["findings"]] == ["checkov.CKV_K8S_14", "checkov.CKV_K8S_9"]
    assert code == 1  # CKV_K8S_14 is high
    code, _ = _cli([str(baseline), "--fail-on", "critical"])
    assert code == 0


def test_cli_passes_stdin_to_checkov(fake_checkov: Path) -> None:
    report(fake_checkov, ONE_FRAMEWORK)
    code, out = _cli(["-"], input=MANIFEST.read_text(encoding="utf-8"))
    assert {f["file"] for f in out["findings"] if f["policy"].startswith("checkov.")} == {"<stdin>"}


@pytest.mark.skipif(not REAL_CHECKOV.is_file(), reason="no Checkov installation beside the benchmarks")
def test_real_checkov_on_one_file() -> None:
    change = load_change_set([str(MANIFEST)])
    findings = run_checkov([str(MANIFEST)], artifacts=change.artifacts, executable=str(REAL_CHECKOV))
    ids = {f.policy for f in findings}
    assert "checkov.CKV_K8S_9" in ids  # the fixture has no readiness probe
    for f in findings:
        assert f.file == MANIFEST.as_posix() and f.line == 2
        assert f.resource == change.artifacts[0].resource
