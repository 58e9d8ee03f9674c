"""`rollguard audit report`: the data model, every format, the CLI, and the HTML in a real browser.

Run with ROLLGUARD_UPDATE_GOLDEN=1 to rewrite the golden files, then read the diff.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rollguard.audit.record import ChangeIdentity, Source, build_record
from rollguard.audit.render import REPORT_FORMATS, render_report, write_report
from rollguard.audit.render.csv_format import COLUMNS
from rollguard.audit.render.labels import SECTION_ORDER, SECTIONS
from rollguard.audit.report import Report
from rollguard.audit.report_build import build_report, report_from_store
from rollguard.audit.store import open_store, redact_url
from rollguard.cli import main
from rollguard.errors import ConfigError, StoreError
from rollguard.model import AppliedWaiver, Artifact, Decision, Finding, InputProblem, Resource, Severity
from rollguard.policy.bundle import PolicyInfo, load_bundle
from rollguard.policy.config import Waiver
from rollguard.policy.docs import compliance_block, controls_map, controls_page

from ..conftest import FIXTURES, POLICIES

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("ROLLGUARD_UPDATE_GOLDEN") == "1"
CHROMIUM = Path("/usr/bin/chromium")

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SINCE = dt.datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = dt.datetime(2026, 11, 27, tzinfo=UTC)  # exclusive: the period is 20-26 November

# --- a synthetic log: every number below is worked out by hand in the tests ------------------

WEB = Resource("apps/v1", "Deployment", "shop", "web")
WORKER = Resource("apps/v1", "Deployment", "shop", "worker")
PDB = Resource("policy/v1", "PodDisruptionBudget", "shop", "web")
ROLE = Resource("rbac.authorization.k8s.io/v1", "Role", "shop", "deployer")


def _policy(pid: str, severity: Severity, controls: tuple[str, ...], kinds: tuple[str, ...]) -> PolicyInfo:
    return PolicyInfo(
        id=pid,
        package=f"rollguard.{pid}",
        title=f"Title of {pid}",
        description="",
        severity=severity,
        controls=controls,
        remediation="",
        parameters_schema={},
        applies_to=kinds,
        file=f"{pid}.rego",
    )


READINESS = _policy("k8s.readiness_probe", Severity.HIGH, ("SOC2:CC8.1", "ISO27001:A.8.32"), ("Deployment",))
PDB_COVERAGE = _policy(
    "k8s.pdb_coverage", Severity.HIGH, ("SOC2:CC8.1", "SOC2:A1.2"), ("Deployment", "PodDisruptionBudget")
)
RBAC = _policy("k8s.rbac", Severity.MEDIUM, ("CIS-K8S:5.1.1",), ("Role",))
POLICY_SET = (READINESS, PDB_COVERAGE, RBAC)

W1 = AppliedWaiver("W-1", "applied", "the worker scales from zero", "team-checkout", "OPS-1", "2026-12-10")
W2 = AppliedWaiver("W-2", "expired", "until the PDB rollout", "team-payments", None, "2026-11-01")

CONFIG_WAIVERS = (
    Waiver("W-1", "k8s.pdb_coverage", "the worker scales from zero", "team-checkout", dt.date(2026, 12, 10), "OPS-1"),
    Waiver("W-3", "k8s.rbac", "the deployer role is reviewed quarterly", "team-platform", dt.date(2027, 6, 30)),
    Waiver("W-4", "k8s.readiness_probe", "batch jobs have no endpoint", "team-data", dt.date(2025, 12, 31)),
    Waiver(
        "W-5",
        "k8s.readiness_probe",
        "staging smoke tests",
        "team-qa",
        dt.date(2027, 1, 31),
        environments=("staging",),
    ),
)


def _finding(policy: PolicyInfo, resource: Resource, message: str, waiver: AppliedWaiver | None = None) -> Finding:
    return Finding(
        policy=policy.id,
        title=policy.title,
        severity=policy.severity,
        message=message,
        resource=resource,
        file="deploy/app.yaml",
        line=1,
        controls=policy.controls,
        waiver=waiver,
    )


def _body(
    when: dt.datetime,
    *,
    environment: str | None,
    resources: Sequence[Resource],
    findings: Sequence[Finding] = (),
    problems: Sequence[InputProblem] = (),
    source: Source = "ci",
    actor: str | None = "alice",
    commit: str | None = None,
    expired: Sequence[AppliedWaiver] = (),
    approval: str | None = None,
    ci: dict[str, str] | None = None,
    run_id: str | None = None,
    config_digest: str | None = None,
) -> dict[str, object]:
    decision = Decision(
        findings=tuple(findings),
        problems=tuple(problems),
        fail_on=Severity.HIGH,
        engine="opa",
        resources=len(resources),
        policies=len(POLICY_SET),
        environment=environment,
        expired_waivers=tuple(expired),
        approval=approval,
    )
    artifacts = [Artifact("k8s", {}, "deploy/app.yaml", 1, r) for r in resources]
    return build_record(
        decision,
        source=source,
        when=when,
        policies=POLICY_SET,
        artifacts=artifacts,
        bundle_digest="sha256:" + "ab" * 32,
        rollguard_version="0.1.0",
        change=ChangeIdentity(commit=commit, run_id=run_id, images=("registry.example.com/shop/web:1.4.2",), ci=ci),
        actor=actor,
        config_digest=config_digest,
    )


RBAC_MESSAGE = 'Role shop/deployer grants "escalate" on <secrets> | *all* namespaces'
RBAC_STAGING = 'Role shop/deployer grants "bind" on roles'
GITHUB_RUN = {"system": "github", "server_url": "https://github.com", "repository": "shop/web", "run_id": "7711"}
GITLAB_RUN = {
    "system": "gitlab",
    "project_url": "https://gitlab.example.com/shop/web",
    "pipeline_url": "https://gitlab.example.com/shop/web/-/pipelines/4242",
}
CONFIG_A = "sha256:" + "c1" * 32
CONFIG_B = "sha256:" + "c2" * 32


def synthetic_bodies() -> list[dict[str, object]]:
    """Six decisions: one before the period, four in it, one after."""
    day = lambda d, h: dt.datetime(2026, 11, d, h, tzinfo=UTC)  # noqa: E731
    return [
        _body(dt.datetime(2026, 10, 1, 9, tzinfo=UTC), environment="prod", resources=[WEB]),
        _body(
            day(24, 9),
            environment="prod",
            resources=[WEB, WORKER],
            commit="1111111",
            approval="CHG-1001",
            ci=GITHUB_RUN,
            run_id="github:7711",
            config_digest=CONFIG_A,
            findings=[
                _finding(READINESS, WEB, 'container "web" has no readinessProbe'),
                _finding(PDB_COVERAGE, WORKER, "no PodDisruptionBudget selects the pods", W1),
            ],
        ),
        # Passes: the rbac finding is medium, below the high threshold, so the Role goes through.
        _body(
            day(25, 10),
            environment="staging",
            resources=[WEB, ROLE],
            source="admission",
            actor="system:admin",
            config_digest=CONFIG_A,
            findings=[_finding(RBAC, ROLE, RBAC_STAGING)],
        ),
        _body(
            day(26, 8),
            environment="prod",
            resources=[WEB, PDB, ROLE],
            actor="bob",
            commit="3333333",
            approval="CHG-1002",
            ci=GITLAB_RUN,
            run_id="gitlab:99",
            config_digest=CONFIG_B,
            findings=[
                _finding(PDB_COVERAGE, PDB, "minAvailable is 100%: no pod can be evicted", W2),
                _finding(RBAC, ROLE, RBAC_MESSAGE),
            ],
            expired=[W2],
        ),
        _body(
            day(26, 9),
            environment="prod",
            resources=[],
            actor="=SUM(1+1)",  # a spreadsheet would run this cell as a formula
            problems=[InputProblem("deploy/bad.yaml", 3, "invalid YAML: mapping values are not allowed here")],
        ),
        _body(
            dt.datetime(2026, 12, 2, 9, tzinfo=UTC),
            environment="prod",
            resources=[WEB],
            findings=[_finding(READINESS, WEB, "after the period")],
        ),
    ]


@pytest.fixture
def synthetic_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with open_store(url) as store:
        for body in synthetic_bodies():
            # Recorded a minute after each decision, by a fixed clock, so the golden files hold still.
            recorded = dt.datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00")) + dt.timedelta(minutes=1)
            store.clock = lambda recorded=recorded: recorded
            store.append(body)
    return url


def synthetic_report(url: str, *, environment: str | None = None) -> Report:
    """The report as the CLI would build it, but with a fixed time and a store name fit for golden files."""
    with open_store(url, create=False) as store:
        records = list(store.records(since=SINCE, until=UNTIL, environment=environment))
        chain = store.verify()
    return build_report(
        records,
        chain=chain,
        store_url="postgresql://auditor:s3cret@db.internal:5432/rollguard",
        since=SINCE,
        until=UNTIL,
        environment=environment,
        now=NOW,
        rollguard_version="0.1.0",
        config_waivers=CONFIG_WAIVERS,
        config="rollguard.yaml",
    )


# --- the data model ---------------------------------------------------------------------------


def test_totals_trend_and_top_policies(synthetic_store: str) -> None:
    report = synthetic_report(synthetic_store)
    assert report.period.describe() == "2026-11-20 to 2026-11-26"
    assert report.store == "postgresql://auditor:***@db.internal:5432/rollguard"
    assert report.generated_at == "2026-11-30T12:00:00.000000Z"
    t = report.totals
    assert (t.decisions, t.passed, t.failed) == (4, 1, 3)
    # Unwaived: the readiness finding, the PDB finding whose waiver had expired, both rbac findings.
    assert (t.findings, t.blocking, t.waived_findings, t.passed_with_waivers) == (4, 2, 1, 0)
    assert dict(t.by_source) == {"admission": 1, "ci": 3}
    assert [(e.label, e.passed, e.failed) for e in report.environments] == [("prod", 0, 3), ("staging", 1, 0)]
    # Every day of the period is there, quiet ones too, so the chart shows the gaps.
    assert [(d.day, d.passed, d.failed) for d in report.daily] == [
        ("2026-11-20", 0, 0),
        ("2026-11-21", 0, 0),
        ("2026-11-22", 0, 0),
        ("2026-11-23", 0, 0),
        ("2026-11-24", 0, 1),
        ("2026-11-25", 1, 0),
        ("2026-11-26", 0, 2),
    ]
    assert [(e.label, e.passed, e.failed) for e in report.daily[6].environments] == [("prod", 0, 2), ("staging", 0, 0)]
    assert [(p.policy, p.blocking, p.findings, p.decisions) for p in report.top_policies] == [
        ("k8s.pdb_coverage", 1, 1, 1),
        ("k8s.readiness_probe", 1, 1, 1),
        ("k8s.rbac", 0, 2, 2),
    ]


def test_failed_and_waived_decisions_carry_their_findings(synthetic_store: str) -> None:
    report = synthetic_report(synthetic_store)
    assert [d.seq for d in report.decisions] == [2, 3, 4, 5]
    assert [d.seq for d in report.listed_decisions] == [2, 4, 5]  # 3 passed without a waiver
    first, second, third = report.listed_decisions
    assert (first.time, first.environment, first.actor, first.commit, first.verdict) == (
        "2026-11-24T09:00:00.000000Z",
        "prod",
        "alice",
        "1111111",
        "fail",
    )
    assert [(f.policy, f.effect, f.resource.display()) for f in first.findings] == [
        ("k8s.readiness_probe", "blocking", "Deployment shop/web"),
        ("k8s.pdb_coverage", "waived", "Deployment shop/worker"),
    ]
    assert first.findings[1].waiver is not None and first.findings[1].waiver.id == "W-1"
    assert [(f.policy, f.effect) for f in second.findings] == [
        ("k8s.pdb_coverage", "blocking"),  # its waiver had expired
        ("k8s.rbac", "below threshold"),
    ]
    assert third.exit_code == 2 and third.findings == ()
    assert third.errors == ("deploy/bad.yaml:3: invalid YAML: mapping values are not allowed here",)


def test_control_evidence_counts_each_outcome(synthetic_store: str) -> None:
    controls = {c.control: c for c in synthetic_report(synthetic_store).controls}
    assert list(controls) == ["CIS-K8S:5.1.1", "ISO27001:A.8.32", "SOC2:A1.2", "SOC2:CC8.1"]
    # Decision 2 (prod, failed) judged web and worker, 3 (staging, passed) web and the Role,
    # 4 (prod, failed) web, the PDB and the Role.
    # readiness_probe: web's finding in 2 was stopped with its change; worker (2), web (3) and
    # web (4) passed.
    # pdb_coverage: web (2, 3, 4) passed; the worker's finding was waived (2); the PDB's finding
    # (its waiver had expired) was stopped with decision 4.
    cc81 = controls["SOC2:CC8.1"]
    assert (cc81.title, cc81.framework) == ("Change management", "SOC 2 (AICPA Trust Services Criteria)")
    assert (cc81.passes, cc81.blocked, cc81.waived, cc81.fails) == (6, 2, 1, 0)
    assert (cc81.decisions, cc81.decisions_blocked, cc81.decisions_failed) == (3, 2, 0)
    # The gate stopped both bad changes: the control operated.
    assert cc81.result == "operating"
    assert [(p.policy, p.passes, p.blocked, p.waived, p.fails) for p in cc81.policies] == [
        ("k8s.pdb_coverage", 3, 1, 1, 0),
        ("k8s.readiness_probe", 3, 1, 0, 0),
    ]
    assert [(f.seq, f.policy, f.resource.display(), f.outcome, f.messages) for f in cc81.findings] == [
        (2, "k8s.pdb_coverage", "Deployment shop/worker", "waived", ("no PodDisruptionBudget selects the pods",)),
        (2, "k8s.readiness_probe", "Deployment shop/web", "blocked", ('container "web" has no readinessProbe',)),
        (
            4,
            "k8s.pdb_coverage",
            "PodDisruptionBudget shop/web",
            "blocked",
            ("minAvailable is 100%: no pod can be evicted",),
        ),
    ]
    iso = controls["ISO27001:A.8.32"]
    assert (iso.title, iso.passes, iso.blocked, iso.fails, [p.policy for p in iso.policies]) == (
        "Change management",
        3,
        1,
        0,
        ["k8s.readiness_probe"],
    )
    a12 = controls["SOC2:A1.2"]
    assert (a12.passes, a12.blocked, a12.waived, a12.fails, a12.result) == (3, 1, 1, 0, "operating")
    # The rbac findings are medium, below the high threshold: decision 3 passed, so its Role went
    # through as it was (an exception); decision 4 failed on other findings and stopped its Role too.
    cis = controls["CIS-K8S:5.1.1"]
    assert cis.title == "Ensure that the cluster-admin role is only used where required"
    assert (cis.passes, cis.blocked, cis.waived, cis.fails) == (0, 1, 0, 1)
    assert (cis.decisions, cis.decisions_blocked, cis.decisions_failed, cis.result) == (2, 1, 1, "exceptions")
    assert [(f.seq, f.verdict, f.outcome, f.messages) for f in cis.findings] == [
        (3, "pass", "failed", (RBAC_STAGING,)),
        (4, "fail", "blocked", (RBAC_MESSAGE,)),
    ]


def test_a_control_with_only_waived_findings_is_waived_not_passed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with open_store(url) as store:
        store.append(
            _body(
                dt.datetime(2026, 11, 24, tzinfo=UTC),
                environment="prod",
                resources=[ROLE],
                findings=[_finding(RBAC, ROLE, RBAC_MESSAGE, W1)],
            )
        )
        report = report_from_store(store, since=SINCE, until=UNTIL, environment=None, now=NOW, rollguard_version="x")
    cis = {c.control: c for c in report.controls}["CIS-K8S:5.1.1"]
    assert (cis.passes, cis.blocked, cis.waived, cis.fails, cis.result) == (0, 0, 1, 0, "waived")
    assert (report.totals.passed, report.totals.passed_with_waivers, report.totals.waived_findings) == (1, 1, 1)


def test_a_finding_on_a_live_object_is_a_failure_even_when_it_would_block(tmp_path: Path) -> None:
    """A cluster audit stops nothing: what it finds is already running."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with open_store(url) as store:
        store.append(
            _body(
                dt.datetime(2026, 11, 24, tzinfo=UTC),
                environment=None,
                resources=[WEB],
                source="audit",
                findings=[_finding(READINESS, WEB, 'container "web" has no readinessProbe')],
            )
        )
        report = report_from_store(store, since=SINCE, until=UNTIL, environment=None, now=NOW, rollguard_version="x")
    [finding] = report.decisions[0].findings
    assert finding.blocking  # at the record's threshold it would have failed a check
    cc81 = {c.control: c for c in report.controls}["SOC2:CC8.1"]
    assert (cc81.blocked, cc81.fails, cc81.result) == (0, 1, "exceptions")


def test_the_report_reads_every_store_backend(store_url: str) -> None:
    """The same log gives the same report on SQLite and on PostgreSQL (`store_url` runs both)."""
    with open_store(store_url) as store:
        for body in synthetic_bodies():
            store.append(body)
    report = synthetic_report(store_url)
    assert (report.totals.decisions, report.totals.failed, report.chain.ok, report.chain.records) == (4, 3, True, 6)
    assert {c.control: (c.passes, c.blocked, c.waived, c.fails) for c in report.controls}["SOC2:CC8.1"] == (6, 2, 1, 0)


def test_a_control_without_evaluations_is_listed_with_no_evidence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with open_store(url) as store:
        store.append(_body(dt.datetime(2026, 11, 24, tzinfo=UTC), environment="prod", resources=[WEB]))
        report = report_from_store(
            store, since=SINCE, until=UNTIL, environment=None, now=NOW, rollguard_version="0.1.0"
        )
    cis = {c.control: c for c in report.controls}["CIS-K8S:5.1.1"]
    assert (cis.passes, cis.fails, cis.decisions, [p.policy for p in cis.policies]) == (0, 0, 0, ["k8s.rbac"])
    assert cis.result == "no evidence"


def test_waivers_are_sorted_into_in_force_expiring_and_expired(synthetic_store: str) -> None:
    report = synthetic_report(synthetic_store)
    states = {w.id: w.state for w in report.waivers}
    assert states == {
        "W-1": "expiring",  # 10 days after the report's `now`
        "W-2": "expired_referenced",  # expired, and a finding of the period still points at it
        "W-3": "in_force",
        "W-4": "expired",  # only in the config, and no finding uses it
        "W-5": "in_force",
    }
    w1, w2 = (next(w for w in report.waivers if w.id == i) for i in ("W-1", "W-2"))
    assert (w1.days_left, w1.findings, w1.findings_expired, w1.decisions, w1.sources) == (
        10,
        1,
        0,
        1,
        ("config", "records"),
    )
    assert (w2.days_left, w2.findings, w2.findings_expired, w2.policies, w2.sources) == (
        -29,
        1,
        1,
        ("k8s.pdb_coverage",),
        ("records",),
    )
    assert [w.id for w in report.waivers_in("in_force")] == ["W-5", "W-3"]  # soonest expiry first


def test_environment_filter_applies_to_decisions_and_config_waivers(synthetic_store: str) -> None:
    report = synthetic_report(synthetic_store, environment="prod")
    assert report.environment == "prod"
    assert (report.totals.decisions, report.totals.passed, report.totals.failed) == (3, 0, 3)
    assert "W-5" not in {w.id for w in report.waivers}  # a staging-only waiver
    assert [e.label for e in report.environments] == ["prod"]


def test_a_period_without_decisions_is_reported_as_empty(synthetic_store: str) -> None:
    with open_store(synthetic_store, create=False) as store:
        report = report_from_store(
            store,
            since=dt.datetime(2025, 1, 1, tzinfo=UTC),
            until=dt.datetime(2025, 1, 3, tzinfo=UTC),
            environment=None,
            now=NOW,
            rollguard_version="0.1.0",
        )
    assert report.totals.decisions == 0 and report.chain.ok and report.chain.records == 6
    assert [(d.day, d.total) for d in report.daily] == []
    for name in REPORT_FORMATS:
        assert render_report(name, report)
    assert "No decisions in this period" in render_report("html", report)


def test_json_is_the_versioned_model(synthetic_store: str) -> None:
    document = json.loads(render_report("json", synthetic_report(synthetic_store)))
    assert document["version"] == 2
    assert document["totals"]["decisions"] == 4
    assert document["chain"]["ok"] is True and document["chain"]["records"] == 6
    cc81 = {c["control"]: c for c in document["controls"]}["SOC2:CC8.1"]
    assert (cc81["title"], cc81["passes"], cc81["blocked"], cc81["waived"], cc81["fails"]) == (
        "Change management",
        6,
        2,
        1,
        0,
    )
    assert [d["seq"] for d in document["decisions"]] == [2, 3, 4, 5]


def test_unreadable_records_are_a_store_error_naming_the_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with open_store(url) as store:
        store.append(_body(dt.datetime(2026, 11, 24, tzinfo=UTC), environment="prod", resources=[WEB]))
        store.append({"schema": 1, "time": "2026-11-25T00:00:00.000000Z", "source": "ci", "verdict": "pass"})
        with pytest.raises(StoreError, match=r"record 2: summary is missing"):
            report_from_store(store, since=SINCE, until=UNTIL, environment=None, now=NOW, rollguard_version="x")
        store.append(
            {
                "schema": 7,
                "time": "2026-11-26T00:00:00.000000Z",
                "source": "ci",
                "environment": "prod",
                "verdict": "pass",
            }
        )
        with pytest.raises(StoreError, match=r"record 3 has schema 7"):
            report_from_store(
                store,
                since=dt.datetime(2026, 11, 25, tzinfo=UTC),
                until=UNTIL,
                environment="prod",
                now=NOW,
                rollguard_version="x",
            )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///.rollguard/decisions.db", "sqlite:///.rollguard/decisions.db"),
        ("sqlite:////var/lib/rollguard/d.db", "sqlite:////var/lib/rollguard/d.db"),
        ("postgresql://audit:pw@db:5432/rg", "postgresql://audit:***@db:5432/rg"),
        ("postgresql://audit:p/w@rd@db/rg", "postgresql://audit:***@db/rg"),
        ("postgresql://db/rg?user=a&password=pw", "postgresql://db/rg?user=a&password=***"),
        ("postgresql://audit@db/rg", "postgresql://audit@db/rg"),
    ],
)
def test_store_passwords_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# --- formats ----------------------------------------------------------------------------------

EXTENSIONS = {"html": "html", "markdown": "md", "csv": "csv", "json": "json"}


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} missing; run with ROLLGUARD_UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"


def test_every_format_has_a_golden_extension() -> None:
    assert set(EXTENSIONS) == set(REPORT_FORMATS)


@pytest.mark.parametrize("name", sorted(REPORT_FORMATS))
def test_golden(synthetic_store: str, name: str) -> None:
    check_golden(f"report.{EXTENSIONS[name]}", render_report(name, synthetic_report(synthetic_store)))


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown report format 'pdf'"):
        render_report("pdf", None)  # type: ignore[arg-type]


def test_csv_has_one_row_per_decision_and_finding(synthetic_store: str) -> None:
    text = render_report("csv", synthetic_report(synthetic_store))
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [(r["record_seq"], r["policy"]) for r in records] == [
        ("2", "k8s.readiness_probe"),
        ("2", "k8s.pdb_coverage"),
        ("3", "k8s.rbac"),
        ("4", "k8s.pdb_coverage"),
        ("4", "k8s.rbac"),
        ("5", ""),  # a decision without findings still has its row
    ]
    assert records[1]["waiver_id"] == "W-1" and records[1]["waiver_status"] == "applied"
    assert records[1]["blocking"] == "false" and records[0]["blocking"] == "true"
    assert records[3]["waiver_status"] == "expired" and records[3]["resource_kind"] == "PodDisruptionBudget"
    assert records[4]["message"] == RBAC_MESSAGE and records[4]["controls"] == "CIS-K8S:5.1.1"
    assert records[2]["environment"] == "staging" and records[2]["source"] == "admission"
    assert all(records[5][c] == "" for c in COLUMNS[COLUMNS.index("policy") : COLUMNS.index("waiver_owner") + 1])
    assert records[5]["input_errors"] == "1" and records[5]["exit_code"] == "2"
    # Every row of a decision carries its evidence.
    evidence = ("approval", "commit_url", "run_url", "config_digest")
    assert [records[1][c] for c in evidence] == [
        "CHG-1001",
        "https://github.com/shop/web/commit/1111111",
        "https://github.com/shop/web/actions/runs/7711",
        CONFIG_A,
    ]
    assert [records[2][c] for c in evidence] == ["", "", "", CONFIG_A]
    assert [records[5][c] for c in (*evidence, "bundle_digest")] == ["", "", "", "", "sha256:" + "ab" * 32]
    assert records[5]["actor"] == "'=SUM(1+1)"  # never a formula in a spreadsheet


def test_csv_columns_are_documented() -> None:
    docs = POLICIES.parent / "docs"
    # The columns of the first release are described in compliance.md, those added since in audit-evidence.md.
    text = "".join((docs / name).read_text(encoding="utf-8") for name in ("compliance.md", "audit-evidence.md"))
    missing = [c for c in COLUMNS if f"`{c}`" not in text]
    assert not missing, f"docs/compliance.md and docs/audit-evidence.md do not describe the CSV columns {missing}"


def test_markdown_has_every_section_as_tables(synthetic_store: str) -> None:
    text = render_report("markdown", synthetic_report(synthetic_store))
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == [SECTIONS[k] for k in SECTION_ORDER]
    assert "| SOC2:CC8.1 | Change management | OPERATING | 2 | 6 | 2 | 1 | 0 | 3 |" in text
    assert "| CIS-K8S:5.1.1 | Ensure that the cluster-admin role is only used where required | EXCEPTIONS |" in text
    # Every decision of the period is in the register, passed ones too, with its evidence.
    assert (
        "| 2 | 2026-11-24T09:00:00.000000Z | prod | ci | FAIL (waivers) | CHG-1001 | alice "
        "| [1111111](https://github.com/shop/web/commit/1111111) "
        "| [github:7711](https://github.com/shop/web/actions/runs/7711) | sha256:c1c1c1c1c1c1 |"
    ) in text
    assert "| 3 | 2026-11-25T10:00:00.000000Z | staging | admission | PASS | — | system:admin | — | — |" in text
    assert "### Expired but still referenced (1)" in text and "### Expiring within 30 days (1)" in text
    assert "### Decision 4: FAIL · prod · 2026-11-26T08:00:00.000000Z" in text
    # Table cells cannot be broken by the text they hold.
    assert 'Role shop/deployer grants "escalate" on &lt;secrets&gt; \\| \\*all\\* namespaces' in text


def test_html_is_self_contained_and_escapes_what_it_shows(synthetic_store: str) -> None:
    page = render_report("html", synthetic_report(synthetic_store))
    # Besides the store it reports on (shown as text), the only URLs are the links to the
    # decisions' commits and CI runs: plain anchors, each shown twice (register and details).
    outside = sorted(set(re.findall(r'<a href="(https://[^"]+)" rel="noreferrer">', page)))
    assert outside == [
        "https://github.com/shop/web/actions/runs/7711",
        "https://github.com/shop/web/commit/1111111",
        "https://gitlab.example.com/shop/web/-/commit/3333333",
        "https://gitlab.example.com/shop/web/-/pipelines/4242",
    ]
    shown = re.findall(r"[a-z][a-z0-9+.-]*://", page)
    assert sorted(set(shown)) == ["https://", "postgresql://"] and shown.count("postgresql://") == 1
    assert len(re.findall(r"\bhref=\"(?!#)", page)) == len(re.findall(r"https://", page)) == 8
    assert "url(" not in page and "@import" not in page
    assert not re.search(r"<(script|link|img|iframe|object)\b", page)
    assert not re.search(r"\bsrc=", page)  # nothing is loaded from anywhere
    assert "&lt;secrets&gt;" in page and "<secrets>" not in page
    for key in SECTION_ORDER:
        assert f"<h2>{SECTIONS[key]}</h2>" in page
    assert page.count("<svg") == 2 and "@media print" in page and "break-before: page" in page


def test_written_reports_replace_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    write_report("new report\n", target)
    assert target.read_text() == "new report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    with pytest.raises(ConfigError, match="--output"):
        write_report("x", tmp_path / "missing" / "report.md")


# --- end to end: real gate decisions recorded by `rollguard check --record` -------------------

DEMO = FIXTURES / "demo"
CLEAN = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
DEMO_CONFIG = """\
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
    expires: 2027-03-31
  - id: WVR-200
    policy: k8s.hpa_consistency
    match: {kind: Deployment, namespace: shop, name: storefront}
    reason: The HPA takes over spec.replicas with the next release.
    owner: team-storefront
    expires: 2026-12-15
  - id: WVR-300
    policy: k8s.network_policy
    match: {kind: Deployment, namespace: shop, name: storefront}
    reason: Default-deny lands with the namespace migration.
    owner: team-platform
    expires: 2026-11-20
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def record(store: str, config: Path, path: Path, *, env: str, now: str, actor: str) -> None:
    result = run(
        "check",
        str(path),
        "--config",
        str(config),
        "--env",
        env,
        "--now",
        now,
        "--format",
        "json",
        "--record",
        "--store",
        store,
        "--actor",
        actor,
        "--commit",
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "--run-id",
        "github:7711",
    )
    assert result.exit_code in (0, 1), result.output


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Real decisions on the demo app and a clean app, recorded on different days."""
    base = tmp_path_factory.mktemp("demo-log")
    config = base / "rollguard.yaml"
    config.write_text(DEMO_CONFIG)
    store = f"sqlite:///{base / 'decisions.db'}"
    record(store, config, DEMO, env="prod", now="2026-10-15T09:00:00Z", actor="alice")  # before the period
    record(store, config, DEMO, env="prod", now="2026-11-24T09:00:00Z", actor="alice")
    record(store, config, DEMO, env="staging", now="2026-11-25T09:00:00Z", actor="bob")
    record(store, config, CLEAN, env="prod", now="2026-11-25T15:00:00Z", actor="carol")
    record(store, config, DEMO, env="prod", now="2026-11-26T09:00:00Z", actor="alice")
    return store, config


def demo_report(demo_log: tuple[str, Path], *, environment: str | None = None) -> Report:
    store, config = demo_log
    from rollguard.policy.config import load_config

    with open_store(store, create=False) as opened:
        return report_from_store(
            opened,
            since=SINCE,
            until=UNTIL,
            environment=environment,
            now=NOW,
            rollguard_version="0.1.0",
            config_waivers=load_config(config).waivers,
            config="rollguard.yaml",
        )


def test_report_of_real_gate_decisions(demo_log: tuple[str, Path]) -> None:
    report = demo_report(demo_log)
    t = report.totals
    # The staging run passes: staging fails only on critical findings.
    assert (t.decisions, t.passed, t.failed, dict(t.by_source)) == (4, 2, 2, {"ci": 4})
    assert [(d.seq, d.environment, d.verdict) for d in report.decisions] == [
        (2, "prod", "fail"),
        (3, "staging", "pass"),
        (4, "prod", "pass"),
        (5, "prod", "fail"),
    ]
    # 3 is listed although it passed: its findings point at waivers.
    assert [d.seq for d in report.listed_decisions] == [2, 3, 5]
    assert [d.seq for d in report.decisions if not d.findings] == [4]
    prod = report.listed_decisions[0]
    assert prod.actor == "alice" and prod.commit == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    assert prod.run_id == "github:7711"
    effects = {(f.policy, f.resource.kind): f.effect for f in prod.findings}
    assert effects[("k8s.image_registry", "Deployment")] == "waived"
    assert effects[("k8s.hpa_consistency", "Deployment")] == "waived"
    assert effects[("k8s.network_policy", "Deployment")] == "below threshold"  # WVR-300 had expired
    assert effects[("k8s.rolling_update", "Deployment")] == "blocking"
    assert effects[("k8s.pdb_coverage", "PodDisruptionBudget")] == "blocking"
    assert effects[("k8s.secret_env", "Deployment")] == "warn"
    # Both failing prod runs block on the same four findings; the staging run blocks on none.
    assert t.blocking == 8
    top = report.top_policies[0]
    assert (top.policy, top.blocking, top.findings, top.decisions) == ("k8s.pdb_coverage", 4, 6, 3)
    assert {w.id: w.state for w in report.waivers} == {
        "WVR-112": "in_force",
        "WVR-200": "expiring",
        "WVR-300": "expired_referenced",
    }
    wvr300 = next(w for w in report.waivers if w.id == "WVR-300")
    assert (wvr300.findings, wvr300.findings_expired, wvr300.decisions) == (3, 3, 3)


def test_soc2_change_management_evidence_from_real_decisions(demo_log: tuple[str, Path]) -> None:
    """ "Show me evidence for SOC 2 CC8.1": each outcome, per policy and per decision."""
    report = demo_report(demo_log)
    cc81 = {c.control: c for c in report.controls}["SOC2:CC8.1"]
    assert cc81.title == "Change management"
    bundle = load_bundle(POLICIES)
    expected_policies = sorted(p.id for p in bundle.policies if "SOC2:CC8.1" in p.controls)
    assert [p.policy for p in cc81.policies] == expected_policies
    by_policy = {p.policy: p for p in cc81.policies}

    def outcomes(policy: str) -> tuple[int, int, int, int]:
        row = by_policy[policy]
        return row.passes, row.blocked, row.waived, row.fails

    # The clean app (decision 4) passes rolling_update on its Deployment; the failing prod runs
    # (2 and 5) stopped the demo's Deployment; the staging run (3) let it through, since staging
    # fails only on critical findings: that one is an exception.
    assert outcomes("k8s.rolling_update") == (1, 2, 0, 1)
    # image_registry is waived on the demo's Deployment (three times), never counted as a pass.
    assert outcomes("k8s.image_registry") == (1, 0, 3, 0)
    # pdb_coverage finds the demo's Deployment and its PDB each time, and passes the clean app.
    assert outcomes("k8s.pdb_coverage") == (2, 4, 0, 2)
    assert (cc81.decisions, cc81.decisions_blocked, cc81.decisions_failed) == (4, 2, 1)
    assert cc81.result == "exceptions"  # the staging run let findings through
    assert cc81.passes == sum(p.passes for p in cc81.policies) and cc81.passes > cc81.fails
    listed = {(f.seq, f.policy, f.resource.display()): f.outcome for f in cc81.findings}
    assert listed[(2, "k8s.rolling_update", "Deployment shop/storefront")] == "blocked"
    assert listed[(3, "k8s.rolling_update", "Deployment shop/storefront")] == "failed"
    assert listed[(5, "k8s.pdb_coverage", "PodDisruptionBudget shop/storefront")] == "blocked"
    assert listed[(5, "k8s.image_registry", "Deployment shop/storefront")] == "waived"
    assert not any(f.seq == 4 for f in cc81.findings)
    # In prod alone every finding was stopped with its change: the control operated.
    prod = {c.control: c for c in demo_report(demo_log, environment="prod").controls}["SOC2:CC8.1"]
    assert (prod.fails, prod.blocked, prod.result) == (0, cc81.blocked, "operating") and cc81.blocked == 12


def test_cli_writes_every_format(demo_log: tuple[str, Path], tmp_path: Path) -> None:
    store, config = demo_log
    for name, ext in EXTENSIONS.items():
        out = tmp_path / f"report.{ext}"
        result = run(
            "audit",
            "report",
            "--store",
            store,
            "--since",
            "2026-11-20",
            "--until",
            "2026-11-26",
            "--env",
            "prod",
            "--config",
            str(config),
            "--format",
            name,
            "--output",
            str(out),
        )
        assert result.exit_code == 0, result.output
        assert f"wrote the {name} report of 3 decisions to {out}" in result.stderr
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["version"] == 2 and document["environment"] == "prod"
    assert document["period"] == {
        "since": "2026-11-20T00:00:00.000000Z",
        "until": "2026-11-27T00:00:00.000000Z",
        "note": None,
    }
    assert document["config"] == str(config)
    assert [d["seq"] for d in document["decisions"]] == [2, 4, 5]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert {r["record_seq"] for r in rows} == {"2", "4", "5"}
    assert "## Controls" in (tmp_path / "report.md").read_text()
    assert "<h2>Chain verification</h2>" in (tmp_path / "report.html").read_text()


def test_cli_prints_to_stdout_by_default(demo_log: tuple[str, Path]) -> None:
    result = run("audit", "report", "--store", demo_log[0], "--since", "2026-11-01", "--until", "2026-11-30")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!DOCTYPE html>") and "Chain intact: 5 records" in result.stdout


def test_tampered_store_shows_the_broken_chain(demo_log: tuple[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "tampered.db"
    shutil.copy(demo_log[0].removeprefix("sqlite:///"), path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER rollguard_decisions_no_update")
    # Someone turns a failed deployment into a passed one after the fact.
    conn.execute(
        'UPDATE rollguard_decisions SET body = replace(body, \'"verdict":"fail"\', \'"verdict":"pass"\') WHERE seq = 2'
    )
    conn.close()
    out = tmp_path / "report.md"
    args = ["audit", "report", "--store", f"sqlite:///{path}", "--since", "2026-11-01", "--until", "2026-11-30"]
    result = run(*args, "--format", "markdown", "--output", str(out))
    assert result.exit_code == 1
    assert "chain BROKEN at record 2: record 2 does not match its hash" in result.stderr
    text = out.read_text()
    assert "**Chain BROKEN at record 2: record 2 does not match its hash" in text
    assert "| result | BROKEN |" in text and "| broken at record | 2 |" in text
    page = run(*args, "--format", "html").stdout
    assert '<span class="badge broken">BROKEN</span>' in page and 'class="notice broken"' in page
    document = json.loads(run(*args, "--format", "json").stdout)
    assert document["chain"]["ok"] is False and document["chain"]["broken_at"] == 2


def test_a_store_without_its_head_is_reported_broken(demo_log: tuple[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "headless.db"
    shutil.copy(demo_log[0].removeprefix("sqlite:///"), path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DELETE FROM rollguard_chain_head")
    conn.close()
    args = ["audit", "report", "--store", f"sqlite:///{path}", "--since", "2026-11-01", "--until", "2026-11-30"]
    result = run(*args, "--format", "markdown")
    assert result.exit_code == 1
    assert "rollguard: chain BROKEN: the chain head is missing (its row was deleted)" in result.stderr
    assert "**Chain BROKEN: the chain head is missing (its row was deleted): the chain reads intact up to record 5" in (
        result.stdout
    )
    assert "| head | missing |" in result.stdout
    page = run(*args, "--format", "html").stdout
    assert '<tr><th scope="row">Head</th><td>missing</td></tr>' in page
    chain = json.loads(run(*args, "--format", "json").stdout)["chain"]
    assert (chain["ok"], chain["head_seq"], chain["head_hash"], chain["broken_at"]) == (False, None, None, None)


def test_the_report_shows_when_each_decision_was_recorded(synthetic_store: str) -> None:
    report = synthetic_report(synthetic_store)
    assert [(d.time, d.recorded_at) for d in report.decisions][:2] == [
        ("2026-11-24T09:00:00.000000Z", "2026-11-24T09:01:00.000000Z"),
        ("2026-11-25T10:00:00.000000Z", "2026-11-25T10:01:00.000000Z"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-11-01", "--until", "2026-11-30"], "no decision log here: "),
        (["--since", "November", "--until", "2026-11-30"], "--since 'November' is not an ISO 8601 date"),
        (["--since", "2026-11-30", "--until", "2026-11-01"], "--until 2026-11-01 is not after --since 2026-11-30"),
    ],
)
def test_cli_errors_are_one_line_with_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "report.html"
    result = run("audit", "report", "--store", f"sqlite:///{tmp_path / 'none.db'}", *args, "--output", str(out))
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # never a partial report


def test_cli_bad_config_exits_2(demo_log: tuple[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "rollguard.yaml"
    bad.write_text("version: 1\nwaivers:\n  - id: W\n    policy: k8s.rbac\n")
    result = run(
        "audit",
        "report",
        "--store",
        demo_log[0],
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-30",
        "--config",
        str(bad),
    )
    assert result.exit_code == 2 and f"{bad}:3: waivers.0:" in result.stderr


def test_cli_format_choices_come_from_the_registry() -> None:
    result = CliRunner().invoke(
        main, ["audit", "report", "--since", "2026-11-01", "--until", "2026-11-02", "--format", "pdf"]
    )
    assert result.exit_code == 2 and "html" in result.output and "csv" in result.output


# --- the policy pack's control mapping ---------------------------------------------------------


def test_every_policy_maps_to_at_least_one_control() -> None:
    bundle = load_bundle(POLICIES)
    unmapped = [p.id for p in bundle.policies if not p.controls]
    assert not unmapped, f"policies without custom.controls in METADATA: {unmapped}"
    assert all(":" in c for p in bundle.policies for c in p.controls), "control ids read FRAMEWORK:ID"


def test_committed_controls_table_is_current() -> None:
    bundle = load_bundle(POLICIES)
    committed = POLICIES.parent / "docs" / "policies" / "controls.md"
    assert committed.read_text(encoding="utf-8") == controls_page(bundle), (
        "docs/policies/controls.md is stale: run `make docs`"
    )
    assert "| `SOC2:CC8.1` | SOC2 | " in committed.read_text(encoding="utf-8")
    compliance = (POLICIES.parent / "docs" / "compliance.md").read_text(encoding="utf-8")
    assert compliance_block(bundle) in compliance, "the control table in docs/compliance.md is stale: run `make docs`"
    assert "k8s.readiness_probe" in controls_map(bundle)["SOC2:CC8.1"]


# --- the HTML in a real browser ---------------------------------------------------------------


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with everything that could reach the network switched off."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        str(CHROMIUM),
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    """Messages the page wrote to its console (errors included), from Chromium's log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture
def browser() -> Iterator[None]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (Debian package chromium; `make test` installs it)")
    yield


@pytest.mark.usefixtures("browser")
def test_console_check_catches_a_page_error(tmp_path: Path) -> None:
    """The check below would notice a broken page: a console error is seen."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><title>x</title><script>console.error("rollguard-check-" + 42)</script>')
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert any("rollguard-check-42" in line for line in console_messages(result.stderr)), result.stderr


@pytest.mark.usefixtures("browser")
def test_html_report_renders_in_chromium(synthetic_store: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report("html", synthetic_report(synthetic_store)), encoding="utf-8")

    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert console_messages(dom.stderr) == []
    headings = re.findall(r"<h2>(.*?)</h2>", dom.stdout)
    assert headings == [
        "Summary",
        "Daily trend",
        "Top failing policies",
        "Decisions",
        "Failed and waived decisions",
        "Waivers",
        "Controls",
        "Chain verification",
    ]
    assert dom.stdout.count("<svg") == 2 and "Chain intact: 6 records" in dom.stdout

    png = tmp_path / "report.png"
    shot = chromium(tmp_path, "--window-size=1100,1800", f"--screenshot={png}", page.as_uri())
    assert shot.returncode == 0, shot.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1100, 1800)

    pdf = tmp_path / "report.pdf"
    printed = chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    assert printed.returncode == 0, printed.stderr
    document = pdf.read_bytes()
    assert document.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", document))
    # Eight sections, each starting on a new page when printed.
    assert pages >= 8, f"{pages} pages"
