"""`rollguard check`: judge manifests and migrations, report, record, and exit 0/1/2/3."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rollguard.cli.options import (
    color_option,
    config_option,
    engine_option,
    engine_options,
    env_option,
    fail,
    fail_on_option,
    found_config,
    migration_format_option,
    pending_changes,
    pending_options,
    policies_option,
    record_option,
    store_option,
)
from rollguard.engine import resolve_engine_name
from rollguard.errors import ConfigError, InputError, RollguardError
from rollguard.formats import format_choices, render
from rollguard.model import Severity
from rollguard.policy.bundle import default_policy_dir
from rollguard.policy.config import Settings
from rollguard.releases import RELEASE_BY_HELP, check_release_by

if TYPE_CHECKING:
    from rollguard import parallel
    from rollguard.audit.record import StoredRecord
    from rollguard.model import Decision


def _parse_now(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now {value!r} is not an ISO 8601 time (e.g. 2026-11-26T12:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


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


@click.command()
@click.argument("paths", nargs=-1)
@policies_option
@config_option()
@env_option(help="Environment whose overrides apply (from `environments:` in the config).")
@engine_option
@click.option(
    "--format", "formats", multiple=True, type=click.Choice(format_choices("check")), help="Output format; repeatable."
)
@click.option(
    "--output", "outputs", multiple=True, help="File for the format in the same position (`-` for stdout); repeatable."
)
@fail_on_option
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
@color_option
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
@record_option
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
@click.option("--release-by", default="auto", show_default=True, metavar="HOW", help=RELEASE_BY_HELP)
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
    release_by: str = "auto",
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
        config = found_config(config_path)
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
            engine_options=tuple(sorted(engine_options().items())),
            migrations=MigrationOptions(
                tool=migration_format,
                dialect=dialect,
                include_down=include_down,
                pending=pending_changes(
                    paths, pending_from=pending_from, since_ref=since_ref, history_dsn=history_dsn, dsn_flag="--dsn"
                ),
            ),
            reading=ReadOptions(max_bytes=max_input_size, allow_empty=allow_empty),
            release_by=check_release_by(release_by),
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
        fail(exc)
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
        fail(not_recorded)
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
