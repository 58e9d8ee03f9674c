"""`rollguard check --record`, `audit log` and `audit verify` end to end on a SQLite store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from rollguard.audit.record import ci_identity
from rollguard.cli import main
from rollguard.inputs.k8s import images_of
from rollguard.policy.bundle import load_bundle

from ..conftest import FIXTURES, POLICIES

DEMO = FIXTURES / "demo"
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "GITHUB_RUN_ID": "7711",
    "GITHUB_ACTOR": "octocat",
}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def record_demo(store: str, *, now: str = "2026-11-26T12:00:00Z", env: dict[str, str] | None = None) -> Result:
    return run(
        "check",
        str(DEMO),
        "--config",
        str(DEMO / "rollguard.yaml"),
        "--env",
        "prod",
        "--now",
        now,
        "--format",
        "json",
        "--record",
        "--store",
        store,
        env=env,
    )


def test_check_record_stores_the_whole_decision(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    result = record_demo(store, env=GITHUB)
    assert result.exit_code == 1
    shown = json.loads(result.stdout)
    assert "recorded decision 1 (" in result.stderr

    logged = run("audit", "log", "--store", store, "--format", "json")
    assert logged.exit_code == 0
    [entry] = json.loads(logged.stdout)
    record = entry["record"]
    assert entry["seq"] == 1 and entry["prev_hash"] == "0" * 64
    assert record["source"] == "ci" and record["environment"] == "prod" and record["verdict"] == "fail"
    assert record["time"] == "2026-11-26T12:00:00.000000Z"
    assert record["actor"] == "github:octocat"
    assert record["change"]["commit"] == GITHUB["GITHUB_SHA"] and record["change"]["run_id"] == "github:7711"
    assert record["findings"] == shown["findings"]
    assert record["summary"] == shown["summary"]
    assert record["bundle_digest"] == f"sha256:{load_bundle(POLICIES).digest}"
    assert [w["id"] for w in record["waivers"]] == ["WVR-112"] and record["waivers"][0]["status"] == "applied"
    assert {r["name"] for r in record["resources"]} >= {"storefront"}
    assert {p["id"] for p in record["policies"]} >= {"k8s.readiness_probe", "k8s.image_registry"}
    images = {i["image"]: i["digest"] for i in record["change"]["images"]}
    assert images and set(images) == set(images_of(_demo_documents()))


def _demo_documents() -> list[dict[str, object]]:
    import yaml

    return [d for d in yaml.safe_load_all((DEMO / "storefront.yaml").read_text()) if d]


def test_audit_verify_passes_then_names_the_tampered_record(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = f"sqlite:///{path}"
    for day in ("2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z", "2026-11-26T09:00:00Z"):
        assert record_demo(store, now=day).exit_code == 1
    ok = run("audit", "verify", "--store", store)
    assert ok.exit_code == 0
    assert ok.stdout.startswith("chain intact: 3 records, head 3 ")

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER rollguard_decisions_no_update")
    conn.execute(
        'UPDATE rollguard_decisions SET body = replace(body, \'"verdict":"fail"\', \'"verdict":"pass"\') WHERE seq = 2'
    )
    conn.close()
    broken = run("audit", "verify", "--store", store, "--format", "json")
    assert broken.exit_code == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False and report["broken_at"] == 2
    assert "content was changed" in report["problem"]


def test_log_filters_by_period_and_environment(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    for day in ("2026-11-24T09:00:00Z", "2026-11-25T23:59:59Z", "2026-11-26T00:00:00Z"):
        record_demo(store, now=day)
    lines = run("audit", "log", "--store", store, "--since", "2026-11-25", "--until", "2026-11-25").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["2"]
    assert run("audit", "log", "--store", store, "--env", "staging").stdout == ""


def test_unusable_stores_exit_2_with_one_line(tmp_path: Path) -> None:
    missing = run("audit", "verify", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.exit_code == 2
    assert missing.stderr.count("\n") == 1 and "no decision store at" in missing.stderr
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_text("not sqlite at all\n" * 200)
    bad = run("audit", "log", "--store", f"sqlite:///{corrupt}")
    assert bad.exit_code == 2 and "file is not a database" in bad.stderr and bad.stdout == ""
    unknown = run("audit", "verify", "--store", "mongodb://x")
    assert unknown.exit_code == 2 and "unknown store URL" in unknown.stderr
    period = run("audit", "log", "--store", f"sqlite:///{corrupt}", "--since", "yesterday")
    assert period.exit_code == 2 and "--since 'yesterday' is not an ISO 8601 date" in period.stderr


def test_recording_into_an_unreachable_database_fails_with_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = record_demo(f"postgresql://rollguard@127.0.0.1:{port}/decisions")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["verdict"] == "fail"  # the report is still shown
    assert f"decision store postgresql://rollguard@127.0.0.1:{port}/decisions:" in result.stderr


def test_ci_identity_reads_the_ci_system_first() -> None:
    assert ci_identity(GITHUB) == (GITHUB["GITHUB_SHA"], "github:7711", "github:octocat")
    gitlab = {"GITLAB_CI": "true", "CI_COMMIT_SHA": "abc", "CI_JOB_ID": "42", "GITLAB_USER_LOGIN": "ana"}
    assert ci_identity(gitlab) == ("abc", "gitlab:42", "gitlab:ana")
    assert ci_identity({"USER": "dev"})[2] == "local:dev"


def test_images_of_reads_every_pod_template() -> None:
    docs = [
        {
            "kind": "Deployment",
            "spec": {
                "template": {"spec": {"containers": [{"image": "a:1"}], "initContainers": [{"image": "b@sha256:00"}]}}
            },
        },
        {
            "kind": "CronJob",
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "c:2"}]}}}}},
        },
        {"kind": "Pod", "spec": {"containers": [{"image": "a:1"}]}},
        {"kind": "Service", "spec": {"ports": []}},
    ]
    assert images_of(docs) == ("a:1", "b@sha256:00", "c:2")
