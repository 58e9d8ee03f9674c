"""The `rollguard` command line: thin click commands over the gate, policies and formats."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from rollguard.audit.store import DEFAULT_STORE
from rollguard.engine import ENGINE_CHOICES, create_engine, resolve_engine_name
from rollguard.errors import ConfigError, EngineError, InputError, PolicyError, RollguardError
from rollguard.formats import FORMATS, render
from rollguard.model import EXIT_ERROR, EXIT_INPUT, Severity
from rollguard.policy.bundle import PolicyBundle, default_policy_dir, load_bundle
from rollguard.policy.config import find_config, load_config

if TYPE_CHECKING:
    from rollguard import parallel

SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def _fail(exc: RollguardError) -> NoReturn:
    click.echo(f"rollguard: {exc}", err=True)
    code = EXIT_ERROR if isinstance(exc, (PolicyError, EngineError)) else EXIT_INPUT
    sys.exit(code)


def _bundle(policies: Path | None) -> PolicyBundle:
    return load_bundle(policies if policies is not None else default_policy_dir())


def _parse_now(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now {value!r} is not an ISO 8601 time (e.g. 2026-11-26T12:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


engine_option = click.option(
    "--engine",
    type=click.Choice(ENGINE_CHOICES),
    default="auto",
    show_default=True,
    help="Rego engine: real OPA in-process, regorus, or auto (OPA when installed).",
)
store_option = click.option(
    "--store",
    default=DEFAULT_STORE,
    show_default=True,
    envvar="ROLLGUARD_STORE",
    help="Decision store URL: sqlite:///path.db or postgresql://user@host/db (env ROLLGUARD_STORE).",
)
policies_option = click.option(
    "--policies",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Policy directory (default: the policies shipped with rollguard).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """rollguard: a policy gate for safe rolling deployments."""


@main.command()
@engine_option
def version(engine: str) -> None:
    """Print rollguard's version and the engine that would be used."""
    from importlib import metadata

    click.echo(f"rollguard {metadata.version('rollguard')}")
    try:
        name = resolve_engine_name(engine)
        versions = create_engine(name).versions()
    except RollguardError as exc:
        _fail(exc)
    click.echo(f"engine: {name} (" + ", ".join(f"{k} {v}" for k, v in versions.items()) + ")")


def _check_jobs(value: str) -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise click.BadParameter("use a positive number or 'auto'")
    return value


def _kustomize(directory: str) -> tuple[str, str]:
    kubectl = shutil.which("kubectl")
    kustomize = shutil.which("kustomize")
    if kubectl:
        cmd = [kubectl, "kustomize", directory]
    elif kustomize:
        cmd = [kustomize, "build", directory]
    else:
        raise InputError(
            "--kustomize needs kubectl or kustomize on PATH; install one, or render the overlay yourself and pass the output",
            file=directory,
        )
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise InputError("kustomize did not finish within 120 s", file=directory) from exc
    if proc.returncode != 0:
        raise InputError(f"kustomize failed: {proc.stderr.strip() or proc.returncode}", file=directory)
    return f"{directory} (kustomize)", proc.stdout


@main.command()
@click.argument("paths", nargs=-1)
@policies_option
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="rollguard.yaml (default: found upward from the current directory).",
)
@click.option(
    "--env", "environment", default=None, help="Environment whose overrides apply (from `environments:` in the config)."
)
@engine_option
@click.option("--format", "formats", multiple=True, type=click.Choice(list(FORMATS)), help="Output format; repeatable.")
@click.option(
    "--output", "outputs", multiple=True, help="File for the format in the same position (`-` for stdout); repeatable."
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Lowest severity that fails the check (default: config, else high).",
)
@click.option(
    "--kustomize",
    "kustomize_dirs",
    multiple=True,
    help="Render a kustomization with `kubectl kustomize` and judge the result.",
)
@click.option("--now", "now_text", default=None, help="Decision time (ISO 8601) for waiver expiry; default: now.")
@click.option("--color/--no-color", default=None, help="Colour the text output (default: only on a terminal).")
@click.option(
    "--jobs",
    default="auto",
    show_default=True,
    callback=lambda _ctx, _param, value: _check_jobs(value),
    help="Processes to judge with; auto starts more only for large inputs.",
)
@click.option("--record", is_flag=True, help="Append the decision to the hash-chained decision store.")
@store_option
@click.option("--actor", default=None, help="Who deploys (default: from the CI environment, else the login name).")
@click.option("--commit", default=None, help="Commit being deployed (default: from the CI environment or git).")
@click.option("--run-id", default=None, help="Pipeline run id (default: from the CI environment).")
def check(
    paths: Sequence[str],
    policies: Path | None,
    config_path: Path | None,
    environment: str | None,
    engine: str,
    formats: Sequence[str],
    outputs: Sequence[str],
    fail_on: str | None,
    kustomize_dirs: Sequence[str],
    now_text: str | None,
    color: bool | None,
    jobs: str,
    record: bool,
    store: str,
    actor: str | None,
    commit: str | None,
    run_id: str | None,
) -> None:
    """Judge manifests (files, directories, `-` for stdin) and exit 0/1/2/3."""
    from rollguard import parallel

    if not paths and not kustomize_dirs:
        raise click.UsageError("give at least one file, directory or `-`, or --kustomize DIR")
    formats = list(formats) or ["text"]
    if len(outputs) > len(formats):
        raise click.UsageError("more --output values than --format values; pair each --output with a --format")
    try:
        config = load_config(config_path or find_config(Path.cwd()))
        settings = config.resolve(environment, fail_on=Severity.parse(fail_on) if fail_on else None)
        extra = [_kustomize(d) for d in kustomize_dirs]
        if "-" in paths:  # workers cannot read this process's stdin: pass the text along
            extra.append(("<stdin>", sys.stdin.read()))
        job = parallel.Job(
            policy_dir=policies if policies is not None else default_policy_dir(),
            settings=settings,
            engine=resolve_engine_name(engine),
            now=_parse_now(now_text),
            paths=tuple(p for p in paths if p != "-"),
            extra=tuple(extra),
        )
        workers = parallel.auto_jobs(job) if jobs == "auto" else int(jobs)
        judgement = parallel.judge(job, jobs=workers)
        decision = judgement.decision
    except RollguardError as exc:
        _fail(exc)
    for i, name in enumerate(formats):
        target = outputs[i] if i < len(outputs) else "-"
        if target == "-":
            use_color = sys.stdout.isatty() if color is None else color
            click.echo(render(name, decision, color=use_color), nl=False)
        else:
            Path(target).write_text(render(name, decision, color=False), encoding="utf-8")
    if record:
        # After the report, so a store that cannot be written still leaves the findings visible;
        # the check then fails (exit 2): a decision that must be on record and is not, is no pass.
        try:
            _record_check(judgement, store=store, actor=actor, commit=commit, run_id=run_id)
        except RollguardError as exc:
            _fail(exc)
    sys.exit(decision.exit_code())


def _record_check(
    judgement: parallel.Judgement, *, store: str, actor: str | None, commit: str | None, run_id: str | None
) -> None:
    from rollguard.audit.record import ci_identity
    from rollguard.audit.recording import record_decision

    env_commit, env_run, env_actor = ci_identity()
    stored = record_decision(
        store,
        judgement.decision,
        gate=judgement.gate,
        artifacts=[a for a in judgement.change.artifacts if a.kind == "k8s"],
        source="ci",
        when=judgement.gate.now,
        actor=actor or env_actor,
        commit=commit or env_commit,
        run_id=run_id or env_run,
    )
    click.echo(f"rollguard: recorded decision {stored.seq} ({stored.hash[:16]}) in {store}", err=True)


@main.group()
def policy() -> None:
    """List, test and document policies."""


@policy.command("list")
@policies_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policy_list(policies: Path | None, fmt: str) -> None:
    """List the policy catalogue read from METADATA."""
    try:
        bundle = _bundle(policies)
    except RollguardError as exc:
        _fail(exc)
    if fmt == "json":
        click.echo(json.dumps([p.to_json() for p in bundle.policies], indent=2))
        return
    width = max((len(p.id) for p in bundle.policies), default=2)
    click.echo(f"{'ID':<{width}}  {'SEVERITY':<8}  TITLE")
    for p in bundle.policies:
        click.echo(f"{p.id:<{width}}  {p.severity.label:<8}  {p.title}")


@policy.command("test")
@policies_option
@engine_option
@click.option("--run", "match", default=None, help="Only tests whose `package.rule` contains this text.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the time of each test.")
def policy_test(policies: Path | None, engine: str, match: str | None, verbose: bool) -> None:
    """Run every `test_*` rule of every `*_test.rego` file, like `opa test`."""
    from rollguard.policy.testing import run_tests

    try:
        bundle = _bundle(policies)
        eng = create_engine(engine)
        results = run_tests(bundle, eng, match=match)
    except RollguardError as exc:
        _fail(exc)
    for r in results:
        mark = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[r.outcome]
        timing = f" ({r.seconds * 1000:.1f} ms)" if verbose else ""
        extra = f": {r.message}" if r.message else ""
        click.echo(f"{mark:5} {r.package}.{r.name}  {r.file}:{r.line}{timing}{extra}")
    failed = sum(1 for r in results if not r.passed)
    click.echo(f"{len(results) - failed} passed, {failed} failed  (engine {eng.name})")
    if not results:
        click.echo("no tests found", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(1 if failed else 0)


@policy.command("doc")
@policies_option
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=Path("docs/policies"), show_default=True
)
def policy_doc(policies: Path | None, out: Path) -> None:
    """Write one Markdown page per policy (and an index) from METADATA."""
    from rollguard.policy.docs import write_docs

    try:
        bundle = _bundle(policies)
        written = write_docs(bundle, out)
    except RollguardError as exc:
        _fail(exc)
    click.echo(f"wrote {len(written)} pages to {out}")


@main.group()
def audit() -> None:
    """The decision log, audit reports and live-cluster audits."""


@audit.command("verify")
@store_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def audit_verify(store: str, fmt: str) -> None:
    """Walk the hash chain; exit 1 at the first broken link, 2 when the store cannot be read."""
    from rollguard.audit.store import open_store

    try:
        with open_store(store, create=False) as opened:
            report = opened.verify()
    except RollguardError as exc:
        _fail(exc)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    elif report.ok:
        click.echo(f"chain intact: {report.records} records, head {report.head.seq} {report.head.hash}")
    else:
        click.echo(f"chain BROKEN at record {report.broken_at}: {report.problem}")
        click.echo(f"({report.records} records read; stored head {report.head.seq} {report.head.hash})")
    sys.exit(0 if report.ok else 1)


@audit.command("log")
@store_option
@click.option("--since", "since_text", default=None, help="First day or time (ISO 8601, UTC), inclusive.")
@click.option("--until", "until_text", default=None, help="Last day (inclusive) or time (exclusive), ISO 8601, UTC.")
@click.option("--env", "environment", default=None, help="Only decisions for this environment.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def audit_log(store: str, since_text: str | None, until_text: str | None, environment: str | None, fmt: str) -> None:
    """List recorded decisions, oldest first."""
    from rollguard.audit.store import open_store

    try:
        since, until = parse_period(since_text, until_text)
        with open_store(store, create=False) as opened:
            records = list(opened.records(since=since, until=until, environment=environment))
    except RollguardError as exc:
        _fail(exc)
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


if __name__ == "__main__":  # pragma: no cover
    main()
