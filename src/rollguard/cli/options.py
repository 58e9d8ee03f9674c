"""Options and helpers shared by the `rollguard` commands: engine, config, store, policies, pending migrations."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from rollguard.engine import ENGINE_CHOICES, Engine, create_engine
from rollguard.errors import ConfigError, EngineError, PolicyError, RollguardError
from rollguard.model import EXIT_ERROR, EXIT_INPUT, Severity
from rollguard.policy.bundle import PolicyBundle, PolicySources
from rollguard.policy.config import Config, find_config, load_config

if TYPE_CHECKING:
    from rollguard.audit.store.locate import StoreChoice
    from rollguard.inputs.pending import PendingSelection

SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def fail(exc: RollguardError) -> NoReturn:
    click.echo(f"rollguard: {exc}", err=True)
    code = EXIT_ERROR if isinstance(exc, (PolicyError, EngineError)) else EXIT_INPUT
    sys.exit(code)


def policy_bundle(
    policies: Path | None, config: Config | None = None, *, require_policies: bool = True
) -> PolicyBundle:
    """The bundle the policy options (and the config's `policies:`) give."""
    return policy_sources(policies, config).load(require_policies=require_policies)


_OPA_META = "rollguard.opa_server"


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    ctx.meta.setdefault(_OPA_META, {})[str(param.name)] = value


def engine_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--engine`, plus `--opa-url`/`--opa-token` for the opa-server backend (read by `engine_options`)."""
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


def engine_options() -> dict[str, Any]:
    """`opa_url`/`opa_token` given on the command line, for `make_engine`."""
    given = click.get_current_context().find_root().meta.get(_OPA_META, {})
    return {k: v for k, v in given.items() if v is not None}


def make_engine(name: str) -> Engine:
    """The engine `name`, with the OPA server options given on the command line."""
    return create_engine(name, **engine_options())


# audit.store.DEFAULT_STORE, spelled out so that commands which never open the store do not
# import it (a test keeps the two equal).
DEFAULT_STORE_URL = "sqlite:///.rollguard/decisions.db"

store_option = click.option(
    "--store",
    default=None,
    envvar="ROLLGUARD_STORE",
    help="Decision store URL: sqlite:///path.db or postgresql://user@host/db (env ROLLGUARD_STORE; "
    f"default: `store:` in rollguard.yaml, else {DEFAULT_STORE_URL}).",
)


def store_choice(store: str | None, config: Config | None) -> StoreChoice:
    """The store `--store`/ROLLGUARD_STORE names, else the config's `store:`, else the default."""
    from rollguard.audit.store.locate import choose_store

    source = click.get_current_context().get_parameter_source("store")
    given = store if source not in (None, click.core.ParameterSource.DEFAULT) else None
    if config is None:
        return choose_store(given, configured=None)
    return choose_store(given, configured=config.store, config_file=config.path, line=config.key_lines.get(("store",)))


def config_option(
    help: str = "rollguard.yaml (default: found upward from the current directory).",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--config FILE`, passed to the command as `config_path`."""
    return click.option(
        "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None, help=help
    )


def env_option(
    help: str = "Environment whose overrides apply.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--env NAME`, passed to the command as `environment`."""
    return click.option("--env", "environment", default=None, help=help)


def parse_now(value: str | None) -> dt.datetime:
    """`--now`: an ISO 8601 time (UTC when it names no zone), or the current time when not given."""
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now {value!r} is not an ISO 8601 time (e.g. 2026-11-26T12:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def found_config(config_path: Path | None) -> Config:
    """The config given with --config, else the nearest rollguard.yaml upward, else the defaults."""
    return load_config(config_path or find_config(Path.cwd()))


migration_format_option = click.option(
    "--migration-format",
    type=click.Choice(["auto", "flyway", "golang-migrate", "numbered", "plain", "alembic", "django"]),
    default="auto",
    show_default=True,
    help="How .sql migrations are named and ordered; alembic/django read `alembic upgrade --sql` / `sqlmigrate` output.",
)

_POLICY_META = "rollguard.policy_sources"


def _remember_policies(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault(_POLICY_META, {})[str(param.name)] = value


def policies_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--policies DIR` (replaces the pack), `--policy DIR` (adds beside it, repeatable) and
    `--no-builtin`; the command receives `policies`, `policy_sources` reads the rest."""
    command = click.option(
        "--no-builtin",
        is_flag=True,
        expose_value=False,
        callback=_remember_policies,
        help="Leave the bundled policies out: judge with the --policy directories alone.",
    )(command)
    command = click.option(
        "--policy",
        "policy_dirs",
        multiple=True,
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        expose_value=False,
        callback=_remember_policies,
        help="Directory of your own policies (rollguard or Conftest Rego) to add beside the pack; repeatable.",
    )(command)
    return click.option(
        "--policies",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Policy directory replacing the bundled pack (to add policies, use --policy).",
    )(command)


def policy_sources(policies: Path | None, config: Config | None = None) -> PolicySources:
    """The pack (or --policies), plus --policy directories and the config's `policies.paths`."""
    given = click.get_current_context().meta.get(_POLICY_META, {})
    extra = tuple(config.policy_paths if config is not None else ()) + tuple(given.get("policy_dirs") or ())
    builtin = not given.get("no_builtin") and (config is None or config.builtin_policies)
    return PolicySources(base=policies, extra=extra, builtin=builtin)


fail_on_option = click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Lowest severity that fails the check (default: config, else high).",
)

color_option = click.option(
    "--color/--no-color", default=None, help="Colour the text output (default: only on a terminal)."
)

record_option = click.option("--record", is_flag=True, help="Append the decision to the hash-chained decision store.")

text_or_json_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format: text for people, json for tools.",
)


def report_options(
    choices: Sequence[str], *, default: str = "text"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--format` and `--output`, alike on every command that writes a report: both repeatable,
    each `--output` the file of the `--format` in the same position (`-` or none: stdout).
    The command receives `formats` and `outputs`; `write_reports` writes them."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--output",
            "-o",
            "outputs",
            multiple=True,
            metavar="FILE",
            help="File for the --format in the same position (`-`: stdout, the default); repeatable.",
        )(command)
        return click.option(
            "--format",
            "formats",
            multiple=True,
            type=click.Choice(list(choices)),
            help=f"Report format (default: {default}); repeatable, each paired with an --output.",
        )(command)

    return decorate


def report_targets(formats: Sequence[str], outputs: Sequence[str], *, default: str = "text") -> list[tuple[str, str]]:
    """(format, target) pairs of `report_options`; more outputs than formats is a usage error."""
    chosen = list(formats) or [default]
    if len(outputs) > len(chosen):
        raise click.UsageError("more --output values than --format values; pair each --output with a --format")
    return [(name, outputs[i] if i < len(outputs) else "-") for i, name in enumerate(chosen)]


def write_reports(
    formats: Sequence[str],
    outputs: Sequence[str],
    render: Callable[[str, bool], str],
    *,
    default: str = "text",
    color: bool | None = None,
) -> None:
    """Write each report: `render(format, colour)` to its --output, or to stdout (coloured only on
    a terminal unless `color` says otherwise; files never)."""
    for name, target in report_targets(formats, outputs, default=default):
        if target == "-":
            click.echo(render(name, sys.stdout.isatty() if color is None else color), nl=False)
        else:
            try:
                Path(target).write_text(render(name, False), encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot write the {name} report to {target}: {exc.strerror or exc}") from exc


kubeconfig_option = click.option(
    "--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)."
)
context_option = click.option("--context", default=None, help="kubeconfig context (default: its current-context).")


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
            help="Files added or changed since this git ref (and untracked ones) are the change: `check` judges only "
            "them (the others fill the inventory), and such migrations have not run yet; the others have.",
        )(command)
        return click.option(
            "--pending-from",
            metavar="VERSION",
            default=None,
            help="The first migration that has not run yet; earlier ones have (only tables of pending files count as new).",
        )(command)

    return add


def pending_changes(
    paths: Sequence[str], *, pending_from: str | None, since_ref: str | None, history_dsn: str | None, dsn_flag: str
) -> PendingSelection | None:
    """The pending selection the options give; files for --since are the .sql inputs, walked only when needed."""
    from rollguard.inputs import iter_input_files
    from rollguard.inputs.pending import select_pending

    sql = (
        path for _, path in iter_input_files([p for p in paths if p != "-"]) if path and path.suffix.lower() == ".sql"
    )
    return select_pending(pending_from=pending_from, since=since_ref, dsn=history_dsn, files=sql, dsn_option=dsn_flag)


namespace_usage_option = click.option(
    "--namespace-usage",
    "namespace_usage",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="What already runs where the change rolls: the cluster's Pods, ResourceQuotas and LimitRanges "
    "(kubectl get pods,resourcequotas,limitranges -n NS -o yaml), counted against the quotas, never judged; repeatable.",
)
