"""`rollguard check`: judge manifests and migrations, report, record, and exit 0/1/2/3."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    namespace_usage_option,
    parse_now,
    pending_changes,
    pending_options,
    policies_option,
    policy_sources,
    record_option,
    report_options,
    report_targets,
    store_choice,
    store_option,
    write_reports,
)
from rollguard.engine import resolve_engine_name
from rollguard.errors import RollguardError
from rollguard.formats import format_choices, render
from rollguard.model import Severity
from rollguard.policy.config import Settings
from rollguard.releases import RELEASE_BY_HELP, check_release_by

if TYPE_CHECKING:
    from rollguard import parallel
    from rollguard.audit.record import StoredRecord
    from rollguard.baseline import Baseline
    from rollguard.external import ExternalPolicies
    from rollguard.inputs.pending import UnchangedInputs
    from rollguard.model import Decision
    from rollguard.policy.config import Config


def _check_jobs(value: str) -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise click.BadParameter("use a positive number or 'auto'")
    return value


# `check`'s own options: its reports, its record and its baseline. `baseline create` takes every
# other one (`judging_params`) and judges with `judge`, so both judge a change alike.
CHECK_ONLY_OPTIONS = frozenset(
    {"formats", "outputs", "color", "record", "actor", "commit", "run_id", "baseline_path", "rollout_id"}
)


@dataclass(frozen=True)
class Judging:
    """What to judge and how: the values of `check`'s options but its own and `--store`."""

    paths: Sequence[str]
    policies: Path | None
    config_path: Path | None
    environment: str | None
    engine: str
    fail_on: str | None
    kustomize_dirs: Sequence[str]
    now_text: str | None
    jobs: str
    migration_format: str
    dialect: str
    include_down: bool
    pending_from: str | None
    since_ref: str | None
    history_dsn: str | None
    scan_images: bool
    trivy_path: str | None
    with_checkov: bool
    checkov_path: str | None
    approval: str | None
    allow_empty: bool
    max_input_size: int
    release_by: str
    gatekeeper_dirs: Sequence[Path]
    namespaces: Sequence[str]
    all_namespaces: bool
    data_dirs: Sequence[Path]
    combine: bool
    namespace_usage: Sequence[str]

    def external(self, config: Config) -> ExternalPolicies:
        """The Conftest and Gatekeeper options (with the config's `policies.gatekeeper`)."""
        from rollguard.external import DEFAULT_NAMESPACES, ExternalPolicies

        return ExternalPolicies(
            namespaces=None if self.all_namespaces else tuple(self.namespaces) or DEFAULT_NAMESPACES,
            data=tuple(self.data_dirs),
            combine=self.combine,
            gatekeeper=(*config.gatekeeper_paths, *self.gatekeeper_dirs),
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Judging:
        """The judging options among a command's parameters; at least one input is required."""
        judging = cls(**{f.name: params[f.name] for f in fields(cls)})
        if not judging.paths and not judging.kustomize_dirs:
            raise click.UsageError("give at least one file, directory or `-`, or --kustomize DIR")
        return judging


@dataclass(frozen=True)
class Judged:
    """A judged change, the config it was judged with and the decision store chosen (`store_choice`)."""

    config: Config
    store: str
    judgement: parallel.Judgement


@click.command()
@click.argument("paths", nargs=-1)
@policies_option
@config_option()
@env_option(help="Environment whose overrides apply (from `environments:` in the config).")
@engine_option
@report_options(format_choices("check"))
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
    "--rollout-id",
    default=None,
    metavar="ID",
    help="With --record and --env: record this decision, if it passes, as the start of rollout ID "
    "(finish it with `rollguard rollout finish`); governance.concurrent_rollouts reads open rollouts.",
)
@click.option(
    "--scan-images", is_flag=True, help="Scan every image the manifests deploy with Trivy and judge the reports."
)
@click.option(
    "--trivy", "trivy_path", default=None, help="Trivy executable for --scan-images (default: trivy on PATH)."
)
@click.option("--with-checkov", is_flag=True, help="Also run Checkov on the inputs; its failed checks become findings.")
@click.option("--checkov", "checkov_path", default=None, help="Checkov executable (default: checkov on PATH).")
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Baseline file (`rollguard baseline create`): the findings it holds are shown as baselined and do not fail.",
)
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
@click.option(
    "--gatekeeper",
    "gatekeeper_dirs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="Directory of Gatekeeper ConstraintTemplates and Constraints to judge the change with, as Gatekeeper would; repeatable.",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="Conftest: the package whose deny/violation/warn rules judge (default: main); repeatable.",
)
@click.option("--all-namespaces", is_flag=True, help="Conftest: judge with the rules of every package.")
@click.option(
    "--data",
    "data_dirs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="Conftest: YAML/JSON files (or folders of them) loaded under `data`, as `conftest --data`; repeatable.",
)
@click.option("--combine", is_flag=True, help="Conftest: judge all documents as one input, as `conftest --combine`.")
@namespace_usage_option
def check(
    formats: Sequence[str],
    outputs: Sequence[str],
    color: bool | None,
    record: bool,
    store: str,
    actor: str | None,
    commit: str | None,
    run_id: str | None,
    baseline_path: Path | None = None,
    rollout_id: str | None = None,
    **options: Any,
) -> None:
    """Judge manifests and migrations (files, directories, `-` for stdin) and exit 0/1/2/3."""
    from rollguard.baseline import read_baseline

    judging = Judging.from_params(options)
    if rollout_id is not None and (not record or judging.environment is None or not rollout_id.strip()):
        raise click.UsageError("--rollout-id records the start of a rollout: give a non-empty ID, --record and --env")
    report_targets(formats, outputs)  # a usage error before any work
    try:
        # Read before judging: a baseline that cannot be used fails at once, not after the run.
        baseline = read_baseline(baseline_path) if baseline_path is not None else None
        judged = judge(judging, store=store, record=record, rollout_id=rollout_id)
        store, judgement = judged.store, judged.judgement
        if baseline is not None:
            judgement = _with_baseline(judgement, baseline, max_age=judged.config.baseline_max_age)
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
            recorded = _record_check(
                judgement, store=store, actor=actor, commit=commit, run_id=run_id, rollout_id=rollout_id
            )
        except RollguardError as exc:
            not_recorded = exc
    try:
        write_reports(
            formats,
            outputs,
            lambda name, colour: _check_report(name, decision, color=colour, recorded=recorded, store=store),
            color=color,
        )
    except RollguardError as exc:
        fail(exc)
    if not_recorded is not None:
        fail(not_recorded)
    if recorded is not None:
        from rollguard.audit.recording import recorded_line

        click.echo(recorded_line(recorded, store), err=True)
    sys.exit(decision.exit_code())


def judging_params() -> list[click.Parameter]:
    """`check`'s parameters but its own (CHECK_ONLY_OPTIONS): those of a command that judges as it does."""
    return [p for p in check.params if p.name not in CHECK_ONLY_OPTIONS]


def judge(judging: Judging, *, store: str, record: bool, rollout_id: str | None = None) -> Judged:
    """Read and judge the change `judging` describes, as `check` does, Checkov's findings included.

    `store` is the `--store` given; `record` says the decision will be recorded into it;
    `rollout_id` is the rollout this check starts (not one that conflicts with it). Shared
    with `baseline create`, so a baseline holds exactly the findings a check reports.
    """
    from rollguard import parallel
    from rollguard.inputs import MigrationOptions, ReadOptions, read_input
    from rollguard.inputs.pending import unchanged_since
    from rollguard.inputs.render import kustomize
    from rollguard.model import InputProblem

    paths = judging.paths
    config = found_config(judging.config_path)
    settings = config.resolve(judging.environment, fail_on=Severity.parse(judging.fail_on) if judging.fail_on else None)
    chosen = store_choice(store, config)
    # A named store is read even when it cannot be (governance.promotion then says why); the
    # default one only when it exists or this check records into it.
    settings = _governance_settings(
        settings,
        approval=judging.approval,
        store=chosen.url if record or chosen.found else None,
        rollout_id=rollout_id,
    )
    extra = [kustomize(d) for d in judging.kustomize_dirs]
    read_problems: list[InputProblem] = []
    outside: tuple[Mapping[str, Any], ...] = ()
    if judging.namespace_usage:
        from rollguard.inputs.usage import read_namespace_usage

        outside, usage_problems = read_namespace_usage(judging.namespace_usage, max_bytes=judging.max_input_size)
        read_problems.extend(usage_problems)
    if "-" in paths:  # workers cannot read this process's stdin: pass the text along
        text, problem = read_input("<stdin>", None, max_bytes=judging.max_input_size)
        if text is not None:
            extra.append(("<stdin>", text))
        if problem is not None:
            read_problems.append(problem)
    if judging.scan_images:
        from rollguard.scanners.trivy import scan_change_images

        extra.extend(scan_change_images([p for p in paths if p != "-"], extra, trivy=judging.trivy_path))
    since_ref = judging.since_ref
    job = parallel.Job(
        policies=policy_sources(judging.policies, config),
        settings=settings,
        engine=resolve_engine_name(judging.engine),
        now=parse_now(judging.now_text),
        paths=tuple(p for p in paths if p != "-"),
        extra=tuple(extra),
        engine_options=tuple(sorted(engine_options().items())),
        migrations=MigrationOptions(
            tool=judging.migration_format,
            dialect=judging.dialect,
            include_down=judging.include_down,
            pending=pending_changes(
                paths,
                pending_from=judging.pending_from,
                since_ref=since_ref,
                history_dsn=judging.history_dsn,
                dsn_flag="--dsn",
            ),
        ),
        reading=ReadOptions(max_bytes=judging.max_input_size, allow_empty=judging.allow_empty),
        release_by=check_release_by(judging.release_by),
        problems=tuple(read_problems),
        unchanged=unchanged_since(since_ref, paths, kustomize=judging.kustomize_dirs)
        if since_ref is not None
        else None,
        outside=outside,
    )
    workers = parallel.auto_jobs(job) if judging.jobs == "auto" else int(judging.jobs)
    if workers > 1 and job.engine == "opa-server":
        raise click.UsageError("--engine opa-server judges in one process; drop --jobs or use --jobs 1")
    judgement = parallel.judge(job, jobs=workers)
    if judging.with_checkov:
        judgement = _add_checkov(
            judgement, paths=job.paths, extra=extra, executable=judging.checkov_path, unchanged=job.unchanged
        )
    external = judging.external(config)
    if judgement.gate.bundle.conftest_modules or external.gatekeeper or external.conftest_asked():
        from rollguard.external import judge_external

        judgement = judge_external(
            judgement,
            external,
            paths=job.paths,
            extra=extra,
            engine="auto" if job.engine == "opa-server" else job.engine,
            max_bytes=judging.max_input_size,
            unchanged=job.unchanged.names if job.unchanged is not None else frozenset(),
        )
    return Judged(config=config, store=chosen.url, judgement=judgement)


def _with_baseline(
    judgement: parallel.Judgement, baseline: Baseline, *, max_age: dt.timedelta | None
) -> parallel.Judgement:
    """The judgement with the findings `baseline` holds marked, and its entries no finding matches listed as fixed."""
    from dataclasses import replace

    from rollguard.baseline import apply_baseline

    return replace(
        judgement, decision=apply_baseline(judgement.decision, baseline, now=judgement.gate.now, max_age=max_age)
    )


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


def _governance_settings(
    settings: Settings, *, approval: str | None, store: str | None, rollout_id: str | None = None
) -> Settings:
    """`settings` with this run's approval reference and, with an environment and a store, its history
    (the open rollouts but `rollout_id`, the one this check starts)."""
    from dataclasses import replace

    history = None
    if store is not None and settings.environment is not None:
        from rollguard.governance.history import read_history

        history = read_history(
            store, environment=settings.environment, previous=settings.previous, rollout_id=rollout_id
        )
    return replace(settings, approval=approval.strip() if approval and approval.strip() else None, history=history)


def _add_checkov(
    judgement: parallel.Judgement,
    *,
    paths: Sequence[str],
    extra: Sequence[tuple[str, str]],
    executable: str | None,
    unchanged: UnchangedInputs | None = None,
) -> parallel.Judgement:
    """The judgement with Checkov's failed checks on the same inputs added to its decision (with `--since`,
    those about changed files only)."""
    from dataclasses import replace

    from rollguard.scanners.checkov import run_checkov

    change = judgement.change
    found = run_checkov(paths, extra=extra, artifacts=change.artifacts, executable=executable)
    if unchanged is not None:
        found = [f for f in found if f.file not in unchanged.names]
    return replace(judgement, decision=judgement.gate.add_findings(judgement.decision, change, found))


def _record_check(
    judgement: parallel.Judgement,
    *,
    store: str,
    actor: str | None,
    commit: str | None,
    run_id: str | None,
    rollout_id: str | None = None,
) -> StoredRecord:
    from rollguard.audit.record import ci_identity, ci_run
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
        ci=ci_run(),
        rollout=_rollout_start(judgement, rollout_id) if rollout_id is not None else None,
    )


def _rollout_start(judgement: parallel.Judgement, rollout_id: str) -> dict[str, Any] | None:
    """The `rollout` a passing decision starts: the change's workloads and its longest simulated rollout.

    A failing decision starts nothing (no rollout follows it), so it carries none.
    """
    from rollguard.governance.rollouts import rollout_of
    from rollguard.kube.workloads import workloads_of
    from rollguard.simulate import SimulationOptions
    from rollguard.simulate.change import policy_input

    decision, gate = judgement.decision, judgement.gate
    if decision.verdict != "pass" or gate.settings.environment is None:
        return None
    artifacts = judgement.change.artifacts
    simulated = policy_input(artifacts, options=SimulationOptions.from_config(gate.settings.simulation))
    durations = [s["duration_seconds"] for s in simulated if isinstance(s.get("duration_seconds"), int | float)]
    rollout = rollout_of(
        workloads_of(a.document for a in artifacts if a.kind == "k8s"),
        rollout_id=rollout_id.strip(),
        environment=gate.settings.environment,
        duration_seconds=max(durations) if durations else None,
    )
    return rollout.to_json("start")
