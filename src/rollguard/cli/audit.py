"""`rollguard audit`: the decision log, audit reports and live-cluster audits."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rollguard.cli.options import (
    config_option,
    context_option,
    engine_option,
    env_option,
    fail,
    found_config,
    kubeconfig_option,
    make_engine,
    policies_option,
    policy_bundle,
    record_option,
    store_option,
    text_or_json_option,
)
from rollguard.errors import ConfigError, RollguardError
from rollguard.formats import FORMATS, format_choices, render
from rollguard.policy.config import load_config

if TYPE_CHECKING:
    from rollguard.audit import cluster as live
    from rollguard.gate import Gate

report_output_option = click.option(
    "--output", default="-", show_default=True, help="File to write the report to (`-` for stdout)."
)


@click.group()
def audit() -> None:
    """The decision log, audit reports and live-cluster audits."""


@audit.command("verify")
@store_option
@click.option(
    "--expect-head",
    metavar="HASH",
    default=None,
    help="A chain head kept elsewhere (from `check --record`): fail unless that record is still in the chain.",
)
@click.option(
    "--expect-count",
    metavar="N",
    type=click.IntRange(min=0),
    default=None,
    help="Fail unless the chain still holds at least N records.",
)
@text_or_json_option
def audit_verify(store: str, expect_head: str | None, expect_count: int | None, fmt: str) -> None:
    """Walk the hash chain; exit 1 at the first broken link, a missing log or a lost anchor, 2 when unreadable."""
    from rollguard.audit.store import Anchor, ChainReport, NoDecisionLog, open_store

    try:
        anchor = Anchor.parse(head=expect_head, count=expect_count)
        try:
            with open_store(store, create=False) as opened:
                report = opened.verify(anchor)
        except NoDecisionLog as exc:
            report = ChainReport.no_log(str(exc))
    except RollguardError as exc:
        fail(exc)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(report.describe())
        if not report.ok and report.last_intact is not None:
            head = f"{report.head.seq} {report.head.hash}" if report.head is not None else "missing"
            click.echo(
                f"({report.records} records read; last intact record {report.last_intact.seq} "
                f"{report.last_intact.hash}; stored head {head})"
            )
    sys.exit(0 if report.ok else 1)


@audit.command("log")
@store_option
@click.option("--since", "since_text", default=None, help="First day or time (ISO 8601, UTC), inclusive.")
@click.option("--until", "until_text", default=None, help="Last day (inclusive) or time (exclusive), ISO 8601, UTC.")
@env_option(help="Only decisions for this environment.")
@text_or_json_option
def audit_log(store: str, since_text: str | None, until_text: str | None, environment: str | None, fmt: str) -> None:
    """List recorded decisions, oldest first."""
    from rollguard.audit.store import open_store

    try:
        since, until = parse_period(since_text, until_text)
        with open_store(store, create=False) as opened:
            records = list(opened.records(since=since, until=until, environment=environment))
    except RollguardError as exc:
        fail(exc)
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in records], indent=2))
        return
    for r in records:
        body = r.body
        summary = body.get("summary") or {}
        click.echo(
            f"{r.seq:>6}  {r.time[:19]}Z  {r.source:<9}  {r.environment or '-':<8}  {r.verdict:<4}  "
            f"{summary.get('findings', 0):>3} findings  {summary.get('waived', 0):>2} waived  "
            f"{body.get('actor') or '-'}  {r.hash[:12]}"
        )


def _report_formats() -> list[str]:
    # Imported here, like every audit module, so commands that never report stay quick to start.
    from rollguard.audit.render import REPORT_FORMATS

    return list(REPORT_FORMATS)


@audit.command("report")
@store_option
@click.option("--since", "since_text", required=True, help="First day or time (ISO 8601, UTC), inclusive.")
@click.option("--until", "until_text", required=True, help="Last day (inclusive) or time (exclusive), ISO 8601, UTC.")
@env_option(help="Only decisions for this environment.")
@config_option(help="rollguard.yaml whose waivers are reported too, beside those the decisions point at.")
@click.option("--format", "fmt", type=click.Choice(_report_formats()), default="html", show_default=True)
@report_output_option
def audit_report(
    store: str,
    since_text: str,
    until_text: str,
    environment: str | None,
    config_path: Path | None,
    fmt: str,
    output: str,
) -> None:
    """Report a period's decisions for auditors: trends, failures, waivers, control evidence, chain check.

    Exits 1 when the hash chain is broken (the report says where), 2 when the store or an option is unusable.
    """
    from rollguard.audit.recording import rollguard_version
    from rollguard.audit.render import render_report, write_report
    from rollguard.audit.report_build import report_from_store
    from rollguard.audit.store import open_store

    try:
        since, until = parse_period(since_text, until_text)
        config = load_config(config_path) if config_path is not None else None
        with open_store(store, create=False) as opened:
            report = report_from_store(
                opened,
                since=since,
                until=until,
                environment=environment,
                now=dt.datetime.now(dt.timezone.utc),
                rollguard_version=rollguard_version(),
                config_waivers=config.waivers if config is not None else (),
                config=str(config_path) if config_path is not None else None,
            )
        text = render_report(fmt, report)
        if output != "-":
            write_report(text, Path(output))
    except RollguardError as exc:
        fail(exc)
    if output == "-":
        click.echo(text, nl=False)
    else:
        click.echo(f"rollguard: wrote the {fmt} report of {report.totals.decisions} decisions to {output}", err=True)
    if not report.chain.ok:
        where = f" at record {report.chain.broken_at}" if report.chain.broken_at is not None else ""
        click.echo(f"rollguard: chain BROKEN{where}: {report.chain.problem}", err=True)
        sys.exit(1)


@audit.command("cluster")
@kubeconfig_option
@context_option
@click.option("-n", "--namespace", default=None, help="Audit one namespace (default: every namespace).")
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="Audit every namespace and the cluster-scoped objects (the default)."
)
@click.option("--kinds", default=None, help="Comma-separated kinds to judge (default: every kind a policy judges).")
@click.option(
    "--include-owned", is_flag=True, help="Also judge objects a controller owns (a Deployment's ReplicaSets and Pods)."
)
@policies_option
@config_option()
@env_option()
@engine_option
@record_option
@store_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(format_choices("audit cluster")),
    default="text",
    show_default=True,
    help="Output format; policyreport writes wgpolicyk8s.io/v1alpha2 PolicyReports (YAML).",
)
@report_output_option
@click.option(
    "--page-size",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Objects per list call, and about how many are judged per engine call.",
)
def audit_cluster(
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    kinds: str | None,
    include_owned: bool,
    policies: Path | None,
    config_path: Path | None,
    environment: str | None,
    engine: str,
    record: bool,
    store: str,
    fmt: str,
    output: str,
    page_size: int,
) -> None:
    """Judge the live objects of a cluster with the same policies as `check`; exit 0/1/2/3."""
    import tempfile

    from rollguard.audit import cluster as live
    from rollguard.gate import Gate

    if namespace and all_namespaces:
        raise click.UsageError("--namespace and --all-namespaces exclude each other")
    try:
        config = found_config(config_path)
        settings = config.resolve(environment)
        gate = Gate(
            bundle=policy_bundle(policies),
            engine=make_engine(engine),
            settings=settings,
            now=dt.datetime.now(dt.timezone.utc),
            domains=frozenset({"k8s"}),  # live objects, one by one: no migrations or whole-change rules
        )
        scope = live.AuditScope(
            namespace=namespace, kinds=live.parse_kinds(kinds), page_size=page_size, include_owned=include_owned
        )
        chosen = FORMATS[fmt]
        # A batch-fed format (PolicyReports) is spooled and written out only once the whole audit succeeded.
        with (
            live.connect(kubeconfig=kubeconfig, context=context) as cluster,
            tempfile.TemporaryFile("w+", encoding="utf-8") as spool,
        ):
            writer = chosen.writer(spool, policies=gate.policies, now=gate.now) if chosen.writer else None
            report = live.audit_cluster(cluster, gate, scope, writer=writer, keep_resources=record)
            if record:
                _record_audit(report, gate=gate, store=store, namespace=namespace)
            spool.seek(0)
            if chosen.render is not None:
                spool.write(render(fmt, report.decision, color=output == "-" and sys.stdout.isatty()))
                spool.seek(0)
            if output == "-":
                shutil.copyfileobj(spool, sys.stdout)
            else:
                with open(output, "w", encoding="utf-8") as target:
                    shutil.copyfileobj(spool, target)
    except RollguardError as exc:
        fail(exc)
    click.echo(f"rollguard: {report.stats.describe()}", err=True)
    sys.exit(report.decision.exit_code())


def _record_audit(report: live.AuditReport, *, gate: Gate, store: str, namespace: str | None) -> None:
    from rollguard.audit.record import ci_identity
    from rollguard.audit.recording import record_decision, recorded_line

    _, run_id, actor = ci_identity()
    stored = record_decision(
        store,
        report.decision,
        gate=gate,
        artifacts=(),
        source="audit",
        when=gate.now,
        actor=actor,
        run_id=run_id,
        resources=report.resources,
        images=report.images,
        description=f"live audit of {f'namespace {namespace}' if namespace else 'all namespaces'} ({report.stats.cluster})",
    )
    click.echo(recorded_line(stored, store), err=True)


def parse_period(since: str | None, until: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`--since`/`--until` as UTC times; a bare `--until` date includes that whole day."""
    start = _parse_day_or_time("--since", since, end_of_day=False) if since else None
    end = _parse_day_or_time("--until", until, end_of_day=True) if until else None
    if start and end and end <= start:
        raise ConfigError(f"--until {until} is not after --since {since}")
    return start, end


def _parse_day_or_time(option: str, value: str, *, end_of_day: bool) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)
            return moment + dt.timedelta(days=1) if end_of_day else moment
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not an ISO 8601 date or time (e.g. 2026-11-01)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
