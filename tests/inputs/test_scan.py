"""Reading Trivy reports: detection, the ImageScan document, bad input, and the real reports of the corpus."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.cli import main
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.inputs.scan import is_scan, load_text
from rollguard.model import ChangeSet, Decision, Severity
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config

from ..conftest import ENGINES, FIXTURES, make_gate

DIGEST = "sha256:3b4f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"


def report(**overrides: Any) -> dict[str, Any]:
    """A small but complete Trivy SchemaVersion 2 image report."""
    base: dict[str, Any] = {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.59.1"},
        "CreatedAt": "2026-11-26T08:00:00.123456789Z",
        "ArtifactName": "registry.example.com:5000/shop/app:1.2",
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "alpine", "Name": "3.19.1"},
            "ImageID": "sha256:5c3e",
            "RepoTags": ["registry.example.com:5000/shop/app:1.2"],
            "RepoDigests": [f"registry.example.com:5000/shop/app@{DIGEST}"],
        },
        "Results": [
            {
                "Target": "app (alpine 3.19.1)",
                "Class": "os-pkgs",
                "Type": "alpine",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2024-2511",
                        "PkgName": "openssl",
                        "InstalledVersion": "3.1.4-r2",
                        "FixedVersion": "3.1.4-r6",
                        "Status": "fixed",
                        "Severity": "CRITICAL",
                        "CVSS": {"nvd": {"V2Score": 10.0, "V3Score": 9.8}, "redhat": {"V3Score": 7.5}},
                    },
                    {
                        "VulnerabilityID": "CVE-2024-6119",
                        "PkgName": "busybox",
                        "Severity": "high",
                        "Status": "affected",
                    },
                ],
            },
            {
                "Target": "Dockerfile",
                "Class": "config",
                "Type": "dockerfile",
                "MisconfSummary": {"Successes": 20, "Failures": 1},
                "Misconfigurations": [
                    {
                        "ID": "DS002",
                        "AVDID": "AVD-DS-0002",
                        "Title": "Image user should not be 'root'",
                        "Severity": "HIGH",
                        "Status": "FAIL",
                    },
                    {"ID": "DS001", "Severity": "MEDIUM", "Status": "PASS"},
                ],
            },
        ],
    }
    base.update(overrides)
    return base


def load(raw: Any, name: str = "scan.json") -> tuple[dict[str, Any] | None, list[str]]:
    text = raw if isinstance(raw, str) else json.dumps(raw, indent=2)
    artifacts, problems = load_text(name, text)
    return (dict(artifacts[0].document) if artifacts else None), [p.display() for p in problems]


def test_document_of_an_image_report() -> None:
    doc, problems = load(report())
    assert problems == []
    assert doc is not None
    assert doc["kind"] == "ImageScan" and doc["metadata"] == {"name": "registry.example.com:5000/shop/app:1.2"}
    assert doc["image"] == {
        "reference": "registry.example.com:5000/shop/app:1.2",
        "name": "registry.example.com:5000/shop/app",
        "tag": "1.2",
        "references": ["registry.example.com:5000/shop/app:1.2"],
        "repo_digests": [f"registry.example.com:5000/shop/app@{DIGEST}"],
        "digests": [DIGEST],
        "image_id": "sha256:5c3e",
        "os": "alpine 3.19.1",
    }
    assert doc["scanner"] == {"name": "trivy", "version": "0.59.1", "db_updated_at": None}
    assert doc["scanned_at"] == "2026-11-26T08:00:00.123456789Z"
    assert doc["scanned_at_ns"] == 1795680000_123456789
    assert doc["vulnerabilities"] == [
        {
            "id": "CVE-2024-2511",
            "package": "openssl",
            "installed": "3.1.4-r2",
            "fixed": "3.1.4-r6",
            "status": "fixed",
            "severity": "CRITICAL",
            "cvss": 9.8,  # v3 scores only: a v2 score counts only when no source gives v3 or v4
            "title": None,
            "target": "app (alpine 3.19.1)",
            "class": "os-pkgs",
            "type": "alpine",
            "line": 29,
        },
        {
            "id": "CVE-2024-6119",
            "package": "busybox",
            "installed": None,
            "fixed": None,
            "status": "affected",
            "severity": "HIGH",
            "cvss": None,
            "title": None,
            "target": "app (alpine 3.19.1)",
            "class": "os-pkgs",
            "type": "alpine",
            "line": 46,
        },
    ]
    assert doc["vulnerability_counts"] == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0}
    assert doc["misconfigurations"] == {
        "failures": 1,
        "successes": 20,
        "by_severity": {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0},
        "failed": [
            {
                "id": "DS002",
                "avd_id": "AVD-DS-0002",
                "title": "Image user should not be 'root'",
                "severity": "HIGH",
                "target": "Dockerfile",
            }
        ],
    }


def test_vulnerability_lines_point_into_the_file() -> None:
    text = json.dumps(report(), indent=2)
    doc, _ = load(text)
    assert doc is not None
    for v in doc["vulnerabilities"]:
        assert f'"VulnerabilityID": "{v["id"]}"' in text.splitlines()[v["line"] - 1]
    compact, _ = load(json.dumps(report()))  # one line: every vulnerability is on line 1
    assert compact is not None and {v["line"] for v in compact["vulnerabilities"]} == {1}


def test_wrapper_recorded_db_time_is_read() -> None:
    doc, _ = load(report(Trivy={"Version": "0.59.1", "VulnerabilityDB": {"UpdatedAt": "2026-11-26T06:12:30Z"}}))
    assert doc is not None and doc["scanner"]["db_updated_at"] == "2026-11-26T06:12:30Z"


def test_report_without_digests_is_usable_input() -> None:
    # An image built in CI and scanned before it is pushed: the common order, not a broken report.
    raw = report()
    del raw["Metadata"]["RepoDigests"]
    doc, problems = load(raw)
    assert problems == []
    assert doc is not None and doc["image"]["digests"] == [] and doc["image"]["repo_digests"] == []
    assert doc["image"]["references"] == ["registry.example.com:5000/shop/app:1.2"]


# A Deployment pinned by a digest of the same repository as report(); the digest is not in any report.
PINNED = "registry.example.com:5000/shop/app@sha256:" + "9d1e" * 16
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
        - name: app
          image: {PINNED}
"""


def _undigested(*, vulnerabilities: bool) -> str:
    raw = report()
    del raw["Metadata"]["RepoDigests"]
    if not vulnerabilities:
        raw["Results"][0]["Vulnerabilities"] = []
    return json.dumps(raw, indent=2)


def _judge_images(bundle: PolicyBundle, engine: str, *sources: tuple[str, str]) -> Decision:
    """The decision of the image policies alone (other domains would judge the bare Deployment too)."""
    gate = make_gate(bundle, engine, Config(include=("image.*",)).resolve(None))
    change = load_change_set([], extra=list(sources))
    assert change.problems == ()
    return gate.judge(change)


@pytest.mark.parametrize("engine", ENGINES)
def test_report_without_digests_and_no_workload_is_judged_as_usual(bundle: PolicyBundle, engine: str) -> None:
    decision = _judge_images(bundle, engine, ("scan.json", _undigested(vulnerabilities=True)))
    assert decision.problems == () and decision.errors == ()
    assert sorted(f.policy for f in decision.findings) == ["image.vulnerabilities", "image.vulnerabilities_unfixed"]
    assert decision.exit_code() == 1  # the fixable critical CVE, as with any report
    clean = _judge_images(bundle, engine, ("scan.json", _undigested(vulnerabilities=False)))
    assert clean.findings == () and clean.exit_code() == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_report_without_digests_and_a_pinned_workload_is_said_once(bundle: PolicyBundle, engine: str) -> None:
    manifest = ("deploy.yaml", DEPLOYMENT)
    decision = _judge_images(bundle, engine, ("scan.json", _undigested(vulnerabilities=False)), manifest)
    assert decision.problems == () and decision.errors == ()
    [finding] = decision.findings  # not also "no scan report" on the Deployment nor "matches nothing" on the report
    assert (finding.policy, finding.severity, finding.file, finding.line) == (
        "image.scan_coverage",
        Severity.LOW,
        "scan.json",
        1,
    )
    assert finding.message == (
        "the scan report of registry.example.com:5000/shop/app:1.2 names no digest (no Metadata.RepoDigests: "
        f"the image was scanned before it was pushed), so it cannot be matched to {PINNED}, which this change "
        "deploys pinned by digest; its vulnerabilities are judged, but nothing shows they are the deployed "
        "image's: scan the pushed image by its digest"
    )
    assert finding.details == {
        "case": "report_without_digest",
        "image": "registry.example.com:5000/shop/app:1.2",
        "digests": [],
        "pinned": [PINNED],
    }
    assert decision.exit_code() == 0 and decision.exit_code(fail_on=Severity.LOW) == 1
    # The vulnerabilities are still judged: a fixable critical one fails the check as usual.
    vulnerable = _judge_images(bundle, engine, ("scan.json", _undigested(vulnerabilities=True)), manifest)
    assert sorted(f.policy for f in vulnerable.findings) == [
        "image.scan_coverage",
        "image.vulnerabilities",
        "image.vulnerabilities_unfixed",
    ]
    assert vulnerable.exit_code() == 1


def test_cli_exit_codes_with_a_report_without_digests() -> None:
    folder = FIXTURES / "image" / "scan_coverage"
    inputs = [str(folder / "disallowed_undigested_report.json"), str(folder / "disallowed_undigested_report.yaml")]

    def check(*options: str) -> Any:
        args = ["check", "--now", "2026-11-26T12:00:00Z", "--format", "json", *options, *inputs]
        return CliRunner().invoke(main, args, catch_exceptions=False)

    result = check()
    assert result.exit_code == 0, result.output  # no input problem (2); the low note does not block (1)
    output = json.loads(result.output)
    assert output["summary"]["input_errors"] == 0
    assert [(f["policy"], f["severity"]) for f in output["findings"]] == [("image.scan_coverage", "low")]
    assert check("--fail-on", "low").exit_code == 1


def test_repository_scan_needs_no_digest() -> None:
    doc, problems = load(report(ArtifactType="filesystem", ArtifactName=".", Metadata={}))
    assert problems == [] and doc is not None
    assert doc["is_image"] is False and doc["image"]["references"] == [] and doc["metadata"]["name"] == "."


def test_archive_names_are_not_references() -> None:
    raw = report(ArtifactName="build/app.tar.gz")
    raw["Metadata"]["RepoTags"] = []
    doc, _ = load(raw)
    assert doc is not None and doc["image"]["references"] == []
    assert doc["image"]["reference"] == f"registry.example.com:5000/shop/app@{DIGEST}"


def test_missing_or_bad_created_at() -> None:
    raw = report()
    del raw["CreatedAt"]
    doc, problems = load(raw)
    assert doc is not None and doc["scanned_at"] is None and doc["scanned_at_ns"] is None and problems == []
    doc, problems = load(report(CreatedAt="yesterday"))
    assert doc is not None and doc["scanned_at_ns"] is None
    assert problems == ["scan.json:1: CreatedAt 'yesterday' is not an RFC 3339 time; the scan's age is unknown"]
    doc, _ = load(report(CreatedAt="2026-11-26T10:00:00+02:00"))
    assert doc is not None and doc["scanned_at_ns"] == 1795680000_000000000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (json.dumps(report(), indent=2)[:300], "scan.json:14: invalid JSON in a Trivy report: Expecting"),
        (json.dumps(report(SchemaVersion=1)), "scan.json:1: unsupported Trivy report SchemaVersion 1"),
        (
            json.dumps({"SchemaVersion": 2, "kind": "Deployment"}),
            "scan.json:1: has SchemaVersion but neither ArtifactName nor Results",
        ),
        (json.dumps(report(Results={"Target": "x"})), "scan.json:1: Trivy report field Results should be a JSON array"),
    ],
)
def test_unusable_reports_are_problems(text: str, message: str) -> None:
    doc, problems = load(text)
    assert doc is None
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_malformed_entries_are_reported_not_skipped() -> None:
    raw = report()
    raw["Results"][0]["Vulnerabilities"].append({"PkgName": "x"})
    raw["Results"].append("oops")
    doc, problems = load(raw)
    assert doc is not None and len(doc["vulnerabilities"]) == 2
    assert problems == [
        "scan.json: a vulnerability of Results[0] has no VulnerabilityID: {'PkgName': 'x'}",
        "scan.json: Results[2] is not an object; check the report",
    ]


def test_detection_is_by_content() -> None:
    text = json.dumps(report())
    assert is_scan("anything.txt", text) and is_scan("report.json.golden", text)
    assert not is_scan(
        "deploy.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": '"SchemaVersion"'}})
    )
    assert not is_scan("deploy.yaml", "kind: Pod\nSchemaVersion: 2\n")
    assert is_scan("scan.json", text[:200])  # truncated: still meant as a report, so its loader says what is wrong


def test_change_set_routes_reports_and_manifests(tmp_path: Path) -> None:
    (tmp_path / "scan.json").write_text(json.dumps(report()))
    (tmp_path / "pod.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}))
    (tmp_path / "broken.json").write_text(json.dumps(report())[:120])
    change = load_change_set([str(tmp_path)])
    assert sorted((Path(a.file).name, a.kind) for a in change.artifacts) == [("pod.json", "k8s"), ("scan.json", "scan")]
    assert [Path(p.file).name for p in change.problems] == ["broken.json"]
    assert "invalid JSON in a Trivy report" in change.problems[0].message


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "SchemaVersion",
                        "Results",
                        "ArtifactName",
                        "Metadata",
                        "Vulnerabilities",
                        "CreatedAt",
                        "RepoDigests",
                        "VulnerabilityID",
                        "Severity",
                        "CVSS",
                    ]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_crashes(value: Any) -> None:
    raw = {
        "SchemaVersion": 2,
        "Results": [value] if not isinstance(value, dict) else [value],
        "Metadata": value if isinstance(value, dict) else {},
    }
    for candidate in (value, raw):
        artifacts, problems = load_text("x.json", json.dumps(candidate))
        assert artifacts or problems


# --------------------------------------------------------------------------- the real reports


def corpus_reports(corpus: Path) -> list[Path]:
    found = sorted((corpus / "trivy-reports").rglob("*.json.golden"))
    if not found:
        pytest.skip("no Trivy reports in the corpus")
    return found


def test_every_corpus_report_loads_and_counts_match(corpus: Path) -> None:
    for path in corpus_reports(corpus):
        raw = json.loads(path.read_text(encoding="utf-8"))
        doc, problems = load(path.read_text(encoding="utf-8"), name=path.name)
        assert doc is not None, problems
        # The corpus reports come from local archives: image reports lack RepoDigests, which is no problem.
        assert problems == []
        if raw.get("ArtifactType") == "container_image":
            assert doc["image"]["digests"] == []
        direct = Counter(v["Severity"] for r in raw["Results"] for v in r.get("Vulnerabilities") or [])
        assert {k: n for k, n in doc["vulnerability_counts"].items() if n} == dict(direct), path.name
        fixed = sum(1 for r in raw["Results"] for v in r.get("Vulnerabilities") or [] if v.get("FixedVersion"))
        assert sum(1 for v in doc["vulnerabilities"] if v["fixed"]) == fixed
        assert all(v["line"] for v in doc["vulnerabilities"])
        failed = sum(1 for r in raw["Results"] for m in r.get("Misconfigurations") or [] if m["Status"] == "FAIL")
        assert doc["misconfigurations"]["failures"] == failed


def test_corpus_fixed_and_unfixed(corpus: Path) -> None:
    docs = {p.name: load(p.read_text(encoding="utf-8"), name=p.name)[0] for p in corpus_reports(corpus)}
    unfixed = {
        name: sorted((v["id"], v["status"]) for v in d["vulnerabilities"] if not v["fixed"])
        for name, d in docs.items()
        if d
    }
    assert unfixed["centos-7.json.golden"] == [("CVE-2019-18276", "will_not_fix")]
    assert unfixed["centos-7-ignore-unfixed.json.golden"] == []
    assert unfixed["alpine-39.json.golden"] == []
    assert [s for _, s in unfixed["debian-stretch.json.golden"]] == ["end_of_life"]
    assert docs["helm.json.golden"] is not None and docs["helm.json.golden"]["misconfigurations"]["by_severity"] == {
        "CRITICAL": 0,
        "HIGH": 3,
        "MEDIUM": 4,
        "LOW": 11,
        "UNKNOWN": 0,
    }


def test_centos_ignore_unfixed_differs_exactly_by_the_unfixed(corpus: Path) -> None:
    folder = corpus / "trivy-reports" / "trivy" / "integration" / "testdata"
    if not (folder / "centos-7.json.golden").is_file():
        pytest.skip("centos-7 reports not in the corpus")
    full, _ = load((folder / "centos-7.json.golden").read_text(encoding="utf-8"))
    ignored, _ = load((folder / "centos-7-ignore-unfixed.json.golden").read_text(encoding="utf-8"))
    assert full is not None and ignored is not None

    def key(v: dict[str, Any]) -> tuple[str, str | None]:
        return v["id"], v["package"]

    difference = {key(v) for v in full["vulnerabilities"]} - {key(v) for v in ignored["vulnerabilities"]}
    assert difference == {key(v) for v in full["vulnerabilities"] if v["fixed"] is None} == {("CVE-2019-18276", "bash")}
    assert {key(v) for v in ignored["vulnerabilities"]} < {key(v) for v in full["vulnerabilities"]}


def test_image_vulnerabilities_on_the_corpus(corpus: Path, gate: Gate) -> None:
    sources = [(p.as_posix(), p.read_text(encoding="utf-8")) for p in corpus_reports(corpus)]
    change = load_change_set([], extra=sources)
    decision = gate.judge(ChangeSet(artifacts=change.artifacts))
    assert not decision.errors
    found = sorted(
        (Path(f.file or "").name, f.details["id"], f.details["package"])
        for f in decision.findings
        if f.policy == "image.vulnerabilities"
    )
    assert found == [
        ("alpine-39.json.golden", "CVE-2019-14697", "musl"),
        ("alpine-39.json.golden", "CVE-2019-14697", "musl-utils"),
        ("debian-buster.json.golden", "CVE-2019-18224", "libidn2-0"),
        ("photon-30.json.golden", "CVE-2019-18276", "bash"),
        ("photon-30.json.golden", "CVE-2019-5481", "curl"),
        ("photon-30.json.golden", "CVE-2019-5481", "curl-libs"),
        ("spring4shell-jre11.json.golden", "CVE-2022-22965", "org.springframework:spring-beans"),
    ]
    messages = {f.message: f.line for f in decision.findings}
    assert (
        messages[
            "CVE-2022-22965 (CRITICAL) in org.springframework:spring-beans 5.3.15 of "
            "ghcr.io/aquasecurity/trivy-test-images:spring4shell-jre11 is fixed in 5.3.18; rebuild the image with the fixed version"
        ]
        == 255
    )
    assert (
        messages[
            "CVE-2019-14697 (CRITICAL) in musl 1.1.20-r4 of ghcr.io/aquasecurity/trivy-test-images:alpine-39 "
            "is fixed in 1.1.20-r5; rebuild the image with the fixed version"
        ]
        == 391
    )
    unfixed = sorted(f.details["id"] for f in decision.findings if f.policy == "image.vulnerabilities_unfixed")
    assert unfixed == []  # the corpus' unfixed vulnerabilities are all below HIGH
    # The golden reports are from 2021: every one is stale at the decision time.
    stale = {Path(f.file or "").name for f in decision.findings if f.policy == "image.scan_freshness"}
    assert stale == {Path(name).name for name, _ in sources}
