"""Options and helpers shared by the `rollguard` commands: engine, config, store, policies, pending migrations."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from rollguard.audit.store import DEFAULT_STORE
from rollguard.engine import ENGINE_CHOICES, Engine, create_engine
from rollguard.errors import EngineError, PolicyError, RollguardError
from rollguard.model import EXIT_ERROR, EXIT_INPUT, Severity
from rollguard.policy.bundle import PolicyBundle, default_policy_dir, load_bundle
from rollguard.policy.config import Config, find_config, load_config

if TYPE_CHECKING:
    from rollguard.inputs.pending import PendingSelection

SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def fail(exc: RollguardError) -> NoReturn:
    click.echo(f"rollguard: {exc}", err=True)
    code = EXIT_ERROR if isinstance(exc, (PolicyError, EngineError)) else EXIT_INPUT
    sys.exit(code)


def policy_bundle(policies: Path | None) -> PolicyBundle:
    return load_bundle(policies if policies is not None else default_policy_dir())


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


def env_option(
    help: str = "Environment whose overrides apply.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--env NAME`, passed to the command as `environment`."""
    return click.option("--env", "environment", default=None, help=help)


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

policies_option = click.option(
    "--policies",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Policy directory (default: the policies shipped with rollguard).",
)

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
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)

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
            help="Migrations added or changed since this git ref (and untracked ones) have not run yet; the others have.",
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
