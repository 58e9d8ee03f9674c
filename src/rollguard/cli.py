"""The `rollguard` command line: thin click commands over the gate, policies and formats."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

from rollguard.engine import ENGINE_CHOICES, create_engine, resolve_engine_name
from rollguard.errors import ConfigError, EngineError, InputError, PolicyError, RollguardError
from rollguard.formats import FORMATS, render
from rollguard.model import EXIT_ERROR, EXIT_INPUT, Severity
from rollguard.policy.bundle import PolicyBundle, default_policy_dir, load_bundle
from rollguard.policy.config import find_config, load_config

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
        _, decision = parallel.judge(job, jobs=workers)
    except RollguardError as exc:
        _fail(exc)
    for i, name in enumerate(formats):
        target = outputs[i] if i < len(outputs) else "-"
        if target == "-":
            use_color = sys.stdout.isatty() if color is None else color
            click.echo(render(name, decision, color=use_color), nl=False)
        else:
            Path(target).write_text(render(name, decision, color=False), encoding="utf-8")
    sys.exit(decision.exit_code())


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


if __name__ == "__main__":  # pragma: no cover
    main()
