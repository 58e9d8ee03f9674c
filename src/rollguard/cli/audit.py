"""`rollguard audit`: the decision log, audit reports and live-cluster audits."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rollguard.cli.options import (
    config_option,
    context_option,
    engine_option,
    env_option,
    fail,
    fail_on_option,
    found_config,
    kubeconfig_option,
    make_engine,
    policies_option,
    policy_bundle,
    record_option,
    report_options,
    report_targets,
    store_choice,
    store_option,
    write_reports,
)
from rollguard.errors import ConfigError, RollguardError
from rollguard.formats import FORMATS, format_choices, render

if TYPE_CHECKING:
    from rollguard.audit import cluster as live
    from rollguard.audit.record import StoredRecord
    from rollguard.audit.store import ChainReport
    from rollguard.gate import Gate


@click.group()
def audit() -> None:
    """The decision log, audit reports and live-cluster audits."""


def _reader_store(store: str, config_path: Path | None) -> str:
    """The store a reader opens: --store or ROLLGUARD_STORE, else rollguard.yaml's `store:`, else the
    default when it exists; a StoreError (exit 2) when there is none, never a new empty log."""
    source = click.get_current_context().get_parameter_source("store")
    if source not in (None, click.core.ParameterSource.DEFAULT):
        return store  # named on the command line: a missing log there is that store's problem
    return store_choice(store, found_config(config_path)).to_read()


@audit.command("verify")
@store_option
@config_option(help="rollguard.yaml whose `store:` names the store (default: found upward from here).")
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
@report_options(["text", "json"])
def audit_verify(
    store: str,
    config_path: Path | None,
    expect_head: str | None,
    expect_count: int | None,
    formats: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """Walk the hash chain; exit 1 at the first broken link, a missing log or a lost anchor, 2 when unreadable."""
    from rollguard.audit.store import Anchor, ChainReport, NoDecisionLog, open_store

    try:
        anchor = Anchor.parse(head=expect_head, count=expect_count)
        store = _reader_store(store, config_path)
        try:
            with open_store(store, create=False) as opened:
                report = opened.verify(anchor)
        except NoDecisionLog as exc:
            report = ChainReport.no_log(str(exc))
        write_reports(formats, outputs, lambda name, _colour: _chain_report(report, name))
    except RollguardError as exc:
        fail(exc)
    sys.exit(0 if report.ok else 1)


def _chain_report(report: ChainReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    lines = [report.describe()]
    if not report.ok and report.last_intact is not None:
        head = f"{report.head.seq} {report.head.hash}" if report.head is not None else "missing"
        lines.append(
            f"({report.records} records read; last intact record {report.last_intact.seq} "
            f"{report.last_intact.hash}; stored head {head})"
        )
    return "\n".join(lines) + "\n"


@audit.command("log")
@store_option
@config_option(help="rollguard.yaml whose `store:` names the store (default: found upward from here).")
@click.option("--since", "since_text", default=None, help="First day or time (ISO 8601, UTC), inclusive.")
@click.option("--until", "until_text", default=None, help="Last day (inclusive) or time (exclusive), ISO 8601, UTC.")
@env_option(help="Only decisions for this environment.")
@report_options(["text", "json"])
def audit_log(
    store: str,
    config_path: Path | None,
    since_text: str | None,
    until_text: str | None,
    environment: str | None,
    formats: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """List recorded decisions, oldest first."""
    from rollguard.audit.store import open_store

    try:
        since, until = parse_period(since_text, until_text)
        store = _reader_store(store, config_path)
        with open_store(store, create=False) as opened:
            records = list(opened.records(since=since, until=until, environment=environment))
        write_reports(formats, outputs, lambda name, _colour: _log_report(records, name))
    except RollguardError as exc:
        fail(exc)


def _log_report(records: Sequence[StoredRecord], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([r.to_json() for r in records], indent=2) + "\n"
    lines = []
    for r in records:
        body = r.body
        summary = body.get("summary") or {}
        lines.append(
            f"{r.seq:>6}  {r.time[:19]}Z  {r.source:<9}  {r.environment or '-':<8}  {r.verdict:<4}  "
            f"{summary.get('findings', 0):>3} findings  {summary.get('waived', 0):>2} waived  "
            f"{body.get('actor') or '-'}  {r.hash[:12]}"
        )
    return "".join(f"{line}\n" for line in lines)


def _report_formats() -> list[str]:
    # Imported here, like every audit module, so commands that never report stay quick to start.
    from rollguard.audit.render import REPORT_FORMATS

    return list(REPORT_FORMATS)


@audit.command("report")
@store_option
@click.option(
    "--since",
    "since_text",
    default=None,
    help="First day or time (ISO 8601, UTC), inclusive (default: 30 days before --until).",
)
@click.option(
    "--until",
    "until_text",
    default=None,
    help="Last day (inclusive) or time (exclusive), ISO 8601, UTC (default: today).",
)
@env_option(help="Only decisions for this environment.")
@config_option(
    help="rollguard.yaml whose waivers are reported too, and whose `store:` names the store "
    "(default: found upward from here)."
)
@report_options(_report_formats(), default="html")
def audit_report(
    store: str,
    since_text: str | None,
    until_text: str | None,
    environment: str | None,
    config_path: Path | None,
    formats: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """Report a period's decisions for auditors: every decision with its approval, commit, run and
    configuration, failures, waivers, control evidence with titles, and the chain check.

    The period defaults to the last 30 days. Exits 1 when the hash chain is broken (the report
    says where), 2 when the store or an option is unusable.
    """
    from rollguard.audit.recording import rollguard_version
    from rollguard.audit.render import render_report, write_report
    from rollguard.audit.report_build import report_from_store, report_period
    from rollguard.audit.store import open_store

    now = dt.datetime.now(dt.timezone.utc)
    try:
        since, until, note = report_period(*parse_period(since_text, until_text), now=now)
        config = found_config(config_path)
        url = store_choice(store, config).to_read()
        with open_store(url, create=False) as opened:
            report = report_from_store(
                opened,
                since=since,
                until=until,
                environment=environment,
                now=now,
                rollguard_version=rollguard_version(),
                config_waivers=config.waivers,
                config=str(config.path) if config.path is not None else None,
                period_note=note,
            )
        for fmt, output in report_targets(formats, outputs, default="html"):
            text = render_report(fmt, report)
            if output == "-":
                click.echo(text, nl=False)
                continue
            write_report(text, Path(output))
            click.echo(
                f"rollguard: wrote the {fmt} report of {report.totals.decisions} decisions to {output}", err=True
            )
    except RollguardError as exc:
        fail(exc)
    if not report.chain.ok:
        where = f" at record {report.chain.broken_at}" if report.chain.broken_at is not None else ""
        click.echo(f"rollguard: chain BROKEN{where}: {report.chain.problem}", err=True)
        sys.exit(1)


@audit.command("digest")
@policies_option
@config_option()
@env_option()
@fail_on_option
def audit_digest(policies: Path | None, config_path: Path | None, environment: str | None, fail_on: str | None) -> None:
    """Print the configuration digest a check with these options records (`config_digest`), and the bundle's.

    Matches a digest in an audit report with a version of rollguard.yaml (docs/audit-evidence.md).
    """
    from rollguard.audit.recording import config_digest
    from rollguard.model import Severity

    try:
        config = found_config(config_path)
        settings = config.resolve(environment, fail_on=Severity.parse(fail_on) if fail_on else None)
        bundle = policy_bundle(policies, config)
        settings.check(bundle)
        selected = [p for p in bundle.policies if settings.selects(p.id)]
        digest = config_digest(settings, selected)
    except RollguardError as exc:
        fail(exc)
    click.echo(f"config_digest {digest}")
    click.echo(f"bundle_digest sha256:{bundle.digest}")


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
@report_options(format_choices("audit cluster"))
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
    formats: Sequence[str],
    outputs: Sequence[str],
    page_size: int,
) -> None:
    """Judge the live objects of a cluster with the same policies as `check`; exit 0/1/2/3."""
    import tempfile

    from rollguard.audit import cluster as live
    from rollguard.gate import Gate

    if namespace and all_namespaces:
        raise click.UsageError("--namespace and --all-namespaces exclude each other")
    targets = report_targets(formats, outputs)
    fed = [fmt for fmt, _ in targets if FORMATS[fmt].writer is not None]
    if len(set(fed)) > 1:
        raise click.UsageError(f"one batch-written format per audit ({', '.join(sorted(set(fed)))} given)")
    try:
        config = found_config(config_path)
        settings = config.resolve(environment)
        gate = Gate(
            bundle=policy_bundle(policies, config),
            engine=make_engine(engine),
            settings=settings,
            now=dt.datetime.now(dt.timezone.utc),
            domains=frozenset({"k8s"}),  # live objects, one by one: no migrations or whole-change rules
        )
        scope = live.AuditScope(
            namespace=namespace, kinds=live.parse_kinds(kinds), page_size=page_size, include_owned=include_owned
        )
        # A batch-fed format (PolicyReports) is spooled and written out only once the whole audit succeeded.
        with (
            live.connect(kubeconfig=kubeconfig, context=context) as cluster,
            tempfile.TemporaryFile("w+", encoding="utf-8") as spool,
        ):
            batch = FORMATS[fed[0]].writer if fed else None
            writer = batch(spool, policies=gate.policies, now=gate.now) if batch is not None else None
            report = live.audit_cluster(cluster, gate, scope, writer=writer, keep_resources=record)
            if record:
                _record_audit(report, gate=gate, store=store_choice(store, config).url, namespace=namespace)

            for fmt, output in targets:
                if FORMATS[fmt].writer is None:
                    write_reports([fmt], [output], lambda name, colour: render(name, report.decision, color=colour))
                    continue
                spool.seek(0)  # streamed, not read whole: a large cluster's PolicyReports
                if output == "-":
                    shutil.copyfileobj(spool, sys.stdout)
                else:
                    try:
                        with open(output, "w", encoding="utf-8") as target:
                            shutil.copyfileobj(spool, target)
                    except OSError as exc:
                        raise ConfigError(f"cannot write the {fmt} report to {output}: {exc.strerror or exc}") from exc
    except RollguardError as exc:
        fail(exc)
    click.echo(f"rollguard: {report.stats.describe()}", err=True)
    sys.exit(report.decision.exit_code())


def _record_audit(report: live.AuditReport, *, gate: Gate, store: str, namespace: str | None) -> None:
    from rollguard.audit.record import ci_identity, ci_run
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
        ci=ci_run(),
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
