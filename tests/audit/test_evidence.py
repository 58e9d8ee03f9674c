"""The evidence an auditor asks for, from decisions recorded by real `rollguard check --record` runs.

Approval, actor, commit and CI run with their links (GitHub Actions and GitLab CI), the
configuration digest, control titles, passing decisions, the default 30-day period, waived and
blocked outcomes; and the store every command reads when no `--store` is given.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rollguard.audit.record import ci_links, ci_run
from rollguard.audit.store import open_store
from rollguard.cli import main
from rollguard.policy.bundle import load_bundle

from ..conftest import FIXTURES, POLICIES

DEMO = FIXTURES / "demo"
CLEAN = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
PROMOTION = FIXTURES / "governance" / "promotion" / "allowed_promoted"
UTC = dt.timezone.utc

# Variables of the other CI systems are cleared, so the tests mean the same inside any CI.
NO_CI: dict[str, str | None] = {
    name: None
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "BUILDKITE", "ROLLGUARD_STORE", "ROLLGUARD_HISTORY_DSN")
}
GITHUB_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
GITLAB_SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
GITHUB = {
    **NO_CI,
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": GITHUB_SHA,
    "GITHUB_RUN_ID": "7711",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "shop/storefront",
}
GITLAB = {
    **NO_CI,
    "GITLAB_CI": "true",
    "CI_COMMIT_SHA": GITLAB_SHA,
    "CI_JOB_ID": "512",
    "GITLAB_USER_LOGIN": "ana",
    "CI_PROJECT_URL": "https://gitlab.example.com/shop/storefront",
    "CI_PIPELINE_URL": "https://gitlab.example.com/shop/storefront/-/pipelines/4242",
}

CONFIG = """\
version: 1
fail_on: high
parameters:
  k8s.image_registry:
    allowed_registries: ["registry.example.com/"]
enforcement:
  k8s.secret_env: warn
environments:
  staging:
    fail_on: critical
  prod:
    risk: high
    parameters:
      k8s.image_pinning:
        require_digest: false
waivers:
  - id: WVR-112
    policy: k8s.image_registry
    match: {kind: Deployment, namespace: shop, name: storefront}
    reason: The log shipper comes from Docker Hub until the mirror is live.
    owner: team-storefront
    ticket: OPS-4411
    expires: 2099-12-31
"""

# CONFIG as someone else would write it: other indentation, flow style, quoting, key order,
# comments, and the enforcement override under a glob that names the same single policy.
REFORMATTED = """\
# the same settings, written differently
waivers:
- {id: WVR-112, policy: "k8s.image_registry", owner: team-storefront, ticket: "OPS-4411", expires: "2099-12-31",
   reason: "The log shipper comes from Docker Hub until the mirror is live.",
   match: {name: storefront, namespace: shop, kind: Deployment}}
environments:
    prod:
        parameters: {k8s.image_pinning: {require_digest: no}}
        risk: 'high'
    staging: {fail_on: "critical"}
enforcement: {"k8s.secret_*": warn}
parameters: {k8s.image_registry: {allowed_registries: ['registry.example.com/']}}
fail_on: "high"
version: 1
"""


def run(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    return CliRunner(env={**NO_CI, **(env or {})}).invoke(main, list(args), catch_exceptions=False)


def record(
    store: str,
    config: Path,
    path: Path,
    *,
    env: str,
    now: dt.datetime,
    ci: Mapping[str, str | None],
    extra: tuple[str, ...] = (),
) -> None:
    result = run(
        "check",
        str(path),
        "--config",
        str(config),
        "--env",
        env,
        "--now",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--format",
        "json",
        "--record",
        "--store",
        store,
        *extra,
        env=ci,
    )
    assert result.exit_code in (0, 1), result.output


@pytest.fixture(scope="module")
def evidence_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Four real decisions relative to today: one 40 days ago, then three in the last 30 days."""
    base = tmp_path_factory.mktemp("evidence")
    config = base / "rollguard.yaml"
    config.write_text(CONFIG)
    store = f"sqlite:///{base / 'decisions.db'}"
    now = dt.datetime.now(UTC)
    days = lambda n: now - dt.timedelta(days=n)  # noqa: E731
    record(store, config, CLEAN, env="prod", now=days(40), ci=GITHUB)  # before the default period
    record(store, config, DEMO, env="prod", now=days(3), ci=GITHUB, extra=("--approval", "CHG-1234"))  # blocked
    record(store, config, DEMO, env="staging", now=days(2), ci=GITLAB)  # passes, with a waiver
    record(store, config, CLEAN, env="prod", now=days(1), ci=GITHUB, extra=("--approval", "CHG-1235"))  # passes
    return store, config


def report_json(store: str, config: Path, *args: str) -> dict[str, Any]:
    result = run("audit", "report", "--store", store, "--config", str(config), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_records_keep_the_ci_run_and_the_configuration_digest(evidence_log: tuple[str, Path]) -> None:
    store, _ = evidence_log
    with open_store(store, create=False) as opened:
        records = [r.body for r in opened.records()]
    github, gitlab = records[1], records[2]
    assert github["change"]["ci"] == {
        "system": "github",
        "server_url": "https://github.com",
        "repository": "shop/storefront",
        "run_id": "7711",
        "run_attempt": "2",
    }
    assert gitlab["change"]["ci"] == {
        "system": "gitlab",
        "project_url": "https://gitlab.example.com/shop/storefront",
        "pipeline_url": "https://gitlab.example.com/shop/storefront/-/pipelines/4242",
    }
    assert (github["approval"], github["actor"], github["change"]["commit"]) == (
        "CHG-1234",
        "github:octocat",
        GITHUB_SHA,
    )
    assert (gitlab["approval"], gitlab["actor"], gitlab["change"]["run_id"]) == (None, "gitlab:ana", "gitlab:512")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", github["config_digest"])
    assert github["bundle_digest"] == f"sha256:{load_bundle(POLICIES).digest}"
    # Same environment and file: the same digest; staging resolves other settings.
    assert records[0]["config_digest"] == github["config_digest"] == records[3]["config_digest"]
    assert gitlab["config_digest"] != github["config_digest"]


def test_the_report_shows_each_decisions_evidence(evidence_log: tuple[str, Path]) -> None:
    store, config = evidence_log
    document = report_json(store, config)
    assert document["version"] == 2
    # Passed decisions are there too: 3 (staging) and 4 (prod) passed.
    decisions = {d["seq"]: d for d in document["decisions"]}
    assert [(d["seq"], d["environment"], d["verdict"]) for d in document["decisions"]] == [
        (2, "prod", "fail"),
        (3, "staging", "pass"),
        (4, "prod", "pass"),
    ]
    github, gitlab, passed = decisions[2], decisions[3], decisions[4]
    assert (github["approval"], github["actor"], github["commit"], github["run_id"]) == (
        "CHG-1234",
        "github:octocat",
        GITHUB_SHA,
        "github:7711",
    )
    assert github["commit_url"] == f"https://github.com/shop/storefront/commit/{GITHUB_SHA}"
    assert github["run_url"] == "https://github.com/shop/storefront/actions/runs/7711"
    assert gitlab["actor"] == "gitlab:ana" and gitlab["approval"] is None
    assert gitlab["commit_url"] == f"https://gitlab.example.com/shop/storefront/-/commit/{GITLAB_SHA}"
    assert gitlab["run_url"] == "https://gitlab.example.com/shop/storefront/-/pipelines/4242"
    assert passed["approval"] == "CHG-1235" and passed["findings"] == []
    digest = run("audit", "digest", "--config", str(config), "--env", "prod").stdout.splitlines()
    assert digest == [f"config_digest {github['config_digest']}", f"bundle_digest {github['bundle_digest']}"]
    assert passed["config_digest"] == github["config_digest"] != gitlab["config_digest"]
    # One bundle, two configurations (prod and staging), each with its decisions.
    assert [(c["config_digest"], c["decisions"], c["environments"]) for c in document["configurations"]] == [
        (github["config_digest"], 2, ["prod"]),
        (gitlab["config_digest"], 1, ["staging"]),
    ]
    assert document["totals"]["passed"] == 2 and document["totals"]["passed_with_waivers"] == 1

    text = run("audit", "report", "--store", store, "--config", str(config), "--format", "markdown").stdout
    assert "| CHG-1234 | github:octocat |" in text
    assert f"[{GITHUB_SHA[:12]}](https://github.com/shop/storefront/commit/{GITHUB_SHA})" in text
    assert "[gitlab:512](https://gitlab.example.com/shop/storefront/-/pipelines/4242)" in text
    assert f"configuration `sha256:{github['config_digest'][7:19]}`" in text
    page = run("audit", "report", "--store", store, "--config", str(config)).stdout
    assert f'<a href="https://github.com/shop/storefront/commit/{GITHUB_SHA}" rel="noreferrer">' in page
    assert '<a href="https://github.com/shop/storefront/actions/runs/7711" rel="noreferrer">github:7711</a>' in page
    assert "approval CHG-1234" in page and "actor github:octocat" in page


def test_the_period_defaults_to_the_last_30_days_and_says_so(evidence_log: tuple[str, Path]) -> None:
    store, config = evidence_log
    before = dt.datetime.now(UTC).date()
    document = report_json(store, config)
    after = dt.datetime.now(UTC).date()
    period = document["period"]
    # Today and the 29 days before it (the run may straddle midnight UTC: either day is right).
    ends = {today + dt.timedelta(days=1) for today in (before, after)}
    until = dt.datetime.fromisoformat(period["until"].replace("Z", "+00:00"))
    since = dt.datetime.fromisoformat(period["since"].replace("Z", "+00:00"))
    assert until.date() in ends and until.time() == dt.time.min and until - since == dt.timedelta(days=30)
    assert period["note"] == "the last 30 days: no --since or --until given"
    assert 1 not in {d["seq"] for d in document["decisions"]}  # 40 days old
    text = run("audit", "report", "--store", store, "--config", str(config), "--format", "markdown").stdout
    shown = f"{since.date()} to {(until - dt.timedelta(days=1)).date()}"
    assert f"| Period | {shown} (the last 30 days: no --since or --until given) |" in text
    page = run("audit", "report", "--store", store, "--config", str(config)).stdout
    assert f'<th scope="row">Period</th><td>{shown} (the last 30 days: no --since or --until given)</td>' in page
    # A given --since runs to today, and a given period is stated without a note.
    assert report_json(store, config, "--since", str(since.date()))["period"]["note"] == "up to today: no --until given"
    given = report_json(store, config, "--since", "2026-01-01", "--until", "2026-01-31")["period"]
    assert given == {"since": "2026-01-01T00:00:00.000000Z", "until": "2026-02-01T00:00:00.000000Z", "note": None}


def test_waived_counts_as_waived_and_a_blocked_change_as_operating(evidence_log: tuple[str, Path]) -> None:
    store, config = evidence_log
    controls = {c["control"]: c for c in report_json(store, config)["controls"]}
    cc81 = controls["SOC2:CC8.1"]
    assert (cc81["title"], cc81["framework"]) == ("Change management", "SOC 2 (AICPA Trust Services Criteria)")
    assert controls["NIST-800-53:CM-3"]["title"] == "Configuration Change Control"
    assert controls["ISO27001:A.8.32"]["title"] == "Change management"
    registry = {p["policy"]: p for p in cc81["policies"]}["k8s.image_registry"]
    # WVR-112 silenced the registry finding on the demo's Deployment in both demo runs: waived,
    # never a pass; the clean app passed.
    assert (registry["passes"], registry["blocked"], registry["waived"], registry["fails"]) == (1, 0, 2, 0)
    assert [(f["seq"], f["outcome"]) for f in cc81["findings"] if f["policy"] == "k8s.image_registry"] == [
        (2, "waived"),
        (3, "waived"),
    ]
    # Staging fails only on critical findings, so the demo went through there with its findings.
    assert cc81["result"] == "exceptions" and cc81["decisions_failed"] == 1
    # In prod the gate stopped the demo: every finding of decision 2 is blocked, the control operated.
    prod = {c["control"]: c for c in report_json(store, config, "--env", "prod")["controls"]}["SOC2:CC8.1"]
    assert (prod["result"], prod["fails"], prod["decisions_blocked"]) == ("operating", 0, 1)
    outcomes = {(f["policy"], f["resource"]["kind"]): f["outcome"] for f in prod["findings"]}
    assert outcomes[("k8s.rolling_update", "Deployment")] == "blocked"
    assert outcomes[("k8s.pdb_coverage", "PodDisruptionBudget")] == "blocked"
    assert outcomes[("k8s.image_registry", "Deployment")] == "waived"
    text = run("audit", "report", "--store", store, "--config", str(config), "--env", "prod", "--format", "markdown")
    assert "### SOC2:CC8.1 Change management" in text.stdout
    assert "| SOC2:CC8.1 | Change management | OPERATING |" in text.stdout


def _recorded_digest(tmp_path: Path, name: str, text: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    config = folder / "rollguard.yaml"
    config.write_text(text)
    store = f"sqlite:///{folder / 'decisions.db'}"
    record(store, config, DEMO, env="prod", now=dt.datetime(2026, 11, 24, 9, tzinfo=UTC), ci=GITHUB)
    with open_store(store, create=False) as opened:
        [stored] = list(opened.records())
    digest = str(stored.body["config_digest"])
    assert run("audit", "digest", "--config", str(config), "--env", "prod").stdout.startswith(
        f"config_digest {digest}\n"
    )
    return digest


def test_the_config_digest_follows_the_settings_not_the_formatting(tmp_path: Path) -> None:
    original = _recorded_digest(tmp_path, "original", CONFIG)
    assert _recorded_digest(tmp_path, "reformatted", REFORMATTED) == original
    changed = CONFIG.replace("require_digest: false", "require_digest: true")
    assert _recorded_digest(tmp_path, "parameter", changed) != original
    # The threshold decides too, whether it comes from the file or from --fail-on.
    original_file = str(tmp_path / "original" / "rollguard.yaml")
    stricter = run("audit", "digest", "--config", original_file, "--env", "prod", "--fail-on", "medium")
    assert stricter.exit_code == 0 and stricter.stdout.split()[1] != original


def test_promotion_reads_the_default_store_when_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    change = tmp_path / "change"
    shutil.copytree(PROMOTION, change)
    monkeypatch.chdir(tmp_path)

    def check(env: str, *extra: str) -> tuple[int, list[str]]:
        result = run(
            "check",
            str(change),
            "--config",
            str(change / "rollguard.yaml"),
            "--env",
            env,
            "--format",
            "json",
            "--now",
            "2026-11-24T10:00:00Z",
            *extra,
        )
        report = json.loads(result.stdout)
        return result.exit_code, [f["message"] for f in report["findings"] if f["policy"] == "governance.promotion"]

    # No store anywhere: promotion cannot be verified, and nothing is created by reading.
    code, messages = check("prod")
    assert code == 1 and messages[0].startswith("cannot verify promotion: no decision store (give --store")
    assert not (tmp_path / ".rollguard").exists()
    # Recording without --store writes the default store here...
    assert check("dev", "--record")[0] == 0
    assert check("staging", "--record")[0] == 0
    assert (tmp_path / ".rollguard" / "decisions.db").is_file()
    # ...and a later check reads its history from there, without --store.
    assert check("prod") == (0, [])
    # The audit commands read it too.
    listed = run("audit", "log", "--format", "json")
    assert listed.exit_code == 0 and [r["record"]["environment"] for r in json.loads(listed.stdout)] == [
        "dev",
        "staging",
    ]
    assert run("audit", "verify").stdout.startswith("chain intact: 2 records")


def test_the_configured_store_is_used_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROMOTION, project)
    config = project / "rollguard.yaml"
    config.write_text(config.read_text() + "store: sqlite:///audit/decisions.db\n")
    (project / "deploy").mkdir()
    monkeypatch.chdir(project / "deploy")  # rollguard.yaml is found upward; its store is relative to it
    result = run("check", str(project / "web.yaml"), "--env", "dev", "--record")
    assert result.exit_code == 0, result.output
    assert (project / "audit" / "decisions.db").is_file() and not (project / "deploy" / ".rollguard").exists()
    assert f"recorded decision 1 in sqlite:///{project / 'audit' / 'decisions.db'}" in result.stderr
    assert check_promotion_passes(project)
    report = run("audit", "report", "--format", "json")
    assert report.exit_code == 0 and [d["environment"] for d in json.loads(report.stdout)["decisions"]] == ["dev"]


def check_promotion_passes(project: Path) -> bool:
    """A staging check of the web change finds dev's record in the configured store."""
    result = run("check", str(project / "web.yaml"), "--env", "staging", "--format", "json")
    return result.exit_code == 0 and not json.loads(result.stdout)["findings"]


def test_a_store_url_in_the_config_that_no_backend_takes_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rollguard.yaml").write_text("version: 1\nstore: mongodb://db/rollguard\n")
    monkeypatch.chdir(tmp_path)
    result = run("audit", "log")
    assert result.exit_code == 2
    assert result.stderr == (
        f"rollguard: {tmp_path / 'rollguard.yaml'}:2: store: 'mongodb://db/rollguard' is not a decision store URL "
        "(use one of sqlite://, postgresql://, postgres://, e.g. sqlite:///.rollguard/decisions.db)\n"
    )


@pytest.mark.parametrize(
    "command",
    [["audit", "verify"], ["audit", "log"], ["audit", "report"], ["audit", "report", "--format", "json"]],
    ids=" ".join,
)
def test_a_reader_without_a_store_says_so_and_creates_none(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*command)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "rollguard: no decision store: none given (--store or ROLLGUARD_STORE), none configured (`store:` in "
        "rollguard.yaml), and the default sqlite:///.rollguard/decisions.db does not exist in the current directory; "
        "pass --store URL, or run where the decisions were recorded\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_ci_run_reads_each_ci_systems_variables() -> None:
    assert ci_run({k: v for k, v in GITHUB.items() if v is not None}) == {
        "system": "github",
        "server_url": "https://github.com",
        "repository": "shop/storefront",
        "run_id": "7711",
        "run_attempt": "2",
    }
    assert ci_run({"JENKINS_URL": "https://ci.example.com/", "BUILD_URL": "https://ci.example.com/job/web/12/"}) == {
        "system": "jenkins",
        "run_url": "https://ci.example.com/job/web/12/",
    }
    assert ci_run({"USER": "dev"}) is None


@pytest.mark.parametrize(
    ("ci", "commit"),
    [
        ({"system": "github", "server_url": "javascript:alert(1)//", "repository": "a/b", "run_id": "1"}, GITHUB_SHA),
        (
            {"system": "github", "server_url": "https://github.com", "repository": 'a/b" onclick="x', "run_id": "1"},
            GITHUB_SHA,
        ),
        (
            {"system": "gitlab", "project_url": "https://gitlab.com/a b", "pipeline_url": "https://x/<script>"},
            GITHUB_SHA,
        ),
        ({"system": "jenkins", "run_url": "file:///etc/passwd"}, None),
        ({"system": "unknown", "run_url": "https://ci.example.com/1"}, None),
    ],
)
def test_a_forged_ci_variable_never_becomes_a_link(ci: dict[str, str], commit: str | None) -> None:
    links = ci_links(ci, commit=commit)
    assert (links.commit_url, links.run_url) == (None, None)


def test_links_need_a_hex_commit_and_a_numeric_run() -> None:
    ci = {"system": "github", "server_url": "https://github.example.com/", "repository": "shop/web", "run_id": "12"}
    links = ci_links(ci, commit="deadbeef")
    assert links.commit_url == "https://github.example.com/shop/web/commit/deadbeef"
    assert links.run_url == "https://github.example.com/shop/web/actions/runs/12"
    assert ci_links({**ci, "run_id": "12; rm"}, commit="release-1.2").run_url is None
    assert ci_links(ci, commit="release-1.2").commit_url is None
