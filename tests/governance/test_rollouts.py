"""Teams sharing an environment: `rollguard rollout start|finish`, `check --rollout-id` and
governance.concurrent_rollouts through a real store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from rollguard.audit.store import open_store
from rollguard.cli import main
from rollguard.governance.history import read_history

from ..conftest import FIXTURES

SHOP = FIXTURES / "governance" / "concurrent_rollouts" / "allowed_no_open_rollout"
CHECKOUT = FIXTURES / "governance" / "concurrent_rollouts" / "disallowed_dependency"
POLICY = "governance.concurrent_rollouts"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rollout(event: str, store: str, *args: str) -> Result:
    return invoke("rollout", event, "--store", store, "--env", "prod", *args)


def check(folder: Path, store: str, now: str, *args: str, config: Path | None = None) -> tuple[int, dict[str, Any]]:
    config = config or folder / "rollguard.yaml"
    result = invoke(
        "check", str(folder), "--config", str(config), "--format", "json", "--env", "prod", "--store", store,
        "--now", now, *args,
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def concurrent(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["message"], f["severity"], f["enforcement"]) for f in report["findings"] if f["policy"] == POLICY]


def test_team_b_is_warned_while_team_a_rolls_out_and_not_after(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    started = rollout(
        "start", store, "--id", "payments-42", "--workload", "Deployment/shop/payments", "--duration", "1200",
        "--now", "2026-12-06T10:00:00Z", "--actor", "team-a",
    )  # fmt: skip
    assert started.exit_code == 0, started.output
    assert "recorded decision 1 in" in started.stderr

    code, report = check(SHOP, store, "2026-12-06T10:05:00Z")
    assert code == 0  # warned, not denied
    assert concurrent(report) == [
        (
            "rollout payments-42 by team-a is still open in prod namespace shop (started 2026-12-06T10:00:00.000000Z, "
            "simulated to take 20 min); wait for it to finish (`rollguard rollout finish`) or coordinate with its owner",
            "medium",
            "warn",
        )
    ]
    # cart in checkout shares no namespace but depends on shop/payments (its annotation).
    _, report = check(CHECKOUT, store, "2026-12-06T10:05:00Z")
    [(message, _, _)] = concurrent(report)
    assert message.startswith("Deployment checkout/cart depends on Deployment shop/payments, which rollout payments-42")

    finished = rollout("finish", store, "--id", "payments-42", "--now", "2026-12-06T10:07:00Z", "--actor", "team-a")
    assert finished.exit_code == 0, finished.output
    for folder in (SHOP, CHECKOUT):
        code, report = check(folder, store, "2026-12-06T10:08:00Z")
        assert code == 0 and concurrent(report) == []

    with open_store(store) as opened:
        records = list(opened.records())
        assert opened.verify().ok
    assert [(r.source, r.body["rollout"]["event"]) for r in records] == [("rollout", "start"), ("rollout", "finish")]
    assert records[0].body["rollout"] == {
        "id": "payments-42",
        "event": "start",
        "workloads": [{"kind": "Deployment", "namespace": "shop", "name": "payments"}],
        "namespaces": ["shop"],
        "duration_seconds": 1200.0,
    }
    assert records[0].body["workloads"] == []  # a rollout record deploys nothing


def test_unknown_duration_counts_for_the_default_window(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    rollout("start", store, "--id", "db-1", "--namespace", "shop", "--now", "2026-12-06T10:00:00Z")
    _, report = check(SHOP, store, "2026-12-06T10:59:00Z")
    [(message, _, _)] = concurrent(report)
    assert "rollout db-1 by " in message and "no recorded duration: counted open for 60 min" in message
    _, report = check(SHOP, store, "2026-12-06T11:01:00Z")
    assert concurrent(report) == []


def test_check_records_its_rollout_which_conflicts_with_others_but_not_itself(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    code, report = check(SHOP, store, "2026-12-06T10:00:00Z", "--record", "--rollout-id", "web-7", "--actor", "team-b")
    assert code == 0 and concurrent(report) == []
    with open_store(store) as opened:
        [record] = list(opened.records())
    entry = record.body["rollout"]
    assert record.source == "ci"
    assert entry["id"] == "web-7" and entry["event"] == "start" and entry["namespaces"] == ["shop"]
    assert entry["workloads"] == [{"kind": "Deployment", "namespace": "shop", "name": "web"}]
    # The simulation ran: 3 replicas, one surge pod at a time, readiness and minReadySeconds.
    assert isinstance(entry["duration_seconds"], float) and entry["duration_seconds"] > 0

    # Checking (and recording) the same rollout again is not a conflict with itself; the later
    # start replaces the first. A check without that id is another change, and is warned.
    _, report = check(SHOP, store, "2026-12-06T10:00:30Z", "--record", "--rollout-id", "web-7", "--actor", "team-b")
    assert concurrent(report) == []
    _, report = check(SHOP, store, "2026-12-06T10:00:40Z")
    [(message, _, _)] = concurrent(report)
    assert message.startswith(
        "rollout web-7 by team-b is still open in prod namespace shop (started 2026-12-06T10:00:30.000000Z, simulated"
    )
    history = read_history(store, environment="prod", previous=None, rollout_id="web-7")
    assert history.rollouts == ()
    assert [r["id"] for r in read_history(store, environment="prod", previous=None).rollouts] == ["web-7"]


def test_enforcement_deny_stops_the_second_rollout(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    config = tmp_path / "rollguard.yaml"
    config.write_text(
        "version: 1\nenvironments:\n  prod: {risk: high, fail_on: medium}\n"
        "enforcement: {governance.concurrent_rollouts: deny}\n",
        encoding="utf-8",
    )
    rollout("start", store, "--id", "payments-42", "--namespace", "shop", "--now", "2026-12-06T10:00:00Z")
    code, report = check(SHOP, store, "2026-12-06T10:05:00Z", config=config)
    [(_, severity, enforcement)] = concurrent(report)
    assert (severity, enforcement, code) == ("medium", "deny", 1)


def test_rollout_id_needs_record_and_env() -> None:
    result = invoke("check", str(SHOP), "--config", str(SHOP / "rollguard.yaml"), "--env", "prod", "--rollout-id", "x")
    assert result.exit_code == 2 and "--rollout-id records the start of a rollout" in result.output


def test_rollout_rejects_an_unknown_workload_kind(tmp_path: Path) -> None:
    result = rollout("start", f"sqlite:///{tmp_path / 'd.db'}", "--id", "x", "--workload", "Widget/shop/web")
    assert result.exit_code == 2 and "write KIND/NAMESPACE/NAME with a known kind" in result.stderr


def test_audit_reports_list_rollout_records_but_count_only_gate_decisions(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    rollout("start", store, "--id", "payments-42", "--namespace", "shop", "--now", "2026-12-06T10:00:00Z")
    code, _ = check(SHOP, store, "2026-12-06T10:05:00Z", "--record")
    assert code == 0
    rollout("finish", store, "--id", "payments-42", "--now", "2026-12-06T10:07:00Z")
    result = invoke("audit", "report", "--store", store, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [d["source"] for d in report["decisions"]] == ["rollout", "ci", "rollout"]
    assert report["totals"]["decisions"] == 1
    assert report["totals"]["by_source"] == {"ci": 1}


def test_a_quota_quantity_that_cannot_be_read_names_its_line(tmp_path: Path) -> None:
    from rollguard.errors import ConfigError
    from rollguard.policy.config import load_config

    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\nquotas:\n  - team: payments\n    namespaces: [shop]\n    max_surge_memory: 4 gigs\n")
    try:
        load_config(config)
    except ConfigError as exc:
        assert exc.line == 5 and "max_surge_memory" in str(exc) and "4 gigs" in str(exc)
    else:
        raise AssertionError("an unreadable quantity was accepted")
    config.write_text("version: 1\nquotas:\n  - team: payments\n    namespaces: [shop]\n    max_surge_memory: 4Gi\n")
    [quota] = load_config(config).quotas
    assert quota["max_surge_memory"] == 4 * 1024**3 and quota["where"] == "quotas[0]"
