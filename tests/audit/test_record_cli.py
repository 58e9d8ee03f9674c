"""`rollguard check --record`, `audit log` and `audit verify` end to end on a SQLite store."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rollguard.audit.record import ci_identity
from rollguard.cli import main
from rollguard.kube.workloads import images_of
from rollguard.policy.bundle import load_bundle

from ..conftest import FIXTURES, POLICIES
from .tampering import rewrite, sql

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
    before = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    result = record_demo(store, env=GITHUB)
    assert result.exit_code == 1
    shown = json.loads(result.stdout)

    logged = run("audit", "log", "--store", store, "--format", "json")
    assert logged.exit_code == 0
    [entry] = json.loads(logged.stdout)
    record = entry["record"]
    assert entry["seq"] == 1 and entry["prev_hash"] == "0" * 64
    assert record["source"] == "ci" and record["environment"] == "prod" and record["verdict"] == "fail"
    # `--now` is the decision's as-of time; the store adds the time it really wrote the record.
    assert record["time"] == "2026-11-26T12:00:00.000000Z"
    assert record["recorded_at"] >= before
    # The report names the record and the chain head to anchor, and stderr says it in one line.
    assert shown["record"] == {
        "store": store,
        "seq": 1,
        "hash": entry["hash"],
        "recorded_at": record["recorded_at"],
        "head": {"seq": 1, "hash": entry["hash"]},
    }
    assert result.stderr == f"rollguard: recorded decision 1 in {store}; chain head 1 {entry['hash']}\n"
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
    missing = run("audit", "log", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.exit_code == 2
    assert missing.stderr.count("\n") == 1 and "no decision log here: " in missing.stderr
    assert not (tmp_path / "none.db").exists()
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_text("not sqlite at all\n" * 200)
    bad = run("audit", "log", "--store", f"sqlite:///{corrupt}")
    assert bad.exit_code == 2 and "file is not a database" in bad.stderr and bad.stdout == ""
    unknown = run("audit", "verify", "--store", "mongodb://x")
    assert unknown.exit_code == 2 and "unknown store URL" in unknown.stderr
    period = run("audit", "log", "--store", f"sqlite:///{corrupt}", "--since", "yesterday")
    assert period.exit_code == 2 and "--since 'yesterday' is not an ISO 8601 date" in period.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["audit", "log"],
        ["audit", "report", "--since", "2026-11-01", "--until", "2026-11-30"],
        ["check --record"],
    ],
    ids=" ".join,
)
def test_every_command_opens_its_store_through_the_registry(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "sqlite:decisions.db"  # no `://`: a scheme no backend is registered for
    result = record_demo(url) if command == ["check --record"] else run(*command, "--store", url)
    assert result.exit_code == 2
    assert f"--store {url!r}: unknown store URL (use one of sqlite://" in result.stderr
    assert list(tmp_path.iterdir()) == []


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
    assert sorted(images_of(docs)) == ["a:1", "b@sha256:00", "c:2"]


# --- a wiped log, a missing head, and anchoring, from the command line ---------------------------


def test_verify_never_creates_a_log_and_a_missing_one_fails(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    for fmt in ("text", "json"):
        result = run("audit", "verify", "--store", f"sqlite:///{path}", "--format", fmt)
        assert result.exit_code == 1, result.output
        assert not path.exists() and not list(tmp_path.iterdir())
    assert json.loads(result.stdout) == {
        "ok": False,
        "records": 0,
        "head": None,
        "last_intact": None,
        "broken_at": None,
        "problem": f"no decision log here: {path} does not exist; record decisions first "
        f"(`rollguard check --record --store sqlite:///{path}`) or pass the right --store",
    }


def test_a_truncated_log_fails_verify_and_refuses_new_records(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = f"sqlite:///{path}"
    assert record_demo(store).exit_code == 1
    path.write_bytes(b"")
    verified = run("audit", "verify", "--store", store)
    assert verified.exit_code == 1
    assert verified.stdout == f"no decision log here: {path} is empty (0 bytes); a decision log is never empty\n"
    recorded = record_demo(store)
    assert recorded.exit_code == 2
    assert json.loads(recorded.stdout)["verdict"] == "fail"  # the report is still shown, without a record
    assert "record" not in json.loads(recorded.stdout)
    assert (
        recorded.stderr
        == f"rollguard: no decision log here: {path} is empty (0 bytes); a decision log is never empty\n"
    )
    assert path.read_bytes() == b""  # and the emptied log was not started afresh


def test_dropped_tables_fail_verify_and_refuse_new_records(store_url: str) -> None:
    assert record_demo(store_url).exit_code == 1
    sql(store_url, "DROP TABLE rollguard_decisions")
    sql(store_url, "DROP TABLE rollguard_chain_head")
    verified = run("audit", "verify", "--store", store_url)
    assert verified.exit_code == 1
    assert verified.stdout.startswith("no decision log here: ")
    assert "was a decision log (schema version 3) but its tables were dropped" in verified.stdout
    recorded = record_demo(store_url)
    assert recorded.exit_code == 2 and "its tables were dropped" in recorded.stderr


def test_a_missing_head_row_names_the_last_intact_record(store_url: str) -> None:
    for day in ("2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z"):
        assert record_demo(store_url, now=day).exit_code == 1
    [(last,)] = sql(store_url, "SELECT hash FROM rollguard_decisions WHERE seq = 2")
    sql(store_url, "DELETE FROM rollguard_chain_head")
    verified = run("audit", "verify", "--store", store_url)
    assert verified.exit_code == 1
    assert verified.stdout.splitlines() == [
        f"chain BROKEN: the chain head is missing (its row was deleted): the chain reads intact up to record 2 "
        f"({last}), but nothing vouches that no records followed it",
        f"(2 records read; last intact record 2 {last}; stored head missing)",
    ]
    recorded = record_demo(store_url)
    assert recorded.exit_code == 2 and "the chain head is missing" in recorded.stderr


def test_a_fresh_path_is_created_by_check_record(tmp_path: Path) -> None:
    path = tmp_path / "new" / "log.db"
    assert record_demo(f"sqlite:///{path}").exit_code == 1
    assert path.is_file()
    assert run("audit", "verify", "--store", f"sqlite:///{path}").exit_code == 0


def _head_of(result: Result) -> dict[str, Any]:
    head: dict[str, Any] = json.loads(result.stdout)["record"]["head"]
    return head


def test_anchoring_the_head_catches_a_rewritten_log(store_url: str) -> None:
    first = _head_of(record_demo(store_url, now="2026-11-24T09:00:00Z"))
    second = _head_of(record_demo(store_url, now="2026-11-25T09:00:00Z"))
    assert (first["seq"], second["seq"]) == (1, 2)

    def verify(*options: str) -> Result:
        return run("audit", "verify", "--store", store_url, *options)

    assert verify("--expect-head", first["hash"], "--expect-count", "1").exit_code == 0  # the log grew since
    assert verify("--expect-head", second["hash"], "--expect-count", "2").exit_code == 0
    too_few = verify("--expect-count", "3")
    assert too_few.exit_code == 1
    assert "expected at least 3 records (--expect-count), but the chain holds 2 records" in too_few.stdout

    # Whoever can write the database removes the findings of a decision and recomputes every hash.
    rewrite(store_url, lambda seq, body: {**body, "findings": []} if seq == 1 else body)
    assert verify().exit_code == 0  # undetectable without an anchor
    caught = verify("--expect-head", second["hash"], "--format", "json")
    assert caught.exit_code == 1
    report = json.loads(caught.stdout)
    assert report["ok"] is False and report["records"] == 2
    assert report["problem"].startswith(f"expected head {second['hash']} (--expect-head) is not in the chain: ")
    assert f"ends at record 2 ({report['head']['hash']})" in report["problem"]


@pytest.mark.parametrize("value", ["abc123", "--format"])
def test_a_malformed_expected_head_is_exit_2(tmp_path: Path, value: str) -> None:
    result = run("audit", "verify", "--store", f"sqlite:///{tmp_path / 'x.db'}", f"--expect-head={value}")
    assert result.exit_code == 2 and "is not a record hash" in result.stderr
