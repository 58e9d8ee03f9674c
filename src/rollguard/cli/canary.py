"""`rollguard canary judge`: compare the canary's metrics with the baseline's, report, record, and exit 0/1/2/3."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rollguard.cli.options import (
    config_option,
    env_option,
    fail,
    found_config,
    parse_now,
    record_option,
    report_options,
    report_targets,
    store_choice,
    store_option,
    write_reports,
)
from rollguard.errors import ConfigError, RollguardError
from rollguard.model import EXIT_ERROR

if TYPE_CHECKING:
    from rollguard.canary import CanaryConfig, Judgement, MetricSource
    from rollguard.model import Resource
    from rollguard.policy.config import Config

# The formats, spelled out so that `--help` does not import the canary package (a test keeps
# them equal to rollguard.canary.render.RENDERERS).
FORMATS = ("text", "json", "markdown", "html")


@click.group("canary")
def canary() -> None:
    """Judge a canary against its baseline from Prometheus metrics (docs/canary.md)."""


@dataclass(frozen=True)
class SourceOptions:
    """Where the samples come from: `--recorded`, or `--prometheus` with its window and credentials."""

    recorded: Path | None
    prometheus: str | None
    start: str | None
    end: str | None
    lookback: str | None
    step: str | None
    bearer_token_file: Path | None
    ca_file: Path | None
    timeout: float


def _time(value: str, option: str) -> dt.datetime:
    """An ISO 8601 time (UTC when it names no zone) or unix seconds."""
    try:
        return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {value!r} is neither an ISO 8601 time nor unix seconds") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def make_source(options: SourceOptions, config: CanaryConfig) -> MetricSource:
    """The source the options name; exactly one of --recorded and --prometheus."""
    from rollguard.canary import PrometheusSource, RecordedSource, Window
    from rollguard.canary.config import parse_duration
    from rollguard.canary.sources import read_token_file

    if options.recorded is not None and options.prometheus is not None:
        raise ConfigError("give one of --recorded DIR and --prometheus URL, not both")
    if options.recorded is None and options.prometheus is None:
        if config.prometheus is None:
            raise ConfigError("give --recorded DIR or --prometheus URL (or set canary.prometheus in rollguard.yaml)")
        options = replace(options, prometheus=config.prometheus)
    if options.recorded is not None:
        given = [
            name
            for name, value in (
                ("--start", options.start),
                ("--end", options.end),
                ("--lookback", options.lookback),
                ("--step", options.step),
                ("--bearer-token-file", options.bearer_token_file),
                ("--ca-file", options.ca_file),
            )
            if value is not None
        ]
        if given:
            raise ConfigError(
                f"{', '.join(given)} only apply to --prometheus; recorded responses hold their own window"
            )
        if not options.recorded.is_dir():
            raise ConfigError(f"--recorded {options.recorded.as_posix()}: not a directory")
        return RecordedSource(options.recorded)
    assert options.prometheus is not None
    if options.start is not None and options.lookback is not None:
        raise ConfigError("give --start or --lookback, not both")
    end = _time(options.end, "--end") if options.end is not None else dt.datetime.now(dt.timezone.utc)
    if options.start is not None:
        start = _time(options.start, "--start")
    else:
        start = end - dt.timedelta(seconds=parse_duration(options.lookback or config.lookback, what="--lookback"))
    step = parse_duration(options.step or config.step, what="--step")
    token = read_token_file(options.bearer_token_file) if options.bearer_token_file is not None else None
    return PrometheusSource(
        options.prometheus,
        Window(start, end, step),
        bearer_token=token,
        ca_file=options.ca_file,
        timeout_seconds=options.timeout,
    )


def _target(value: str | None) -> Resource | None:
    """`--workload KIND/NAMESPACE/NAME` (or KIND/NAME for a cluster-wide kind); the kind must be known."""
    from rollguard.canary.record import workload_resource

    return workload_resource(value) if value is not None else None


@dataclass(frozen=True)
class RecordOptions:
    """`--record` and what the record says: the store, environment, workload and CI identity."""

    store: str | None
    environment: str | None
    workload: str | None
    actor: str | None
    commit: str | None
    run_id: str | None
    now_text: str | None


@dataclass(frozen=True)
class SideOptions:
    """`--label` and how each side is told apart, and `--fail-on-marginal`: shared by judge and watch."""

    label: str | None
    baseline_version: str | None
    canary_version: str | None
    baseline_selector: str | None
    canary_selector: str | None
    fail_on_marginal: bool


def shared_options(params: dict[str, Any]) -> tuple[SourceOptions, SideOptions]:
    """The values of `judgement_options` among a command's parameters, taken out of them."""
    source = SourceOptions(**{f.name: params.pop(f.name) for f in fields(SourceOptions)})
    sides = SideOptions(**{f.name: params.pop(f.name) for f in fields(SideOptions)})
    return source, sides


def canary_config_of(config: Config, sides: SideOptions) -> CanaryConfig:
    """The config's `canary:` section, checked, with the sides the command line gives."""
    from rollguard.canary import Side, read_canary_config

    source_file = str(config.path) if config.path else None
    return read_canary_config(config.canary, source=source_file, key_lines=config.key_lines).with_sides(
        label=sides.label,
        baseline=Side(sides.baseline_version, sides.baseline_selector),
        canary=Side(sides.canary_version, sides.canary_selector),
    )


def judgement_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options `judge` and `watch` share: the source, its window and credentials, the sides and --fail-on-marginal."""
    for option in reversed(
        (
            click.option(
                "--recorded",
                type=click.Path(path_type=Path, file_okay=False),
                default=None,
                help="Directory of recorded query_range responses: <metric>.baseline.json and <metric>.canary.json.",
            ),
            click.option(
                "--prometheus",
                default=None,
                metavar="URL",
                help="Prometheus to query, e.g. http://prometheus:9090.",
            ),
            click.option(
                "--start",
                default=None,
                help="Start of the window: ISO 8601 or unix seconds (default: --end minus --lookback).",
            ),
            click.option("--end", default=None, help="End of the window: ISO 8601 or unix seconds (default: now)."),
            click.option(
                "--lookback",
                default=None,
                help="Length of the window ending at --end, e.g. 30m (default: canary.lookback, else 30m).",
            ),
            click.option(
                "--step", default=None, help="Resolution of query_range, e.g. 60s (default: canary.step, else 60s)."
            ),
            click.option(
                "--bearer-token-file",
                type=click.Path(path_type=Path, dir_okay=False),
                default=None,
                help="File holding a bearer token for Prometheus.",
            ),
            click.option(
                "--ca-file",
                type=click.Path(path_type=Path, dir_okay=False),
                default=None,
                help="CA bundle that signs Prometheus's certificate (https only).",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(0.1, 600),
                default=30.0,
                show_default=True,
                help="Seconds to wait for each Prometheus answer.",
            ),
            click.option(
                "--label",
                default=None,
                help="Label telling the versions apart in {{ selector }} (default: canary.label, else version; pod_template_hash for the pod-template-hash).",
            ),
            click.option(
                "--baseline-version", default=None, help="The baseline's value of --label (and {{ version }})."
            ),
            click.option("--canary-version", default=None, help="The canary's value of --label (and {{ version }})."),
            click.option(
                "--baseline-selector",
                default=None,
                help='Explicit PromQL label matchers for the baseline, e.g. app="web",track="stable".',
            ),
            click.option(
                "--canary-selector",
                default=None,
                help='Explicit PromQL label matchers for the canary, e.g. app="web",track="canary".',
            ),
            click.option(
                "--fail-on-marginal", is_flag=True, help="Exit 1 on a marginal score instead of passing with a warning."
            ),
        )
    ):
        command = option(command)
    return command


@canary.command("judge")
@config_option()
@judgement_options
@report_options(list(FORMATS))
@record_option
@store_option
@env_option(help="Environment the judgement is recorded for.")
@click.option(
    "--workload",
    default=None,
    metavar="KIND/NS/NAME",
    help="The workload judged, named in the record (e.g. Deployment/shop/web).",
)
@click.option("--actor", default=None, help="Who deploys (default: from the CI environment, else the login name).")
@click.option("--commit", default=None, help="Commit being deployed (default: from the CI environment or git).")
@click.option("--run-id", default=None, help="Pipeline run id (default: from the CI environment).")
@click.option("--now", "now_text", default=None, help="Time the decision is recorded as of (ISO 8601; default: now).")
def judge_command(
    config_path: Path | None,
    formats: Sequence[str],
    outputs: Sequence[str],
    record: bool,
    store: str | None,
    environment: str | None,
    workload: str | None,
    actor: str | None,
    commit: str | None,
    run_id: str | None,
    now_text: str | None,
    **shared: Any,
) -> None:
    """Judge the canary against the baseline, metric by metric, and exit 0 pass (marginal too, with a
    warning, unless --fail-on-marginal), 1 fail, 2 unusable input or no data for any metric, 3 error."""
    from rollguard.canary import SourceUnavailable, judge
    from rollguard.canary.render import RENDERERS

    report_targets(formats, outputs)  # a usage error before any work
    options, sides = shared_options(shared)
    fail_on_marginal = sides.fail_on_marginal
    try:
        config = found_config(config_path)
        canary_config = canary_config_of(config, sides)
        recording = RecordOptions(store, environment, workload, actor, commit, run_id, now_text)
        _target(workload)  # a misspelt --workload is a usage error before any work
        parse_now(now_text)
        source = make_source(options, canary_config)
        judgement = judge(canary_config, source)
    except SourceUnavailable as exc:
        click.echo(f"rollguard: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except RollguardError as exc:
        fail(exc)
    recorded_error: RollguardError | None = None
    if record:
        try:
            _record(judgement, config, recording, fail_on_marginal=fail_on_marginal)
        except RollguardError as exc:
            recorded_error = exc
    try:
        write_reports(
            formats, outputs, lambda name, _colour: RENDERERS[name](judgement, fail_on_marginal=fail_on_marginal)
        )
    except RollguardError as exc:
        fail(exc)
    if recorded_error is not None:
        fail(recorded_error)  # a judgement that must be on record and is not, is no pass
    if judgement.verdict == "marginal" and not fail_on_marginal:
        click.echo(f"rollguard: warning: the canary is marginal (score {judgement.score:g})", err=True)
    sys.exit(judgement.exit_code(fail_on_marginal=fail_on_marginal))


def _record(
    judgement: Judgement,
    config: Config,
    options: RecordOptions,
    *,
    fail_on_marginal: bool,
    watch: dict[str, object] | None = None,
) -> None:
    """Append the judgement to the decision store and say where on stderr."""
    from rollguard.audit.record import ci_identity, ci_run
    from rollguard.audit.recording import recorded_line, rollguard_version
    from rollguard.canary.record import DEFAULT_TARGET, RecordContext, record_judgement

    url = store_choice(options.store, config).url
    env_commit, env_run, env_actor = ci_identity()
    context = RecordContext(
        when=parse_now(options.now_text),
        actor=options.actor or env_actor,
        commit=options.commit or env_commit,
        run_id=options.run_id or env_run,
        environment=options.environment,
        target=_target(options.workload) or DEFAULT_TARGET,
        ci=ci_run(),
        rollguard_version=rollguard_version(),
    )
    stored = record_judgement(url, judgement, context, fail_on_marginal=fail_on_marginal, watch=watch)
    click.echo(recorded_line(stored, url), err=True)


@canary.command("template")
@click.option("--image", required=True, help="rollguard image the Job runs; pin it by digest (…@sha256:<digest>).")
@click.option(
    "--prometheus",
    default=None,
    metavar="URL",
    help="Prometheus the Job asks (default: canary.prometheus of the mounted config).",
)
@click.option("--name", default="rollguard-canary", show_default=True, help="Prefix of the templates' names.")
@click.option(
    "--config-map",
    default="rollguard-canary",
    show_default=True,
    help="ConfigMap holding rollguard.yaml, mounted into the Job.",
)
@click.option(
    "--server",
    default="https://rollguard.rollguard-system.svc",
    show_default=True,
    help="URL of `rollguard serve` for the web metric.",
)
@click.option("--lookback", default="10m", show_default=True, help="Window each measurement judges.")
@click.option("--interval", default="5m", show_default=True, help="Time between measurements.")
@click.option("--count", type=click.IntRange(1), default=1, show_default=True, help="Measurements per analysis run.")
@click.option("--label", default=None, help="Label the web metric's versions are values of (default: canary.label).")
@click.option("--fail-on-marginal", is_flag=True, help="A marginal verdict fails the measurement.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory for <name>-job.yaml and <name>-web.yaml (default: print both).",
)
def template_command(
    image: str,
    prometheus: str | None,
    name: str,
    config_map: str,
    server: str,
    lookback: str,
    interval: str,
    count: int,
    label: str | None,
    fail_on_marginal: bool,
    out: Path | None,
) -> None:
    """Write Argo Rollouts AnalysisTemplates: one runs `canary judge` as a Job, one asks `rollguard serve`."""
    from rollguard.canary.argo import TemplateOptions, analysis_templates, render_yaml
    from rollguard.canary.config import parse_duration
    from rollguard.canary.sources import PrometheusSource, Window
    from rollguard.webhook.manifest import check_image

    try:
        pinned = check_image(image)
        for value, option in ((lookback, "--lookback"), (interval, "--interval")):
            parse_duration(value, what=option)
        if prometheus is not None:
            now = dt.datetime.now(dt.timezone.utc)
            PrometheusSource(prometheus, Window(now - dt.timedelta(minutes=1), now, 60))  # checks the URL
        options = TemplateOptions(
            image=image,
            prometheus=prometheus,
            name=name,
            config_map=config_map,
            server=server,
            lookback=lookback,
            interval=interval,
            count=count,
            label=label,
            fail_on_marginal=fail_on_marginal,
        )
        templates = analysis_templates(options)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for file_name, document in templates.items():
                (out / file_name).write_text(render_yaml(document), encoding="utf-8")
    except RollguardError as exc:
        fail(exc)
    except OSError as exc:
        fail(ConfigError(f"--out {out}: cannot write the templates: {exc.strerror or exc}"))
    if not pinned:
        click.echo(
            f"rollguard: --image {image} is not pinned by a sha256 digest; analysis Jobs may run another image "
            "if the tag moves",
            err=True,
        )
    if out is None:
        click.echo("---\n".join(render_yaml(d) for d in templates.values()), nl=False)
    else:
        click.echo(f"wrote {', '.join(templates)} to {out}")


@canary.command("watch")
@config_option()
@judgement_options
@click.option(
    "--interval",
    type=click.FloatRange(min=1, max=86400),
    required=True,
    help="Seconds between judgements.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1, max=7 * 86400),
    required=True,
    help="Seconds to keep judging; the watch stops earlier at the first fail.",
)
@click.option("--rollback", is_flag=True, help="On a fail, roll the workload back (needs --kind, --name, --namespace).")
@click.option(
    "--kind", type=click.Choice(["Deployment", "Rollout"]), default=None, help="Kind of the workload watched."
)
@click.option("--name", default=None, help="Name of the workload watched.")
@click.option("--namespace", default=None, help="Namespace of the workload watched.")
@record_option
@store_option
@env_option(help="Environment the watch is recorded for.")
def watch_command(
    config_path: Path | None,
    interval: float,
    duration: float,
    rollback: bool,
    kind: str | None,
    name: str | None,
    namespace: str | None,
    record: bool,
    store: str | None,
    environment: str | None,
    **shared: Any,
) -> None:
    """Judge every --interval seconds until --duration; stop at the first fail and, with --rollback, roll back.

    Exit 0 when every judgement passed (or was marginal), 1 on a fail (rolled back with --rollback),
    2 unusable input, 3 when Prometheus cannot be reached or the rollback did not succeed.
    """
    from rollguard.canary import SourceUnavailable, judge
    from rollguard.canary.watch import Rollback, RollbackResult, run_rollback, watch

    options, sides = shared_options(shared)
    fail_on_marginal = sides.fail_on_marginal
    try:
        if options.start is not None or options.end is not None:
            raise ConfigError("--start and --end do not apply to watch: each judgement looks back --lookback from now")
        if (kind, name, namespace).count(None) not in (0, 3):
            raise ConfigError("give --kind, --name and --namespace together")
        if rollback and kind is None:
            raise ConfigError("--rollback needs --kind, --name and --namespace")
        undo = Rollback(kind, name, namespace) if kind is not None and name and namespace else None  # type: ignore[arg-type]
        config = found_config(config_path)
        canary_config = canary_config_of(config, sides)
        make_source(options, canary_config)  # a usage error before the first judgement

        def judge_once() -> Judgement:
            return judge(canary_config, make_source(options, canary_config))

        def show(number: int, judgement: Judgement) -> None:
            click.echo(f"judgement {number}: {judgement.verdict} (score {judgement.score:g})")
            for reason in judgement.reasons:
                click.echo(f"  {reason}")

        result = watch(
            judge_once, interval=interval, duration=duration, fail_on_marginal=fail_on_marginal, on_judgement=show
        )
    except SourceUnavailable as exc:
        click.echo(f"rollguard: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except RollguardError as exc:
        fail(exc)
    last = result.judgements[-1]
    done: RollbackResult | None = None
    rollback_error: RollguardError | None = None
    if result.failed and rollback and undo is not None:
        try:
            done = run_rollback(undo)
            click.echo(f"rolled back: {' '.join(done.argv)} (exit {done.exit_code})")
        except RollguardError as exc:
            rollback_error = exc
    if record:
        workload = f"{kind}/{namespace}/{name}" if kind is not None else None
        summary = {
            "judgements": len(result.judgements),
            "verdicts": [j.verdict for j in result.judgements],
            "interval_seconds": interval,
            "duration_seconds": duration,
            "rollback": done.to_json() if done is not None else None,
            "rollback_error": str(rollback_error) if rollback_error is not None else None,
        }
        try:
            _record(
                last,
                config,
                RecordOptions(store, environment, workload, None, None, None, None),
                fail_on_marginal=fail_on_marginal,
                watch=summary,
            )
        except RollguardError as exc:
            fail(exc)
    if rollback_error is not None:
        click.echo(f"rollguard: {rollback_error}", err=True)
        sys.exit(EXIT_ERROR)
    if done is not None and done.exit_code != 0:
        click.echo(f"rollguard: the rollback failed (exit {done.exit_code}): {done.stderr.strip()}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(1 if result.failed else last.exit_code(fail_on_marginal=fail_on_marginal))
