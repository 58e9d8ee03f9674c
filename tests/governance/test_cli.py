"""`rollguard check --env` with governance: --approval, --now against windows, promotion through a real store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rollguard.audit.store import open_store
from rollguard.cli import main
from rollguard.governance.history import read_history

from ..conftest import FIXTURES

WINDOW = FIXTURES / "governance" / "deployment_window" / "allowed_inside_window"
APPROVAL = FIXTURES / "governance" / "change_approval" / "disallowed_contract_release"
PROMOTION = FIXTURES / "governance" / "promotion" / "allowed_promoted"
DIGEST = "sha256:4f1c9e0a7d2b3c5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)


def check_json(folder: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run(str(folder), "--config", str(folder / "rollguard.yaml"), "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def governance(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["policy"], f["message"]) for f in report["findings"] if f["policy"].startswith("governance.")]


def test_now_decides_the_window() -> None:
    code, report = check_json(WINDOW, "--env", "prod", "--now", "2026-11-24T10:00:00Z")
    assert code == 0 and governance(report) == []
    code, report = check_json(WINDOW, "--env", "prod", "--now", "2026-11-28T10:00:00Z")
    assert code == 1
    assert governance(report) == [
        (
            "governance.deployment_window",
            "deploying to prod outside its deployment windows: mon,tue,wed,thu 09:00-16:00 Europe/Berlin (it is Sat 2026-11-28 11:00 CET there)",
        )
    ]
    [finding] = [f for f in report["findings"] if f["policy"] == "governance.deployment_window"]
    # The finding is about the change and points at the environment's definition.
    assert finding["resource"] == {
        "apiVersion": "rollguard.io/v1",
        "kind": "ChangeRequest",
        "namespace": None,
        "name": "prod",
    }
    assert finding["file"] == str(WINDOW / "rollguard.yaml") and finding["line"] == 4


def test_no_change_request_without_an_environment() -> None:
    _, without = check_json(WINDOW, "--now", "2026-11-28T10:00:00Z")
    _, with_env = check_json(WINDOW, "--env", "prod", "--now", "2026-11-24T10:00:00Z")
    assert governance(without) == []
    # The change itself is judged (and counted) only when an environment is selected.
    assert with_env["summary"]["resources"] == without["summary"]["resources"] + 1
    assert "approval" not in without and "approval" not in with_env


def test_approval_reference_clears_the_finding_and_is_shown_and_recorded(tmp_path: Path) -> None:
    code, report = check_json(APPROVAL, "--env", "prod")
    assert code == 1
    [(policy, message)] = governance(report)
    assert policy == "governance.change_approval"
    assert message.startswith("change to prod scores 13 (threshold 10) and has no change-approval reference:")

    store = f"sqlite:///{tmp_path / 'log.db'}"
    code, report = check_json(APPROVAL, "--env", "prod", "--approval", "CHG-1234", "--record", "--store", store)
    assert code == 0 and governance(report) == [] and report["approval"] == "CHG-1234"
    text = run(str(APPROVAL), "--config", str(APPROVAL / "rollguard.yaml"), "--env", "prod", "--approval", "CHG-1234")
    assert "environment prod, approval CHG-1234" in text.stdout.splitlines()[-1]
    with open_store(store, create=False) as opened:
        [record] = list(opened.records())
    assert record.body["approval"] == "CHG-1234"
    assert {r["kind"] for r in record.body["resources"]} == {"MigrationFile", "ChangeRequest"}


def test_approval_from_an_annotation_is_recorded() -> None:
    folder = FIXTURES / "governance" / "change_approval" / "allowed_annotated"
    code, report = check_json(folder, "--env", "staging")
    assert code == 0 and report["approval"] == "CHG-1240"


@pytest.fixture
def change(tmp_path: Path) -> Path:
    """The promotion fixture's change (web pinned by digest) with its dev -> staging -> prod config."""
    folder = tmp_path / "change"
    folder.mkdir()
    for name in ("web.yaml", "rollguard.yaml"):
        shutil.copy(PROMOTION / name, folder / name)
    return folder


def deploy(folder: Path, env: str, store: str, *extra: str) -> tuple[int, dict[str, Any]]:
    return check_json(folder, "--env", env, "--store", store, "--now", "2026-11-24T10:00:00Z", *extra)


def test_promotion_through_a_real_store(change: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    message = (
        f"image registry.example.com/shop/web:2.5.0@{DIGEST} of Deployment shop/web ({change / 'web.yaml'}:2) has not "
        f"passed {{previous}}: no passed, non-dry-run decision there deployed digest {DIGEST}; promote it through {{previous}} first"
    )
    # Straight to prod: staging never saw the digest.
    code, report = deploy(change, "prod", store)
    assert code == 1 and governance(report) == [("governance.promotion", message.format(previous="staging"))]
    # Checking staging without recording proves nothing either; dev comes first.
    code, report = deploy(change, "staging", store)
    assert governance(report) == [("governance.promotion", message.format(previous="dev"))]

    assert deploy(change, "dev", store, "--record")[0] == 0
    assert deploy(change, "staging", store, "--record")[0] == 0
    code, report = deploy(change, "prod", store, "--record")
    assert code == 0 and governance(report) == []

    # Another digest of web has not been through staging.
    other = "sha256:" + "1" * 64
    (change / "web.yaml").write_text((change / "web.yaml").read_text().replace(DIGEST, other))
    code, report = deploy(change, "prod", store)
    assert code == 1 and [p for p, _ in governance(report)] == ["governance.promotion"]
    assert other in governance(report)[0][1]


def test_promotion_without_a_store_says_so(change: Path) -> None:
    code, report = check_json(change, "--env", "prod", "--now", "2026-11-24T10:00:00Z")
    assert code == 1
    assert governance(report) == [
        (
            "governance.promotion",
            "cannot verify promotion: no decision store (give --store, or `store:` in rollguard.yaml, or record into .rollguard/decisions.db); images deployed to prod must have passed staging first",
        )
    ]
    # The first environment of the path has nothing to verify.
    assert check_json(change, "--env", "dev")[0] == 0


def test_failed_decisions_do_not_promote(change: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    # A dev decision that fails (fail_on info turns every finding into a blocker) is no promotion.
    (change / "web.yaml").write_text((change / "web.yaml").read_text().replace("replicas: 3", "replicas: 1"))
    assert deploy(change, "dev", store, "--record", "--fail-on", "info")[0] == 1
    code, report = deploy(change, "staging", store)
    assert [p for p, _ in governance(report)] == ["governance.promotion"]


def test_records_carry_workloads_and_the_store_gives_deployed_versions(change: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    assert deploy(change, "dev", store, "--record")[0] == 0
    with open_store(store, create=False) as opened:
        [record] = list(opened.records())
    workload = {
        "kind": "Deployment",
        "namespace": "shop",
        "name": "web",
        "version": "2.5.0",
        "images": [f"registry.example.com/shop/web:2.5.0@{DIGEST}"],
    }
    assert record.body["workloads"] == [workload]
    history = read_history(store, environment="dev", previous=None)
    assert history.deployed == ({**workload, "time": "2026-11-24T10:00:00.000000Z"},)
    assert read_history(store, environment="staging", previous="dev").passed_digests == (DIGEST,)
    # A store that does not exist yet holds nothing; reading it does not create it.
    missing = tmp_path / "missing.db"
    assert read_history(f"sqlite:///{missing}", environment="prod", previous="staging").passed_digests == ()
    assert not missing.exists()


def test_unreadable_store_is_reported_not_passed(change: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, report = deploy(change, "prod", f"postgresql://rollguard@127.0.0.1:{port}/decisions")
    assert code == 1
    [(policy, message)] = governance(report)
    assert policy == "governance.promotion"
    assert message.startswith(
        f"cannot verify promotion: the decision store could not be read (decision store postgresql://rollguard@127.0.0.1:{port}/decisions:"
    )
    assert message.endswith("images deployed to prod must have passed staging first")
