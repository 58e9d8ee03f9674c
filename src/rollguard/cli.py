"""The `rollguard` command line: thin click commands over the gate, policies and formats."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from rollguard.audit.store import DEFAULT_STORE
from rollguard.engine import ENGINE_CHOICES, Engine, create_engine, resolve_engine_name
from rollguard.errors import ConfigError, EngineError, InputError, PolicyError, RollguardError
from rollguard.formats import FORMATS, format_choices, render
from rollguard.model import EXIT_ERROR, EXIT_INPUT, Severity
from rollguard.policy.bundle import PolicyBundle, default_policy_dir, load_bundle
from rollguard.policy.config import Config, Settings, find_config, load_config

if TYPE_CHECKING:
    from rollguard import parallel
    from rollguard.audit import cluster as live
    from rollguard.audit.record import StoredRecord
    from rollguard.gate import Gate
    from rollguard.inputs.pending import PendingSelection
    from rollguard.model import Decision

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


_OPA_META = "rollguard.opa_server"


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    ctx.meta.setdefault(_OPA_META, {})[str(param.name)] = value


def engine_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--engine`, plus `--opa-url`/`--opa-token` for the opa-server backend (read by `_engine_options`)."""
    command = click.option(
        "--opa-token",
        "opa_token",
        envvar="ROLLGUARD_OPA_TOKEN",
        default=None,
        expose_value=False,
        callback=_remember,
        help="Bearer token for --opa-url (env ROLLGUARD_OPA_TOKEN; prefer the env var).",
    )(command)
    command = click.option(
        "--opa-url",
        "opa_url",
        envvar="ROLLGUARD_OPA_URL",
        default=None,
        expose_value=False,
        callback=_remember,
        help="OPA server for --engine opa-server, e.g. http://127.0.0.1:8181 (env ROLLGUARD_OPA_URL).",
    )(command)
    return click.option(
        "--engine",
        type=click.Choice(ENGINE_CHOICES),
        default="auto",
        show_default=True,
        help="Rego engine: real OPA in-process, regorus, a running OPA server (opa-server, needs --opa-url), or auto (OPA when installed).",
    )(command)


def _engine_options() -> dict[str, Any]:
    """`opa_url`/`opa_token` given on the command line, for `create_engine`."""
    given = click.get_current_context().find_root().meta.get(_OPA_META, {})
    return {k: v for k, v in given.items() if v is not None}


def _create_engine(name: str) -> Engine:
    return create_engine(name, **_engine_options())


store_option = click.option(
    "--store",
    default=DEFAULT_STORE,
    show_default=True,
    envvar="ROLLGUARD_STORE",
    help="Decision store URL: sqlite:///path.db or postgresql://user@host/db (env ROLLGUARD_STORE).",
)


def config_option(
    help: str = "rollguard.yaml (default: found upward from the current directory).",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--config FILE`, passed to the command as `config_path`."""
    return click.option(
        "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None, help=help
    )


def _found_config(config_path: Path | None) -> Config:
    """The config given with --config, else the nearest rollguard.yaml upward, else the defaults."""
    return load_config(config_path or find_config(Path.cwd()))


migration_format_option = click.option(
    "--migration-format",
    type=click.Choice(["auto", "flyway", "golang-migrate", "numbered", "plain", "alembic", "django"]),
    default="auto",
    show_default=True,
    help="How .sql migrations are named and ordered; alembic/django read `alembic upgrade --sql` / `sqlmigrate` output.",
)

policies_option = click.option(
    "--policies",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Policy directory (default: the policies shipped with rollguard).",
)


def pending_options(*dsn_flags: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--pending-from`, `--since` and the history database (`dsn_flags`): which migrations have not run yet."""

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            *dsn_flags,
            "history_dsn",
            default=None,
            envvar="ROLLGUARD_HISTORY_DSN",
            help="Read which migrations ran from the tool's history table in this database, read-only "
            "(flyway_schema_history, schema_migrations, alembic_version, django_migrations; env ROLLGUARD_HISTORY_DSN).",
        )(command)
        command = click.option(
            "--since",
            "since_ref",
            metavar="GIT_REF",
            default=None,
            help="Migrations added or changed since this git ref (and untracked ones) have not run yet; the others have.",
        )(command)
        return click.option(
            "--pending-from",
            metavar="VERSION",
            default=None,
            help="The first migration that has not run yet; earlier ones have (only tables of pending files count as new).",
        )(command)

    return add


def _pending(
    paths: Sequence[str], *, pending_from: str | None, since_ref: str | None, history_dsn: str | None, dsn_flag: str
) -> PendingSelection | None:
    """The pending selection the options give; files for --since are the .sql inputs, walked only when needed."""
    from rollguard.inputs import iter_input_files
    from rollguard.inputs.pending import select_pending

    sql = (
        path for _, path in iter_input_files([p for p in paths if p != "-"]) if path and path.suffix.lower() == ".sql"
    )
    return select_pending(pending_from=pending_from, since=since_ref, dsn=history_dsn, files=sql, dsn_option=dsn_flag)


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
        versions = _create_engine(name).versions()
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
    # `--` ends the options: a directory named `-o...` is still a directory.
    if kubectl:
        cmd = [kubectl, "kustomize", "--", directory]
    elif kustomize:
        cmd = [kustomize, "build", "--", directory]
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
@config_option()
@click.option(
    "--env", "environment", default=None, help="Environment whose overrides apply (from `environments:` in the config)."
)
@engine_option
@click.option(
    "--format", "formats", multiple=True, type=click.Choice(format_choices("check")), help="Output format; repeatable."
)
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
@click.option(
    "--now",
    "now_text",
    default=None,
    help="Decision time (ISO 8601) for waiver expiry and deployment windows; default: now.",
)
@click.option("--color/--no-color", default=None, help="Colour the text output (default: only on a terminal).")
@click.option(
    "--jobs",
    default="auto",
    show_default=True,
    callback=lambda _ctx, _param, value: _check_jobs(value),
    help="Processes to judge with; auto starts more only for large inputs.",
)
@migration_format_option
@click.option(
    "--dialect", type=click.Choice(["postgres", "mysql"]), default="postgres", show_default=True, help="SQL dialect."
)
@click.option("--include-down", is_flag=True, help="Also judge golang-migrate .down.sql files.")
@pending_options("--dsn", "--history-dsn")
@click.option("--record", is_flag=True, help="Append the decision to the hash-chained decision store.")
@store_option
@click.option("--actor", default=None, help="Who deploys (default: from the CI environment, else the login name).")
@click.option("--commit", default=None, help="Commit being deployed (default: from the CI environment or git).")
@click.option("--run-id", default=None, help="Pipeline run id (default: from the CI environment).")
@click.option(
    "--scan-images", is_flag=True, help="Scan every image the manifests deploy with Trivy and judge the reports."
)
@click.option(
    "--trivy", "trivy_path", default=None, help="Trivy executable for --scan-images (default: trivy on PATH)."
)
@click.option("--with-checkov", is_flag=True, help="Also run Checkov on the inputs; its failed checks become findings.")
@click.option("--checkov", "checkov_path", default=None, help="Checkov executable (default: checkov on PATH).")
@click.option(
    "--approval", default=None, help="Change-approval reference (e.g. CHG-1234) for governance.change_approval."
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Pass when an input holds nothing to judge (an empty file, stdin or folder) instead of exit 2.",
)
@click.option(
    "--max-input-size",
    default="64MiB",
    show_default=True,
    callback=lambda _ctx, _param, value: _byte_size(value),
    help="Largest input file read; a larger one is an input error (exit 2). Units: KiB, MiB, GiB.",
)
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
    migration_format: str,
    dialect: str,
    include_down: bool,
    pending_from: str | None,
    since_ref: str | None,
    history_dsn: str | None,
    record: bool,
    store: str,
    actor: str | None,
    commit: str | None,
    run_id: str | None,
    scan_images: bool = False,
    trivy_path: str | None = None,
    with_checkov: bool = False,
    checkov_path: str | None = None,
    approval: str | None = None,
    allow_empty: bool = False,
    max_input_size: int = 64 * 1024 * 1024,
) -> None:
    """Judge manifests and migrations (files, directories, `-` for stdin) and exit 0/1/2/3."""
    from rollguard import parallel
    from rollguard.inputs import MigrationOptions, ReadOptions, read_input
    from rollguard.model import InputProblem

    if not paths and not kustomize_dirs:
        raise click.UsageError("give at least one file, directory or `-`, or --kustomize DIR")
    formats = list(formats) or ["text"]
    if len(outputs) > len(formats):
        raise click.UsageError("more --output values than --format values; pair each --output with a --format")
    try:
        config = _found_config(config_path)
        settings = config.resolve(environment, fail_on=Severity.parse(fail_on) if fail_on else None)
        settings = _governance_settings(settings, approval=approval, store=store if _store_given(record) else None)
        extra = [_kustomize(d) for d in kustomize_dirs]
        read_problems: list[InputProblem] = []
        if "-" in paths:  # workers cannot read this process's stdin: pass the text along
            text, problem = read_input("<stdin>", None, max_bytes=max_input_size)
            if text is not None:
                extra.append(("<stdin>", text))
            if problem is not None:
                read_problems.append(problem)
        if scan_images:
            from rollguard.scanners.trivy import scan_change_images

            extra.extend(scan_change_images([p for p in paths if p != "-"], extra, trivy=trivy_path))
        job = parallel.Job(
            policy_dir=policies if policies is not None else default_policy_dir(),
            settings=settings,
            engine=resolve_engine_name(engine),
            now=_parse_now(now_text),
            paths=tuple(p for p in paths if p != "-"),
            extra=tuple(extra),
            engine_options=tuple(sorted(_engine_options().items())),
            migrations=MigrationOptions(
                tool=migration_format,
                dialect=dialect,
                include_down=include_down,
                pending=_pending(
                    paths, pending_from=pending_from, since_ref=since_ref, history_dsn=history_dsn, dsn_flag="--dsn"
                ),
            ),
            reading=ReadOptions(max_bytes=max_input_size, allow_empty=allow_empty),
            problems=tuple(read_problems),
        )
        workers = parallel.auto_jobs(job) if jobs == "auto" else int(jobs)
        if workers > 1 and job.engine == "opa-server":
            raise click.UsageError("--engine opa-server judges in one process; drop --jobs or use --jobs 1")
        judgement = parallel.judge(job, jobs=workers)
        if with_checkov:
            judgement = _add_checkov(judgement, paths=job.paths, extra=extra, executable=checkov_path)
        decision = judgement.decision
    except RollguardError as exc:
        _fail(exc)
    # Recorded before the report is written, so the JSON report can name the record and the
    # chain head to anchor. A store that cannot be written still leaves the findings visible,
    # and the check then fails (exit 2): a decision that must be on record and is not, is no pass.
    recorded: StoredRecord | None = None
    not_recorded: RollguardError | None = None
    if record:
        try:
            recorded = _record_check(judgement, store=store, actor=actor, commit=commit, run_id=run_id)
        except RollguardError as exc:
            not_recorded = exc
    for i, name in enumerate(formats):
        target = outputs[i] if i < len(outputs) else "-"
        use_color = (sys.stdout.isatty() if color is None else color) if target == "-" else False
        text = _check_report(name, decision, color=use_color, recorded=recorded, store=store)
        if target == "-":
            click.echo(text, nl=False)
        else:
            Path(target).write_text(text, encoding="utf-8")
    if not_recorded is not None:
        _fail(not_recorded)
    if recorded is not None:
        from rollguard.audit.recording import recorded_line

        click.echo(recorded_line(recorded, store), err=True)
    sys.exit(decision.exit_code())


def _check_report(name: str, decision: Decision, *, color: bool, recorded: StoredRecord | None, store: str) -> str:
    """One output of `check`; the JSON one names the record and chain head when the decision was recorded."""
    if name == "json" and recorded is not None:
        from rollguard.audit.recording import recorded_json
        from rollguard.formats import json_format

        return json_format.render(decision, extra={"record": recorded_json(recorded, store)})
    return render(name, decision, color=color)


_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2}
_SIZE_UNITS |= {"g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def _byte_size(value: str) -> int:
    """`64MiB`, `500kB` or a plain number of bytes."""
    import re

    match = re.fullmatch(r"\s*([0-9]+)\s*([a-zA-Z]*)\s*", value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS or int(match.group(1)) == 0:
        raise click.BadParameter(f"{value!r} is not a size such as 64MiB, 500kB or 1048576")
    return int(match.group(1)) * _SIZE_UNITS[unit]


def _store_given(record: bool) -> bool:
    """Whether the check has a decision store: `--store` or ROLLGUARD_STORE given, or `--record`."""
    source = click.get_current_context().get_parameter_source("store")
    return record or source not in (None, click.core.ParameterSource.DEFAULT)


def _governance_settings(settings: Settings, *, approval: str | None, store: str | None) -> Settings:
    """`settings` with this run's approval reference and, with an environment and a store, its history."""
    from dataclasses import replace

    history = None
    if store is not None and settings.environment is not None:
        from rollguard.governance.history import read_history

        history = read_history(store, environment=settings.environment, previous=settings.previous)
    return replace(settings, approval=approval.strip() if approval and approval.strip() else None, history=history)


def _add_checkov(
    judgement: parallel.Judgement, *, paths: Sequence[str], extra: Sequence[tuple[str, str]], executable: str | None
) -> parallel.Judgement:
    """The judgement with Checkov's failed checks on the same inputs added to its decision."""
    from dataclasses import replace

    from rollguard.scanners.checkov import run_checkov

    change = judgement.change
    found = run_checkov(paths, extra=extra, artifacts=change.artifacts, executable=executable)
    return replace(judgement, decision=judgement.gate.add_findings(judgement.decision, change, found))


def _record_check(
    judgement: parallel.Judgement, *, store: str, actor: str | None, commit: str | None, run_id: str | None
) -> StoredRecord:
    from rollguard.audit.record import ci_identity
    from rollguard.audit.recording import record_decision

    env_commit, env_run, env_actor = ci_identity()
    return record_decision(
        store,
        judgement.decision,
        gate=judgement.gate,
        artifacts=[*judgement.change.artifacts, *filter(None, [judgement.decision.change_request])],
        source="ci",
        when=judgement.gate.now,
        actor=actor or env_actor,
        commit=commit or env_commit,
        run_id=run_id or env_run,
    )


@main.command()
@policies_option
@config_option(help="rollguard.yaml.")
@click.option("--env", "environment", default=None, help="Environment whose overrides apply.")
@engine_option
@click.option("--cert", required=True, type=click.Path(dir_okay=False), help="Serving certificate (PEM).")
@click.option("--key", required=True, type=click.Path(dir_okay=False), help="Its private key (PEM).")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535), help="HTTPS port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--store", default=None, envvar="ROLLGUARD_STORE", help="Record every decision in this store (URL).")
@click.option(
    "--failure-mode",
    type=click.Choice(["closed", "open"]),
    default=None,
    help="Answer when a request cannot be judged (default: config, else closed).",
)
@click.option(
    "--namespace",
    envvar="POD_NAMESPACE",
    default=None,
    help="rollguard's own namespace, always exempt (env POD_NAMESPACE).",
)
@click.option(
    "--sync", "sync", default="", help="Kinds to keep in memory from the cluster, e.g. PodDisruptionBudget,Service."
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="Kubeconfig for --sync.")
@click.option("--context", default=None, help="Kubeconfig context for --sync.")
@click.option(
    "--inventory",
    "inventory",
    multiple=True,
    help="Manifests the cluster is known to hold, as a fixed inventory instead of --sync; repeatable.",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has for the TLS handshake, then for a request's headers.",
)
@click.option(
    "--body-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has to send a request's body.",
)
@click.option(
    "--keep-alive-timeout",
    default=5,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds an idle connection is kept open between requests.",
)
@click.option(
    "--max-connections",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Connections one worker serves at once; more get HTTP 503.",
)
@click.option(
    "--evaluators",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Evaluation processes per worker; one killed past its deadline is replaced.",
)
@click.option(
    "--evaluator-memory",
    default=160,
    show_default=True,
    type=click.IntRange(0),
    help="MiB an evaluation process may use before it is killed and its request answered by the failure mode (0: no limit).",
)
def serve(
    policies: Path | None,
    config_path: Path | None,
    environment: str | None,
    engine: str,
    cert: str,
    key: str,
    host: str,
    port: int,
    workers: int,
    store: str | None,
    failure_mode: str | None,
    namespace: str | None,
    sync: str,
    kubeconfig: str | None,
    context: str | None,
    inventory: Sequence[str],
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: int,
    max_connections: int,
    evaluators: int,
    evaluator_memory: int,
) -> None:
    """Run the admission webhook over HTTPS: /validate, /mutate, /healthz, /readyz, /metrics."""
    from rollguard.webhook.evaluation import PoolOptions
    from rollguard.webhook.protocol import ConnectionLimits
    from rollguard.webhook.server import ServeOptions, check_startup
    from rollguard.webhook.server import serve as run_server

    options = ServeOptions(
        policy_dir=str(policies if policies is not None else default_policy_dir()),
        config_path=str(config_path) if config_path else None,
        environment=environment,
        engine=resolve_engine_name(engine),
        cert=cert,
        key=key,
        host=host,
        port=port,
        workers=workers,
        store=store,
        failure_mode="open" if failure_mode == "open" else "closed" if failure_mode else None,
        namespace=namespace,
        sync=tuple(k.strip() for k in sync.split(",") if k.strip()),
        kubeconfig=kubeconfig,
        context=context,
        inventory=tuple(inventory),
        engine_options=_engine_options(),
        connections=ConnectionLimits(
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            keep_alive_timeout=keep_alive_timeout,
            max_connections=max_connections,
        ),
        evaluation=PoolOptions(size=evaluators, memory_limit_mib=evaluator_memory),
    )
    try:
        check_startup(options)
        run_server(options)
    except RollguardError as exc:
        _fail(exc)


@main.group()
def policy() -> None:
    """List, test and document policies."""


@policy.command("list")
@policies_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policy_list(policies: Path | None, fmt: str) -> None:
    """List the policy catalogue read from METADATA."""
    try:
        bundle = load_bundle(policies if policies is not None else default_policy_dir(), require_policies=False)
    except RollguardError as exc:
        _fail(exc)
    if not bundle.policies:
        # An empty table would read as "nothing to worry about"; it means nothing is checked.
        where = (policies or bundle.root).as_posix()
        _fail(ConfigError(f"no policies in {where}; a policy is a .rego module in `package rollguard.<domain>.<name>`"))
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
        # Tests may cover libraries alone; a folder without tests is refused below instead.
        bundle = load_bundle(policies if policies is not None else default_policy_dir(), require_policies=False)
        eng = _create_engine(engine)
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
@click.option(
    "--compliance",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Also refresh the control table between the markers of this page (docs/compliance.md).",
)
def policy_doc(policies: Path | None, out: Path, compliance: Path | None) -> None:
    """Write one Markdown page per policy (and an index) from METADATA."""
    from rollguard.policy.docs import render_docs, update_compliance

    try:
        bundle = _bundle(policies)
        pages = render_docs(bundle)
        pages.write(out)
        if compliance is not None:
            update_compliance(compliance, bundle)
    except RollguardError as exc:
        _fail(exc)
    click.echo(f"wrote {len(pages)} pages to {out}")


@main.group()
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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
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
        _fail(exc)
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


def _report_formats() -> list[str]:
    # Imported here, like every audit module, so commands that never report stay quick to start.
    from rollguard.audit.render import REPORT_FORMATS

    return list(REPORT_FORMATS)


@audit.command("report")
@store_option
@click.option("--since", "since_text", required=True, help="First day or time (ISO 8601, UTC), inclusive.")
@click.option("--until", "until_text", required=True, help="Last day (inclusive) or time (exclusive), ISO 8601, UTC.")
@click.option("--env", "environment", default=None, help="Only decisions for this environment.")
@config_option(help="rollguard.yaml whose waivers are reported too, beside those the decisions point at.")
@click.option("--format", "fmt", type=click.Choice(_report_formats()), default="html", show_default=True)
@click.option("--output", default="-", show_default=True, help="File to write the report to (`-` for stdout).")
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
        _fail(exc)
    if output == "-":
        click.echo(text, nl=False)
    else:
        click.echo(f"rollguard: wrote the {fmt} report of {report.totals.decisions} decisions to {output}", err=True)
    if not report.chain.ok:
        where = f" at record {report.chain.broken_at}" if report.chain.broken_at is not None else ""
        click.echo(f"rollguard: chain BROKEN{where}: {report.chain.problem}", err=True)
        sys.exit(1)


@main.group()
def webhook() -> None:
    """Deploy the admission webhook: certificates, webhook configurations and the policy folder."""


@webhook.command("certs")
@click.option("--service", required=True, help="Name of the webhook's Service.")
@click.option("--namespace", required=True, help="Namespace of the Service.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory for ca.crt, ca.key, tls.crt and tls.key.",
)
@click.option(
    "--days", type=click.IntRange(min=1), default=365, show_default=True, help="Validity of both certificates."
)
@click.option("--force", is_flag=True, help="Replace existing files (then regenerate the webhook manifest too).")
def webhook_certs(service: str, namespace: str, out: Path, days: int, force: bool) -> None:
    """Write a private CA and a serving certificate for the Service, readable by their owner only."""
    from rollguard.webhook.certs import issue_certificates, write_certificates

    try:
        certs = issue_certificates(service=service, namespace=namespace, days=days)
        written = write_certificates(certs, out, force=force)
    except RollguardError as exc:
        _fail(exc)
    click.echo(f"wrote {', '.join(p.name for p in written)} to {out}")


@webhook.command("manifest")
@click.option("--service", required=True, help="Name of the webhook's Service.")
@click.option("--namespace", required=True, help="Namespace of the Service (always exempt from admission).")
@click.option(
    "--ca",
    "ca_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory holding ca.crt from `rollguard webhook certs`.",
)
@click.option(
    "--failure-policy",
    type=click.Choice(["Fail", "Ignore"]),
    default="Fail",
    show_default=True,
    help="What the API server does when the webhook cannot answer: reject (Fail) or admit (Ignore).",
)
@click.option(
    "--timeout-seconds",
    type=click.IntRange(1, 30),
    default=5,
    show_default=True,
    help="How long the API server waits; more than the webhook's deadline (admission.deadline_seconds, 2 s).",
)
@config_option(
    help="rollguard.yaml: the selected policies decide the rules; admission.exempt_namespaces the exemptions."
)
@policies_option
def webhook_manifest(
    service: str,
    namespace: str,
    ca_dir: Path,
    failure_policy: str,
    timeout_seconds: int,
    config_path: Path | None,
    policies: Path | None,
) -> None:
    """Print the Validating- and MutatingWebhookConfiguration that send reviews to the Service."""
    from rollguard.webhook import manifest

    try:
        config = load_config(config_path)
        rules, unknown = manifest.admission_rules(manifest.judged_kinds(_bundle(policies), config))
        documents = manifest.webhook_configurations(
            service=service,
            namespace=namespace,
            ca_bundle=manifest.read_ca_bundle(ca_dir),
            rules=rules,
            exempt=manifest.exempt_namespaces(config, own_namespace=namespace),
            failure_policy=failure_policy,
            timeout_seconds=timeout_seconds,
            deadline_seconds=manifest.admission_deadline(config),
        )
    except RollguardError as exc:
        _fail(exc)
    if unknown:
        click.echo(
            f"rollguard: no rule for {', '.join(unknown)}: policies judge these kinds but their API group is unknown; "
            "add a rule for them to the printed configurations",
            err=True,
        )
    click.echo(manifest.render_yaml(documents), nl=False)


@webhook.command("policies")
@policies_option
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=Path("deploy/policies"), show_default=True
)
def webhook_policies(policies: Path | None, out: Path) -> None:
    """Write the policies flat into one folder, with the kustomization that turns it into a ConfigMap."""
    from rollguard.webhook.manifest import policy_folder

    try:
        files = policy_folder(_bundle(policies))
        files.write(out)
    except RollguardError as exc:
        _fail(exc)
    click.echo(f"wrote {len(files)} files to {out}")


kubeconfig_option = click.option(
    "--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)."
)
context_option = click.option("--context", default=None, help="kubeconfig context (default: its current-context).")


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
@click.option("--env", "environment", default=None, help="Environment whose overrides apply.")
@engine_option
@click.option("--record", is_flag=True, help="Append the decision to the hash-chained decision store.")
@store_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(format_choices("audit cluster")),
    default="text",
    show_default=True,
    help="Output format; policyreport writes wgpolicyk8s.io/v1alpha2 PolicyReports (YAML).",
)
@click.option("--output", default="-", show_default=True, help="File to write the report to (`-` for stdout).")
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
        config = _found_config(config_path)
        settings = config.resolve(environment)
        gate = Gate(
            bundle=_bundle(policies),
            engine=_create_engine(engine),
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
        _fail(exc)
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


@main.command()
@click.argument("paths", nargs=-1, required=True)
@kubeconfig_option
@context_option
@config_option(help="rollguard.yaml, whose `drift.ignore` lists JSON Pointers to leave out (default: found upward).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def drift(
    paths: Sequence[str], kubeconfig: str | None, context: str | None, config_path: Path | None, fmt: str
) -> None:
    """Show how live objects differ from manifests, as JSON Patches; exit 1 on drift, 2 on errors."""
    from rollguard.audit import drift as drifts
    from rollguard.audit.cluster import connect

    try:
        config = _found_config(config_path)
        change = drifts.load_desired(paths)
        with connect(kubeconfig=kubeconfig, context=context) as cluster:
            report = drifts.detect_drift(cluster, change, ignore=config.drift_ignore)
    except RollguardError as exc:
        _fail(exc)
    click.echo(report.render(fmt), nl=False)
    sys.exit(report.exit_code())


@main.group()
def gatekeeper() -> None:
    """Generate OPA Gatekeeper ConstraintTemplates, Constraints and sync config from the policies."""


@gatekeeper.command("build")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("gatekeeper"), show_default=True)
@policies_option
@config_option(help="rollguard.yaml whose selection, parameters and enforcement the constraints carry (default: none).")
@click.option("--env", "environment", default=None, help="Environment whose overrides apply (needs --config).")
@click.option(
    "--fixtures",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Fixtures for the samples and gator suites (default: fixtures/ beside the policy directory).",
)
def gatekeeper_build(
    out: Path, policies: Path | None, config_path: Path | None, environment: str | None, fixtures: Path | None
) -> None:
    """Write the Gatekeeper tree (templates, constraints, gator suites, sync config) to --out."""
    from rollguard.gatekeeper import build_tree, default_fixtures

    try:
        policy_dir = policies if policies is not None else default_policy_dir()
        # Only an explicit --config: the committed tree must not change with a rollguard.yaml nearby.
        settings = load_config(config_path).resolve(environment)
        files = build_tree(load_bundle(policy_dir), settings, fixtures=fixtures or default_fixtures(policy_dir))
        changes = files.write(out)
    except RollguardError as exc:
        _fail(exc)
    click.echo(f"wrote {len(changes.written)} and removed {len(changes.removed)} of {len(files)} files in {out}")


@main.group()
def migrate() -> None:
    """Prove what SQL migrations do by running them on a disposable PostgreSQL database."""


@migrate.command("verify")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--dsn",
    required=True,
    envvar="ROLLGUARD_SCRATCH_DSN",
    help="The disposable database, named explicitly: postgresql://user@host/DBNAME (env ROLLGUARD_SCRATCH_DSN).",
)
@click.option("--scratch", is_flag=True, help="Confirm that the --dsn database is disposable (required).")
@migration_format_option
@pending_options("--history-dsn")
@policies_option
@config_option()
@click.option("--env", "environment", default=None, help="Environment whose overrides apply.")
@engine_option
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(format_choices("migrate verify")),
    help="Output format; repeatable.",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Lowest severity that fails the check (default: config, else high).",
)
@click.option("--color/--no-color", default=None, help="Colour the text output (default: only on a terminal).")
def migrate_verify(
    paths: Sequence[str],
    dsn: str,
    scratch: bool,
    migration_format: str,
    pending_from: str | None,
    since_ref: str | None,
    history_dsn: str | None,
    policies: Path | None,
    config_path: Path | None,
    environment: str | None,
    engine: str,
    formats: Sequence[str],
    fail_on: str | None,
    color: bool | None,
) -> None:
    """Apply migrations to a disposable database (rolled back), judge what they really did; exit 0/1/2/3."""
    from rollguard.gate import Gate
    from rollguard.inputs import iter_input_files
    from rollguard.inputs.migration import load_migrations, read_sql_file
    from rollguard.migrate.verify import verify
    from rollguard.model import ChangeSet, InputProblem

    try:
        config = _found_config(config_path)
        settings = config.resolve(environment, fail_on=Severity.parse(fail_on) if fail_on else None)
        gate = Gate(
            bundle=_bundle(policies),
            engine=_create_engine(engine),
            settings=settings,
            now=dt.datetime.now(dt.timezone.utc),
        )
        sources: list[tuple[str, str]] = []
        problems: list[InputProblem] = []
        for name, path in iter_input_files(paths):
            if path is None:
                raise ConfigError("migrate verify reads migration files, not stdin; name the files or their directory")
            if path.suffix.lower() == ".sql":
                text = read_sql_file(path)
                if isinstance(text, InputProblem):
                    problems.append(text)
                else:
                    sources.append((name, text))
        if not sources and not problems:
            raise ConfigError(f"no .sql migrations in {', '.join(paths)}")
        pending = _pending(
            paths, pending_from=pending_from, since_ref=since_ref, history_dsn=history_dsn, dsn_flag="--history-dsn"
        )
        artifacts, unreadable = load_migrations(sources, tool=migration_format, pending=pending)
        verified, failed = verify(dsn, artifacts, scratch=scratch, sources=dict(sources))
        decision = gate.judge(ChangeSet(artifacts=tuple(verified), problems=(*problems, *unreadable, *failed)))
    except RollguardError as exc:
        _fail(exc)
    for name in list(formats) or ["text"]:
        click.echo(render(name, decision, color=sys.stdout.isatty() if color is None else color), nl=False)
    sys.exit(decision.exit_code())


@main.command("scan")
@click.argument("images", nargs=-1, required=True)
@click.option("--trivy", "trivy_path", default=None, help="Trivy executable (default: trivy on PATH).")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=1), help="Seconds per image.")
@click.option(
    "--output-dir",
    default=".",
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write one <image>.json report per image.",
)
def scan_command(images: Sequence[str], trivy_path: str | None, timeout: float, output_dir: Path) -> None:
    """Scan images with Trivy and write reports for `rollguard check`; exit 2 when a scan is unusable."""
    from rollguard.scanners.trivy import scan_images

    try:
        reports = scan_images(images, trivy=trivy_path, timeout=timeout, output_dir=output_dir)
    except RollguardError as exc:
        _fail(exc)
    problems = [p for r in reports for p in r.problems]
    for r in reports:
        counts = r.artifact.document["vulnerability_counts"] if r.artifact else {}
        summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "no vulnerabilities"
        click.echo(f"{r.image}: {summary} -> {r.name}")
    for p in problems:
        click.echo(f"rollguard: {p.display()}", err=True)
    sys.exit(EXIT_INPUT if problems else 0)


@main.group()
def plan() -> None:
    """Plan how a change rolls out."""


@plan.command("order")
@click.argument("paths", nargs=-1, required=True)
@config_option()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@migration_format_option
def plan_order_command(paths: Sequence[str], config_path: Path | None, fmt: str, migration_format: str) -> None:
    """Print the safe rollout order of a change: expand migrations, providers before consumers, contract
    migrations. Exit 2 on a dependency cycle or unreadable input."""
    from rollguard.inputs import MigrationOptions, load_change_set
    from rollguard.plan import plan_order, render_text

    try:
        config = _found_config(config_path)
        change = load_change_set(list(paths), migrations=MigrationOptions(tool=migration_format))
        result = plan_order(change, dependencies=config.dependencies)
    except RollguardError as exc:
        _fail(exc)
    click.echo(json.dumps(result.to_json(), indent=2) if fmt == "json" else render_text(result), nl=False)
    for p in result.problems:
        click.echo(f"rollguard: {p.display()}", err=True)
    sys.exit(EXIT_INPUT if result.problems else 0)


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
